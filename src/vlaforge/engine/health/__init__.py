"""Dataset health check: counts, images, spatial heatmaps, actions/states, episodes → health.json + health.html.

Public names resolve lazily, so importing this package costs nothing until a check runs.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "HealthConfig": "vlaforge.engine.health.config",
    "Finding": "vlaforge.engine.health.findings",
    "HealthReport": "vlaforge.engine.health.findings",
    "run_health": "vlaforge.engine.health.run",
    "write_report": "vlaforge.engine.health.report",
    "add_health_parser": "vlaforge.engine.health.cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vlaforge.engine.health' has no attribute {name!r}")
