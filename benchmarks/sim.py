"""Tabletop suite: env steps/s per core (two 96x96 cameras, and no rendering), expert success per family
over 200 seeds with Wilson 95% intervals (plain and under each perturbation), and `sim collect`
episodes/minute with 2 workers. Prints JSON and writes benchmarks/results/sim.json.

    MUJOCO_GL=egl python benchmarks/sim.py [--seeds 200] [--perturb-seeds 40]
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["LP_NUM_THREADS"] = "1"  # software GL on one thread, so "per core" is per core

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from common import save  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "sim.json"


def steps_per_second(render: bool, steps: int = 3000) -> dict[str, float]:
    """Env.step throughput on one process replaying expert actions (the expert's own cost excluded)."""
    from vlaforge.sim import make_env
    from vlaforge.sim.experts import Expert

    env = make_env("pick_place", render=render)
    episodes = []  # record expert action sequences first, then time env.step alone
    seed = 0
    while sum(len(a) for _, a in episodes) < steps:
        env.reset(seed=seed)
        ex, acts = Expert(), []
        for _ in range(env.max_steps):
            a = ex(env)
            acts.append(a)
            _, _, te, tr, _ = env.step(a)
            if te or tr:
                break
        episodes.append((seed, acts))
        seed += 1
    n, wall, cpu = 0, 0.0, 0.0
    for s, acts in episodes:
        env.reset(seed=s)
        t0, c0 = time.perf_counter(), time.process_time()
        for a in acts:
            env.step(a)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        n += len(acts)
    env.close()
    return {"steps": n, "steps_per_s_wall": round(n / wall, 1), "steps_per_s_cpu": round(n / cpu, 1)}


def _success(job: tuple[str, list[str], int]) -> tuple[str, str, int, int]:
    family, perturb, seeds = job
    from vlaforge.sim import make_env
    from vlaforge.sim.experts import Expert

    env = make_env(family, perturb=perturb, render=False)
    ok = 0
    for seed in range(seeds):
        env.reset(seed=seed)
        ex = Expert()
        for _ in range(env.max_steps):
            _, _, te, tr, info = env.step(ex(env))
            if te or tr:
                break
        ok += bool(info["success"])
    return family, ",".join(perturb) or "none", ok, seeds


def expert_success(seeds: int, perturb_seeds: int, workers: int) -> dict[str, dict[str, dict[str, float]]]:
    """Success per family (no perturbation: `seeds` seeds; each perturbation: `perturb_seeds` seeds)."""
    from vlaforge.eval.stats import wilson
    from vlaforge.sim.perturbations import PERTURBATIONS
    from vlaforge.sim.tasks import TASKS

    jobs = [(f, [], seeds) for f in TASKS]
    if perturb_seeds:
        jobs += [(f, [p], perturb_seeds) for f in TASKS for p in sorted(PERTURBATIONS)]
    out: dict[str, dict[str, dict[str, float]]] = {}
    with mp.get_context("spawn").Pool(workers) as pool:
        for family, pert, ok, n in pool.imap_unordered(_success, jobs):
            rate, lo, hi = wilson(ok, n)
            out.setdefault(family, {})[pert] = {"success": ok, "n": n, "rate": round(rate, 4), "ci95": [round(lo, 4), round(hi, 4)]}
    return {f: dict(sorted(v.items(), key=lambda kv: kv[0] != "none")) for f, v in sorted(out.items())}


def collect_rate(episodes_per_family: int, workers: int) -> dict[str, float]:
    """Wall-clock episodes/minute of `sim collect --tasks all` with `workers` processes, dataset written."""
    from vlaforge.sim.collect import all_families, collect

    tmp = Path(tempfile.mkdtemp())
    try:
        s = collect(tmp / "ds", all_families(), episodes_per_family, workers=workers, progress=False)
        from vlaforge.data import open_dataset

        frames = open_dataset(tmp / "ds").num_frames
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"episodes": s["ran"], "workers": workers, "seconds": s["seconds"], "episodes_per_minute": s["episodes_per_minute"],
            "frames_per_s": round(frames / s["seconds"], 1)}


def main() -> None:
    """Run every measurement, print JSON, write benchmarks/results/sim.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--perturb-seeds", type=int, default=40)
    ap.add_argument("--collect-episodes", type=int, default=10, help="per family")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--doc-only", action="store_true", help="rewrite the docs/benchmarks.md line from the saved JSON")
    args = ap.parse_args()
    if args.doc_only:
        saved = json.loads(OUT.read_text())
        save("sim", saved, doc_line(saved))
        return
    import mujoco

    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    result = {
        "benchmark": "sim",
        "machine": {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "mujoco": mujoco.__version__, "gl": os.environ["MUJOCO_GL"],
                    "date": time.strftime("%Y-%m-%d")},
        "env_steps_per_core": {"two_cameras_96px": steps_per_second(True), "no_rendering": steps_per_second(False)},
        "expert_success": expert_success(args.seeds, args.perturb_seeds, args.workers),
        "collect": collect_rate(args.collect_episodes, args.workers),
    }
    worst = min(v["none"]["rate"] for v in result["expert_success"].values())
    result["targets"] = {"steps_per_s_two_cameras>=400": result["env_steps_per_core"]["two_cameras_96px"]["steps_per_s_wall"] >= 400,
                         "expert_success>=0.98": worst >= 0.98}
    save("sim", result, doc_line(result))


def doc_line(r: dict) -> str:
    """The docs/benchmarks.md line for a result."""
    steps = r["env_steps_per_core"]
    fam = "; ".join(f"{f} {v['none']['success']}/{v['none']['n']} [{v['none']['ci95'][0]:.1%}, {v['none']['ci95'][1]:.1%}]"
                    for f, v in r["expert_success"].items())
    pert = [(v["success"], v["n"]) for fams in r["expert_success"].values() for k, v in fams.items() if k != "none"]
    return (f"**Sim** (MuJoCo {r['machine']['mujoco']}, EGL on CPU): {steps['two_cameras_96px']['steps_per_s_wall']:.0f} env steps/s per core "
            f"with two 96x96 cameras ({steps['no_rendering']['steps_per_s_wall']:.0f} without rendering); scripted experts on "
            f"{r['expert_success']['pick_place']['none']['n']} seeds per family: {fam}; under single perturbations "
            f"{sum(k for k, _ in pert)}/{sum(n for _, n in pert)}; `sim collect` {r['collect']['episodes_per_minute']:.0f} episodes/min "
            f"with {r['collect']['workers']} workers. Targets: >= 400 steps/s per core, experts >= 98%. `MUJOCO_GL=egl python benchmarks/sim.py`")


if __name__ == "__main__":
    main()
