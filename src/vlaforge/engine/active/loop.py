"""`vlaforge engine loop`: rounds of mine → correct → new version → retrain → evaluate.

OUT/
  loop.json            config, one row per round (labels, dataset, checkpoint, success with its interval), updated each round
  loop.svg             success against labelled steps added
  round_0/             run/ (when no --init was given), eval/
  round_k/             mined.json (rollouts and chosen moments), data/ (the new version), run/, eval/

Round 0 is the starting policy (`init`, or one trained on the dataset) evaluated. Each later round adds
`budget` labelled steps: with strategy "uncertainty", expert corrections from the mined moments of the
current policy; with "dagger", the same, each preceded by the visited states before its moment relabelled by the
expert (`vlaforge.engine.active.correct.dagger_from`); with "mixed", dagger corrections for half the budget and fresh
expert episodes for the rest; with "random", fresh expert episodes (the baseline). With labeler "people" a round only
writes the review queue into a new version (no labels, no retraining) and the loop stops there.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable

from vlaforge.errors import ConfigError, DatasetError

STRATEGIES = ("uncertainty", "dagger", "mixed", "random")
RETRAIN = ("finetune", "scratch")
LABELERS = ("expert", "people")


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Everything one loop needs; `run` is the training recipe (model + train) every round starts from."""

    dataset: str
    out: str
    run: Any  # vlaforge.train.trainer.RunConfig: model and train settings (its dataset is replaced per round)
    rounds: int = 3
    budget: int = 500  # labelled steps added per round
    strategy: str = "uncertainty"
    init: str = ""  # starting checkpoint or run dir; "" = train one on `dataset` first (round 0)
    ensemble: tuple[str, ...] = ()  # more checkpoints: uncertainty = disagreement of [current policy, *ensemble]
    uncertainty: str = "auto"  # auto | flow | tokens | ensemble
    samples: int = 8  # flow samples per scored step
    family: str = "pick_place"
    rollouts: int = 20  # mining rollouts per round
    score_every: int = 2  # score every k-th step of a mining rollout
    backoff: int = 5  # start a correction this many steps before a detected hard moment
    min_gap: int = 10  # steps between two moments of the same rollout
    retrain: str = "finetune"  # finetune (from the last round's weights) | scratch
    train_minutes: float = 5.0  # wall-clock budget per (re)training
    train_steps: int = 0  # > 0: train this many steps per (re)training instead (a busy machine then changes only the time)
    eval_episodes: int = 20
    eval_split: str = "seen"
    workers: int = 2  # evaluation processes
    labeler: str = "expert"  # expert (scripted, in sim) | people (review queue only)
    queue_size: int = 20  # labeler people: moments in the queue, best first

    def __post_init__(self) -> None:
        bad = []
        for name, value, allowed in (("strategy", self.strategy, STRATEGIES), ("retrain", self.retrain, RETRAIN),
                                     ("labeler", self.labeler, LABELERS)):
            if value not in allowed:
                bad.append(f"--{name} {value!r} (choose from {list(allowed)})")
        for name in ("rounds", "budget", "rollouts", "score_every", "eval_episodes", "workers", "queue_size"):
            if getattr(self, name) < 1:
                bad.append(f"--{name.replace('_', '-')} {getattr(self, name)} (must be >= 1)")
        if self.train_steps < 0:
            bad.append(f"--train-steps {self.train_steps} (must be >= 0; 0 trains for --train-minutes)")
        if self.train_minutes <= 0:
            bad.append(f"--train-minutes {self.train_minutes} (must be > 0)")
        if self.labeler == "people" and self.strategy != "uncertainty":
            bad.append("--labeler people queues mined moments: use --strategy uncertainty")
        head = getattr(getattr(self.run, "model", None), "head", None)
        if self.strategy != "random" and head is not None:  # mining scores uncertainty; checked now, not after round 0's training
            from vlaforge.engine.active.uncertainty import method_for

            try:
                method_for(head, 1 + len(self.ensemble), self.uncertainty)
            except ConfigError as e:
                bad.append(str(e))
        if bad:
            raise ConfigError("bad loop config: " + "; ".join(bad))

    def train_budget(self) -> str:
        """Each (re)training's budget in words."""
        return f"{self.train_steps} steps" if self.train_steps else f"{self.train_minutes:g} min"

    def to_json(self) -> dict[str, Any]:
        """JSON-able (the recipe as its run config)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "run"}
        return {**d, "ensemble": list(self.ensemble), "run": self.run.to_json()}


def run_loop(cfg: LoopConfig, progress: Callable[[str], None] = print, show_bars: bool = True) -> dict[str, Any]:
    """Run the loop; returns (and writes to OUT/loop.json) the config and one row per round."""
    from vlaforge.data.reader import open_dataset

    out = Path(cfg.out)
    if (out / "loop.json").exists():
        raise ConfigError(f"{out} already holds a loop (loop.json); choose another --out")
    ds = open_dataset(cfg.dataset)
    cams = ds.camera_keys
    if not cams:
        raise DatasetError(f"{cfg.dataset} has no camera features; the loop trains and evaluates a vision policy")
    image_size = int(ds.features[cams[0]].shape[0])
    doc: dict[str, Any] = {"config": cfg.to_json(), "image_size": image_size, "rounds": []}
    dataset, ckpt = str(cfg.dataset), cfg.init
    if not ckpt:
        progress(f"round 0: training the starting policy on {dataset} ({cfg.train_budget()})")
        ckpt = _train(cfg, dataset, out / "round_0" / "run", init="", show_bars=show_bars)
    added_total = 0
    doc["rounds"].append(_row(cfg, 0, dataset, ckpt, 0, 0, _evaluate(cfg, ckpt, out / "round_0" / "eval", image_size, show_bars), {}))
    _save(out, doc)
    for r in range(1, cfg.rounds + 1):
        t0 = time.perf_counter()
        rdir = out / f"round_{r}"
        new, queue, mined = _label(cfg, ckpt, r, image_size, rdir, progress)
        version = write_version_checked(dataset, rdir / "data", new, cfg, r, queue)
        dataset = str(version)
        labels = sum(len(e["data"]["action"]) for e in new)
        added_total += labels
        if cfg.labeler == "people":
            progress(f"round {r}: review queue of {len(queue['items'])} moments written to {version}/meta/review_queue.json; "
                     "label them, then train on that version")
            doc["rounds"].append(_row(cfg, r, dataset, ckpt, labels, added_total, None, mined, time.perf_counter() - t0))
            _save(out, doc)
            break
        progress(f"round {r}: +{labels} labelled steps ({len(new)} episodes) → {version}; retraining ({cfg.retrain}, {cfg.train_budget()})")
        ckpt = _train(cfg, dataset, rdir / "run", init=ckpt if cfg.retrain == "finetune" else "", show_bars=show_bars)
        ev = _evaluate(cfg, ckpt, rdir / "eval", image_size, show_bars)
        doc["rounds"].append(_row(cfg, r, dataset, ckpt, labels, added_total, ev, mined, time.perf_counter() - t0))
        _save(out, doc)
        rate = ev["rate"]
        progress(f"round {r}: success {'n/a' if rate is None else f'{rate:.0%}'} after {added_total} labelled steps")
    return doc


def _label(cfg: LoopConfig, ckpt: str, r: int, image_size: int, rdir: Path,
           progress: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, Any]]:
    """One round's new episodes, its review queue and what mining saw."""
    from vlaforge.engine.active.correct import PREFIX_STEPS, corrections, fresh_episodes
    from vlaforge.engine.active.mine import mining_seeds, select, visit
    from vlaforge.engine.active.queue import make_queue
    from vlaforge.engine.active.uncertainty import make_scorer
    from vlaforge.io import atomic_write_json
    from vlaforge.models import load_policy

    if cfg.strategy == "random":
        progress(f"round {r}: {cfg.budget} labelled steps of fresh expert episodes (random baseline)")
        new = fresh_episodes(cfg.family, cfg.budget, image_size, r)
        return new, None, {"strategy": "random", "episodes": len(new)}
    import torch

    torch.set_num_threads(1)  # mining is many batch-1 forwards: one thread is fastest and leaves the other cores alone
    policy = load_policy(ckpt)
    members = [policy, *(load_policy(p) for p in cfg.ensemble)]
    method, scorer = make_scorer(members, cfg.uncertainty, cfg.samples)
    progress(f"round {r}: mining {cfg.rollouts} rollouts of {ckpt} ({method} uncertainty every {cfg.score_every} steps)")
    done = []
    visits = visit(policy, scorer, cfg.family, mining_seeds(r, cfg.rollouts), image_size, score_every=cfg.score_every,
                   on_rollout=lambda v: (done.append(v), progress(f"  rollout {len(done)}/{cfg.rollouts}: "
                                                                    f"{'success' if v.success else 'failed ' + ','.join(v.failures)}")))
    moments = select(visits, cfg.backoff, cfg.min_gap)
    if cfg.labeler == "people":
        items = [_unlabelled_item(visits[m.rollout], m) for m in moments[: cfg.queue_size]]
        new: list[dict[str, Any]] = []
    else:
        share = cfg.budget // 2 if cfg.strategy == "mixed" else cfg.budget
        new, items = corrections(visits, moments, share, image_size, r, prefix=0 if cfg.strategy == "uncertainty" else PREFIX_STEPS)
        if cfg.strategy == "mixed":  # the rest of the budget (more if the moments ran out) as whole expert episodes
            new += fresh_episodes(cfg.family, cfg.budget - sum(len(e["data"]["action"]) for e in new), image_size, r, source="fresh")
    queue = make_queue(items, r, ckpt, method, cfg.labeler)
    mined = {"strategy": cfg.strategy, "uncertainty": method, "rollouts": len(visits), "rollout_success": sum(v.success for v in visits),
             "moments_ranked": len(moments), "moments_used": len(items), "episodes": len(new),
             "fresh_episodes": sum(e["flags"]["source"] == "fresh" for e in new),
             "kinds": {k: sum(it["kind"] == k for it in items) for k in sorted({it["kind"] for it in items})}}
    rdir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(rdir / "mined.json", {**mined, "visits": [v.summary() for v in visits],
                                            "moments": [dataclasses.asdict(m) for m in moments[: len(items)]]})
    return new, queue, mined


