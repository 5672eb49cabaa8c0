"""DAgger for grounding (`vlaforge engine reground`): fine-tune a policy's grounding module on the states its own rollouts visit.

The grounding module learns from demo frames, but a policy's rollouts visit other states (a half-done sequence, an
object left beside its bin), where its target keypoint can drift to another named object
(`benchmarks/grounding_rollouts.py`). In the sim every state can be labelled for free, so each round:

1. rolls the current policy out on `rollouts` episodes per family (seeds 3,000,000 + 100,000 x round + k: neither
   demo nor evaluation seeds) and keeps every `every`-th step's grounding-camera frame with the sim's labels for the
   move that is current then (the expert's rule: the first move not done, in the family's order);
2. fine-tunes the grounding module on batches that are half those rollout frames and half the dataset's frames.

Only the language-conditioned parts train (the keypoint queries, FiLM, the refine conv and the heatmap). The shared
feature map and the xyz head stay fixed, so a keypoint's feature keeps its meaning and the rest of the policy is used as
it is, without retraining. The result is a new run directory (`out`): the policy with its new grounding weights as
checkpoint `last`, `config.json` whose `train.init` is the source run, `metrics.jsonl`, and `reground.json` (recipe,
rollout success per round, minutes).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlaforge.errors import CheckpointError, ConfigError

SEED_BASE = 3_000_000  # rollout seeds: demos use small seeds, mining 500,000+, evaluation 1,000,000+
TRAINED = ("query", "key.", "film.", "refine.", "heat.")  # GroundingNet's language-conditioned parts
LABELS = ("label.target", "label.goal", "label.target_uv", "label.goal_uv", "label.objects_uv")


@dataclasses.dataclass(frozen=True)
class RegroundConfig:
    """How to re-ground: which families to roll out, how many episodes and steps per round."""

    families: tuple[str, ...] = ("sequence", "put_all")
    rollouts: int = 100  # episodes per family and round
    rounds: int = 2
    steps: int = 1000  # fine-tuning steps per round
    batch_size: int = 64  # half rollout frames, half dataset frames
    lr: float = 3e-4
    every: int = 2  # keep every n-th rollout step
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse values that would train nothing, naming the flag."""
        bad = [f"--{k.replace('_', '-')} {getattr(self, k)}" for k in ("rollouts", "rounds", "steps", "every") if getattr(self, k) < 1]
        if self.batch_size < 2:
            bad.append(f"--batch-size {self.batch_size}")
        if not self.lr > 0:
            bad.append(f"--lr {self.lr}")
        if bad:
            raise ConfigError("bad reground setting (each must be >= 1, batch size >= 2, lr > 0): " + ", ".join(bad))


class _Recorder:
    """An actor that keeps the grounding camera's frame and the sim's labels of the current move, every `every` steps."""

    def __init__(self, actor: Any, spec: Any, image_size: int, camera: str, every: int, frames: list, texts: list, labels: dict[str, list]):
        self.actor, self.spec, self.image_size, self.camera, self.every = actor, spec, image_size, camera, every
        self.frames, self.texts, self.labels, self.t = frames, texts, labels, 0

    def reset(self) -> None:
        self.actor.reset()

    def __call__(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        from vlaforge.eval.rollout import env_for
        from vlaforge.sim.labels import scene_labels
        from vlaforge.sim.tasks import current_move

        if self.t % self.every == 0:
            env = env_for(self.spec, self.image_size)
            move = current_move(env)
            if move is not None:
                labels = scene_labels(env, move)
                self.frames.append(np.asarray(obs[self.camera]).copy())  # (H, W, 3) uint8
                self.texts.append(instruction)
                for k in LABELS:
                    self.labels[k].append(labels[k])
        self.t += 1
        return self.actor(obs, instruction)


def rollout_frames(policy: Any, families: tuple[str, ...], episodes: int, seed0: int, every: int,
                   progress: bool = False) -> tuple[dict[str, Any], list[bool]]:
    """Roll `policy` out; return a batch of its visited frames with labels ({camera: (N, 1, 3, H, W) uint8, task, label.*})
    and each episode's success."""
    from vlaforge.control.queue import PolicyControl
    from vlaforge.eval.rollout import run_episode
    from vlaforge.eval.suite import EpisodeSpec

    camera = policy.cameras[policy.ground_cam]
    image_size = int(policy.dataset_info["features"][camera]["shape"][0])  # the env renders at the policy's size
    actor = PolicyControl(policy)
    frames: list[np.ndarray] = []
    texts: list[str] = []
    labels: dict[str, list] = {k: [] for k in LABELS}
    success = []
    for family in families:
        for k in range(episodes):
            spec = EpisodeSpec(family, "seen", seed0 + k)
            record, _ = run_episode(_Recorder(actor, spec, image_size, camera, every, frames, texts, labels), spec, image_size)
            success.append(record.success)
        if progress:
            print(f"  {family}: {sum(success[-episodes:])}/{episodes} rollouts succeed", flush=True)
    batch = {camera: torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)[:, None], "task": texts,
             **{k: torch.from_numpy(np.stack(v)) for k, v in labels.items()}}
    return batch, success


