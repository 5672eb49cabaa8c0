"""The training loop: AdamW, warmup + cosine, grad clipping, EMA, bf16 autocast on CUDA, validation
on held-out episodes, periodic checkpoints, exact resume, and DDP under torchrun."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from vlaforge.config import from_dict, to_dict
from vlaforge.data.features import is_label
from vlaforge.data.loader import TrainingDataset, make_dataloader, split_episodes
from vlaforge.data.reader import open_dataset
from vlaforge.errors import CheckpointError, ConfigError
from vlaforge.io import atomic_write_json
from vlaforge.runtime import ThreadRetune, auto_threads, autocast, available_cores, device_label, pick_device, set_torch_threads
from vlaforge.train import checkpoint as ckpt
from vlaforge.train import distributed as dist
from vlaforge.train.config import TrainConfig
from vlaforge.train.ema import EMA
from vlaforge.train.metrics_log import MetricsLog
from vlaforge.train.schedule import warmup_cosine

BUDGET_REFIT_STEPS = 250  # with a wall-clock budget, the schedule is re-fitted at least this often (short budgets: more often)
THREADS_RECHECK_S = 60.0  # with the default threads, the free cores are re-checked at least this often (and every 250 steps)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run needs: the dataset, the policy and the optimization."""

    dataset: str
    model: Any  # vlaforge.models.PolicyConfig
    train: TrainConfig = TrainConfig()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RunConfig":
        """Parse a saved config.json (unknown keys are errors)."""
        from vlaforge.models import PolicyConfig

        unknown = sorted(set(d) - {"dataset", "model", "train"})
        if unknown:
            raise ConfigError(f"unknown run config keys {unknown}; valid: dataset, model, train")
        return cls(d["dataset"], from_dict(PolicyConfig, d.get("model", {}), "model"), from_dict(TrainConfig, d.get("train", {}), "train"))

    def to_json(self) -> dict[str, Any]:
        """Plain dict for config.json."""
        return {"dataset": self.dataset, "model": to_dict(self.model), "train": to_dict(self.train)}


