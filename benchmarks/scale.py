"""Collection and evaluation throughput (episodes/minute) against the number of workers, with the cores other work took.

    MUJOCO_GL=egl python benchmarks/scale.py                                   # local backend, workers 1,2
    MUJOCO_GL=egl python benchmarks/scale.py --backend ray --address auto --workers 1,2,4,8
    MUJOCO_GL=egl python benchmarks/scale.py --checkpoint runs/default          # a trained policy (episodes end on success)
Collection: `sim collect` of --episodes per family of --tasks, dataset written. Evaluation: `vlaforge eval` of --eval-episodes
per split of --splits on pick_place, report and videos written; without --checkpoint an untrained policy of the default
config is built from the collected data, so every episode runs to its step limit (the slowest case per episode).
Writes benchmarks/results/scale.json (scale_ray.json for --backend ray), its line in docs/benchmarks.md and the table in
docs/scale.md ("Throughput vs workers on this machine"). Contention counts our own CPU as this process and its waited-for
children: local workers are, Ray actors are not, so on Ray their CPU on this machine shows as other work.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Contention, save  # noqa: E402

SCALE_DOC = ROOT / "docs" / "scale.md"
TABLE = re.compile(r"(<!-- scale:table -->\n).*?(<!-- /scale:table -->)", re.S)


def collect_point(out: Path, families: list[str], episodes: int, workers: int, image_size: int, backend: Any) -> dict[str, Any]:
    """One `sim collect` run with `workers` workers → episodes/min (wall, and per core-second of ours) and contention."""
    from vlaforge.sim.collect import collect

    with Contention() as c:
        s = collect(out, families, episodes, workers, image_size=image_size, overwrite=True, progress=False, backend=backend)
    con = c.record()
    return {"workers": workers, "episodes": s["ran"], "seconds": s["seconds"], "episodes_per_minute": s["episodes_per_minute"],
            "contention": con}


def eval_point(checkpoint: Path, out: Path, episodes: int, splits: str, workers: int, image_size: int, backend: Any) -> dict[str, Any]:
    """One `vlaforge eval` run with `workers` workers → rollout episodes/min (the parallel part) and contention."""
    from vlaforge.eval.runner import evaluate

    with Contention() as c:
        res = evaluate({"checkpoint": checkpoint}, out, tasks="pick_place", splits=splits, episodes=episodes, workers=workers,
                       image_size=image_size, progress=False, backend=backend)
    n, secs = res["summary"]["overall"]["n"], res["meta"]["seconds"]
    return {"workers": workers, "episodes": n, "seconds": secs, "episodes_per_minute": round(60 * n / max(secs, 1e-9), 1),
            "mean_steps": round(sum(_steps(out)) / max(n, 1), 1), "contention": c.record()}


def _steps(out: Path) -> list[int]:
    from vlaforge.eval.records import load_records

    return [r.steps for r in load_records(out / "records.jsonl")]


def table(r: dict[str, Any]) -> str:
    """The markdown table of docs/scale.md for a result."""
    rows = ["| workers | collect episodes/min | eval episodes/min | other work (cores, collect / eval) |",
            "| ---: | ---: | ---: | ---: |"]
    for c, e in zip(r["collect"], r["eval"]):
        rows.append(f"| {c['workers']} | {c['episodes_per_minute']:.0f} | {e['episodes_per_minute']:.0f} | "
                    f"{c['contention']['other_cores']:.2f} / {e['contention']['other_cores']:.2f} |")
    m = r["machine"]
    rows.append("")
    rows.append(f"{r['backend']} backend, {m['cores']} cores ({m['cpu']}), {m['date']}; "
                f"collect {r['collect'][0]['episodes']} episodes ({', '.join(r['tasks'])}, {r['image_size']} px), eval "
                f"{r['eval'][0]['episodes']} episodes ({r['policy']}). `{r['command']}`")
    return "\n".join(rows) + "\n"


def doc_line(r: dict[str, Any]) -> str:
    """The docs/benchmarks.md line for a result."""
    c, e = r["collect"], r["eval"]
    speed = lambda pts: f"{pts[-1]['episodes_per_minute'] / max(pts[0]['episodes_per_minute'], 1e-9):.2f}x"  # noqa: E731
    other = [p["contention"]["other_cores"] for p in c + e]
    rates = lambda pts: " / ".join(f"{p['episodes_per_minute']:.0f}" for p in pts)  # noqa: E731
    return (f"**Scale** ({r['backend']} backend, {r['image_size']} px, workers {', '.join(str(p['workers']) for p in c)}): "
            f"collect {rates(c)} episodes/min ({speed(c)}); eval ({r['policy']}) {rates(e)} episodes/min ({speed(e)}). "
            f"Other work used {min(other):.2f}-{max(other):.2f} cores during the windows. Table: docs/scale.md. `{r['command']}`")


def main() -> None:
    """Measure every worker count, print JSON, write the results and the docs."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--tasks", default="all", help="families to collect ('all' or a comma list)")
    ap.add_argument("--episodes", type=int, default=10, help="collection episodes per family")
    ap.add_argument("--eval-episodes", type=int, default=10, help="evaluation episodes per split (pick_place)")
    ap.add_argument("--splits", default="seen,perturbed")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--checkpoint", type=Path, help="policy to evaluate (default: an untrained default-config policy)")
    ap.add_argument("--backend", choices=["local", "ray"], default="local")
    ap.add_argument("--address", default=None, help="--backend ray: auto or HOST:PORT (default: a private Ray instance)")
    args = ap.parse_args()
    from vlaforge.jobs import Backend
    from vlaforge.sim.collect import all_families

    backend = Backend(args.backend, args.address)
    workers = [int(w) for w in args.workers.split(",") if w]
    families = all_families() if args.tasks == "all" else args.tasks.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="vlaforge-scale-"))
    try:
        collected = [collect_point(tmp / f"ds{w}", families, args.episodes, w, args.image_size, backend) for w in workers]
        checkpoint, policy = args.checkpoint, str(args.checkpoint)
        if checkpoint is None:
            from vlaforge.data import open_dataset
            from vlaforge.models import PolicyConfig, build_policy

            checkpoint = build_policy(PolicyConfig(), open_dataset(tmp / f"ds{workers[0]}"), verbose=False).save(tmp / "ck")
            policy = f"untrained {PolicyConfig().head} policy, default size"
        evaluated = [eval_point(checkpoint, tmp / f"ev{w}", args.eval_episodes, args.splits, w, args.image_size, backend) for w in workers]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"backend": backend.describe(), "tasks": families, "image_size": args.image_size, "policy": policy,
              "command": " ".join(["python benchmarks/scale.py", *sys.argv[1:]]), "collect": collected, "eval": evaluated}
    name = "scale" if args.backend == "local" else "scale_ray"
    save(name, result, doc_line(result))
    if args.backend == "local" and SCALE_DOC.exists():
        from common import machine

        text = SCALE_DOC.read_text()
        SCALE_DOC.write_text(TABLE.sub(lambda m: m.group(1) + table({**result, "machine": machine()}) + m.group(2), text))


if __name__ == "__main__":
    main()
