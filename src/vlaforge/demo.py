"""`vlaforge demo`: the whole loop on the built-in sim, in one command.

collect expert demos (a quarter of them with one mid-task perturbation, so the policy sees
recoveries) → check the data → health report → train the default policy for a time budget → evaluate on every
split → report. Prints a summary table and the report's path; writes OUT/demo.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from vlaforge.jobs import LOCAL, Backend
from vlaforge.jobs import add_arguments as add_backend_arguments
from vlaforge.jobs import from_args as backend_from_args

EPILOG = """examples:
  vlaforge demo                                  the default run (under 30 minutes on 2 CPU cores)
  vlaforge demo --quick                          a ~2-minute smoke run of every stage
  vlaforge demo --budget-minutes 5 --out outputs/demo5
  vlaforge demo --tasks all --episodes 160 --budget-steps 15000   all five families in one policy, a fixed step budget"""


def register(parser: argparse.ArgumentParser) -> None:
    """Add the demo options."""
    parser.epilog = EPILOG
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="directory for data, health, run and eval")
    parser.add_argument("--tasks", default="pick_place", help="task families to collect, train and evaluate ('all' for every one)")
    parser.add_argument("--episodes", type=int, default=800, help="expert episodes per family")
    parser.add_argument("--perturbed-fraction", type=float, default=0.25,
                        help="share of those episodes with one mid-task perturbation (so the data shows recoveries)")
    parser.add_argument("--budget-minutes", type=float, default=20.0, help="wall-clock minutes of training")
    parser.add_argument("--budget-steps", type=int, default=0,
                        help="train for exactly this many steps instead of --budget-minutes (the same result on a busy or a quiet "
                             "machine; only the time differs)")
    parser.add_argument("--eval-episodes", type=int, default=50, help="evaluation episodes per family and split")
    parser.add_argument("--splits", default="all", help="evaluation splits: 'all' or a comma list of seen, heldout-wording, heldout-combos, perturbed")
    parser.add_argument("--workers", type=int, default=2, help="processes for collection and evaluation, local or on Ray (--backend)")
    add_backend_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 episodes, 40 training steps, 2 eval episodes per split")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_demo)


def _stage(i: int, text: str) -> float:
    from rich.console import Console

    Console().print(f"[bold cyan][{i}/6][/] {text}")
    return time.perf_counter()


def demo(out: Path, tasks: str = "pick_place", episodes: int = 800, perturbed_fraction: float = 0.25, budget_minutes: float = 20.0,
         eval_episodes: int = 50, workers: int = 2, quick: bool = False, progress: bool = True, splits: str = "all",
         backend: Backend = LOCAL, budget_steps: int = 0) -> dict[str, Any]:
    """Run every stage; return what each produced and how long it took (also written to OUT/demo.json). `backend` runs
    collection and evaluation (training stays in this process); `budget_steps` > 0 trains that many steps instead of
    `budget_minutes`."""
    from vlaforge.data import open_dataset
    from vlaforge.data.validate import check_dataset
    from vlaforge.engine.health.report import write_report
    from vlaforge.engine.health.run import run_health
    from vlaforge.errors import ConfigError, DatasetError
    from vlaforge.eval.runner import evaluate
    from vlaforge.eval.suite import parse_families, parse_splits
    from vlaforge.io import atomic_write_json
    from vlaforge.models import PolicyConfig
    from vlaforge.sim.collect import collect
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig, train

    if quick:
        episodes, eval_episodes = 6, 2
    if budget_steps < 0:
        raise ConfigError(f"--budget-steps must be >= 0 (0: train for --budget-minutes instead), got {budget_steps}")
    families = parse_families(tasks)
    parse_splits(splits)  # a typo fails here, not after the collection and the training
    out = Path(out)
    if (out / "run" / "config.json").exists():  # the demo's directory is its own: a rerun replaces it, data included
        import shutil

        print(f"replacing the previous demo run in {out / 'run'}")
        shutil.rmtree(out / "run")
    res: dict[str, Any] = {"seconds": {}}
    t = _stage(1, f"collect {episodes} expert demos per family of {', '.join(families)} ({perturbed_fraction:.0%} with a perturbation)")
    data = out / "data"
    res["collect"] = collect(data, families, episodes, workers, perturb=["all"], one_each=True, perturb_fraction=perturbed_fraction,
                             overwrite=True, progress=progress, backend=backend)
    res["seconds"]["collect"] = round(time.perf_counter() - t, 1)

    t = _stage(2, f"check the dataset ({data})")
    problems = check_dataset(data)
    if problems:
        raise DatasetError(f"the collected dataset failed its check ({len(problems)} problems), first: {problems[0]}")
    ds = open_dataset(data)
    res["data"] = {"path": str(data), "episodes": ds.num_episodes, "frames": ds.num_frames, "tasks": len(ds.tasks)}
    res["seconds"]["check"] = round(time.perf_counter() - t, 1)

    t = _stage(3, "dataset health report")
    report = run_health(ds, progress=progress)
    _, health_html = write_report(report, out / "health")
    res["health"] = {"report": str(health_html), **report.counts(), "top": [f.title for f in report.findings[:3]]}
    res["seconds"]["health"] = round(time.perf_counter() - t, 1)

    budget = f"{budget_steps} steps" if budget_steps else f"{budget_minutes:g} minutes"
    t = _stage(4, "train the default policy" + (" (quick: 40 steps)" if quick else f" for {budget}"))
    # Photometric augmentation and paraphrases only (`fixed_camera`): the front camera is fixed, and crops or turns would
    # break the pixel → table mapping the grounding module learned.
    tcfg = TrainConfig(steps=40, val_every=20, save_every=40, log_every=10, warmup_steps=5, augment="fixed_camera") if quick else \
        TrainConfig(steps=budget_steps or 100_000, batch_size=64, budget_minutes=0.0 if budget_steps else budget_minutes, val_every=1000,
                    save_every=2000, augment="fixed_camera")
    run = train(RunConfig(str(data), PolicyConfig(), tcfg), out / "run", progress=progress)
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    val = [r for r in last if r.get("val_right_object") is not None]
    res["train"] = {"run": str(run), "steps": last[-1]["step"] if last else 0, "final_loss": last[-1]["loss"] if last else None,
                    "minutes": round((time.perf_counter() - t) / 60, 2), "device": last[-1].get("device") if last else None,
                    "grounding": {k.removeprefix("val_"): round(val[-1][k], 4) for k in ("val_right_object", "val_target_err_cm", "val_goal_err_cm")} if val else None}
    res["seconds"]["train"] = round(time.perf_counter() - t, 1)

    t = _stage(5, f"evaluate on {'every split' if splits == 'all' else splits} ({eval_episodes} episodes per family and split)")
    ev = evaluate({"checkpoint": run}, out / "eval", tasks=families, splits=splits, episodes=eval_episodes, workers=workers,
                  progress=progress, title=f"vlaforge demo: default policy after {res['train']['minutes']:.1f} min of training",
                  backend=backend)
    res["eval"] = {"report": str(out / "eval" / "report.html"), "summary": ev["summary"]}
    res["seconds"]["eval"] = round(time.perf_counter() - t, 1)
    res["seconds"]["total"] = round(sum(res["seconds"].values()), 1)
    _stage(6, "summary")
    atomic_write_json(out / "demo.json", res)
    return res


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo and print the summary."""
    from vlaforge.eval.cli import print_summary

    res = demo(args.out, args.tasks, args.episodes, args.perturbed_fraction, args.budget_minutes, args.eval_episodes, args.workers,
               args.quick, progress=not args.no_progress, splits=args.splits, backend=backend_from_args(args), budget_steps=args.budget_steps)
    d, h, tr = res["data"], res["health"], res["train"]
    print(f"data:   {d['episodes']} episodes, {d['frames']} frames, {d['tasks']} instructions -> {d['path']}")
    print(f"health: {h['error']} errors, {h['warning']} warnings, {h['info']} infos -> {h['report']}")
    print(f"train:  {tr['steps']} steps in {tr['minutes']:.1f} min, final loss {tr['final_loss']:.3f} -> {tr['run']}")
    if tr.get("grounding"):
        g = tr["grounding"]
        print(f"ground: right object {g['right_object']:.0%}, target error {g['target_err_cm']:.1f} cm, goal error {g['goal_err_cm']:.1f} cm "
              "(held-out episodes)")
    print_summary(res["eval"]["summary"], "default policy on the tabletop suite")
    print(f"stage seconds: {', '.join(f'{k} {v:g}' for k, v in res['seconds'].items())}")
    print(f"report: {res['eval']['report']}")
    return 0
