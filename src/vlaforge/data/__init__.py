"""Datasets in the LeRobot v3.0 layout: write, read, load for training, validate, convert, edit.

Public names are resolved lazily so `import vlaforge.data` does not import pyarrow, av or torch.
"""

from __future__ import annotations

from vlaforge.lazy import lazy_getattr

_EXPORTS = {
    "Feature": "vlaforge.data.features",
    "DatasetWriter": "vlaforge.data.writer",
    "LeRobotDataset": "vlaforge.data.reader",
    "open_dataset": "vlaforge.data.reader",
    "TrainingDataset": "vlaforge.data.loader",
    "check_dataset": "vlaforge.data.validate",
    "convert_v21_to_v30": "vlaforge.data.convert",
    "make_sample_dataset": "vlaforge.data.sample",
    "import_dataset": "vlaforge.data.importers._run",
    "ImportOptions": "vlaforge.data.importers._base",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
