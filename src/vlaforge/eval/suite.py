"""The evaluation suite: which episodes each split runs, with seed lists fixed so two checkpoints meet the same episodes.

Splits: `seen` (training wording and combinations), `heldout-wording` (paraphrases never trained on),
`heldout-combos` (object/target combinations never trained on) and `perturbed` (seen tasks where
one mid-task perturbation fires, cycling through every registered perturbation).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.sim.tasks import parse_families  # noqa: F401  (lives with the families; re-exported for eval callers)

EVAL_SPLITS = ("seen", "heldout-wording", "heldout-combos", "perturbed")
# Suites by name live in eval/suites.py (tabletop, metaworld-mt10, metaworld-mt50, metaworld:TASK); this module is the tabletop seed plan.
# Far from `sim collect`'s default seeds (0, 1, ...), so evaluation episodes are never training episodes.
SEED_BASE = 1_000_000
SEEDS_PER_SPLIT = 100_000


@dataclasses.dataclass(frozen=True)
class EpisodeSpec:
    """One evaluation episode: everything needed to reproduce it exactly."""

    family: str
    split: str  # evaluation split (one of EVAL_SPLITS)
    seed: int
    perturb: tuple[str, ...] = ()

    @property
    def env_split(self) -> str:
        """The env's own split: perturbed episodes are seen tasks with a perturbation."""
        return "seen" if self.split == "perturbed" else self.split


def parse_splits(value: str | list[str]) -> list[str]:
    """`all`, one split or a comma list → validated splits in canonical order."""
    items = [s.strip() for s in (value.split(",") if isinstance(value, str) else value) if s.strip()]
    if "all" in items:
        return list(EVAL_SPLITS)
    bad = [s for s in items if s not in EVAL_SPLITS]
    if bad or not items:
        raise ConfigError(f"unknown split(s) {bad or value!r}; choose from {list(EVAL_SPLITS)} or 'all'")
    return [s for s in EVAL_SPLITS if s in items]


def episode_specs(families: list[str], splits: list[str], episodes: int) -> list[EpisodeSpec]:
    """`episodes` per (family, split); the k-th episode of a split has the same seed for every checkpoint."""
    from vlaforge.sim.perturbations import PERTURBATIONS

    if episodes < 1:
        raise ConfigError(f"--episodes must be >= 1; got {episodes}")
    names = sorted(PERTURBATIONS)
    specs = []
    for split in splits:
        base = SEED_BASE + SEEDS_PER_SPLIT * EVAL_SPLITS.index(split)
        for family in families:
            for k in range(episodes):
                perturb = (names[k % len(names)],) if split == "perturbed" else ()
                specs.append(EpisodeSpec(family, split, base + k, perturb))
    return specs


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
                    cameras: tuple[str, ...] | None = None) -> tuple[Any, list[np.ndarray] | None]:
        """Roll out one episode → (its `eval.records.EpisodeRecord`, frames: the cameras side by side, when kept)."""
        raise NotImplementedError
