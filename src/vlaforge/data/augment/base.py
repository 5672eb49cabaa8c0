"""The augmentation registry, the base class, what augmentations know about the data, and the batch they edit.

An augmentation draws its parameters once per sample (a training sample's observation history
and action chunk, or a whole episode offline) from a `torch.Generator`, and applies the same
parameters to every frame and every camera of that sample: that is what makes it time-consistent.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Sequence

import torch

from vlaforge.errors import ConfigError, DatasetError, FeatureMismatch
from vlaforge.registry import Registry

STATE = "observation.state"
ACTION = "action"
_MODULES = ("geometric", "photometric", "blur", "occlusion", "language", "state")
REGISTRY = Registry("augmentation", [f"vlaforge.data.augment.{m}" for m in _MODULES])


class AugmentRefused(ConfigError):
    """An augmentation cannot be applied consistently to this data (e.g. a flip when no action axis is lateral)."""


def register(name: str) -> Any:
    """Class decorator: `@register("flip")` adds an Augmentation subclass to the registry."""
    return REGISTRY.register(name)


def _load_all() -> None:
    REGISTRY.load()


def registered() -> list[str]:
    """Names of every registered augmentation, in registration order (geometric, photometric, ..., state)."""
    _load_all()
    order = list(REGISTRY)
    return sorted(order, key=lambda n: (_MODULES.index(REGISTRY[n].__module__.rsplit(".", 1)[1]), order.index(n)))


def get(name: str) -> type["Augmentation"]:
    """The class registered under `name` (ConfigError listing the valid names otherwise)."""
    _load_all()
    if name not in REGISTRY:
        raise ConfigError(f"unknown augmentation {name!r}; registered augmentations: {', '.join(registered())}")
    return REGISTRY[name]


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What augmentations know about the data: cameras and their (H, W), axis names, instructions, state scale."""

    cameras: tuple[str, ...]
    image_sizes: tuple[tuple[int, int], ...] = ()
    action_names: tuple[str, ...] | None = None
    state_names: tuple[str, ...] | None = None
    has_state: bool = True
    state_dim: int = 0
    tasks: tuple[str, ...] = ()
    state_std: tuple[float, ...] | None = None

    @classmethod
    def from_dataset(cls, ds: Any) -> "DataSpec":
        """Spec of an open `LeRobotDataset` (features, tasks and state std from meta/stats.json)."""
        feats = ds.features
        std = None
        try:
            if STATE in ds.stats:
                std = tuple(float(v) for v in ds.stats[STATE]["std"].reshape(-1))
        except DatasetError:  # no meta/stats.json: state noise then works in absolute units
            std = None
        return cls(
            cameras=tuple(ds.camera_keys),
            image_sizes=tuple((int(feats[c].shape[0]), int(feats[c].shape[1])) for c in ds.camera_keys),
            action_names=tuple(feats[ACTION].names) if ACTION in feats and feats[ACTION].names else None,
            state_names=tuple(feats[STATE].names) if STATE in feats and feats[STATE].names else None,
            has_state=STATE in feats,
            state_dim=int(feats[STATE].shape[0]) if STATE in feats else 0,
            tasks=tuple(ds.tasks),
            state_std=std,
        )


class AugBatch:
    """A batch being augmented. Images are converted to float (B, T, 3, H, W) in [0, 1] the first time a step needs them."""

    def __init__(self, batch: dict[str, Any], cameras: Sequence[str], record: bool = False):
        self.batch = dict(batch)
        self.cameras = [c for c in cameras if c in batch]
        for c in self.cameras:
            x = batch[c]
            if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 5 or x.shape[2] != 3:
                got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
                raise FeatureMismatch(f"augment: {c} must be uint8 (B, T, 3, H, W) as the training loader gives it; got {got}")
        self.task: list[str] = list(batch.get("task", []))
        self.size = len(self.task) if self.task else (batch[self.cameras[0]].shape[0] if self.cameras else batch[ACTION].shape[0])
        self.state: torch.Tensor | None = batch[STATE].clone() if STATE in batch else None  # (B, T, S)
        self.action: torch.Tensor | None = batch[ACTION].clone() if ACTION in batch else None  # (B, H, A)
        self._float: dict[str, torch.Tensor] = {}
        self.applied: list[dict[str, dict[str, Any]]] | None = [{} for _ in range(self.size)] if record else None

    @property
    def device(self) -> torch.device:
        """Where the images live (parameters are drawn on the CPU and moved here)."""
        for c in self.cameras:
            return self.batch[c].device
        return self.action.device if self.action is not None else torch.device("cpu")

    def image(self, cam: str) -> torch.Tensor:
        """Float view (B, T, 3, H, W) in [0, 1] of camera `cam`; edits to it are kept."""
        if cam not in self._float:
            self._float[cam] = self.batch[cam].float().div_(255.0)
        return self._float[cam]

    def result(self) -> dict[str, Any]:
        """The augmented batch in the input's layout and dtypes (images back to uint8)."""
        out = dict(self.batch)
        for c, x in self._float.items():
            out[c] = x.mul(255.0).clamp_(0.0, 255.0).round_().to(torch.uint8)  # (B, T, 3, H, W)
        if self.state is not None:
            out[STATE] = self.state
        if self.action is not None:
            out[ACTION] = self.action
        if "task" in self.batch:
            out["task"] = list(self.task)
        return out


