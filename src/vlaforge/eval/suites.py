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
from vlaforge.eval.suite import EpisodeSpec


class Suite:
    """The interface `evaluate` uses; see TabletopSuite and eval.metaworld.MetaWorldSuite."""

    name = "base"
    splits: tuple[str, ...] = ()
    what = "env"  # how error messages name the env ("tabletop env")
    default_tasks = "all"

    @property
    def fps(self) -> int:
        """Control rate of the suite's env."""
        raise NotImplementedError

    def tasks(self, value: str | list[str] | None) -> list[str]:
        """Validated task (family) names from a --tasks value (None: the suite's default)."""
        raise NotImplementedError

    def parse_splits(self, value: str | list[str]) -> list[str]:
        """`all`, one split or a comma list → this suite's splits in canonical order."""
        items = [s.strip() for s in (value.split(",") if isinstance(value, str) else value) if s.strip()]
        if "all" in items:
            return list(self.splits)
        bad = [s for s in items if s not in self.splits]
        if bad or not items:
            raise ConfigError(f"unknown split(s) {bad or value!r} for suite {self.name}; choose from {list(self.splits)} or 'all'")
        return [s for s in self.splits if s in items]

    def specs(self, tasks: list[str], splits: list[str], episodes: int) -> list[EpisodeSpec]:
        """`episodes` per (task, split) with seeds fixed per split."""
        raise NotImplementedError

    def features(self, image_size: int, cameras: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The env's features (only `cameras` when given)."""
        raise NotImplementedError

    def image_size(self, policy_size: int | None) -> int:
        """Image size to render at, given the policy's own (None when unknown)."""
        return 96

    def groups(self) -> dict[str, list[str]]:
        """Named groups of tasks the summary also reports (e.g. difficulty); empty for none."""
        return {}

    def run_episode(self, actor: Any, spec: EpisodeSpec, image_size: int, keep_frames: bool,
                    cameras: tuple[str, ...] | None = None) -> tuple[EpisodeRecord, list[np.ndarray] | None]:
        """Roll out one episode; frames are the cameras side by side when kept."""
        raise NotImplementedError


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