def _unlabelled_item(v: Any, m: Any) -> dict[str, Any]:
    import math

    return {"kind": m.kind, "score": None if math.isnan(m.score) else round(m.score, 6), "tier": m.tier, "detail": m.detail,
            "family": v.family, "split": v.split, "seed": v.seed, "instruction": v.instruction, "step": m.step,
            "rollout_success": v.success, "expert_success": None, "episode": None, "labelled_steps": 0}


def write_version_checked(src: str, out: Path, new: list[dict[str, Any]], cfg: LoopConfig, r: int, queue: dict[str, Any] | None) -> Path:
    """Write the round's version and run `vlaforge data check` on it; a version that fails the check is an error."""
    from vlaforge.data.validate import check_dataset
    from vlaforge.engine.active.version import write_version

    op = {"name": "active-learning", "round": r, "strategy": cfg.strategy, "labeler": cfg.labeler, "budget": cfg.budget}
    path = write_version(src, out, new, op, queue)
    problems = check_dataset(path)
    if problems:
        raise DatasetError(f"the new version {path} fails `vlaforge data check`: {problems[0]}")
    return path


def _train(cfg: LoopConfig, dataset: str, out: Path, init: str, show_bars: bool) -> str:
    from vlaforge.train.trainer import train

    if cfg.train_steps:
        tcfg = dataclasses.replace(cfg.run.train, steps=cfg.train_steps, budget_minutes=0.0, init=init)
    else:
        tcfg = dataclasses.replace(cfg.run.train, budget_minutes=cfg.train_minutes, init=init)
    run = dataclasses.replace(cfg.run, dataset=dataset, train=tcfg)
    return str(train(run, out, progress=show_bars))


