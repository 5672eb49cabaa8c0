"""Active learning vs the random baseline: success against labelled steps, same budget, same starting policy.

    python benchmarks/active_learning.py                 # the published comparison (about an hour on 2 CPU cores)
    python benchmarks/active_learning.py --quick         # smoke run (< 5 min): tiny data, tiny model, 1 round; not a result
    python benchmarks/active_learning.py --summarize     # re-report a finished run from its files (no training)
    python benchmarks/active_learning.py --strategies dagger,random --name active_learning_dagger   # another active strategy
Both strategies start from the same policy (trained once on --demos expert episodes of pick_place) and run the
same rounds, budget, retraining recipe and evaluation seeds; `vlaforge engine loop` does each. The target (issue 15):
the active loop reaches the random baseline's final success with <= 50% of its labels. The policy has a flow head, so
the loop measures its own uncertainty (flow-sample spread; the default chunk head would need an ensemble). "Reaches" means its rate at
some round is >= the baseline's final rate; labels are counted as steps added. Intervals are Wilson 95%; both loops meet the
same evaluation seeds, so rounds are also compared pairwise (exact McNemar test).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Contention, save  # noqa: E402

QUICK = dict(demos=3, rounds=1, budget=40, rollouts=1, eval_episodes=2, train_steps=10, start_steps=20, image_size=48,
             model=["--model.head", "flow", "--model.width", "32", "--model.depth", "1", "--model.head_depth", "1", "--model.n_heads", "2", "--model.chunk", "8",
                    "--model.image_tokens", "4", "--model.flow.steps", "2"],
             train=["--train.batch_size", "8", "--train.val_fraction", "0", "--train.warmup_steps", "5", "--train.save_every", "100000"])
# Step budgets, not minutes: the cores are shared, and a busy machine must change only the time, never what is compared.
FULL = dict(demos=100, rounds=3, budget=1000, rollouts=20, eval_episodes=50, train_steps=1000, start_steps=3000, image_size=96,
            model=["--model.head", "flow"], train=["--train.batch_size", "64", "--train.save_every", "100000", "--train.augment", "fixed_camera"])


def first_reaching(rows: list[dict], rate: float) -> dict | None:
    """The first round of a loop whose success reaches `rate` (None if none does)."""
    return next((r for r in rows if r["eval"]["rate"] is not None and r["eval"]["rate"] >= rate), None)


def reached(strategy: str, need: int | None, base_labels: int) -> str:
    """'never reached by X' or 'reached by X after N steps (P% of M)'."""
    if need is None:
        return f"never reached by {strategy}"
    return f"reached by {strategy} after {need} steps ({need / max(base_labels, 1):.0%} of {base_labels})"


def paired(out: Path, a: tuple[str, int], b: tuple[str, int]) -> dict:
    """Exact McNemar test of loop a's round against loop b's round on the evaluation seeds both met."""
    from vlaforge.eval.records import load_records
    from vlaforge.eval.stats import mcnemar

    def outcomes(strategy: str, r: int) -> dict[int, bool]:
        return {rec.seed: rec.success for rec in load_records(out / strategy / f"round_{r}" / "eval" / "records.jsonl")}

    oa, ob = outcomes(*a), outcomes(*b)
    seeds = sorted(oa.keys() & ob.keys())
    return {"a": f"{a[0]} round {a[1]}", "b": f"{b[0]} round {b[1]}", "episodes": len(seeds),
            **mcnemar([oa[k] for k in seeds], [ob[k] for k in seeds])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("outputs/active_learning"))
    ap.add_argument("--quick", action="store_true", help="smoke run: checks the pipeline end to end in minutes; records no result")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--name", default="", help="result name (default active_learning, or active_learning_quick with --quick)")
    ap.add_argument("--strategies", default="uncertainty,random",
                    help="loops to run: active strategies (uncertainty, dagger, mixed), each compared with the last one, random")
    ap.add_argument("--summarize", action="store_true",
                    help="re-report a finished run: read OUT/*/loop.json and the eval records, keep the recorded time and contention")
    ap.add_argument("--seed", type=int, default=0,
                    help="a replicate: demos from seeds SEED x 10,000 + k and training seeded SEED (evaluation seeds stay the same)")
    for k in ("demos", "rounds", "budget", "rollouts", "eval_episodes", "train_steps", "start_steps"):
        ap.add_argument(f"--{k.replace('_', '-')}", type=int, help=f"override ({FULL[k]} full)")
    args = ap.parse_args()
    strategies = args.strategies.split(",")
    if strategies[-1] != "random" or len(strategies) < 2:
        raise SystemExit(f"--strategies must list one or more active strategies, then random; got {args.strategies!r}")
    active = strategies[:-1]
    p = dict(QUICK if args.quick else FULL)
    p.update({k: v for k, v in vars(args).items() if k in p and v is not None})
    if args.seed:
        p["train"] = [*p["train"], "--train.seed", str(args.seed)]

    from vlaforge.data.reader import open_dataset
    from vlaforge.engine.active.cli import recipe
    from vlaforge.engine.active.loop import LoopConfig, run_loop
    from vlaforge.engine.active.plot import curve_svg
    from vlaforge.eval.stats import interval_text
    from vlaforge.sim.collect import collect
    from vlaforge.train.trainer import train

    t0 = time.perf_counter()
    data = args.out / "data"
    if not (data / "meta" / "info.json").exists():
        collect(data, ["pick_place"], p["demos"], args.workers, image_size=p["image_size"], seed=10_000 * args.seed, overwrite=True,
                progress=not args.quick)
    run_cfg = recipe(data, "", [*p["model"], *p["train"]])
    start = args.out / "start"
    if not (start / "checkpoints" / "last").exists():
        import dataclasses

        train(dataclasses.replace(run_cfg, train=dataclasses.replace(run_cfg.train, steps=p["start_steps"], budget_minutes=0.0)), start,
              progress=not args.quick)
    loops = {}
    name = args.name or ("active_learning_quick" if args.quick else "active_learning")
    if args.summarize:  # the loops ran before: their files are the record; time and contention are the run's own
        loops = {s: json.loads((args.out / s / "loop.json").read_text())["rounds"] for s in strategies}
        earlier = json.loads((Path(__file__).resolve().parent / "results" / f"{name}.json").read_text())
        seconds, contention = earlier["seconds"], earlier["contention"]
    else:
        with Contention() as c:
            for strategy in strategies:
                cfg = LoopConfig(str(data), str(args.out / strategy), run_cfg, rounds=p["rounds"], budget=p["budget"], strategy=strategy,
                                 init=str(start), rollouts=p["rollouts"], eval_episodes=p["eval_episodes"], workers=args.workers,
                                 train_steps=p["train_steps"])
                loops[strategy] = run_loop(cfg, show_bars=not args.quick)["rounds"]
        seconds, contention = round(time.perf_counter() - t0, 1), c.record()
    (args.out / "curves.svg").write_text(curve_svg(loops, "active learning vs random (pick_place, seen)"))
    base_final = loops["random"][-1]["eval"]["rate"]
    base_labels = loops["random"][-1]["labels_added_total"]
    last = p["rounds"]
    per: dict[str, dict] = {}
    for strategy in active:
        reach = first_reaching(loops[strategy], base_final) if base_final is not None else None
        need = None if reach is None else reach["labels_added_total"]
        tests = [paired(args.out, (strategy, last), ("random", last))]
        if reach is not None and reach["round"] != last:
            tests.insert(0, paired(args.out, (strategy, reach["round"]), ("random", last)))
        per[strategy] = {"labels_to_reach_random_final": need, "paired_tests": tests,
                         "target_met": None if args.quick else (need is not None and need <= 0.5 * base_labels)}  # a smoke run measures nothing
    met = None if args.quick else any(v["target_met"] for v in per.values())
    curve = lambda rows: "; ".join(f"{r['labels_added_total']} steps {r['eval']['rate']:.0%} {interval_text(r['eval'])}"  # noqa: E731
                                   for r in rows if r["eval"]["rate"] is not None)
    result = {
        "smoke_run": bool(args.quick), "params": {k: v for k, v in p.items() if k not in ("model", "train")}, "seed": args.seed,
        "model_overrides": p["model"], "train_overrides": p["train"], "dataset_frames": open_dataset(data).num_frames,
        "curves": {s: [{k: r[k] for k in ("round", "labels_added_total", "frames", "eval", "mined", "seconds")} for r in rows]
                   for s, rows in loops.items()},
        "random_final_rate": base_final, "random_labels": base_labels, "active": per,
        "target": "active loop reaches the random baseline's final success with <= 50% of its labels", "target_met": met,
        "note": "smoke run: tiny data and model, pipeline check only, not a result" if args.quick else "",
        "seconds": seconds, "contention": contention,
    }
    changed = [f"--{k.replace('_', '-')} {v}" for k, v in p.items() if k in vars(args) and v != FULL[k]]
    command = " ".join(["python benchmarks/active_learning.py", *changed, *([f"--strategies {args.strategies}"] if active != ["uncertainty"] else []),
                        *([f"--seed {args.seed}"] if args.seed else []),
                        *([f"--name {args.name}"] if args.name else [])])
    if args.quick:
        line = (f"**Active learning** — SMOKE RUN ONLY (`--quick`: {p['demos']} demos, tiny model, {p['rounds']} round of {p['budget']} "
                f"labelled steps, {p['eval_episodes']} eval episodes; checks the pipeline end to end in {seconds / 60:.1f} min, "
                "measures nothing); the comparison is the **Active learning** line. `python benchmarks/active_learning.py --quick`")
    else:
        line = (f"**Active learning**{f' (replicate, seed {args.seed})' if args.seed else ''} (pick_place seen, start: {p['demos']} demos + {p['start_steps']} training steps, "
                f"{p['rounds']} rounds x {p['budget']} labelled steps, {p['train_steps']} fine-tuning steps per round (batch 64), "
                f"{p['eval_episodes']} eval episodes): " + "; ".join(f"{st} {curve(loops[st])}" for st in strategies) + ". "
                + f"Random's final {base_final:.0%}: " + "; ".join(reached(st, v["labels_to_reach_random_final"], base_labels) for st, v in per.items())
                + f". Target <= 50% of the labels: {'met' if met else 'not met'}. Paired on the same seeds (McNemar): "
                + "; ".join(f"{t['a']} vs {t['b']}: {t['a_only']} vs {t['b_only']} episodes won, p = {t['p_value']:.2f}"
                            for v in per.values() for t in v["paired_tests"])
                + f". {seconds / 60:.0f} min. `{command}`")
    save(name, result, line)
    print(json.dumps({"target_met": met, "smoke_run": bool(args.quick)}))


if __name__ == "__main__":
    main()
