"""What the default policy reaches after the default `vlaforge demo` budget, per split, with intervals.

    python benchmarks/quality.py                       # runs `vlaforge demo` with its defaults (~30 min on 2 cores)
    python benchmarks/quality.py --reuse outputs/demo  # records a finished demo run instead
Targets (DESIGN §6, issue 12): >= 90% seen, >= 80% held-out wording and combos, >= 70% perturbed with recovery >= 60%,
after <= 20 min of CPU training and a whole demo <= 30 min. Contention (other work on the cores) is recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Contention, machine, save  # noqa: E402

TARGETS = {"seen": 0.9, "heldout-wording": 0.8, "heldout-combos": 0.8, "perturbed": 0.7}
RECOVERY_TARGET = 0.6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("outputs/quality"))
    ap.add_argument("--reuse", type=Path, help="a finished `vlaforge demo --out` directory to record")
    ap.add_argument("--note", default="", help="anything about the run a reader must know (e.g. a busy machine)")
    ap.add_argument("--name", default="quality", help="result name (JSON file and docs/benchmarks.md line), e.g. quality_all")
    args, demo_args = ap.parse_known_args()
    contention = None
    if args.reuse is None:
        from vlaforge.cli import main as cli

        with Contention() as c:
            if cli(["demo", "--out", str(args.out), "--no-progress", *demo_args]) != 0:
                raise SystemExit("demo failed")
        contention, args.reuse = c.record(), args.out
    from vlaforge.eval.stats import interval_text

    if contention is None:  # --reuse: keep what the run itself recorded, if this benchmark saved it
        from common import RESULTS

        prev = RESULTS / f"{args.name}.json"
        if prev.exists():
            old = json.loads(prev.read_text())
            if old.get("data", {}).get("path") == str(args.reuse / "data"):
                contention, demo_args = old.get("contention"), demo_args or old.get("demo_args") or []

    res = json.loads((args.reuse / "demo.json").read_text())
    lineage = json.loads((args.reuse / "eval" / "results.json").read_text())["meta"]
    summary = res["eval"]["summary"]
    splits = {s: {"rate": r["rate"], "ci95": r["ci95"], "n": r["n"], "target": TARGETS.get(s)} for s, r in summary["by_split"].items()}
    result = {"data": res["data"], "collect": res["collect"], "train": res["train"], "seconds": res["seconds"], "splits": splits,
              "recovery": summary["recovery"], "failures": summary["failures"], "eval_tasks": lineage["tasks"], "note": args.note,
              "contention": contention, "demo_args": demo_args}
    parts = [f"{s} {v['rate']:.0%} {interval_text(v)}" for s, v in splits.items()]
    targets = {s: t for s, t in TARGETS.items() if s in splits}  # the splits this run evaluated
    met = [s for s, t in targets.items() if splits[s]["rate"] >= t]
    rec_ok = (summary["recovery"]["rate"] or 0) >= RECOVERY_TARGET or "perturbed" not in splits
    g = res["train"].get("grounding")
    ground = (f" Grounding on held-out episodes: right object {g['right_object']:.0%}, target {g['target_err_cm']:.1f} cm, "
              f"goal {g['goal_err_cm']:.1f} cm." if g else "")
    fams = summary["by_family"].get("seen", {})
    per_family = (" Seen per family: " + ", ".join(f"{f} {r['rate']:.0%} {interval_text(r)}" for f, r in fams.items())
                  + f" (target >= 80% each: {'met' if all(r['rate'] >= 0.8 for r in fams.values()) else 'not met'}).") if len(fams) > 1 else ""
    result["seen_by_family"] = fams
    busy = f" Other work used {contention['other_cores']:.2f} of {contention['cores']} cores on average." if contention else ""
    how = f"`vlaforge demo {' '.join(demo_args)}`" if demo_args else "`vlaforge demo` defaults"
    cores, device = machine()["cores"], res["train"].get("device") or "cpu"  # the device the demo's trainer logged
    where = f"on {cores} CPU cores" if device == "cpu" else f"on an {device} GPU and {cores} CPU cores"
    model = json.loads((Path(res["train"]["run"]) / "config.json").read_text())["model"]
    result["model"] = {"encoder": model["encoder"], "head": model["head"]}
    doc = (f"**Quality{' (' + args.name + ')' if args.name != 'quality' else ''}** ({how}: {res['data']['episodes']} expert episodes of {', '.join(lineage['tasks'])}, default {model['encoder']}+{model['head']} policy, "
           f"{res['train']['steps']} steps in {res['train']['minutes']:.1f} min {where}, {splits['seen']['n'] // len(lineage['tasks'])} eval episodes per family and split): "
           + "; ".join(parts) + (f"; recovery {summary['recovery']['rate'] or 0:.0%} of {summary['recovery']['n']}" if "perturbed" in splits else "")
           + f". Targets >= 90% seen / 80% held-out wording and combos / 70% perturbed / recovery 60% (for the splits run): "
           f"{'met' if len(met) == len(targets) and rec_ok else 'not met' + (' (met: ' + ', '.join(met + ['recovery'] * (rec_ok and 'perturbed' in splits)) + ')' if met or (rec_ok and 'perturbed' in splits) else '')}."
           + per_family + ground + busy + (f" {args.note.rstrip('.')}." if args.note else "") + f" Demo total {res['seconds']['total'] / 60:.1f} min. `python benchmarks/quality.py{' --name ' + args.name + ' ' + ' '.join(demo_args) if demo_args else ''}`")
    save(args.name, result, doc)


if __name__ == "__main__":
    main()