def batch_order(n: int, batch: int, seed: int, epoch: int, rank: int, world: int) -> list[list[int]]:
    """The index batches of one epoch for one rank: a seeded permutation, sharded, full batches only."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    per_rank = perm[rank::world]
    n_batches = len(per_rank) // batch
    return [per_rank[i * batch : (i + 1) * batch].tolist() for i in range(n_batches)]


def batches(td: TrainingDataset, cfg: TrainConfig, info: dist.DistInfo, epoch: int, skip: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Yield (epoch, index in epoch, batch) forever, starting `skip` batches into `epoch` (for resume)."""
    while True:
        order = batch_order(len(td), cfg.batch_size, cfg.seed, epoch, info.rank, info.world)
        if not order:
            raise ConfigError(f"batch_size {cfg.batch_size} x {info.world} process(es) is larger than the {len(td)} training frames")
        if cfg.num_workers > 0:
            loader = make_dataloader(td, num_workers=cfg.num_workers, batch_sampler=order[skip:])
            it: Any = enumerate(loader, start=skip)
        else:
            it = ((i, td.__getitems__(order[i])) for i in range(skip, len(order)))
        for i, b in it:
            yield epoch, i, b
        epoch, skip = epoch + 1, 0


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move tensors to the device (non-blocking), leave strings as they are."""
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name or "embed" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


VAL_METRICS = ("right_object", "target_err_cm", "goal_err_cm")  # grounding metrics reported on held-out episodes


@torch.no_grad()
def validate(policy: torch.nn.Module, td: TrainingDataset, cfg: TrainConfig, device: torch.device,
             prepare: Callable[[dict[str, Any]], dict[str, Any]] = lambda b: b) -> dict[str, float]:
    """Mean loss (and grounding metrics, when the data has labels) over fixed held-out batches, with a fixed noise
    seed so values are comparable across steps → {"val_loss", "val_right_object", ...}."""
    was_training = policy.training
    policy.eval()
    order = batch_order(len(td), min(cfg.batch_size, len(td)), cfg.seed + 1, 0, 0, 1)[: cfg.val_batches]
    rows: list[dict[str, float]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 12345)
        for idx in order:
            with autocast(device):
                loss, metrics = policy.compute_loss(to_device(prepare(td.__getitems__(idx)), device))
            rows.append({"loss": float(loss), **{k: metrics[k] for k in VAL_METRICS if k in metrics}})
    policy.train(was_training)
    if not rows:
        return {"val_loss": float("nan")}
    return {f"val_{k}": float(np.mean([r[k] for r in rows])) for k in rows[0]}


def keypoint_lookup(policy: Any, ds: Any, progress: bool, retune: Callable[[], int] | None = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """batch → batch with the frozen grounding module's precomputed keypoints and, for "moves" keypoints, their labels
    from whole episodes (identity when there is neither)."""
    from vlaforge.models.encoders.grounding import SLOT_KEY, row_lookup, slot_label_table
    from vlaforge.models.policy import KEYPOINT_KEY

    tables = {}
    if policy.grounding is not None and policy.cfg.grounding_freeze:
        tables[KEYPOINT_KEY] = policy.keypoint_table(ds, progress=progress, retune=retune)  # (num_frames, K, 5 + C) by row
    if policy.grounding is not None and policy.cfg.grounding_slots == "moves" and "label.objects" in ds.features:
        tables[SLOT_KEY] = slot_label_table(ds)  # (num_frames, K, 5) by row
    if not tables:
        return lambda batch: batch
    rows = row_lookup(ds)

    def add(batch: dict[str, Any]) -> dict[str, Any]:
        r = rows(batch["index"].numpy())
        return {**batch, **{k: t[r] for k, t in tables.items()}}

    return add


def prefill_instructions(policy: Any, tasks: Iterable[str], augment: Any, report: bool) -> None:
    """Embed every instruction a batch can carry (the dataset's, and each wording the augmentation can make of them) once,
    in batches, before the first step, instead of one new string at a time inside training steps."""
    t = time.perf_counter()
    variants = getattr(augment, "instruction_variants", None)
    texts = variants(tasks) if variants is not None else None
    texts = set(tasks) if texts is None else texts  # an unlimited rewording: its new strings are embedded as they come
    n = policy.text.prefill(texts)
    if report and n:
        print(f"instruction embeddings: {len(texts):,} wordings of {len(set(tasks)):,} instructions ({n:,} new) in "
              f"{time.perf_counter() - t:.1f} s", flush=True)


TABLETOP_ROBOTS = ("vlaforge_tabletop", "vlaforge_sample")  # the frames the shipped grounding weights know (sample: test data)


def fit_grounding(run_cfg: RunConfig, ds: Any, say: Callable[[str], None] = print) -> RunConfig:
    """`run_cfg` with grounding off when it would start from the shipped weights on another robot's data: those were
    trained on vlaforge's tabletop front camera, so elsewhere their keypoints are noise and that camera gets no CNN tokens."""
    m = run_cfg.model
    robot = ds.info.get("robot_type")
    if not m.grounding or m.grounding_init != "pretrained" or robot in TABLETOP_ROBOTS:
        return run_cfg
    say(f"grounding off: {ds.root} is robot_type {robot!r} and the shipped grounding weights know only vlaforge's tabletop, "
        "so every camera is CNN-encoded instead (to ground on this robot: label.* features in the data and "
        "--model.grounding_init '' --model.grounding_freeze false)")
    return dataclasses.replace(run_cfg, model=dataclasses.replace(m, grounding=False))


def train(
    run_cfg: RunConfig,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    augment: Callable[[dict[str, Any], torch.Generator], dict[str, Any]] | None = None,
) -> Path:
    """Train a policy and return the run directory. With `resume`, continue exactly where `out` stopped.

    `augment(batch, generator)` is the online augmentation hook: it gets each training batch (uint8
    images, raw state/actions) before it moves to the device and returns the batch to train on.
    Without one, `train.augment` (a recipe file or built-in name) builds `vlaforge.data.augment`'s pipeline.
    """
    from vlaforge.models import build_policy

    out = Path(out)
    cfg = run_cfg.train
    device = pick_device(cfg.device)
    info = dist.init(device)
    threads = set_torch_threads(cfg.threads or auto_threads(info.local_world))
    if info.is_main:
        print(f"torch threads: {threads}" + ("" if cfg.threads else f" (--train.threads 0: the free cores of {available_cores()}, re-checked every 250 steps "
                                          f"or {THREADS_RECHECK_S:g} s)"), flush=True)
    if device.type == "cuda":
        torch.cuda.set_device(info.local_rank) if device.index is None else None
        device = torch.device("cuda", info.local_rank) if device.index is None else device

    ds = open_dataset(run_cfg.dataset)
    run_cfg = fit_grounding(run_cfg, ds, say=print if info.is_main else lambda _: None)  # said even with --no-progress
    if augment is None and cfg.augment:
        from vlaforge.data.augment.pipeline import build_pipeline  # lazy: only runs that ask for augmentation load it

        augment = build_pipeline(cfg.augment, ds)
        if run_cfg.model.grounding and run_cfg.model.grounding_weight > 0 and any(is_label(k) for k in ds.features):
            augment.refuse_moving_pixels(cfg.augment, "the grounding labels (label.*_uv) would no longer match the frames "
                                                      "(or set --model.grounding_weight 0)")
    all_eps = [int(e["episode_index"]) for e in ds.episode_meta]
    train_eps, val_eps = split_episodes(all_eps, cfg.val_fraction, cfg.seed)
    mcfg = run_cfg.model
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    policy = build_policy(mcfg, ds).to(device)
    if cfg.init and not resume:
        ckpt.init_weights(policy, cfg.init)
        if info.is_main:
            for note in ckpt.init_recipe_notes(cfg.init, cfg.batch_size, cfg.lr):
                print(f"note: {note}")
    if info.is_main:
        # Rank 0 builds the frame cache; the others wait and then open it.
        td = TrainingDataset(ds, n_obs=mcfg.n_obs, chunk=mcfg.chunk, episodes=train_eps)
    if info.world > 1:
        torch.distributed.barrier()
    if not info.is_main:
        td = TrainingDataset(ds, n_obs=mcfg.n_obs, chunk=mcfg.chunk, episodes=train_eps)
    val_td = TrainingDataset(ds, n_obs=mcfg.n_obs, chunk=mcfg.chunk, episodes=val_eps) if val_eps else None

    opt = torch.optim.AdamW(_param_groups(policy, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
    total = cfg.steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total, cfg.warmup_steps, cfg.lr_floor))
    ema = EMA(policy, cfg.ema_decay) if cfg.ema_decay > 0 else None
    step, epoch, in_epoch, elapsed_before = 0, 0, 0, 0.0

    if resume:
        state = ckpt.load_train_state(ckpt.latest_checkpoint(out))
        saved_cfg = json.loads((out / "config.json").read_text())
        if from_dict(type(mcfg), saved_cfg["model"], "model") != mcfg:  # parsed: a run saved with older (flat) keys resumes too
            raise CheckpointError(f"--resume: the model config differs from the one {out} was trained with; drop the overrides")
        policy.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        step, epoch, in_epoch = state["step"], state["epoch"], state["in_epoch"]
        total = state.get("total_steps", total)
        elapsed_before = state.get("elapsed_s", 0.0)
        ckpt.set_rng_state(state["rng"][info.rank] if isinstance(state["rng"], list) else state["rng"])
    elif info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if (out / "config.json").exists() and ckpt.checkpoints_dir(out).exists():
            raise ConfigError(f"{out} already holds a run; use --resume {out} to continue it or choose another --out")
        atomic_write_json(out / "config.json", run_cfg.to_json())
    if not resume:  # a resumed run restored every RNG from its checkpoint above
        ckpt.seed_all(cfg.seed * 1000 + info.rank)

    # A frozen grounding module sees each recorded frame once: its keypoints are computed here and looked up per batch.
    # Preparation can take minutes: the free cores are re-checked during it too, not only once training runs.
    t_prep = time.perf_counter()
    retune = ThreadRetune(threads, enabled=not cfg.threads and device.type == "cpu", processes=info.local_world, every_s=THREADS_RECHECK_S)
    add_keypoints = keypoint_lookup(policy, ds, progress and info.is_main, retune)
    retune(force=True)
    prefill_instructions(policy, ds.tasks, augment, info.is_main)
    elapsed_before += time.perf_counter() - t_prep  # part of the wall-clock budget

    model: torch.nn.Module = policy
    if info.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(policy, device_ids=[device.index] if device.type == "cuda" else None)
    log = MetricsLog(out, resume_step=step if resume else None) if info.is_main else None
    stream = batches(td, cfg, info, epoch, in_epoch)

    def save() -> None:
        # Every rank's RNG state is kept so a resumed DDP run draws exactly what it would have.
        rngs = [ckpt.rng_state()]
        if info.world > 1:
            rngs = [None] * info.world
            torch.distributed.all_gather_object(rngs, ckpt.rng_state())
        if not info.is_main:
            return
        ema_policy = _ema_model(policy, ema)
        state = {
            "model": policy.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "ema": ema.state_dict() if ema is not None else None, "step": step, "epoch": epoch, "in_epoch": in_epoch,
            "total_steps": total, "elapsed_s": elapsed_before + time.perf_counter() - t_start, "rng": rngs,
        }
        ckpt.write_checkpoint(out, step, ema_policy.save, state)

    bar = None
    if progress and info.is_main:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[msg]}"), TimeRemainingColumn())
        bar.start()
        task = bar.add_task("train", total=total, completed=step, msg="")
    aug_gen = torch.Generator().manual_seed(cfg.seed * 7919 + info.rank * 104729 + step)
    t_start, step0 = time.perf_counter(), step
    next_refit = step0 + 20  # first budget re-fit (see below)
    t_log, n_log = time.perf_counter(), 0
    cpu_log = _cpu_now()
    device_name = device_label(device)  # logged with every row: what trained this run
    policy.train()
    try:
        while step < total:
            epoch, i, batch = next(stream)
            in_epoch = i + 1
            batch = add_keypoints(batch)
            if augment is not None:
                aug_gen.manual_seed(cfg.seed * 7919 + info.rank * 104729 + step)  # per step, so a resumed run draws the same
                batch = augment(batch, aug_gen)
            batch = to_device(batch, device)
            with autocast(device):
                loss, metrics = model(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip) if cfg.grad_clip > 0 else torch.tensor(0.0)
            opt.step()
            sched.step()
            step += 1
            if ema is not None:
                ema.update(policy, step)
            n_log += len(batch["task"]) * info.world
            threads = retune(force=step % 250 == 0)
            if cfg.budget_minutes > 0 and step >= next_refit:
                # Fit the schedule (and the stop) to the wall-clock budget: first once the step time is known, then
                # again about every 5% of the budget (10-250 steps), so a machine that slows down still stops on time.
                ran = time.perf_counter() - t_start
                left = cfg.budget_minutes * 60 - (elapsed_before + ran)
                rate = (step - step0) / ran  # steps per second so far
                budget_steps = step + int(max(0.0, left) * rate)
                every = min(BUDGET_REFIT_STEPS, max(10, int(rate * cfg.budget_minutes * 60 / 20)))
                total, every = dist.broadcast_object((max(step, min(cfg.steps, budget_steps)), every), info)  # rank 0's, on all
                next_refit = step + every
                if bar is not None:
                    bar.update(task, total=total)
            if info.is_main and (step % cfg.log_every == 0 or step == total):
                now, cpu = time.perf_counter(), _cpu_now()
                row = {
                    "step": step, "loss": float(loss.detach()), "lr": sched.get_last_lr()[0], "grad_norm": float(grad_norm),
                    "samples_per_s": n_log / (now - t_log), "elapsed_s": elapsed_before + now - t_start, "val_loss": None,
                    "threads": threads if device.type == "cpu" else None,  # torch threads now (the default follows the free cores)
                    "device": device_name,
                    "other_cores": _other_cores(cpu_log, cpu, now - t_log, info.local_world),
                    **{k: float(v) for k, v in metrics.items()},
                }
                t_log, n_log, cpu_log = now, 0, cpu
                if val_td is not None and (step % cfg.val_every == 0 or step == total):
                    row.update(validate(_ema_model(policy, ema), val_td, cfg, device, add_keypoints))
                log.log(row)
                if on_log:
                    on_log(row)
                if bar is not None:
                    msg = f"loss {row['loss']:.4f}  {row['samples_per_s']:.0f} samples/s" + (f"  val {row['val_loss']:.4f}" if row["val_loss"] is not None else "")
                    if row.get("val_right_object") is not None:
                        msg += f"  right object {row['val_right_object']:.0%}"
                    bar.update(task, completed=step, msg=msg)
            elif bar is not None:
                bar.update(task, completed=step)
            if step % cfg.save_every == 0 and step < total:
                save()
        save()
        if info.is_main:
            write_loss_plot(out)
        if info.world > 1:
            _check_ranks_in_sync(policy, info)
    finally:
        if bar is not None:
            bar.stop()
        if log is not None:
            log.close()
        dist.shutdown()
    return out