def _check_range(where: str, value: Any, lo: float = -math.inf, hi: float = math.inf) -> tuple[float, float]:
    if len(value) != 2 or not value[0] <= value[1]:
        raise ConfigError(f"{where}: expected a range [low, high] with low <= high, got {list(value)}")
    if value[0] < lo or value[1] > hi:
        raise ConfigError(f"{where}: {list(value)} must lie within [{lo}, {hi}]")
    return float(value[0]), float(value[1])


class Augmentation:
    """Base class. Subclasses set `name` (via @register), `kind`, a frozen `Params` dataclass, and implement `sample`/`apply`."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "image"  # image | text | state
    per_frame: ClassVar[bool] = False  # draws fresh noise per frame (sensor noise); its parameters are still per sample
    moves_actions: ClassVar[bool] = False  # also transforms actions/state/instructions
    moves_pixels: ClassVar[bool] = False  # moves image content (pixel positions no longer match label.*_uv)
    showcase: ClassVar[dict[str, Any]] = {}  # stronger parameters for the preview gallery

    @dataclasses.dataclass(frozen=True)
    class Params:
        """No parameters."""

    def __init__(self, params: Any, spec: DataSpec):
        self.params, self.spec = params, spec
        self.check()

    def check(self) -> None:
        """Validate the parameters against the data; raise ConfigError / AugmentRefused with the fix."""

    def range(self, field: str, lo: float = -math.inf, hi: float = math.inf) -> tuple[float, float]:
        """A validated [low, high] parameter."""
        return _check_range(f"{self.name}.params.{field}", getattr(self.params, field), lo, hi)

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        """Per-sample parameters: tensors with leading dimension n, on the CPU."""
        return {}

    def apply(self, batch: AugBatch, idx: torch.Tensor, params: dict[str, torch.Tensor], g: torch.Generator) -> None:
        """Augment samples `idx` (n,) of `batch` in place with their parameters (each (n, ...))."""
        raise NotImplementedError

    def rewordings(self, text: str) -> set[str] | None:
        """Every instruction this step can turn `text` into besides `text` itself (None: too many to list)."""
        return set()


class ImageAugmentation(Augmentation):
    """An augmentation of camera frames only: implement `transform` on one camera's selected samples."""

    def apply(self, batch: AugBatch, idx: torch.Tensor, params: dict[str, torch.Tensor], g: torch.Generator) -> None:
        dev = batch.device
        p = {k: v.to(dev) for k, v in params.items()}
        noise_g = device_generator(g, dev) if self.per_frame else g
        for cam in batch.cameras:
            x = batch.image(cam)
            x[idx] = self.transform(x[idx], p, noise_g)  # (n, T, 3, H, W)

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        """x float (n, T, 3, H, W) in [0, 1] → same shape; parameters p[k] (n, ...) shared over T."""
        raise NotImplementedError


# ---------------------------------------------------------------------------- sampling helpers
def uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    """(n,) floats uniform in [lo, hi]."""
    return lo + (hi - lo) * torch.rand(n, generator=g)


def choice(n: int, options: Sequence[float], g: torch.Generator) -> torch.Tensor:
    """(n,) values drawn uniformly from `options`."""
    opts = torch.as_tensor(list(options), dtype=torch.float32)
    return opts[torch.randint(len(opts), (n,), generator=g)]


def device_generator(g: torch.Generator, device: torch.device) -> torch.Generator:
    """`g` itself on the CPU; elsewhere a generator on `device` seeded from `g`, so results stay seed-reproducible."""
    if device.type == "cpu":
        return g
    seed = int(torch.randint(0, 2**62, (1,), generator=g))
    return torch.Generator(device=device).manual_seed(seed)


def bcast(v: torch.Tensor, ndim: int = 5) -> torch.Tensor:
    """(n,) → (n, 1, ..., 1) with `ndim` dimensions, to broadcast over (n, T, 3, H, W)."""
    return v.reshape(v.shape[0], *([1] * (ndim - 1)))
