"""vlaforge: vision-language-action robot policies from demonstrations to deployment.

Importing the package is cheap on purpose: heavy dependencies (torch, mujoco, av,
transformers) are imported by the sub-modules that need them, never here.
"""

__version__ = "0.1.0"

from vlaforge.errors import CheckpointError, DatasetError, FeatureMismatch, VlaforgeError

__all__ = ["CheckpointError", "DatasetError", "FeatureMismatch", "VlaforgeError", "__version__"]
