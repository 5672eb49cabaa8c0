"""Recipes (a list of {name, p, params}) and the Pipeline that applies them to training batches or whole episodes.

A recipe file (JSON or YAML):

    {"augmentations": [{"name": "flip", "p": 0.5},
                       {"name": "crop", "p": 0.5, "params": {"scale": [0.8, 1.0]}}]}

Each step is applied to each sample with probability p, in order; unknown names, parameters or keys
are ConfigErrors listing the valid ones. `Pipeline(batch, generator)` is the trainer's augment hook.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterable

import torch

from vlaforge.config import from_dict, load_file, to_dict
from vlaforge.data.augment.base import AugBatch, Augmentation, DataSpec, get
from vlaforge.errors import ConfigError

RECIPES = Path(__file__).parent / "recipes"


@dataclasses.dataclass(frozen=True)
class Step:
    """One recipe entry: an augmentation name, the chance it is applied to a sample, and its parameters."""

    name: str
    p: float = 1.0
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """An ordered list of steps."""

    augmentations: tuple[Step, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any] | list[Any], where: str = "recipe") -> "Recipe":
        """Parse {"augmentations": [...]} (or a bare list); unknown keys are ConfigErrors."""
        if isinstance(d, list):
            d = {"augmentations": d}
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a mapping with an 'augmentations' list, got {type(d).__name__}")
        unknown = sorted(set(d) - {"augmentations"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: ['augmentations']")
        steps = []
        for i, s in enumerate(d.get("augmentations") or []):
            if isinstance(s, str):
                s = {"name": s}
            if not isinstance(s, dict) or "name" not in s:
                raise ConfigError(f"{where}: augmentations[{i}] must be a mapping with a 'name' (and optional 'p', 'params'); got {s!r}")
            step = from_dict(Step, s, f"augmentations[{i}]")
            if not 0.0 <= step.p <= 1.0:
                raise ConfigError(f"{where}: augmentations[{i}] ({step.name}) has p = {step.p}; p is a probability in [0, 1]")
            steps.append(step)
        return cls(tuple(steps))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (what offline augmentation records in the lineage)."""
        return {"augmentations": [to_dict(s) for s in self.augmentations]}


def load_recipe(source: str | Path | dict[str, Any] | Recipe) -> Recipe:
    """A Recipe from a file path, a built-in name ("default", "none"), a dict, or a Recipe."""
    if isinstance(source, Recipe):
        return source
    if isinstance(source, (dict, list)):
        return Recipe.from_dict(source)
    path = Path(source)
    if path.suffix in (".json", ".yaml", ".yml") or path.exists():
        return Recipe.from_dict(load_file(path), str(path))  # load_file: ConfigError when missing or not a mapping
    builtin = RECIPES / f"{source}.json"
    if not builtin.exists():
        names = sorted(p.stem for p in RECIPES.glob("*.json"))
        raise ConfigError(f"recipe {str(source)!r} is neither a JSON/YAML file nor a built-in recipe ({', '.join(names)})")
    return Recipe.from_dict(json.loads(builtin.read_text()), str(builtin))


def build_step(step: Step, spec: DataSpec) -> Augmentation:
    """Instantiate one step's augmentation, checking its parameters against the data."""
    cls = get(step.name)
    try:
        params = from_dict(cls.Params, step.params, step.name + ".params")
    except ConfigError as e:
        raise ConfigError(f"augmentation {step.name!r}: {e}") from None
    return cls(params, spec)


class Pipeline:
    """Applies a recipe to batches: `pipeline(batch, generator)` → augmented batch (same keys, shapes, dtypes)."""

    def __init__(self, recipe: Recipe, spec: DataSpec, record: bool = False):
        self.recipe, self.spec, self.record = recipe, spec, record
        self.steps = [(s, build_step(s, spec)) for s in recipe.augmentations]

    @property
    def moves_pixels(self) -> list[str]:
        """Names of the steps that move image content (so image-space labels would no longer match)."""
        return [s.name for s, aug in self.steps if aug.moves_pixels]

    def refuse_moving_pixels(self, source: str, why: str) -> None:
        """ConfigError naming the steps that move image content, when `why` needs pixels to stay where they were."""
        if self.moves_pixels:
            raise ConfigError(f"augment recipe {source!r} moves image content ({', '.join(self.moves_pixels)}), so {why}; use a "
                              "recipe without geometric steps (e.g. 'fixed_camera')")

    def instruction_variants(self, texts: Iterable[str]) -> set[str] | None:
        """Every instruction a batch can carry after the pipeline, starting from `texts` (None when a step rewords without a
        limit), so their text embeddings can be computed once before training."""
        out = set(texts)
        for _, aug in self.steps:
            new: set[str] = set()
            for t in out:
                more = aug.rewordings(t)
                if more is None:
                    return None
                new |= more
            out |= new
        return out

    def __repr__(self) -> str:
        return "Pipeline(" + ", ".join(f"{s.name}@{s.p:g}" for s, _ in self.steps) + ")"

    def __call__(self, batch: dict[str, Any], generator: torch.Generator) -> dict[str, Any]:
        """Augment a training batch: cameras uint8 (B, T, 3, H, W), observation.state (B, T, S), action (B, H, A), task [B]."""
        return self.run(batch, generator).result()

    def run(self, batch: dict[str, Any], generator: torch.Generator) -> AugBatch:
        """Like calling the pipeline, but returns the AugBatch (with `applied` parameters when `record`)."""
        ab = AugBatch(batch, self.spec.cameras, record=self.record)
        B = ab.size
        for step, aug in self.steps:
            chosen = torch.rand(B, generator=generator) < step.p  # (B,)
            params = aug.sample(B, generator)
            idx = chosen.nonzero().squeeze(1)  # (n,)
            if len(idx) == 0:
                continue
            sub = {k: v[idx] for k, v in params.items()}
            aug.apply(ab, idx, sub, generator)
            if ab.applied is not None:
                for j, i in enumerate(idx.tolist()):
                    ab.applied[i][step.name] = {k: _plain(v[j]) for k, v in sub.items()}
        return ab


def _plain(v: torch.Tensor) -> Any:
    v = v.tolist()
    return [round(x, 4) if isinstance(x, float) else x for x in v] if isinstance(v, list) else (round(v, 4) if isinstance(v, float) else v)


def build_pipeline(recipe: str | Path | dict[str, Any] | Recipe, dataset: Any, record: bool = False) -> Pipeline:
    """A Pipeline for `dataset` (a LeRobotDataset or its path) from a recipe source (see `load_recipe`)."""
    from vlaforge.data.reader import LeRobotDataset, open_dataset

    ds = dataset if isinstance(dataset, LeRobotDataset) else open_dataset(dataset)
    return Pipeline(load_recipe(recipe), DataSpec.from_dataset(ds), record=record)
