"""LeRobot's side of benchmarks/train_vs_lerobot.py: ACT training steps in LeRobot's own venv, driven over stdin/stdout.

    <lerobot venv>/bin/python benchmarks/lerobot_train_side.py --root DATASET --chunk 16 --batch 8

Builds ACT the way `lerobot-train --policy.type act` does (make_policy, make_pre_post_processors, the
policy's optimizer preset over `get_optim_params()`, its grad_clip_norm), with ACT's defaults except
chunk_size = n_action_steps = `chunk` and no pretrained backbone download. Each training step is
lerobot_train.py's loop body: next batch, uint8 cameras to float, preprocessor, forward, backward,
clip, optimizer step, zero_grad, loss.item(); timed by part (data, forward, backward, optimizer).

Prints one JSON line {"ready": ...}, then answers one JSON line per stdin request:
  {"cmd": "train", "seconds": S, "order": [row, ...]}  batches from a 0-worker DataLoader over `order`
  {"cmd": "preload", "order": [row, ...]}               keep those batches in memory
  {"cmd": "train", "seconds": S, "preloaded": true}     cycle the kept batches (the model step alone)
  {"cmd": "profile", "steps": N}                          torch.profiler's top ops over N preloaded steps
A train request may give "max_steps" (warm-up). Needs only LeRobot's venv plus benchmarks/common.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

from common import Parts, profiled_steps, timed_steps  # noqa: E402  (stdlib only; vlaforge.runtime reads /proc)
from lerobot_loader_side import describe, open_decodable  # noqa: E402


class ACTTrainer:
    """ACT, its preprocessor and optimizer over a LeRobotDataset; `step` is one lerobot-train update."""

    def __init__(self, ds: Any, chunk: int, batch: int):
        from lerobot.policies import make_policy, make_pre_post_processors
        from lerobot.policies.act.configuration_act import ACTConfig

        torch.manual_seed(0)
        self.ds, self.batch = ds, batch
        # The only changes from ACT's defaults: the horizon matches vlaforge's chunk, and no ImageNet download.
        self.overrides = {"chunk_size": chunk, "n_action_steps": chunk, "pretrained_backbone_weights": None, "device": "cpu"}
        self.cfg = ACTConfig(**self.overrides)
        self.policy = make_policy(cfg=self.cfg, ds_meta=ds.meta)
        self.pre, _ = make_pre_post_processors(policy_cfg=self.cfg, dataset_stats=ds.meta.stats)
        preset = self.cfg.get_optimizer_preset()
        self.opt = preset.build(self.policy.get_optim_params())
        self.grad_clip = preset.grad_clip_norm
        self.preloaded: list[dict[str, Any]] = []
        self.policy.train()

    def describe(self) -> dict[str, Any]:
        """Parameter counts (total and by submodule) and the settings that matter for cost."""
        m = self.policy.model
        fields = ("dim_model", "n_heads", "dim_feedforward", "n_encoder_layers", "n_decoder_layers", "use_vae", "n_vae_encoder_layers",
                  "dropout", "vision_backbone", "optimizer_lr", "optimizer_weight_decay")
        return {"params": sum(p.numel() for p in self.policy.parameters()),
                "params_by_part": {n: sum(p.numel() for p in c.parameters()) for n, c in m.named_children() if any(True for _ in c.parameters())},
                "overrides": {k: v for k, v in self.overrides.items() if k != "device"},
                "config": {k: getattr(self.cfg, k) for k in fields}, "grad_clip_norm": self.grad_clip,
                "optimizer": type(self.opt).__name__}

    def loader(self, order: list[int]) -> Iterator[dict[str, Any]]:
        """LeRobot's DataLoader, 0 workers, over exactly `order`."""

        return iter(torch.utils.data.DataLoader(self.ds, batch_size=self.batch, sampler=order, num_workers=0, drop_last=True))

    def prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        """What lerobot_train.py does to a loader batch before the update: uint8 cameras to float, then the preprocessor."""

        batch = dict(batch)
        for cam in self.ds.meta.camera_keys:
            if cam in batch and batch[cam].dtype == torch.uint8:
                batch[cam] = batch[cam].to(dtype=torch.float32) / 255.0
        return self.pre(batch)

    def step(self, batch_iter: Iterator[dict[str, Any]], parts: Parts) -> int:
        """One training update (lerobot_train.py's loop body and update_policy) → samples in it."""

        with parts("data"):
            batch = self.prepare(next(batch_iter))
        with parts("forward"):
            self.policy.train()
            loss, _ = self.policy.forward(batch)
        with parts("backward"):
            loss.backward()
        with parts("optimizer"):
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.grad_clip)
            self.opt.step()
            self.opt.zero_grad()
            loss.item()
        return len(batch["index"])

    def flops_per_sample(self) -> float:
        """Forward + backward FLOPs per sample on one preloaded batch (torch's FlopCounterMode), no optimizer step."""
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            batch = self.prepare(self.preloaded[0])
            loss, _ = self.policy.forward(batch)
            loss.backward()
        self.opt.zero_grad()
        return fc.get_total_flops() / len(batch["index"])

    def train(self, req: dict[str, Any]) -> dict[str, Any]:
        """Steps for req["seconds"] (or req["max_steps"]) over req["order"] or the preloaded batches."""
        if req.get("preloaded"):
            it: Iterator[dict[str, Any]] = itertools.cycle(self.preloaded)
        else:
            it = self.loader(req["order"])
        return timed_steps(lambda parts: self.step(it, parts), float(req.get("seconds", 0)), int(req.get("max_steps", 0)))

    def preload(self, order: list[int]) -> dict[str, Any]:
        """Keep the DataLoader's batches over `order` in memory."""
        t0 = time.perf_counter()
        self.preloaded = list(self.loader(order))
        return {"batches": len(self.preloaded), "seconds": time.perf_counter() - t0}

    def profile(self, steps: int) -> dict[str, Any]:
        """torch.profiler over `steps` preloaded steps → the top ops by self time, the share of dense math."""
        it = itertools.cycle(self.preloaded)
        return profiled_steps(lambda parts: self.step(it, parts), steps)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--backend", default=None, help="LeRobot video_backend (default: LeRobot's, pyav if torchcodec cannot decode here)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    ds, first_error = open_decodable(args.root, args.chunk, args.backend)
    trainer = ACTTrainer(ds, args.chunk, args.batch)
    ready = {**describe(ds, first_error), "torch_threads": torch.get_num_threads(), **trainer.describe()}
    print(json.dumps({"ready": ready}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req["cmd"] == "train":
            out = trainer.train(req)
        elif req["cmd"] == "preload":
            out = trainer.preload(req["order"])
            out["flops_per_sample"] = trainer.flops_per_sample()
        elif req["cmd"] == "profile":
            out = trainer.profile(int(req["steps"]))
        else:
            raise SystemExit(f"unknown request {req['cmd']!r}")
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
