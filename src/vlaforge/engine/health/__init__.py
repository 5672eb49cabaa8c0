"""Dataset health check: counts, images, spatial heatmaps, actions/states, episodes → health.json + health.html.

Public names resolve lazily, so importing this package costs nothing until a check runs.
"""

from __future__ import annotations

from vlaforge.lazy import lazy_getattr

_EXPORTS = {
    "HealthConfig": "vlaforge.engine.health.config",
    "Finding": "vlaforge.engine.health.findings",
    "HealthReport": "vlaforge.engine.health.findings",
    "run_health": "vlaforge.engine.health.run",
    "write_report": "vlaforge.engine.health.report",
    "add_health_parser": "vlaforge.engine.health.cli",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
