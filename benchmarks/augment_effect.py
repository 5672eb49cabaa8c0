"""The default policy trained with and without augmentation, evaluated under lighting and camera perturbations.

    python benchmarks/augment_effect.py --with outputs/demo/run --without runs/no_aug [--episodes 100]
Both runs: the `vlaforge demo` data and budget, one with `--train.augment default` (the demo's), one without.
Records success per split and per perturbation that fired (Wilson 95% intervals) on the same seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

WATCH = ("lighting", "camera_jitter")


def _eval(run: Path, out: Path, episodes: int) -> dict:
    from vlaforge.cli import main as cli

    if cli(["eval", "--checkpoint", str(run), "--tasks", "pick_place", "--split", "seen,perturbed", "--episodes", str(episodes),
            "--videos", "0", "--out", str(out), "--no-progress"]) != 0:
        raise SystemExit(f"eval of {run} failed")
    s = json.loads((out / "results.json").read_text())["summary"]
    return {"by_split": s["by_split"], "by_perturbation": s["recovery_by_perturbation"]}


def _fmt(r: dict) -> str:
    from vlaforge.eval.stats import interval_text

    return f"{r['rate']:.0%} {interval_text(r)} (n {r['n']})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--with", dest="with_aug", type=Path, required=True, help="run trained with augmentation")
    ap.add_argument("--without", type=Path, required=True, help="run trained without augmentation")
    ap.add_argument("--episodes", type=int, default=100, help="episodes per split (same seeds for both)")
    ap.add_argument("--note", default="", help="anything about the runs a reader must know")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = {name: _eval(run, Path(tmp) / name, args.episodes) for name, run in (("with", args.with_aug), ("without", args.without))}
    parts = []
    for name in ("without", "with"):
        r = res[name]
        cells = [f"seen {_fmt(r['by_split']['seen'])}", f"perturbed {_fmt(r['by_split']['perturbed'])}"]
        cells += [f"{p} {_fmt(r['by_perturbation'][p])}" for p in WATCH if p in r["by_perturbation"]]
        parts.append(f"{name} augmentation: " + ", ".join(cells))
    doc = (f"**Augmentation effect** (default policy, demo data and 20-min budget, pick_place, {args.episodes} episodes per split, same seeds): "
           + "; ".join(parts) + "." + (f" {args.note}" if args.note else "") + " `python benchmarks/augment_effect.py`")
    save("augment_effect", {"episodes": args.episodes, "runs": {"with": str(args.with_aug), "without": str(args.without)}, "note": args.note, **res}, doc)


if __name__ == "__main__":
    main()
