"""LeRobotPolicy: a LeRobot `pretrained_model` directory (ACT, Diffusion, SmolVLA, ...) behind vlaforge's server.

`vlaforge serve lerobot:DIR` loads the policy and its saved pre/post-processors the way LeRobot 0.6 does
(`get_policy_class(...).from_pretrained`, `make_pre_post_processors(cfg, pretrained_path=DIR)`), so
normalization, task tokenization and device placement are LeRobot's own and the actions come back in the
units the policy was trained on. LeRobot 0.6 needs Python >= 3.12 and torch < 2.12: this runs from a
LeRobot venv with vlaforge installed into it (`pip install -e /path/to/vlaforge` there).

vlaforge observation -> LeRobot batch: `observation.images.<cam>` uint8 (H, W, 3) -> float (B, 3, H, W) in
[0, 1]; `observation.state` float32 -> (B, S); the instruction -> `task`. The protocol is stateless (one
observation per request): a policy that reads `n_obs_steps` > 1 past observations gets the current one
repeated, as LeRobot's own `select_action` fills its queues on an episode's first step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vlaforge.errors import CheckpointError, MissingExtra
from vlaforge.serve.schema import PolicySpec, zero_observation

PREFIX = "lerobot:"
PREPROCESSOR, POSTPROCESSOR = "policy_preprocessor.json", "policy_postprocessor.json"  # LeRobot's default names
INSTALL = ("run `vlaforge serve lerobot:DIR` from a LeRobot venv (LeRobot >= 0.6: Python >= 3.12, torch < 2.12) "
           "with vlaforge installed into it: `/path/to/lerobot-venv/bin/pip install -e /path/to/vlaforge`, then "
           "`/path/to/lerobot-venv/bin/vlaforge serve lerobot:DIR` (see docs/deploy.md)")


def lerobot_dir(policy: str | Path) -> Path | None:
    """The directory of a `lerobot:DIR` policy argument; None for any other argument."""
    text = str(policy)
    return Path(text[len(PREFIX):]).expanduser() if text.startswith(PREFIX) else None


def require_lerobot() -> str:
    """LeRobot's version; MissingExtra saying how to get it when it does not import here."""
    import sys

    here = f"Python {sys.version.split()[0]} at {sys.executable}"
    try:
        import lerobot  # noqa: F401
        from lerobot.policies import get_policy_class, make_pre_post_processors  # noqa: F401
    except ImportError as e:
        raise MissingExtra(f"serving a LeRobot policy needs `lerobot`, which does not import in this environment ({here}: {e}); "
                           + INSTALL) from None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lerobot")
    except PackageNotFoundError:  # a source checkout on sys.path
        return "unknown"


