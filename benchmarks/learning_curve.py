"""What the default recipe reaches against training minutes and against the number of demos (pick_place, seen split).

    python benchmarks/learning_curve.py                                  # minutes 5,10,20,40 on 800 demos; demos 100..800 at 20 min
    python benchmarks/learning_curve.py --minutes 5,10 --demos 200 --demo-minutes 10 --episodes 50
    python benchmarks/learning_curve.py --minutes 5,10 --demos '' --with-demo outputs/quality   # + the demo's own 20-min point
Each point trains the `vlaforge demo` policy and recipe from scratch for its budget (its own schedule), then evaluates
it on the same fixed seeds. Contention (other work on the cores) is recorded per point. A finished point is kept in
`<out>/<point>/point.json` and reused when the policy head matches, so points can be measured by separate (even
concurrent) runs and gathered by a last one; delete a point's folder to measure it again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Contention, save  # noqa: E402


def point(data: Path, out: Path, minutes: float, episodes: int, workers: int) -> dict:
    """Train the default recipe on `data` for `minutes`, evaluate the seen split; success with its interval."""
    import json

    from vlaforge.eval.runner import evaluate
    from vlaforge.models import PolicyConfig
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig, train

    done = out / "point.json"
    if done.exists():
        kept = json.loads(done.read_text())
        if kept.get("head") == PolicyConfig().head and kept.get("minutes") == minutes:
            print(f"{out}: kept ({kept['rate']:.0%}, measured earlier)")
            return kept
    with Contention() as c:
        run = train(RunConfig(str(data), PolicyConfig(), TrainConfig(steps=100_000, batch_size=64, budget_minutes=minutes, val_every=1000,
                                                                    save_every=100_000, augment="fixed_camera")), out / "run", progress=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    ev = evaluate({"checkpoint": run}, out / "eval", tasks=["pick_place"], splits="seen", episodes=episodes, workers=workers, progress=False)
    seen = ev["summary"]["by_split"]["seen"]
    result = {"minutes": minutes, "head": PolicyConfig().head, "steps": rows[-1]["step"],
              "rate": seen["rate"], "ci95": seen["ci95"], "n": seen["n"], "contention": c.record()}
    done.write_text(json.dumps(result, indent=2) + "\n")
    return result


def demo_point(demo: Path) -> dict:
    """The seen-split point of a finished `vlaforge demo` run (same seeds as `point`), with its recorded contention if any."""
    import json

    from common import RESULTS

    res = json.loads((demo / "demo.json").read_text())
    seen = res["eval"]["summary"]["by_split"]["seen"]
    q = RESULTS / "quality.json"
    contention = json.loads(q.read_text()).get("contention") if q.exists() else None
    budget = json.loads((Path(res["train"]["run"]) / "config.json").read_text())["train"]["budget_minutes"]
    return {"minutes": budget, "steps": res["train"]["steps"], "rate": seen["rate"], "ci95": seen["ci95"],
            "n": seen["n"], "contention": contention, "from": str(demo / "demo.json")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("outputs/learning_curve"))
    ap.add_argument("--minutes", default="5,10,20,40", help="training budgets on all demos ('' to skip)")
    ap.add_argument("--demos", default="100,200,400,800", help="demo counts at --demo-minutes ('' to skip)")
    ap.add_argument("--demo-minutes", type=float, default=20.0)
    ap.add_argument("--max-demos", type=int, default=800)
    ap.add_argument("--episodes", type=int, default=50, help="evaluation episodes (seen split)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--note", default="", help="how the points were run, if not one at a time (e.g. two side by side)")
    ap.add_argument("--with-demo", type=Path, help="a finished `vlaforge demo --out` directory (default recipe, 800 demos): "
                    "its training is the minutes curve's point at its budget, and its data is the 800-demo set")
    args = ap.parse_args()
    from vlaforge.eval.stats import interval_text
    from vlaforge.sim.collect import collect

    def data_for(n: int) -> Path:
        if args.with_demo is not None and n == args.max_demos:
            return args.with_demo / "data"
        d = args.out / f"data{n}"
        if not (d / "meta" / "info.json").exists():
            collect(d, ["pick_place"], n, args.workers, perturb=["all"], one_each=True, perturb_fraction=0.25, overwrite=True, progress=False)
        return d

    by_minutes = [point(data_for(args.max_demos), args.out / f"min{m:g}", m, args.episodes, args.workers)
                  for m in (float(x) for x in args.minutes.split(",") if x)]
    if args.with_demo is not None:
        by_minutes = sorted(by_minutes + [demo_point(args.with_demo)], key=lambda p: p["minutes"])
    same = {p["minutes"]: p for p in by_minutes}  # all demos at --demo-minutes is a point of the minutes curve: not trained twice
    by_demos = [{"demos": n, **(same[args.demo_minutes] if n == args.max_demos and args.demo_minutes in same else
                                point(data_for(n), args.out / f"demos{n}", args.demo_minutes, args.episodes, args.workers))}
                for n in (int(x) for x in args.demos.split(",") if x)]
    fmt = lambda p: f"{p['rate']:.0%} {interval_text(p)}"  # noqa: E731
    doc = ("**Learning curve** (default policy and recipe, pick_place seen split, "
           f"{args.episodes} episodes per point, 2 CPU cores): "
           + (f"vs minutes on {args.max_demos} demos: " + ", ".join(f"{p['minutes']:g} min ({p['steps']} steps) {fmt(p)}" for p in by_minutes) if by_minutes else "")
           + ("; " if by_minutes and by_demos else "")
           + (f"vs demos at {args.demo_minutes:g} min: " + ", ".join(f"{p['demos']} demos {fmt(p)}" for p in by_demos) if by_demos else "")
           + (f". {args.note}" if args.note else "") + ". Other work on the cores per point is in the JSON. `python benchmarks/learning_curve.py`")
    save("learning_curve", {"by_minutes": by_minutes, "by_demos": by_demos, "demo_minutes": args.demo_minutes, "note": args.note}, doc)


if __name__ == "__main__":
    main()
