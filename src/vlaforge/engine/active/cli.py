"""`vlaforge engine loop`: active learning rounds (mine → correct → new version → retrain → evaluate)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG = """examples:
  vlaforge engine loop --dataset data/pp --init runs/pp --out al/unc --rounds 3 --budget 500
  vlaforge engine loop --dataset data/pp --init runs/pp --out al/rnd --rounds 3 --budget 500 --strategy random
  vlaforge engine loop --dataset data/pp --init runs/pp --out al/ens --ensemble runs/pp_seed1 --ensemble runs/pp_seed2
  vlaforge engine loop --dataset data/pp --init runs/pp --out al/q --labeler people     only write the review queue
  vlaforge engine loop --dataset data/pp --out al/new --train.batch_size 64 --model.width 192   train round 0 first

Any training field can be set as --train.<field> / --model.<field> (the recipe every round uses; with --init RUN
the defaults are that run's config). See docs/active_learning.md."""


def add_loop_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `loop` sub-command to an `engine` sub-parser group."""
    from vlaforge.engine.active.correct import PREFIX_STEPS
    from vlaforge.engine.active.loop import LABELERS, RETRAIN, STRATEGIES
    from vlaforge.engine.active.uncertainty import METHODS

    p = subparsers.add_parser(
        "loop", help="active learning: mine uncertain/failed moments, correct them with the sim expert, retrain, evaluate",
        description="Runs R rounds. Each round rolls the current policy out in the sim, scores how unsure it is at every "
        "visited state (flow-sample spread, token entropy or ensemble disagreement) and takes the failure detector's hard "
        "moments of failed rollouts; the scripted expert takes over from the chosen states (DAgger-style) until --budget "
        "labelled steps are spent; the corrections and the old data become a NEW dataset version (atomic, with lineage "
        "and a review queue in meta/review_queue.json); the policy is retrained and evaluated. --strategy dagger also relabels the states the policy visited before "
        "each moment with the expert's actions; --strategy random spends the same budget on fresh expert episodes (the baseline). Writes OUT/loop.json and OUT/loop.svg (success against labelled steps).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", type=Path, required=True, help="the dataset to start from (collected with `vlaforge sim collect`)")
    p.add_argument("--out", type=Path, required=True, help="loop directory to create (rounds, versions, runs, evals, loop.json)")
    p.add_argument("--rounds", type=int, default=3, help="rounds after the starting point (default 3)")
    p.add_argument("--budget", type=int, default=500, help="labelled steps added per round (default 500)")
    p.add_argument("--strategy", choices=STRATEGIES, default="uncertainty", help="uncertainty (expert corrections from mined moments), dagger (the same, plus the "
                   f"{PREFIX_STEPS} visited states before each moment relabelled by the expert), mixed (dagger for half the budget, fresh expert "
                   "episodes for the rest) or random (fresh expert episodes, the baseline)")
    p.add_argument("--init", default="", metavar="RUN", help="starting checkpoint or run dir (default: train one on --dataset first)")
    p.add_argument("--ensemble", action="append", default=[], metavar="RUN", help="another checkpoint for ensemble disagreement (repeatable)")
    p.add_argument("--uncertainty", choices=METHODS, default="auto", help="measure (auto: ensemble if given, else the head's own)")
    p.add_argument("--samples", type=int, default=8, help="flow samples per scored step (default 8)")
    p.add_argument("--task", dest="family", default="pick_place", help="task family to mine and evaluate (default pick_place)")
    p.add_argument("--rollouts", type=int, default=20, help="mining rollouts per round (default 20)")
    p.add_argument("--score-every", type=int, default=2, help="score every k-th step of a rollout (default 2)")
    p.add_argument("--backoff", type=int, default=5, help="start corrections this many steps before a hard moment (default 5)")
    p.add_argument("--min-gap", type=int, default=10, help="minimum steps between two moments of one rollout (default 10)")
    p.add_argument("--retrain", choices=RETRAIN, default="finetune", help="finetune the last round's weights (default) or train from scratch")
    p.add_argument("--train-minutes", type=float, default=5.0, help="wall-clock budget per (re)training (default 5)")
    p.add_argument("--train-steps", type=int, default=0,
                   help="train this many steps per (re)training instead of --train-minutes (0, the default: use minutes); "
                        "a busy machine then changes only the time, not the result")
    p.add_argument("--eval-episodes", type=int, default=20, help="evaluation episodes per round (default 20)")
    p.add_argument("--eval-split", default="seen", help="evaluation split (default seen)")
    p.add_argument("--workers", type=int, default=2, help="evaluation processes (default 2)")
    p.add_argument("--labeler", choices=LABELERS, default="expert", help="expert (sim, default) or people (write the review queue, stop)")
    p.add_argument("--queue-size", type=int, default=20, help="--labeler people: moments in the queue (default 20)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (round messages still print)")
    p.set_defaults(func=_loop, accepts_overrides=True)


def recipe(dataset: Path, init: str, overrides: list[str]):  # noqa: ANN201 - RunConfig, imported lazily
    """The training recipe: --init's run config (or its checkpoint's model config, or the defaults) + overrides."""
    from vlaforge.config import apply_overrides, from_dict
    from vlaforge.models import PolicyConfig
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig

    cfg = RunConfig(str(dataset), PolicyConfig(), TrainConfig())
    if init:
        from vlaforge.models.policy import resolve_checkpoint

        run_json = Path(init) / "config.json"
        if (Path(init) / "checkpoints").exists() and run_json.exists():
            cfg = RunConfig.from_json(json.loads(run_json.read_text()))
        else:
            raw = json.loads((resolve_checkpoint(init) / "config.json").read_text())
            raw.setdefault("encode_grounding_camera", True)
            cfg = RunConfig(str(dataset), from_dict(PolicyConfig, raw, "model"), TrainConfig())
    return apply_overrides(cfg, overrides)


def _loop(args: argparse.Namespace, overrides: list[str]) -> int:
    from vlaforge.engine.active.loop import LoopConfig, run_loop

    cfg = LoopConfig(
        dataset=str(args.dataset), out=str(args.out), run=recipe(args.dataset, args.init, overrides), rounds=args.rounds,
        budget=args.budget, strategy=args.strategy, init=args.init, ensemble=tuple(args.ensemble), uncertainty=args.uncertainty,
        samples=args.samples, family=args.family, rollouts=args.rollouts, score_every=args.score_every, backoff=args.backoff,
        min_gap=args.min_gap, retrain=args.retrain, train_minutes=args.train_minutes, train_steps=args.train_steps, eval_episodes=args.eval_episodes,
        eval_split=args.eval_split, workers=args.workers, labeler=args.labeler, queue_size=args.queue_size,
    )
    doc = run_loop(cfg, show_bars=not args.no_progress)
    print(json.dumps([{k: r[k] for k in ("round", "labels_added_total", "frames", "eval")} for r in doc["rounds"]]))
    print(f"loop written to {args.out} (loop.json, loop.svg)")
    return 0
