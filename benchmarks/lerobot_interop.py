"""Interop with the real LeRobot library: LeRobot reads vlaforge datasets, vlaforge reads LeRobot's.

Runs under a Python that has LeRobot installed (not vlaforge's venv); vlaforge is driven through
subprocesses of its own interpreter and its answers come back as .npz files, so the two never share
a process. Prints JSON and writes benchmarks/results/lerobot_interop.json.

    bash benchmarks/lerobot_env.sh    # LeRobot 0.6.1 in ~/.cache/vlaforge/lerobot-0.6.1
    ~/.cache/vlaforge/lerobot-0.6.1/bin/python benchmarks/lerobot_interop.py [--vlaforge-python .venv/bin/python]

Checks, for `vlaforge data sample` (lossy h264 yuv444p, and --lossless):
  * LeRobotDataset(repo_id, root) opens it; counts, fps, tasks, features agree;
  * every frame: observation.state, action, timestamp, frame_index, episode_index, index,
    task_index and the task string equal what vlaforge's open_dataset returns (exactly);
  * every camera frame: pixel difference between LeRobot's decode and vlaforge's decode
    (and, for --lossless, against the generator's source pixels);
  * delta_timestamps action chunks (16 steps) and their *_is_pad flags against the columns;
  * layout: parquet schemas (data, meta/episodes, meta/tasks), info.json and stats.json keys/shapes
    against the LeRobot-written fixture;
  * LeRobot's own editing tools (delete_episodes, merge_datasets) on a vlaforge dataset, and
    vlaforge reading + checking what they wrote.
And the other direction on the LeRobot-written fixtures in tests/data/fixtures/.

Environment: benchmarks/lerobot_env.sh (LeRobot 0.6.1, torch 2.11, Python 3.12; torchcodec's FFmpeg libraries
may be absent, then LeRobot's pyav backend is used and recorded). The fixtures were written by LeRobot 0.4.4:
see tests/data/fixtures/make_lerobot_fixtures.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "fixtures"
RESULT = REPO / "benchmarks" / "results" / "lerobot_interop.json"
SCALARS = ["timestamp", "frame_index", "episode_index", "index", "task_index"]

# Runs in vlaforge's interpreter: dump what vlaforge reads from a dataset into an npz.
DUMP = textwrap.dedent(
    """
    import sys, numpy as np
    from vlaforge.data import open_dataset
    root, out, source = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    ds = open_dataset(root)
    arrs = {k: ds.column(k) for k in ["observation.state", "action", "timestamp", "frame_index", "episode_index", "index", "task_index"]}
    arrs["task"] = np.array([ds.tasks[int(t)] for t in arrs["task_index"]])
    arrs["tasks"] = np.array(ds.tasks)
    eps = sorted(int(e["episode_index"]) for e in ds.episode_meta)
    for cam in ds.camera_keys:
        arrs["cam:" + cam] = np.concatenate([ds.episode_frames(e, cam) for e in eps])
    # random-access path too (second frame of each episode through __getitem__)
    arrs["getitem_rows"] = np.array([ds.episode_range(e)[0] + 1 for e in eps])
    for cam in ds.camera_keys:
        arrs["getitem:" + cam] = np.stack([ds[int(r)][cam] for r in arrs["getitem_rows"]])
    if source:  # the generator's exact pixels (vlaforge data sample, default seed 0)
        from vlaforge.data.sample import sample_episode
        for cam in ds.camera_keys:
            frames = []
            for i, e in enumerate(eps):
                a, b = ds.episode_range(e)
                data, _ = sample_episode(i, b - a, ds.features[cam].shape[0], tuple(c.split(".")[-1] for c in ds.camera_keys))
                frames.append(data[cam])
            arrs["src:" + cam] = np.concatenate(frames)
    np.savez(out, **arrs)
    """
)


def vf_dump(vf_python: str, root: Path, out: Path, source: bool = False) -> dict[str, np.ndarray]:
    subprocess.run([vf_python, "-c", DUMP, str(root), str(out), "1" if source else "0"], check=True, capture_output=True, text=True)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def vf_check(vf_python: str, root: Path) -> dict[str, Any]:
    """`vlaforge data check` + open_dataset on a dataset LeRobot wrote."""
    cli = str(Path(vf_python).parent / "vlaforge")
    p = subprocess.run([cli, "data", "check", str(root)], capture_output=True, text=True)
    q = subprocess.run(
        [vf_python, "-c", "import sys; from vlaforge.data import open_dataset; d = open_dataset(sys.argv[1]); print(d.num_episodes, d.num_frames)", str(root)],
        capture_output=True,
        text=True,
    )
    return {
        "check_rc": p.returncode,
        "check_output": (p.stdout + p.stderr).strip()[-600:],
        "open_ok": q.returncode == 0,
        "open_output": (q.stdout + q.stderr).strip()[-600:],
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pixel_diff(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    if a.shape != b.shape:
        return {"shape_mismatch": [list(a.shape), list(b.shape)]}
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"max": int(d.max()), "mean": round(float(d.mean()), 4), "p99": float(np.percentile(d, 99)), "frames": int(len(a))}


def err(e: BaseException) -> dict[str, str]:
    tb = traceback.extract_tb(e.__traceback__)
    where = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in tb if "lerobot" in f.filename][-3:]
    return {"error": f"{type(e).__name__}: {e}"[:1500], "where": where}


def lerobot_read(root: Path, repo_id: str, backend: str | None) -> dict[str, Any]:
    """Every item of a dataset as LeRobot returns it (camera frames back to uint8 HWC)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset(repo_id=repo_id, root=root, video_backend=backend)
    cams = list(ds.meta.video_keys) + list(ds.meta.image_keys)
    cols: dict[str, list] = {k: [] for k in ["observation.state", "action", *SCALARS, "task", *cams]}
    for i in range(len(ds)):
        it = ds[i]
        for k in cols:
            v = it[k]
            if k in cams:
                v = (v.numpy().transpose(1, 2, 0) * 255).round().clip(0, 255).astype(np.uint8)
            elif k != "task":
                v = v.numpy()
            cols[k].append(v)
    out = {k: np.stack(v) if k != "task" else np.array(v) for k, v in cols.items()}
    out["_meta"] = {
        "len": len(ds),
        "total_episodes": ds.meta.total_episodes,
        "fps": ds.fps,
        "video_backend": getattr(ds, "video_backend", None) or getattr(ds, "_video_backend", None),  # 0.6 made it private
        "tasks": list(ds.meta.tasks.index),
        "camera_keys": cams,
        "stats_shapes": {k: {s: list(np.asarray(v).shape) for s, v in st.items()} for k, st in ds.meta.stats.items()},
    }
    return out