def _cpu_now() -> tuple[float, float] | None:
    """(machine busy CPU s, this process's CPU s), or None where /proc is missing."""
    from vlaforge.runtime import cpu_seconds

    try:
        return cpu_seconds()
    except OSError:
        return None


def _other_cores(before: tuple[float, float] | None, after: tuple[float, float] | None, wall: float, local_ranks: int) -> float | None:
    """Cores that other work kept busy over `wall` seconds: the machine's busy CPU minus our ranks', each counted as this
    one (data-loader worker processes, `--train.num_workers` > 0, count as other work)."""
    if before is None or after is None or wall <= 0:
        return None
    return round(max(0.0, (after[0] - before[0]) - local_ranks * (after[1] - before[1])) / wall, 2)


def write_loss_plot(run: Path) -> Path:
    """RUN/loss.svg: training and validation loss against step, from metrics.jsonl."""
    from vlaforge.plots import line_chart

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    val = [r for r in rows if r.get("val_loss") is not None]
    svg = line_chart(
        {"train loss": ([r["step"] for r in rows], [r["loss"] for r in rows]),
         "val loss (EMA)": ([r["step"] for r in val], [r["val_loss"] for r in val])},
        title=f"training loss — {run.name}", xlabel="step", ylabel="loss", log_y=True, standalone=True,
    )
    path = run / "loss.svg"
    path.write_text(svg)
    return path


def _check_ranks_in_sync(policy: torch.nn.Module, info: dist.DistInfo) -> None:
    """DDP must leave every rank with the same weights; print each rank's hash and fail loudly if they differ."""
    import hashlib

    h = hashlib.sha256()
    for v in policy.state_dict().values():
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    mine = h.hexdigest()[:16]
    hashes: list[Any] = [None] * info.world
    torch.distributed.all_gather_object(hashes, mine)
    print(f"weights-hash rank {info.rank}: {mine}", flush=True)
    if len(set(hashes)) != 1:
        raise RuntimeError(f"DDP ranks diverged: weight hashes {hashes}")


def _ema_model(policy: torch.nn.Module, ema: EMA | None) -> torch.nn.Module:
    if ema is None:
        return policy
    m = copy.deepcopy(policy)
    m.load_state_dict(ema.state_dict())
    return m
