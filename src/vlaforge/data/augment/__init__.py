"""Time-consistent, action-aware augmentation of robot episodes: a registry of augmentations, recipes, online and offline use.

Public names resolve lazily, so importing this package costs nothing until an augmentation runs.
"""

from __future__ import annotations

from vlaforge.lazy import lazy_getattr

_EXPORTS = {
    "Augmentation": "vlaforge.data.augment.base",
    "AugmentRefused": "vlaforge.data.augment.base",
    "DataSpec": "vlaforge.data.augment.base",
    "registered": "vlaforge.data.augment.base",
    "Recipe": "vlaforge.data.augment.pipeline",
    "Pipeline": "vlaforge.data.augment.pipeline",
    "load_recipe": "vlaforge.data.augment.pipeline",
    "build_pipeline": "vlaforge.data.augment.pipeline",
    "augment_dataset": "vlaforge.data.augment.offline",
    "write_preview": "vlaforge.data.augment.preview",
    "add_augment_parser": "vlaforge.data.augment.cli",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
