"""Export a policy to ONNX (fp32, optionally int8, serve/quantize.py): normalization in, unnormalization out, the head's
`sample` traced as it runs (the flow head's Euler steps, the tokens head's greedy decode, unrolled),
the language embedding an input (precomputed for the dataset's tasks). Every head gets the same
inputs; the head says itself whether it uses the noise (`draws_noise`) and what its settings were
(`config`, stored in the metadata), so export has no per-head branch.

Parity with PyTorch is checked on real dataset samples with the same noise; the max abs error per
action dimension is printed, stored in the export's metadata, and the export fails above tolerance.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from vlaforge.config import to_dict
from vlaforge.errors import CheckpointError, VlaforgeError
from vlaforge.serve.quantize import DEFAULT_METHOD


FP32_TOLERANCE = 1e-3  # max abs error per action dim, as a fraction of that dim's range
INT8_TOLERANCE = 0.15


class ExportWrapper(nn.Module):
    """(uint8 cameras (B, 3, H, W) ..., state (B, S), lang (B, 1 + L, 384), noise (B, H, A)) → raw actions (B, H, A)."""

    def __init__(self, policy: nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        p = self.policy
        n = len(p.cameras)
        images = {c: inputs[i][:, None] for i, c in enumerate(p.cameras)}  # (B, 1, 3, H, W)
        state, lang, noise = inputs[n][:, None], inputs[n + 1], inputs[n + 2]
        if p.cfg.n_obs > 1:
            images = {c: v.expand(-1, p.cfg.n_obs, -1, -1, -1) for c, v in images.items()}
            state = state.expand(-1, p.cfg.n_obs, -1)
        ctx = p.encode(images, state, lang)
        a = p.head.sample(ctx, noise=noise)  # (B, H, A)
        if not p.head.draws_noise:
            a = a + 0 * noise.sum()  # keep the noise input in every graph for a uniform signature
        return p.normalizer.unaction(a)


@contextlib.contextmanager
def fixed_pools(module: nn.Module, example: tuple[torch.Tensor, ...]) -> Iterator[int]:
    """While inside: each AdaptiveAvgPool2d swapped for the plain AvgPool2d it equals at the example's image size.

    With a dynamic batch axis the tracer loses the spatial sizes after GroupNorm, and ONNX has no adaptive
    pooling without them; camera images have fixed sizes, so the window is known. Yields how many were swapped;
    the originals are back on exit, so parity is checked against the policy as trained."""
    sizes: dict[str, tuple[int, int]] = {}

    def seen(name: str) -> Any:
        def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], __: torch.Tensor) -> None:  # None: output unchanged
            sizes.setdefault(name, (int(inputs[0].shape[-2]), int(inputs[0].shape[-1])))
        return hook

    hooks = [m.register_forward_hook(seen(name)) for name, m in module.named_modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    try:
        with torch.no_grad():
            module(*example)
    finally:
        for h in hooks:
            h.remove()
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    try:
        for name, (h, w) in sizes.items():
            parent_name, _, attr = name.rpartition(".")
            parent, pool = module.get_submodule(parent_name), module.get_submodule(name)
            oh, ow = (pool.output_size, pool.output_size) if isinstance(pool.output_size, int) else pool.output_size
            if oh and ow and h % oh == 0 and w % ow == 0:
                setattr(parent, attr, nn.AvgPool2d((h // oh, w // ow)))
                swapped.append((parent, attr, pool))
        yield len(swapped)
    finally:
        for parent, attr, pool in swapped:
            setattr(parent, attr, pool)


def input_names(policy: Any) -> list[str]:
    """ONNX input names, in order."""
    return [*policy.cameras, "observation.state", "language", "noise"]


def _example(policy: Any, obs: list[dict[str, np.ndarray]], langs: torch.Tensor, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    B = len(obs)
    ims = [torch.from_numpy(np.stack([o[c] for o in obs])).permute(0, 3, 1, 2).contiguous() for c in policy.cameras]
    state = torch.from_numpy(np.stack([o["observation.state"] for o in obs]).astype(np.float32))
    noise = torch.randn(B, policy.cfg.chunk, policy.action_dim, generator=g)
    return (*ims, state, langs, noise)


def _open(path: str | Path | None, run: str | Path, flag: str, why: str) -> Any:
    """The dataset at `path` (a flag's value, else the one the checkpoint records), or a DatasetError naming `flag`."""
    from vlaforge.data import open_dataset
    from vlaforge.errors import DatasetError

    if not path:
        raise DatasetError(f"{run} records no training dataset path; pass {flag} DATASET ({why})")
    if not Path(path).exists():
        raise DatasetError(f"the dataset {path} does not exist; it is needed for {why}: pass {flag} DATASET "
                           "(the dataset the policy was trained on, or one with the same features)")
    return open_dataset(path)


def _frames(ds: Any, policy: Any, idx: np.ndarray) -> tuple[list[dict[str, np.ndarray]], torch.Tensor]:
    """Observations (cameras uint8 (H, W, 3), state) and language features (B, 1 + L, 384) of the frames `idx`."""
    items = [ds[int(i)] for i in idx]
    obs = [{k: it[k] for k in [*policy.cameras, "observation.state"]} for it in items]
    return obs, policy.embed_text([it["task"] for it in items]).cpu()


def export_onnx(run: str | Path, out: str | Path, int8: bool = False, dataset: str | Path | None = None,
                samples: int = 16, tolerance: float | None = None, int8_method: str = DEFAULT_METHOD,
                calibration: str | Path | None = None, calibration_frames: int = 64) -> dict[str, Any]:
    """Export, check parity on `samples` real frames of the training dataset, write FILE and FILE.json metadata.

    With `int8`, quantize by `int8_method` (serve/quantize.py); the calibrated methods calibrate on
    `calibration_frames` frames of `calibration` (default: the parity dataset), never the frames the parity check uses."""
    import onnxruntime as ort

    from vlaforge.models import load_policy
    from vlaforge.serve.quantize import CALIBRATED, METHODS, check_method, quantize

    calibrate = int8 and check_method(int8_method) in CALIBRATED
    policy = load_policy(run).eval()
    ds_path = dataset or policy.dataset_info.get("path", "")
    ds = _open(ds_path, run, "--dataset", "the parity check's samples" + (" and the int8 calibration frames" if calibrate and not calibration else ""))
    policy.check_compatible(ds.features, ds.fps)
    cal_ds = _open(calibration, run, "--calibration", f"int8 {int8_method!r} calibration frames") if calibrate and calibration else ds
    if cal_ds is not ds:
        policy.check_compatible(cal_ds.features, cal_ds.fps)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tasks = list(ds.tasks)
    table = policy.embed_text(tasks).cpu()  # (T, 1 + L, 384) precomputed language features
    rng = np.random.default_rng(0)
    idx = rng.choice(ds.num_frames, size=min(samples, ds.num_frames), replace=False)
    obs, langs = _frames(ds, policy, idx)
    wrapper = ExportWrapper(policy).eval()
    names = input_names(policy)
    example = _example(policy, obs[:1], langs[:1], 0)
    fp32 = out if not int8 else out.with_suffix(".fp32.onnx")
    import logging
    import warnings

    stage = _Stages(["export", *(["quantize"] if int8 else []), "parity"])
    stage("export", f"tracing the policy to ONNX (opset 17, dynamic batch) -> {fp32}")

    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization's pre-processing advice
    with torch.no_grad(), warnings.catch_warnings(), fixed_pools(wrapper, example):
        warnings.simplefilter("ignore")  # tracer warnings about Python ints in shapes: shapes are static here
        # A dynamic batch axis: a control loop runs batch 1, the server one session call per batch.
        batch_axis = {n: {0: "batch"} for n in [*names, "action"]}
        torch.onnx.export(wrapper, example, str(fp32), input_names=names, output_names=["action"], opset_version=17, dynamo=False,
                          dynamic_axes=batch_axis)
    quantization = None
    if int8:
        feeds: list[dict[str, np.ndarray]] = []
        if calibrate:  # frames the parity check does not use, so parity is measured on frames the ranges never saw
            pool = np.setdiff1d(np.arange(cal_ds.num_frames), idx) if cal_ds is ds else np.arange(cal_ds.num_frames)
            pool = pool if len(pool) else np.arange(cal_ds.num_frames)  # a dataset smaller than the parity sample
            cal_idx = np.random.default_rng(1).choice(pool, size=min(calibration_frames, len(pool)), replace=False)
            cal_obs, cal_langs = _frames(cal_ds, policy, cal_idx)
            feeds = [{n: t.numpy() for n, t in zip(names, _example(policy, cal_obs[i : i + 1], cal_langs[i : i + 1], seed=10_000 + i))}
                     for i in range(len(cal_obs))]
        stage("quantize", f"int8 {int8_method} ({METHODS[int8_method]}" + (f"; {len(feeds)} calibration frames" if calibrate else "") + f") -> {out}")
        quantization = quantize(fp32, out, int8_method, feeds)
        if calibrate:
            quantization["calibration_dataset"] = str(cal_ds.root)
        fp32.unlink()
    stage("parity", f"onnxruntime vs PyTorch on {len(obs)} dataset samples")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    errs = []
    with torch.no_grad():
        for i in range(len(obs)):
            inp = _example(policy, obs[i : i + 1], langs[i : i + 1], seed=i)
            ref = wrapper(*inp).numpy()
            got = sess.run(None, {n: t.numpy() for n, t in zip(names, inp)})[0]
            errs.append(np.abs(ref - got).reshape(-1, policy.action_dim).max(axis=0))
        inp = _example(policy, obs, langs, seed=len(obs))  # the whole set as one batch, as the server runs it
        ref = wrapper(*inp).numpy()
        got = sess.run(None, {n: t.numpy() for n, t in zip(names, inp)})[0]
        errs.append(np.abs(ref - got).reshape(-1, policy.action_dim).max(axis=0))
    max_err = np.max(errs, axis=0)  # (A,)
    scale = np.maximum(np.asarray(policy.normalizer.action_max - policy.normalizer.action_min), 1e-6)
    rel = max_err / scale
    tol = tolerance if tolerance is not None else (INT8_TOLERANCE if int8 else FP32_TOLERANCE)
    meta = {
        "format": "vlaforge-onnx/1",
        "source": str(run),
        "int8": int8,
        "quantization": quantization,  # int8: the method, what it quantized, the calibration frames and dataset
        "head": policy.cfg.head,
        "head_config": to_dict(policy.head.config) if policy.head.config is not None else {},  # e.g. the flow steps unrolled
        "inputs": names,
        "batch": "dynamic",
        "dataset_info": policy.dataset_info,  # what the policy was trained on (older exports: "spec"; read_meta takes both)
        "chunk": policy.cfg.chunk,
        "action_dim": policy.action_dim,
        "n_action_steps": policy.cfg.n_action_steps,
        "tasks": tasks,
        "language_table": table.numpy().round(7).tolist(),
        "parity": {"samples": len(obs), "batched": True, "max_abs_err_per_dim": max_err.tolist(), "max_rel_err_per_dim": rel.tolist(), "tolerance_rel": tol},
    }
    (out.parent / (out.name + ".json")).write_text(json.dumps(meta))
    names_a = policy.dataset_info["features"]["action"].get("names") or [str(i) for i in range(policy.action_dim)]
    print("parity vs PyTorch on", len(obs), "dataset samples (max abs error per action dim):")
    for n, e, r in zip(names_a, max_err, rel):
        print(f"  {n:>10}: {e:.2e}  ({r:.2%} of its range)")
    if (rel > tol).any():
        out.unlink()
        (out.parent / (out.name + ".json")).unlink()
        raise VlaforgeError(f"ONNX parity failed: max relative error {rel.max():.3g} > tolerance {tol}; the export at {out} is not trustworthy and was removed"
                            + getattr(policy.head, "int8_note", ""))
    return meta


class _Stages:
    """`stage(name, what)` prints "[i/n] name: what" as a stage starts, and how long the one before took."""

    def __init__(self, names: list[str]):
        self.names, self.current, self.t = names, "", 0.0

    def __call__(self, name: str, what: str) -> None:
        import time

        now = time.perf_counter()
        if self.current:
            print(f"      {self.current} done in {now - self.t:.1f} s", flush=True)
        self.current, self.t = name, now
        print(f"[{self.names.index(name) + 1}/{len(self.names)}] {name}: {what}", flush=True)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The FILE.onnx.json written by export_onnx (an older one's "spec" is returned as "dataset_info")."""
    p = Path(str(path) + ".json")
    if not p.exists():
        raise CheckpointError(f"{p} is missing: export with `vlaforge export` so the dataset info and language table travel with the model")
    try:
        meta = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{p} is not valid JSON ({e}); export the model again with `vlaforge export`") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{p} must hold a JSON object; export the model again with `vlaforge export`")
    if "spec" in meta and "dataset_info" not in meta:  # written before the policy's `spec` was renamed `dataset_info`
        meta["dataset_info"] = meta.pop("spec")
    return meta
