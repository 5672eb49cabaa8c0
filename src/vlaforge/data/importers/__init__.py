"""Importers of foreign dataset formats into LeRobot v3.0: one module per format.

A module here whose name does not start with `_` and that sets `IMPORTER = SomeImporter()`
(a `vlaforge.data.importers._base.Importer`) is a format: `vlaforge data import --format
<module name>`. Adding a format is adding that one file; the CLI, `--format auto` and the
registry test find it by listing this package. Importing this package imports no format
module (and so no h5py); a format's module is imported when it is asked for.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

from vlaforge.errors import ConfigError

if TYPE_CHECKING:
    from vlaforge.data.importers._base import Importer


def names() -> list[str]:
    """Every registered format, sorted (module names, listed without importing them)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get(name: str) -> "Importer":
    """The importer registered as `name` (ConfigError listing the formats if there is none)."""
    if name not in names():
        raise ConfigError(f"unknown import format {name!r}; known formats: {', '.join(names())}")
    module = importlib.import_module(f"{__name__}.{name}")
    imp = getattr(module, "IMPORTER", None)
    if imp is None or imp.name != name:
        raise ConfigError(f"{module.__file__} must set IMPORTER to an Importer whose name is {name!r}")
    return imp


def detect(src: str | Path) -> "Importer":
    """The one importer that recognizes `src` (ConfigError when none or several do)."""
    src = Path(src)
    if not src.exists():
        raise ConfigError(f"{src} does not exist")
    hits = [imp for imp in (get(n) for n in names()) if imp.detect(src)]
    if len(hits) != 1:
        found = ", ".join(i.name for i in hits) or "no format"
        raise ConfigError(f"cannot tell the format of {src} ({found} matched); pass --format, one of {', '.join(names())}")
    return hits[0]