def _evaluate(cfg: LoopConfig, ckpt: str, out: Path, image_size: int, show_bars: bool) -> dict[str, Any]:
    from vlaforge.eval.runner import evaluate

    res = evaluate({"checkpoint": ckpt}, out, tasks=[cfg.family], splits=cfg.eval_split, episodes=cfg.eval_episodes,
                   workers=cfg.workers, image_size=image_size, progress=show_bars, title=f"active learning: {ckpt}")
    s = res["summary"]["by_split"][cfg.eval_split]
    return {"n": s["n"], "successes": s["successes"], "rate": s["rate"], "ci95": s["ci95"]}


def _row(cfg: LoopConfig, r: int, dataset: str, ckpt: str, labels: int, added_total: int, ev: dict[str, Any] | None,
         mined: dict[str, Any], seconds: float = 0.0) -> dict[str, Any]:
    from vlaforge.data.reader import open_dataset

    ds = open_dataset(dataset)
    return {"round": r, "strategy": cfg.strategy, "dataset": dataset, "version": int(ds.lineage.get("version", 0)),
            "episodes": ds.num_episodes, "frames": ds.num_frames, "labels_added": labels, "labels_added_total": added_total,
            "checkpoint": ckpt, "eval": ev or {"n": 0, "successes": 0, "rate": None, "ci95": [0.0, 1.0]}, "mined": mined,
            "seconds": round(seconds, 1)}


def _save(out: Path, doc: dict[str, Any]) -> None:
    from vlaforge.engine.active.plot import curve_svg
    from vlaforge.io import atomic_write_json, atomic_write_text

    atomic_write_json(out / "loop.json", doc)
    atomic_write_text(out / "loop.svg", curve_svg({doc["config"]["strategy"]: doc["rounds"]}))


def load_loop(out: str | Path) -> dict[str, Any]:
    """OUT/loop.json of a finished (or running) loop."""
    path = Path(out) / "loop.json"
    if not path.exists():
        raise ConfigError(f"{path} does not exist: not a loop directory")
    return json.loads(path.read_text())