def reground(run: str | Path, dataset: str | Path, out: str | Path, cfg: RegroundConfig = RegroundConfig(),
             progress: bool = True) -> dict[str, Any]:
    """Fine-tune the grounding module of the policy in `run` on its own rollouts' states (+ `dataset`'s frames); write `out`."""
    from vlaforge.data.loader import split_episodes
    from vlaforge.data.reader import open_dataset
    from vlaforge.io import atomic_write_json, staging_dir
    from vlaforge.models import load_policy
    from vlaforge.models.checkpoint import run_config
    from vlaforge.models.encoders.grounding import current_labels, grounding_loss, label_targets
    from vlaforge.models.encoders.language import shared_embedder
    from vlaforge.sim.tasks import parse_families
    from vlaforge.train.checkpoint import write_checkpoint
    from vlaforge.train.pretrain import evaluate_grounding, label_frames

    out = Path(out)
    if out.exists():
        raise ConfigError(f"{out} exists; reground writes a new run directory (choose another --out)")
    families = tuple(parse_families(list(cfg.families)))
    policy = load_policy(run, device="cpu")
    if policy.grounding is None:
        raise CheckpointError(f"{run} has no grounding module (--model.grounding false): nothing to re-ground")
    if policy.cfg.grounding_slots != "current":
        raise ConfigError(f"{run} grounds every move (--model.grounding_slots {policy.cfg.grounding_slots}); re-grounding labels "
                          "rollout frames with the current move only, so it needs a 'current' module")
    camera = policy.cameras[policy.ground_cam]
    cam_name = camera.removeprefix("observation.images.")
    ds = open_dataset(dataset)
    train_eps, val_eps = split_episodes([int(e["episode_index"]) for e in ds.episode_meta], 0.1, cfg.seed)
    demo = label_frames(ds, cam_name, train_eps)  # refuses data without label.* features
    held_out = label_frames(ds, cam_name, val_eps) if val_eps else None
    net = policy.grounding
    params = [p for n, p in net.named_parameters() if n.startswith(TRAINED)]
    for n, p in net.named_parameters():
        p.requires_grad_(n.startswith(TRAINED))
    text = shared_embedder()
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-4)
    rng = np.random.default_rng(cfg.seed)
    half = cfg.batch_size // 2
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    pool: dict[str, Any] = {}  # every round's rollout frames so far (DAgger keeps them all)
    step = 0
    for r in range(cfg.rounds):
        if progress:
            print(f"round {r + 1}/{cfg.rounds}: {cfg.rollouts} rollouts per family of {', '.join(families)}", flush=True)
        net.eval()
        batch, success = rollout_frames(policy, families, cfg.rollouts, SEED_BASE + 100_000 * r, cfg.every, progress)
        pool = batch if not pool else {k: pool[k] + batch[k] if k == "task" else torch.cat([pool[k], batch[k]]) for k in pool}
        texts = pool["task"]
        rounds.append({"round": r, "rollouts": len(success), "rollout_success": round(sum(success) / len(success), 3),
                       "frames": len(texts)})
        net.train()
        for _ in range(cfg.steps):
            ix = rng.integers(0, len(texts), half)
            mine = {camera: pool[camera][ix], "task": [texts[i] for i in ix], **{k: pool[k][ix] for k in LABELS}}
            theirs = demo.__getitems__(rng.integers(0, len(demo), cfg.batch_size - half).tolist())
            loss = 0.0
            for b, w in ((mine, half), (theirs, cfg.batch_size - half)):
                uv, xyz = label_targets(current_labels(b))
                o = net(b[camera][:, 0], text.features(b["task"]))
                part = grounding_loss(o, uv, xyz) * w / cfg.batch_size
                part.backward()
                loss += float(part.detach())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if step % 100 == 0 or step == cfg.steps * cfg.rounds:
                rows.append({"step": step, "loss": round(loss, 5), "elapsed_s": round(time.perf_counter() - t0, 1),
                             "threads": torch.get_num_threads()})
        net.eval()
        if held_out is not None:
            rounds[-1]["heldout_demo_frames"] = {k: round(v, 4) for k, v in evaluate_grounding(net, held_out, cam_name).items()}
        if progress:
            print(f"  {json.dumps(rounds[-1])}", flush=True)
    net.requires_grad_(False)
    source_cfg = run_config(run)  # also found when `run` is a checkpoint inside a run
    recipe = {"source": str(run), "dataset": str(dataset), **dataclasses.asdict(cfg), "trained": list(TRAINED), "rounds_done": rounds,
              "minutes": round((time.perf_counter() - t0) / 60, 2)}
    with staging_dir(out) as tmp:
        write_checkpoint(tmp, step, policy.save, None)
        run_cfg = {**source_cfg, "dataset": str(dataset),
                   "train": {**source_cfg.get("train", {}), "steps": step, "batch_size": cfg.batch_size, "lr": cfg.lr, "init": str(run)}}
        atomic_write_json(tmp / "config.json", run_cfg)
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        atomic_write_json(tmp / "reground.json", recipe)
    return recipe


