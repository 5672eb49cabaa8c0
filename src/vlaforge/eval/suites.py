"""Evaluation suites by name: what `vlaforge eval --suite NAME` runs, each behind one small interface.

A suite says which tasks and splits it has, the fixed-seed episodes of a split, the features and fps
its env produces, and how one episode is rolled out. `tabletop` is the built-in suite;
`metaworld-mt10`, `metaworld-mt50` and `metaworld:TASK[,TASK]` are Meta-World (optional extra).
Adding a suite is one class plus one line in `SUITES`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.eval.records import EpisodeRecord
from vlaforge.eval.suite import EpisodeSpec, Suite  # noqa: F401  (Suite re-exported)


class TabletopSuite(Suite):
    """The built-in MuJoCo tabletop suite (seen, held-out wording and combinations, perturbed)."""

    name, what, default_tasks = "tabletop", "tabletop env", "pick_place"

    def __init__(self, name: str = "tabletop"):
        from vlaforge.eval.suite import EVAL_SPLITS

        self.splits = EVAL_SPLITS

    @property
    def fps(self) -> int:
        """10 Hz."""
        from vlaforge.sim.env import FPS

        return FPS

    def tasks(self, value: str | list[str] | None) -> list[str]:
        """Task families (pick_place, push, ...)."""
        from vlaforge.eval.suite import parse_families

        return parse_families(value or self.default_tasks)

    def specs(self, tasks: list[str], splits: list[str], episodes: int) -> list[EpisodeSpec]:
        """See eval.suite.episode_specs."""
        from vlaforge.eval.suite import episode_specs

        return episode_specs(tasks, splits, episodes)

    def features(self, image_size: int, cameras: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Both cameras, state and action of the tabletop env."""
        from vlaforge.sim.env import feature_spec

        return feature_spec(image_size)

    def run_episode(self, actor: Any, spec: EpisodeSpec, image_size: int, keep_frames: bool,
                    cameras: tuple[str, ...] | None = None) -> tuple[EpisodeRecord, list[np.ndarray] | None]:
        """See eval.rollout.run_episode."""
        from vlaforge.eval.rollout import run_episode

        return run_episode(actor, spec, image_size, keep_frames=keep_frames)


def _metaworld(name: str) -> Suite:
    from vlaforge.eval.metaworld import MetaWorldSuite

    return MetaWorldSuite(name)


# suite family -> factory taking the full suite name (metaworld-mt10, metaworld:reach-v3 → "metaworld")
SUITES: dict[str, Callable[[str], Suite]] = {"tabletop": TabletopSuite, "metaworld": _metaworld}
EXAMPLES = ["tabletop", "metaworld-mt10", "metaworld-mt50", "metaworld:reach-v3"]


def get_suite(name: str) -> Suite:
    """The suite called `name`; ConfigError listing the valid names otherwise."""
    family = name.replace(":", "-").split("-", 1)[0]
    if family not in SUITES or (family == "tabletop" and name != "tabletop"):
        raise ConfigError(f"unknown suite {name!r}; choose from {EXAMPLES} (metaworld:TASK for any one Meta-World task)")
    return SUITES[family](name)