def compare(lr: dict[str, Any], vf: dict[str, np.ndarray], source: bool) -> dict[str, Any]:
    res: dict[str, Any] = {"frames": int(lr["_meta"]["len"]), "episodes": lr["_meta"]["total_episodes"], "video_backend": lr["_meta"]["video_backend"]}
    res["tasks_equal"] = lr["_meta"]["tasks"] == [str(t) for t in vf["tasks"]]
    exact = {}
    for k in ["observation.state", "action", *SCALARS]:
        a, b = np.asarray(lr[k]).reshape(len(vf[k]), -1), vf[k].reshape(len(vf[k]), -1)
        exact[k] = bool(a.shape == b.shape and np.array_equal(a.astype(b.dtype), b))
    exact["task"] = bool(np.array_equal(lr["task"], vf["task"]))
    res["exact"] = exact
    res["all_exact"] = all(exact.values())
    pix = {}
    for cam in lr["_meta"]["camera_keys"]:
        pix[cam] = {"lerobot_vs_vlaforge": pixel_diff(lr[cam], vf["cam:" + cam])}
        rows = vf["getitem_rows"]
        pix[cam]["lerobot_vs_vlaforge_getitem"] = pixel_diff(lr[cam][rows], vf["getitem:" + cam])
        if source:
            pix[cam]["lerobot_vs_source"] = pixel_diff(lr[cam], vf["src:" + cam])
            pix[cam]["vlaforge_vs_source"] = pixel_diff(vf["cam:" + cam], vf["src:" + cam])
    res["pixels"] = pix
    res["stats_shapes_as_loaded"] = lr["_meta"]["stats_shapes"]
    return res


