"""What the health check produces: findings (a problem, how bad, how measured, how to fix) grouped in sections."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

SEVERITIES = ("error", "warning", "info")  # most severe first

# section id -> heading; the report shows them in this order
SECTION_TITLES = {
    "counts": "Counts",
    "images": "Images",
    "heatmap": "Spatial heatmaps",
    "motion": "Actions and states",
    "episodes": "Episodes",
}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem: `value` was measured and compared with `threshold`; `recommendation` names the fixing command."""

    id: str  # stable, dotted: "motion.idle_edges"
    severity: str  # error | warning | info
    title: str
    detail: str
    value: Any
    threshold: Any
    recommendation: str
    episodes: tuple[int, ...] = ()  # the episodes concerned, when it is about some of them

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict (numpy scalars turned into Python numbers)."""
        return jsonable(dataclasses.asdict(self))


@dataclasses.dataclass
class Table:
    """A small table for the report: a title, column headers, rows of cells."""

    title: str
    headers: list[str]
    rows: list[list[Any]]


@dataclasses.dataclass
class Section:
    """One group of checks: findings, metrics (to health.json), tables and figures (HTML snippets, to health.html)."""

    id: str
    findings: list[Finding] = dataclasses.field(default_factory=list)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    tables: list[Table] = dataclasses.field(default_factory=list)
    figures: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def title(self) -> str:
        return SECTION_TITLES[self.id]


@dataclasses.dataclass
class HealthReport:
    """Everything `run_health` found about one dataset."""

    dataset: dict[str, Any]
    sections: dict[str, Section]
    config: dict[str, Any]
    seconds: float = 0.0

    @property
    def findings(self) -> list[Finding]:
        """All findings, most severe first (errors, warnings, infos), in section order within a severity."""
        out = [f for s in self.sections.values() for f in s.findings]
        return sorted(out, key=lambda f: SEVERITIES.index(f.severity))

    def ids(self, min_severity: str = "info") -> set[str]:
        """Ids of the findings at least as severe as `min_severity`."""
        cut = SEVERITIES.index(min_severity)
        return {f.id for f in self.findings if SEVERITIES.index(f.severity) <= cut}

    def counts(self) -> dict[str, int]:
        """Number of findings per severity."""
        return {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}

    def to_json(self) -> dict[str, Any]:
        """The content of health.json."""
        return jsonable({
            "dataset": self.dataset,
            "summary": self.counts(),
            "findings": [f.to_json() for f in self.findings],
            "sections": {k: {"title": s.title, "metrics": s.metrics, "seconds": round(s.seconds, 3),
                             "tables": [dataclasses.asdict(t) for t in s.tables]} for k, s in self.sections.items()},
            "config": self.config,
            "seconds": round(self.seconds, 3),
        })


def jsonable(x: Any) -> Any:
    """Numpy scalars/arrays and tuples → plain JSON types; NaN/inf → None (JSON has neither)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if np.isfinite(v) else None
    return x


def episode_list(eps: list[int] | tuple[int, ...], limit: int = 12) -> str:
    """'3, 7, 9' or '3, 7, 9, ... (40 in all)'."""
    eps = list(eps)
    head = ", ".join(str(e) for e in eps[:limit])
    return head if len(eps) <= limit else f"{head}, ... ({len(eps)} in all)"