class LeRobotPolicy:
    """`predict_batch(observations, instructions) -> (B, H, A)` for a LeRobot pretrained directory; `spec` from its features."""

    def __init__(self, path: str | Path, device: str | None = None, seed: int = 0):
        self.lerobot_version = require_lerobot()
        import torch
        from lerobot.configs import FeatureType, PreTrainedConfig
        from lerobot.policies import get_policy_class, make_pre_post_processors

        self.path = path = Path(path)
        _check_files(path)
        try:
            cfg = PreTrainedConfig.from_pretrained(path)
        except Exception as e:  # noqa: BLE001 - draccus/registry errors share no base; name the file instead
            raise CheckpointError(f"{path / 'config.json'} is not a LeRobot policy config this LeRobot "
                                  f"({self.lerobot_version}) can read ({type(e).__name__}: {str(e).splitlines()[0][:300]})") from None
        if device:
            cfg.device = device
        self.cfg = cfg
        try:
            self.policy = get_policy_class(cfg.type).from_pretrained(path, config=cfg)
            self.pre, self.post = make_pre_post_processors(cfg, pretrained_path=str(path), **_device_overrides(path, cfg.device))
        except ImportError as e:  # a policy's own extra, e.g. diffusers for Diffusion; LeRobot's message names it
            raise MissingExtra(f"the LeRobot {cfg.type} policy in {path} needs a package this LeRobot venv lacks: {e}") from None
        _check_normalization(path, cfg, self.pre, self.post)
        self.n_obs_steps = int(getattr(cfg, "n_obs_steps", 1) or 1)
        self.n_action_steps = int(getattr(cfg, "n_action_steps", 0) or 0)
        self.inputs = dict(cfg.input_features)
        self.cameras = [k for k, f in self.inputs.items() if f.type is FeatureType.VISUAL]
        obs: dict[str, tuple[tuple[int, ...], str]] = {}
        for key, feat in self.inputs.items():
            if feat.type is FeatureType.VISUAL:
                c, h, w = feat.shape
                obs[key] = ((h, w, c), "uint8")  # vlaforge sends uint8 HxWx3, as it stores frames
            elif feat.type in (FeatureType.STATE, FeatureType.ENV):
                obs[key] = (tuple(feat.shape), "float32")
            else:
                raise CheckpointError(f"{path / 'config.json'}: input feature {key!r} has type {feat.type.value}; vlaforge "
                                      "can send images (VISUAL) and float vectors (STATE, ENV) only")
        action = (cfg.output_features or {}).get("action")
        if action is None or len(action.shape) != 1:
            raise CheckpointError(f"{path / 'config.json'}: output_features needs an 'action' vector (shape [A]); "
                                  f"found {dict(cfg.output_features or {})}")
        self.action_dim = int(action.shape[0])
        names = tuple(getattr(cfg, "action_feature_names", None) or ())
        # Configs name the chunk length differently (chunk_size, horizon, n_action_steps): ask the policy once
        zero = {k: np.zeros(shape, dtype) for k, (shape, dtype) in obs.items()}
        self.chunk = int(self._run([zero], ["warm-up"]).shape[1])
        # select_action pops n_action_steps of each chunk (1 with temporal ensembling, which re-plans every step)
        self.execute = min(self.n_action_steps or self.chunk, self.chunk)
        self.spec = PolicySpec(obs, self.chunk, self.action_dim, names, execute=self.execute)
        torch.manual_seed(seed)  # policies draw their noise (diffusion, flow) from torch's global generator

    def describe(self) -> str:
        """One line on what was loaded, plus a warning when the stateless protocol hides history the policy reads."""
        cams = ", ".join(f"{k.removeprefix('observation.images.')} {self.spec.observation[k][0][0]}x{self.spec.observation[k][0][1]}"
                         for k in self.cameras) or "none"
        state = self.spec.observation.get("observation.state", ((0,), ""))[0][0]
        line = (f"LeRobot {self.lerobot_version} {self.cfg.type} policy from {self.path}: cameras {cams}, state {state}, "
                f"action {self.action_dim}, chunk {self.chunk} (LeRobot executes {self.execute} of them; the spec says so and "
                f"`vlaforge eval --server` does the same unless --n-action-steps is given), device {self.cfg.device}")
        if self.n_obs_steps > 1:
            line += (f"\nwarning: this policy reads n_obs_steps={self.n_obs_steps} past observations, but each request "
                     "carries one: the server repeats it as its own history (as LeRobot does on an episode's first step)")
        return line

    def warmup(self) -> None:
        """One inference (the first call builds caches), leaving the noise generator as it was."""
        import torch

        state = torch.get_rng_state()
        self._run([zero_observation(self.spec)], ["warm-up"])
        torch.set_rng_state(state)

    def predict_chunk(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """One observation -> (H, A) in the policy's action units."""
        return self._run([obs], [instruction])[0]

    def predict_batch(self, observations: list[dict[str, np.ndarray]], instructions: list[str]) -> np.ndarray:
        """(B, H, A) for B observations: one preprocessor, policy and postprocessor call."""
        return self._run(observations, instructions)

    def _run(self, observations: list[dict[str, np.ndarray]], instructions: list[str]) -> np.ndarray:
        import torch

        batch: dict[str, Any] = {}
        for key in self.inputs:
            x = torch.from_numpy(np.stack([np.asarray(o[key]) for o in observations]))
            if key in self.cameras:
                x = x.permute(0, 3, 1, 2).float().div_(255.0)  # (B, Hh, W, 3) uint8 -> (B, 3, Hh, W) in [0, 1]
            batch[key] = x.float()  # images (B, 3, Hh, W), vectors (B, S)
        batch["task"] = list(instructions)
        with torch.inference_mode():
            batch = self.pre(batch)
            if self.n_obs_steps > 1:  # history axis, as select_action's queues stack it: (B, T, ...)
                for key in self.inputs:
                    x = batch[key]
                    batch[key] = x.unsqueeze(1).expand(x.shape[0], self.n_obs_steps, *x.shape[1:])
            chunk = self.policy.predict_action_chunk(batch)  # (B, H, A), normalized
            if chunk.ndim == 2:  # some policies drop the batch axis for B = 1
                chunk = chunk.unsqueeze(0)
            actions = self.post(chunk)  # (B, H, A) in action units
        out = actions.detach().to("cpu", torch.float32).numpy()
        if out.shape[0] != len(observations) or out.shape[-1] != self.action_dim:
            raise CheckpointError(f"the LeRobot {self.cfg.type} policy in {self.path} returned actions of shape {list(out.shape)}; "
                                  f"expected [{len(observations)}, H, {self.action_dim}]")
        return out


def _check_files(path: Path) -> None:
    """A clear error for a directory that is not a LeRobot pretrained_model (before LeRobot tries the Hub)."""
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a directory; pass a LeRobot pretrained_model directory "
                              "(e.g. outputs/train/RUN/checkpoints/last/pretrained_model) as lerobot:DIR")
    missing = [f for f in ("config.json", "model.safetensors") if not (path / f).is_file()]
    if missing:
        raise CheckpointError(f"{path} is not a LeRobot pretrained_model directory: {missing} missing "
                              "(LeRobot's `policy.save_pretrained(DIR)` writes both)")
    if not (path / PREPROCESSOR).is_file() or not (path / POSTPROCESSOR).is_file():
        raise CheckpointError(f"{path} has no {PREPROCESSOR} / {POSTPROCESSOR}: without them the policy's normalization is unknown. "
                              "lerobot-train (LeRobot >= 0.4) saves them beside the weights; for an older checkpoint run "
                              "`python -m lerobot.processor.migrate_policy_normalization --pretrained-path DIR` first, "
                              "or save your processors with `preprocessor.save_pretrained(DIR)` / `postprocessor.save_pretrained(DIR)`")


