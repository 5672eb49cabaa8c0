"""`run_health`: every group of checks over one dataset → a HealthReport."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable

from vlaforge.config import to_dict
from vlaforge.engine.health.config import HealthConfig
from vlaforge.engine.health.context import HealthContext
from vlaforge.engine.health.findings import SECTION_TITLES, HealthReport, Section
from vlaforge.errors import ConfigError


def _checks() -> dict[str, Callable[[HealthContext], Section]]:
    from vlaforge.engine.health.counts import check_counts
    from vlaforge.engine.health.episodes import check_episodes
    from vlaforge.engine.health.heatmap import check_heatmap
    from vlaforge.engine.health.images import check_images
    from vlaforge.engine.health.motion import check_motion

    # images before heatmap: it leaves the camera views the heatmaps are drawn over
    return {"counts": check_counts, "images": check_images, "heatmap": check_heatmap, "motion": check_motion, "episodes": check_episodes}


def run_health(ds: Any, cfg: HealthConfig | None = None, progress: bool = False, skip: tuple[str, ...] = ()) -> HealthReport:
    """Run the health checks on `ds` (an open dataset or a path); `skip` names sections to leave out (e.g. 'images')."""
    from vlaforge.data.reader import LeRobotDataset, open_dataset

    if not isinstance(ds, LeRobotDataset):
        ds = open_dataset(Path(ds))
    cfg = cfg or HealthConfig()
    unknown = sorted(set(skip) - set(SECTION_TITLES))
    if unknown:
        raise ConfigError(f"cannot skip {unknown}: the sections are {list(SECTION_TITLES)}")
    t0 = time.perf_counter()
    with _progress(progress) as bar:
        ctx = HealthContext(ds, cfg, bar)
        sections = {}
        for name, check in _checks().items():
            if name in skip:
                continue
            t = time.perf_counter()
            sections[name] = check(ctx)
            sections[name].seconds = time.perf_counter() - t
    info = {"path": str(ds.root), "fps": ds.fps, "episodes": ds.num_episodes, "frames": ds.num_frames,
            "cameras": [c.removeprefix("observation.images.") for c in ds.camera_keys],
            "fingerprint": ds.lineage.get("fingerprint"), "version": ds.lineage.get("version"), "layout": ds.layout}
    return HealthReport(info, sections, to_dict(cfg), time.perf_counter() - t0)


@contextlib.contextmanager
def _progress(show: bool) -> Any:
    if not show:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("health: {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as bar:
        yield bar
