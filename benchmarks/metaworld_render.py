"""Meta-World rendering: ms per frame under each render profile and image size, what each setting buys,
the pixel difference the fast profile makes, and expert env steps/s with 1 and 2 cameras. Prints JSON and
writes benchmarks/results/metaworld_render.json (needs the extra: pip install -e ".[metaworld]").

    MUJOCO_GL=egl python benchmarks/metaworld_render.py [--frames 40] [--task pick-place-v3]

Software GL (llvmpipe) on one thread, like the collectors' workers. CPU ms per frame (this process's CPU
time) is given beside wall ms, because other work on the cores slows wall time (contention is recorded).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["LP_NUM_THREADS"] = "1"  # one software-GL thread: "per frame" is per core

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Contention, save  # noqa: E402

# Each step adds one setting to the one before (what it buys is the difference); the last rows are the named profiles.
LADDER = [
    ("metaworld defaults (640x480 buffer, 4x MSAA, 4096 px shadows, reflections)", dict(buffer_fits_image=False, msaa=4, shadows=True, reflections=True, skybox=True)),
    ("+ buffer at image size", dict(msaa=4, shadows=True, reflections=True, skybox=True)),
    ("+ no MSAA", dict(shadows=True, reflections=True, skybox=True)),
    ("+ no shadows", dict(reflections=True, skybox=True)),
    ("+ no reflections (= fast-full-meshes)", dict(skybox=True)),
    ("+ visual meshes clustered at 10 mm (= fast)", dict(skybox=True, decimate_mm=10.0)),
]


def _env(task: str, size: int, profile, cameras=("front", "wrist")):
    from vlaforge.sim.metaworld.env import MetaWorldEnv

    env = MetaWorldEnv(task, image_size=size, cameras=cameras, profile=profile)
    env.reset(seed=0)
    return env


def frame_ms(task: str, size: int, profile, frames: int) -> dict:
    """Wall and CPU ms per frame (both cameras alternately) with the scene fixed, plus the front image."""
    env = _env(task, size, profile)
    for cam in env.cameras:  # warm up: context, textures, mesh upload
        env.render_camera(cam)
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(frames):
        for cam in env.cameras:
            env.render_camera(cam)
    n = frames * len(env.cameras)
    out = {"wall_ms": round((time.perf_counter() - w0) / n * 1000, 2), "cpu_ms": round((time.process_time() - c0) / n * 1000, 2),
           "faces_drawn": int(env.mw.model.mesh_facenum.sum()), "image": env.render_camera("front").astype(np.int16)}
    env.close()
    return out


def expert_steps_per_s(task: str, size: int, cameras: tuple[str, ...], profile: str, episodes: int = 1) -> float:
    """Env steps/s of the scripted expert with the given cameras rendered (what `sim collect` runs per worker)."""
    from vlaforge.sim.metaworld.expert import MetaWorldExpert

    env, expert = _env(task, size, profile, cameras), MetaWorldExpert(task)
    steps, t0 = 0, time.perf_counter()
    for seed in range(episodes):
        env.reset(seed=seed)
        for _ in range(env.max_steps):
            _, _, term, trunc, _ = env.step(expert(env))
            steps += 1
            if term or trunc:
                break
    env.close()
    return round(steps / (time.perf_counter() - t0), 1)


def collect_rate(task: str, size: int, workers: int, episodes: int) -> dict:
    """`sim collect` episodes per minute with `workers` processes."""
    import tempfile

    from vlaforge.sim.metaworld.collect import collect

    with tempfile.TemporaryDirectory() as tmp:
        s = collect(Path(tmp) / "ds", [task], episodes, workers=workers, image_size=size, progress=False)
    return {"workers": workers, "episodes": episodes, "episodes_per_minute": s["episodes_per_minute"], "seconds": s["seconds"]}


def main() -> None:
    from vlaforge.sim.metaworld import require_metaworld
    from vlaforge.sim.metaworld.render import PROFILES, RenderProfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="pick-place-v3")
    ap.add_argument("--frames", type=int, default=40, help="frames per camera per measurement (full-profile rows use a quarter)")
    ap.add_argument("--no-collect", action="store_true", help="skip the parallel-worker collection rate")
    ap.add_argument("--collect-episodes", type=int, default=4, help="episodes per collection-rate measurement")
    args = ap.parse_args()
    require_metaworld()
    import importlib.metadata as md

    result: dict = {"task": args.task, "metaworld": md.version("metaworld"), "mujoco": md.version("mujoco"), "gl": os.environ["MUJOCO_GL"]}
    with Contention() as c:
        ladder = {}
        for size in (64, 96):
            rows, ref = [], None
            for label, kw in LADDER:
                slow = kw.get("shadows", False)
                r = frame_ms(args.task, size, RenderProfile(label, **kw), max(4, args.frames // 4) if slow else args.frames)
                img = r.pop("image")
                ref = img if ref is None else ref
                rows.append({"setting": label, **r, "mean_abs_pixel_diff_vs_defaults": round(float(np.abs(img - ref).mean()), 2)})
                print(size, rows[-1], flush=True)
            ladder[str(size)] = rows
        result["per_frame_ladder"] = ladder
        result["profiles"] = {k: vars(v) for k, v in PROFILES.items()}
        result["expert_steps_per_s_96px"] = {
            "fast, front+wrist": expert_steps_per_s(args.task, 96, ("front", "wrist"), "fast"),
            "fast, front only": expert_steps_per_s(args.task, 96, ("front",), "fast"),
            "fast-full-meshes, front+wrist": expert_steps_per_s(args.task, 96, ("front", "wrist"), "fast-full-meshes"),
        }
        if not args.no_collect:
            result["collect_96px"] = [collect_rate(args.task, 96, w, args.collect_episodes) for w in (1, 2)]
    result["contention"] = c.record()
    full, fast = ladder["64"][0], ladder["64"][-1]
    speed = full["cpu_ms"] / fast["cpu_ms"]
    line = (f"Meta-World render ({args.task}, 64 px, 1 llvmpipe thread): {full['cpu_ms']:.0f} ms CPU per frame with Meta-World's "
            f"settings → {fast['cpu_ms']:.1f} ms with the `fast` profile ({speed:.0f}x; {full['faces_drawn']} → {fast['faces_drawn']} faces, "
            f"mean pixel diff vs Meta-World's look {fast['mean_abs_pixel_diff_vs_defaults']}/255, of which mesh clustering "
            f"{fast['mean_abs_pixel_diff_vs_defaults'] - ladder['64'][-2]['mean_abs_pixel_diff_vs_defaults']:.2f}, the rest shadows); "
            f"wall rates at {result['contention']['own_cores']} own cores: expert {result['expert_steps_per_s_96px']['fast, front+wrist']} "
            f"steps/s with 2 cameras at 96 px" + (f"; collect {result['collect_96px'][-1]['episodes_per_minute']} episodes/min with 2 workers"
                                                  if "collect_96px" in result else "")
            + f" (other work used {result['contention']['other_cores']} of {result['contention']['cores']} cores) — benchmarks/results/metaworld_render.json")
    save("metaworld_render", result, line)


if __name__ == "__main__":
    main()
