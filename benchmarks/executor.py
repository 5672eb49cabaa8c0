"""Async chunked execution under latency: success (Wilson 95%) and action jerk of local, async and naive execution.

Chunks come from the expert oracle (`vlaforge.sim.expert_planner.ExpertPlanner`, H=16: the scripted
expert's next 16 actions planned in a copy of the env), so only the executor differs between rows.
Latency is simulated (`clock="sim"`: d = ceil(latency / 100 ms) control steps), so every number
is exactly reproducible. Rows: naive (execute 8, hold still while the next chunk is computed;
at 0 ms this is local execution), async (execute 8, next chunk computed meanwhile, blend 4, the
oracle told the actions that run meanwhile: real-time chunking's prefix) and async-plain (the
same, through the plain `predict(obs, instruction)` interface a server client or policy offers).
Jerk is over the arm's xyz deltas (the gripper is a binary command whose 0/1 flips would swamp it).

    MUJOCO_GL=egl python benchmarks/executor.py [--seeds 50] [--workers 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from common import save  # noqa: E402

LATENCIES = (0, 100, 200)
EXECUTORS = ("naive", "async", "async-plain")
CONDITIONS = {"plain": [], "perturbed": ["move_object", "grasp_slip"]}
HORIZON, EXECUTE, BLEND = 16, 8, 4


def run(job: tuple[str, str, int, int]) -> dict[str, Any]:
    """One (condition, executor, latency) cell over `seeds` episodes."""
    from vlaforge.eval.stats import mean_jerk, wilson
    from vlaforge.control.executor import AsyncChunkExecutor, NaiveChunkExecutor
    from vlaforge.sim import make_env
    from vlaforge.sim.expert_planner import ExpertPlanner, roll_out

    condition, name, latency, seeds = job
    env = make_env("pick_place", render=False, perturb=CONDITIONS[condition])
    oracle = ExpertPlanner(env, horizon=HORIZON)
    if name == "naive":
        ex = NaiveChunkExecutor(oracle, execute_horizon=EXECUTE, latency_ms=latency)
    else:
        predict = oracle if name == "async" else (lambda obs, text: oracle(obs, text))  # no `prefix` keyword
        ex = AsyncChunkExecutor(predict, execute_horizon=EXECUTE, blend=BLEND, latency_ms=latency, action_space=env.action_space)
    success, jerk, steps, stats = [], [], [], []
    t0 = time.perf_counter()
    for seed in range(seeds):
        ok, actions = roll_out(env, ex, seed)
        success.append(ok)
        jerk.append(mean_jerk(actions[:, :3], env.fps))
        steps.append(env.t)
        stats.append(ex.stats.summary())
    rate, lo, hi = wilson(sum(success), len(success))
    mean = lambda key: float(np.mean([s[key] for s in stats]))  # noqa: E731
    return {"condition": condition, "executor": name, "latency_ms": latency, "episodes": seeds, "successes": sum(success),
            "success": rate, "ci95": [lo, hi], "arm_jerk": float(np.mean(jerk)), "steps": float(np.mean(steps)),
            "held_steps": mean("held_steps"), "switches": mean("switches"), "delay_steps": mean("mean_delay_steps"),
            "oracle_ms": mean("mean_inference_ms"), "wall_s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    jobs = [(c, e, lat, args.seeds) for c in CONDITIONS for lat in LATENCIES for e in EXECUTORS]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run, jobs))
    for r in rows:
        print(f"{r['condition']:9s} {r['latency_ms']:3d} ms {r['executor']:11s} success {r['successes']}/{r['episodes']} "
              f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]  jerk {r['arm_jerk']:5.1f}  steps {r['steps']:5.1f}  held {r['held_steps']:4.1f}")
    cell = {(r["condition"], r["executor"], r["latency_ms"]): r for r in rows}

    def pct(r: dict[str, Any]) -> str:
        return f"{100 * r['success']:.0f}% [{100 * r['ci95'][0]:.0f}-{100 * r['ci95'][1]:.0f}]"

    parts = []
    for c in CONDITIONS:
        local = cell[(c, "naive", 0)]
        lat = "; ".join(f"{ms} ms: async {pct(cell[(c, 'async', ms)])} jerk {cell[(c, 'async', ms)]['arm_jerk']:.1f}, "
                        f"async-plain {pct(cell[(c, 'async-plain', ms)])} jerk {cell[(c, 'async-plain', ms)]['arm_jerk']:.1f}, "
                        f"naive {pct(cell[(c, 'naive', ms)])} jerk {cell[(c, 'naive', ms)]['arm_jerk']:.1f}"
                        for ms in LATENCIES[1:])
        parts.append(f"{c}{' (move_object + grasp_slip)' if CONDITIONS[c] else ''}: local {pct(local)} jerk {local['arm_jerk']:.1f}; {lat}")
    line = (f"**Async chunked execution** (pick_place, {args.seeds} seeds, expert-oracle chunks H={HORIZON}, execute {EXECUTE}, "
            f"blend {BLEND}, simulated latency; success [Wilson 95%], mean arm jerk m/s^3): " + " | ".join(parts)
            + ". Done when async at 100 ms keeps local success and has lower jerk than naive. `python benchmarks/executor.py`")
    save("executor", {"seeds": args.seeds, "horizon": HORIZON, "execute_horizon": EXECUTE, "blend": BLEND, "rows": rows}, line)


if __name__ == "__main__":
    main()