def _device_overrides(path: Path, device: str) -> dict[str, Any]:
    """Run the processors' device step on the policy's device (the saved one is the training machine's), as LeRobot's
    policy server does; only for steps the saved pipelines have, since LeRobot refuses overrides that match no step."""
    out = {}
    for name, kwarg in ((PREPROCESSOR, "preprocessor_overrides"), (POSTPROCESSOR, "postprocessor_overrides")):
        try:
            steps = json.loads((path / name).read_text()).get("steps", [])
        except (OSError, ValueError, AttributeError) as e:
            raise CheckpointError(f"{path / name} is not a readable LeRobot processor config ({e})") from None
        if any(isinstance(s, dict) and s.get("registry_name") == "device_processor" for s in steps):
            out[kwarg] = {"device_processor": {"device": device}}
    return out


def _check_normalization(path: Path, cfg: Any, pre: Any, post: Any) -> None:
    """Refuse what LeRobot would do silently: a feature whose normalization mode needs stats that were not saved
    (LeRobot's normalizer passes such a feature through unchanged, so actions would come out in the wrong units)."""
    from lerobot.configs import FeatureType, NormalizationMode

    wanted = {**dict(cfg.input_features), **dict(cfg.output_features)}
    for pipeline, fname in ((pre, PREPROCESSOR), (post, POSTPROCESSOR)):
        for step in getattr(pipeline, "steps", []):
            norm_map, stats, feats = getattr(step, "norm_map", None), getattr(step, "_tensor_stats", None), getattr(step, "features", None)
            if norm_map is None or stats is None or feats is None:
                continue  # not a (un)normalizer step
            keys = getattr(step, "normalize_observation_keys", None)
            for key, feat in feats.items():
                if key not in wanted or (keys is not None and feat.type is not FeatureType.ACTION and key not in keys):
                    continue
                mode = norm_map.get(feat.type, NormalizationMode.IDENTITY)
                if mode != NormalizationMode.IDENTITY and key not in stats:
                    raise CheckpointError(f"{path / fname}: feature {key!r} is normalized with {mode.value} but its stats were not "
                                          "saved; LeRobot would pass it through unnormalized. Save the processors made with the "
                                          "training dataset's stats (`make_pre_post_processors(cfg, dataset_stats=meta.stats)`)")