def delta_chunks(root: Path, repo_id: str, vf: dict[str, np.ndarray], backend: str | None, horizon: int = 16) -> dict[str, Any]:
    """LeRobot's delta_timestamps action chunk vs the same chunk built from vlaforge's columns."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    meta = json.loads((root / "meta" / "info.json").read_text())
    fps = int(meta["fps"])
    ds = LeRobotDataset(repo_id=repo_id, root=root, video_backend=backend, delta_timestamps={"action": [i / fps for i in range(horizon)]})
    ep, act = vf["episode_index"].reshape(-1), vf["action"]
    rows = list(range(0, len(ds), 7)) + [len(ds) - 1]
    bad_values, bad_pad = [], []
    for r in rows:
        it = ds[r]
        same = np.flatnonzero(ep == ep[r])
        lo, hi = same[0], same[-1]
        idx = np.clip(np.arange(r, r + horizon), lo, hi)
        want_pad = np.arange(r, r + horizon) > hi
        if not np.array_equal(it["action"].numpy(), act[idx]):
            bad_values.append(r)
        if not np.array_equal(it["action_is_pad"].numpy(), want_pad):
            bad_pad.append(r)
    return {"rows_checked": len(rows), "value_mismatch_rows": bad_values[:20], "pad_mismatch_rows": bad_pad[:20], "ok": not bad_values and not bad_pad}


def lerobot_tools(vf_root: Path, vf_python: str, work: Path) -> dict[str, Any]:
    """LeRobot's dataset_tools on a vlaforge dataset; vlaforge checks what they wrote."""
    from lerobot.datasets import dataset_tools as T
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    out: dict[str, Any] = {}
    copy = work / "tools_copy"
    shutil.copytree(vf_root, copy)
    ds = LeRobotDataset(repo_id="local/vf_a", root=vf_root)
    ds2 = LeRobotDataset(repo_id="local/vf_b", root=copy)
    jobs = {
        "delete_episodes": lambda: T.delete_episodes(ds, [1], output_dir=work / "tools_delete", repo_id="local/vf_del"),
        "merge_datasets": lambda: T.merge_datasets([ds, ds2], output_repo_id="local/vf_merged", output_dir=work / "tools_merged"),
    }
    for name, job in jobs.items():
        try:
            new = job()
            out[name] = {"ok": True, "frames": len(new), "episodes": new.meta.total_episodes, "vlaforge": vf_check(vf_python, Path(new.root))}
        except Exception as e:  # noqa: BLE001 - report whatever LeRobot raises
            out[name] = {"ok": False, **err(e)}
    return out


def layout_vs_lerobot_written(vf_root: Path) -> dict[str, Any]:
    """Schema-level differences between a vlaforge-written dataset and the LeRobot-written fixture."""
    import pyarrow.parquet as pq

    ref = FIXTURES / "lerobot_v30_h264"
    if not ref.exists():
        return {"skipped": f"{ref} missing"}
    out: dict[str, Any] = {}
    for kind, rel in [("data", "data/chunk-000/file-000.parquet"), ("episodes", "meta/episodes/chunk-000/file-000.parquet"), ("tasks", "meta/tasks.parquet")]:
        a, b = pq.read_schema(vf_root / rel), pq.read_schema(ref / rel)
        ta, tb = {f.name: str(f.type) for f in a}, {f.name: str(f.type) for f in b}
        out[kind] = {
            "only_in_vlaforge": sorted(set(ta) - set(tb)),
            "only_in_lerobot": sorted(set(tb) - set(ta)),
            "type_differences": {k: {"vlaforge": ta[k], "lerobot": tb[k]} for k in sorted(set(ta) & set(tb)) if ta[k] != tb[k]},
            "schema_metadata_vlaforge": sorted(k.decode() for k in (a.metadata or {})),
            "schema_metadata_lerobot": sorted(k.decode() for k in (b.metadata or {})),
        }
    ia, ib = json.loads((vf_root / "meta/info.json").read_text()), json.loads((ref / "meta/info.json").read_text())
    fa = {k: sorted(v) for k, v in ia["features"].items()}
    fb = {k: sorted(v) for k, v in ib["features"].items()}
    out["info_json"] = {
        "only_in_vlaforge": sorted(set(ia) - set(ib)),
        "only_in_lerobot": sorted(set(ib) - set(ia)),
        "feature_keys_differ": {k: {"vlaforge": fa[k], "lerobot": fb[k]} for k in fa if k in fb and fa[k] != fb[k]},
        "video_info_keys_equal": all(
            sorted(ia["features"][k].get("info", {})) == sorted(ib["features"][k].get("info", {})) for k in ia["features"] if k in ib["features"]
        ),
    }
    sa, sb = json.loads((vf_root / "meta/stats.json").read_text()), json.loads((ref / "meta/stats.json").read_text())
    shapes = lambda st: {k: {n: list(np.asarray(v).shape) for n, v in d.items()} for k, d in st.items()}  # noqa: E731
    ha, hb = shapes(sa), shapes(sb)
    out["stats_json"] = {"same_keys_and_shapes": ha == hb, "differences": {k: {"vlaforge": ha.get(k), "lerobot": hb.get(k)} for k in set(ha) | set(hb) if ha.get(k) != hb.get(k)}}
    return out


