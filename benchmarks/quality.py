"""What the default policy reaches after the default `vlaforge demo` budget, per split, with intervals.

    python benchmarks/quality.py                       # runs `vlaforge demo` with its defaults (~30 min on 2 cores)
    python benchmarks/quality.py --reuse outputs/demo  # records a finished demo run instead
Targets (DESIGN §6): >= 90% seen, >= 80% held-out wording, >= 70% perturbed, after <= 20 min of CPU training.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

TARGETS = {"seen": 0.9, "heldout-wording": 0.8, "perturbed": 0.7}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("outputs/quality"))
    ap.add_argument("--reuse", type=Path, help="a finished `vlaforge demo --out` directory to record")
    ap.add_argument("--note", default="", help="anything about the run a reader must know (e.g. a busy machine)")
    args, demo_args = ap.parse_known_args()
    if args.reuse is None:
        from vlaforge.cli import main as cli

        if cli(["demo", "--out", str(args.out), "--no-progress", *demo_args]) != 0:
            raise SystemExit("demo failed")
        args.reuse = args.out
    from vlaforge.eval.stats import interval_text

    res = json.loads((args.reuse / "demo.json").read_text())
    lineage = json.loads((args.reuse / "eval" / "results.json").read_text())["meta"]
    summary = res["eval"]["summary"]
    splits = {s: {"rate": r["rate"], "ci95": r["ci95"], "n": r["n"], "target": TARGETS.get(s)} for s, r in summary["by_split"].items()}
    result = {"data": res["data"], "collect": res["collect"], "train": res["train"], "seconds": res["seconds"], "splits": splits,
              "recovery": summary["recovery"], "failures": summary["failures"], "eval_tasks": lineage["tasks"], "note": args.note}
    parts = [f"{s} {v['rate']:.0%} {interval_text(v)}" for s, v in splits.items()]
    met = [s for s, t in TARGETS.items() if s in splits and splits[s]["rate"] >= t]
    doc = (f"**Quality** (`vlaforge demo` defaults: {res['data']['episodes']} expert episodes of {', '.join(lineage['tasks'])}, default cnn+flow policy, "
           f"{res['train']['steps']} steps in {res['train']['minutes']:.1f} min on 2 CPU cores, {splits['seen']['n']} eval episodes per split): "
           + "; ".join(parts) + f"; recovery {summary['recovery']['rate'] or 0:.0%} of {summary['recovery']['n']}. "
           f"Targets >= 90% seen / 80% held-out wording / 70% perturbed: {'met' if len(met) == len(TARGETS) else 'not met' + (' (met: ' + ', '.join(met) + ')' if met else '')}."
           + (f" {args.note}" if args.note else "") + f" Demo total {res['seconds']['total'] / 60:.1f} min. `python benchmarks/quality.py`")
    save("quality", result, doc)


if __name__ == "__main__":
    main()
