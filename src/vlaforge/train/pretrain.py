"""Stage 1: train the grounding module alone on labelled sim frames (`vlaforge pretrain grounding`).

Frames of one camera + the instruction in, the named object's and its goal's positions out
(supervised by the `label.*` features `sim collect` writes). Held-out layouts (validation episodes)
and any extra evaluation datasets (e.g. held-out combinations) are scored every `eval_every` steps
with the right-object rate and localization error. Writes `grounding.safetensors` and
`grounding.json` (recipe, seed, metrics, time), which a policy loads with `--model.grounding_init`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vlaforge.data.features import is_label
from vlaforge.data.loader import TrainingDataset, split_episodes
from vlaforge.data.reader import LeRobotDataset, open_dataset
from vlaforge.errors import ConfigError, DatasetError
from vlaforge.io import atomic_write_json
from vlaforge.models.encoders.grounding import (SLOT_KEY, GroundingNet, batch_targets, current_labels, grounding_loss, grounding_metrics,
                                                 row_lookup, slot_label_table)
from vlaforge.models.encoders.language import shared_embedder
from vlaforge.runtime import pick_device

REQUIRED = ("label.target_uv", "label.goal_uv", "label.target", "label.goal", "label.objects_uv")


def label_frames(ds: LeRobotDataset, camera: str, episodes: list[int] | None = None) -> TrainingDataset:
    """Current frame of `camera` + every `label.*` feature, for the episodes given (all by default)."""
    cam = f"observation.images.{camera}"
    missing = [k for k in (cam, *REQUIRED) if k not in ds.features]
    if missing:
        raise DatasetError(f"{ds.root} lacks {missing}: grounding needs a camera and the sim's label.* features "
                          "(datasets written by `vlaforge sim collect` have them)")
    delta = {cam: [0.0], **{k: [0.0] for k in ds.features if is_label(k)}}
    return TrainingDataset(ds, delta_timestamps=delta, episodes=episodes)


def with_slot_labels(net: GroundingNet, ds: LeRobotDataset) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """batch → batch with its "moves" keypoint labels (`SLOT_KEY`) when `net` grounds every move; identity otherwise."""
    if net.slots == "current":
        return lambda b: b
    table, rows = slot_label_table(ds), row_lookup(ds)
    return lambda b: {**b, SLOT_KEY: table[rows(b["index"].numpy())]}


@torch.no_grad()
def evaluate_grounding(net: GroundingNet, td: TrainingDataset, camera: str, n: int = 512, batch: int = 128,
                       add_slots: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, float]:
    """Right-object rate and median errors over up to `n` evenly spaced frames of `td` (`add_slots`: its
    `with_slot_labels`, when the caller already has it)."""
    was = net.training
    net.eval()
    text = shared_embedder()
    dev = next(net.parameters()).device
    idx = np.linspace(0, len(td) - 1, min(n, len(td))).astype(int)
    slots = add_slots or with_slot_labels(net, td.ds)
    outs, labs, slot = [], [], []
    for i in range(0, len(idx), batch):
        b = slots(td.__getitems__(idx[i : i + batch].tolist()))
        o = net(b[f"observation.images.{camera}"][:, 0].to(dev), text.features(b["task"]).to(dev))
        outs.append({k: o[k].float().cpu() for k in ("uv", "xyz")})  # beside the labels, which stay on the CPU
        labs.append(current_labels(b))
        slot.append(b.get(SLOT_KEY))
    net.train(was)
    cat = {k: torch.cat([o[k] for o in outs]) for k in ("uv", "xyz")}
    return grounding_metrics(cat, {k: torch.cat([lb[k] for lb in labs]) for k in labs[0]}, None if slot[0] is None else torch.cat(slot))


def pretrain_grounding(dataset: str | Path, out: str | Path, camera: str = "front", steps: int = 3000, batch_size: int = 64,
                       lr: float = 1e-3, width: int = 32, budget_minutes: float = 0.0, eval_every: int = 250,
                       eval_datasets: list[str] | None = None, seed: int = 0, device: str = "auto",
                       progress: bool = True, meta: dict[str, Any] | None = None, augment: str = "fixed_camera",
                       slots: str = "current", init: str = "") -> dict[str, Any]:
    """Train a GroundingNet on `dataset`'s labelled frames; write it to `out`; return the recipe + metrics.

    `augment` is an augmentation recipe without geometric steps (pixels must stay where the labels say); "" for none.
    `slots` picks the keypoints (see `vlaforge.models.encoders.grounding`); `init` starts from weights ("pretrained": the
    shipped ones, or a grounding.safetensors path)."""
    from safetensors.torch import save_file

    from vlaforge.data.augment.pipeline import build_pipeline
    from vlaforge.train.schedule import warmup_cosine

    if steps < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(f"steps and batch_size must be >= 1 and lr > 0; got {steps}, {batch_size}, {lr}")
    dev = pick_device(device)
    ds = open_dataset(dataset)
    eps = [int(e["episode_index"]) for e in ds.episode_meta]
    train_eps, val_eps = split_episodes(eps, 0.1, seed)
    td = label_frames(ds, camera, train_eps)
    evals = {"heldout-layouts": label_frames(ds, camera, val_eps)}
    for p in eval_datasets or []:
        evals[Path(p).name] = label_frames(open_dataset(p), camera)
    pipeline = build_pipeline(augment, ds) if augment else None
    if pipeline is not None:
        pipeline.refuse_moving_pixels(augment, "the labels would no longer match the frames")
    torch.manual_seed(seed)
    aug_gen = torch.Generator().manual_seed(seed)
    net = GroundingNet(width, slots=slots)
    if init:
        from vlaforge.models.policy import load_grounding

        load_grounding(net, init)
    net = net.to(dev)
    add_slots = with_slot_labels(net, ds)
    eval_slots = {name: add_slots if e.ds is ds else with_slot_labels(net, e.ds) for name, e in evals.items()}  # built once each
    text = shared_embedder()
    text.features(list(ds.tasks))  # every instruction embedded once, before the clock starts
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    total = steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total, min(100, total // 10), 0.05))
    rng = np.random.default_rng(seed)
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    step = 0
    while step < total:
        b = add_slots(td.__getitems__(rng.integers(0, len(td), batch_size).tolist()))
        if pipeline is not None:
            b = pipeline(b, aug_gen)
        uv, xyz = batch_targets(b)
        o = net(b[f"observation.images.{camera}"][:, 0].to(dev), text.features(b["task"]).to(dev))
        loss = grounding_loss(o, uv.to(dev), xyz.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if budget_minutes > 0 and step in (20, 100) or (budget_minutes > 0 and step % 250 == 0):
            ran = time.perf_counter() - t0
            total = max(step, min(steps, int(step + (budget_minutes * 60 - ran) / (ran / step))))
        if step % eval_every == 0 or step == total:
            row = {"step": step, "loss": float(loss.detach()), "minutes": round((time.perf_counter() - t0) / 60, 2),
                   **{f"{name}/{k}": round(v, 4) for name, e in evals.items()
                      for k, v in evaluate_grounding(net, e, camera, add_slots=eval_slots[name]).items()}}
            history.append(row)
            if progress:
                print(json.dumps(row), flush=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(out / "grounding.safetensors"))
    recipe = {**(meta or {}), "dataset": str(dataset), "camera": camera, "width": width, "slots": slots, "init": init, "augment": augment,
              "augment_recipe": pipeline.recipe.to_dict() if pipeline is not None else None, "steps": step, "batch_size": batch_size, "lr": lr,
              "seed": seed, "minutes": round((time.perf_counter() - t0) / 60, 2), "train_frames": len(td),
              "torch_threads": torch.get_num_threads(), "final": history[-1] if history else {}, "history": history}
    atomic_write_json(out / "grounding.json", recipe)
    return recipe