def fixtures_direction(vf_python: str, work: Path, backend: str | None) -> dict[str, Any]:
    """vlaforge reading the LeRobot-written fixtures, compared with LeRobot reading them and with expected.npz."""
    res: dict[str, Any] = {}
    for name in ["lerobot_v30_av1", "lerobot_v30_h264"]:
        root = FIXTURES / name
        if not root.exists():
            res[name] = {"skipped": "missing"}
            continue
        try:
            vf = vf_dump(vf_python, root, work / f"{name}.npz")
            lr = lerobot_read(root, f"vlaforge/{name}", backend)
            r = compare(lr, vf, source=False)
            exp = np.load(root / "expected.npz")
            r["vlaforge_vs_expected_exact"] = {
                "observation.state": bool(np.array_equal(vf["observation.state"], exp["state"])),
                "action": bool(np.array_equal(vf["action"], exp["action"])),
                "task": bool(np.array_equal(vf["task"], exp["task"])),
            }
            for cam, k in [("observation.images.front", "front"), ("observation.images.wrist", "wrist")]:
                r["pixels"][cam]["vlaforge_vs_fed_pixels"] = pixel_diff(vf["cam:" + cam], exp[k])
            r.pop("stats_shapes_as_loaded")
            res[name] = r
        except Exception as e:  # noqa: BLE001
            res[name] = {"ok": False, **err(e)}
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vlaforge-python", default=str(REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    vf_python = args.vlaforge_python
    vf_cli = str(Path(vf_python).parent / "vlaforge")

    import lerobot
    import torch
    import torchvision

    result: dict[str, Any] = {
        "benchmark": "lerobot_interop",
        "machine": {"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0)), "date": time.strftime("%Y-%m-%d")},
        "lerobot": getattr(lerobot, "__version__", "unknown"),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("HF_LEROBOT_HOME", str(work / "hf_lerobot_home"))
        os.environ["HF_HUB_OFFLINE"] = "1"
        for variant, extra in [("vf_sample", []), ("vf_sample_lossless", ["--lossless"])]:
            root = work / variant
            subprocess.run([vf_cli, "data", "sample", "--out", str(root), "--overwrite", *extra], check=True, capture_output=True)
            vf = vf_dump(vf_python, root, work / f"{variant}.npz", source=True)
            entry: dict[str, Any] = {}
            for backend in ["torchcodec", "pyav"]:
                try:
                    lr = lerobot_read(root, f"local/{variant}", backend)
                    entry[backend] = compare(lr, vf, source=True)
                except Exception as e:  # noqa: BLE001
                    entry[backend] = {"ok": False, **err(e)}
            ok_backend = next((b for b in ["torchcodec", "pyav"] if "error" not in entry[b]), None)
            if ok_backend:
                try:
                    entry["delta_timestamps_action16"] = delta_chunks(root, f"local/{variant}", vf, ok_backend)
                except Exception as e:  # noqa: BLE001
                    entry["delta_timestamps_action16"] = {"ok": False, **err(e)}
            entry["layout_vs_lerobot_written"] = layout_vs_lerobot_written(root)
            result[variant] = entry
        try:
            result["lerobot_tools_on_vlaforge"] = lerobot_tools(work / "vf_sample", vf_python, work)
        except Exception as e:  # noqa: BLE001
            result["lerobot_tools_on_vlaforge"] = {"ok": False, **err(e)}
        backend = next((b for b in ["torchcodec", "pyav"] if "error" not in result["vf_sample"][b]), "pyav")
        result["vlaforge_reads_lerobot_fixtures"] = fixtures_direction(vf_python, work, backend)

    text = json.dumps(result, indent=2, default=str)
    print(text)
    if not args.no_save:
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
