"""Time-consistent, action-aware augmentation of robot episodes: a registry of augmentations, recipes, online and offline use.

Public names resolve lazily, so importing this package costs nothing until an augmentation runs.
"""

from __future__ import annotations

from vlaforge.lazy import lazy_getattr

_EXPORTS = {
    "Augmentation": "vlaforge.engine.augment.base",
    "AugmentRefused": "vlaforge.engine.augment.base",
    "DataSpec": "vlaforge.engine.augment.base",
    "registered": "vlaforge.engine.augment.base",
    "Recipe": "vlaforge.engine.augment.pipeline",
    "Pipeline": "vlaforge.engine.augment.pipeline",
    "load_recipe": "vlaforge.engine.augment.pipeline",
    "build_pipeline": "vlaforge.engine.augment.pipeline",
    "augment_dataset": "vlaforge.engine.augment.offline",
    "write_preview": "vlaforge.engine.augment.preview",
    "add_augment_parser": "vlaforge.engine.augment.cli",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
