"""Small VLA policies: encoders, trunk, action heads (flow, tokens, chunk), save/load.

Names resolve lazily so `import vlaforge.models` does not import torch or transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PolicyConfig": "vlaforge.models.config",
    "VLAPolicy": "vlaforge.models.policy",
    "build_policy": "vlaforge.models.policy",
    "load_policy": "vlaforge.models.policy",
    "register_encoder": "vlaforge.models.registry",
    "register_head": "vlaforge.models.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vlaforge.models' has no attribute {name!r}")