def add_reground_parser(subparsers: Any) -> None:
    """Add the `reground` sub-command to an `engine` sub-parser group."""
    import argparse

    p = subparsers.add_parser(
        "reground", help="DAgger for grounding: fine-tune a policy's grounding module on the states its own rollouts visit",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  vlaforge engine reground runs/all --dataset data/all --tasks sequence,put_all --out runs/all_reground\n"
               "  python benchmarks/run_quality.py --run runs/all_reground --baseline runs/all --tasks all",
    )
    p.add_argument("run", type=Path, help="a `vlaforge train` run (or checkpoint) whose policy has a grounding module")
    p.add_argument("--dataset", type=Path, required=True, help="its training dataset with the sim's label.* features (half of each batch)")
    p.add_argument("--out", type=Path, required=True, help="new run directory to write")
    d = RegroundConfig()
    p.add_argument("--tasks", default=",".join(d.families), help=f"families to roll out (default {','.join(d.families)}; 'all' for every one)")
    for name, help_ in (("rollouts", "episodes per family and round"), ("rounds", "rounds (each rolls out the policy as it is then)"),
                        ("steps", "fine-tuning steps per round"), ("batch_size", "frames per step, half from rollouts"),
                        ("every", "keep every n-th rollout step"), ("seed", "sampling seed")):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name), help=f"{help_} (default {getattr(d, name)})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr:g})")
    p.set_defaults(func=_run)


def _run(args: Any) -> int:
    """Build the config from flags, re-ground, say where the run went."""
    cfg = RegroundConfig(families=tuple(t for t in args.tasks.split(",") if t), rollouts=args.rollouts, rounds=args.rounds, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr, every=args.every, seed=args.seed)
    recipe = reground(args.run, args.dataset, args.out, cfg)
    print(f"re-grounded policy written to {args.out} ({recipe['minutes']:.1f} min; rollout success per round: "
          + ", ".join(f"{r['rollout_success']:.0%}" for r in recipe["rounds_done"]) + ")")
    return 0
