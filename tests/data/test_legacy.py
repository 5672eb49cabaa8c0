"""LeRobot v2.1 datasets (one parquet + one mp4 per episode) are read directly and convert to v3.0."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vlaforge.cli import main
from vlaforge.data import check_dataset, open_dataset
from vlaforge.data.sample import sample_episode, sample_features
from vlaforge.data.video import VideoFileWriter


def make_v21(root, episodes=3, fps=10):
    """Write a v2.1 dataset the way LeRobot 0.2/0.3 did (jsonl metadata, per-episode files)."""
    feats = sample_features(32)
    info = {
        "codebase_version": "v2.1", "robot_type": "test", "total_episodes": episodes, "total_frames": 0, "total_tasks": 0,
        "total_videos": episodes * 2, "total_chunks": 1, "chunks_size": 1000, "fps": fps, "splits": {"train": f"0:{episodes}"},
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        "features": {k: f.to_json() for k, f in feats.items()},
    }
    for k, dt in [("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"), ("index", "int64"), ("task_index", "int64")]:
        info["features"][k] = {"dtype": dt, "shape": [1], "names": None}
    tasks, eps, total, originals = [], [], 0, []
    for i in range(episodes):
        data, task = sample_episode(i, 8 + i, image_size=32)
        originals.append(data)
        if task not in tasks:
            tasks.append(task)
        T = len(data["action"])
        table = pa.table({
            "observation.state": pa.array(list(data["observation.state"]), pa.list_(pa.float32())),
            "action": pa.array(list(data["action"]), pa.list_(pa.float32())),
            "timestamp": pa.array(np.arange(T) / fps, pa.float32()),
            "frame_index": pa.array(np.arange(T), pa.int64()),
            "episode_index": pa.array(np.full(T, i), pa.int64()),
            "index": pa.array(np.arange(total, total + T), pa.int64()),
            "task_index": pa.array(np.full(T, tasks.index(task)), pa.int64()),
        })
        p = root / f"data/chunk-000/episode_{i:06d}.parquet"
        p.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, p)
        for cam in ("observation.images.front", "observation.images.wrist"):
            w = VideoFileWriter(root / f"videos/chunk-000/{cam}/episode_{i:06d}.mp4", fps, 32, 32)
            w.write(data[cam])
            w.close()
        eps.append({"episode_index": i, "tasks": [task], "length": T})
        total += T
    info.update(total_frames=total, total_tasks=len(tasks))
    (root / "meta").mkdir(parents=True)
    (root / "meta/info.json").write_text(json.dumps(info))
    (root / "meta/episodes.jsonl").write_text("\n".join(json.dumps(e) for e in eps) + "\n")
    (root / "meta/tasks.jsonl").write_text("\n".join(json.dumps({"task_index": i, "task": t}) for i, t in enumerate(tasks)) + "\n")
    return originals


def test_read_v21_directly(tmp_path):
    originals = make_v21(tmp_path / "v21")
    ds = open_dataset(tmp_path / "v21")
    assert ds.layout == "v2.1" and ds.num_episodes == 3
    ep = ds.episode(2)
    np.testing.assert_array_equal(ep["action"], originals[2]["action"])
    assert ep["observation.images.front"].shape == (10, 32, 32, 3)
    assert check_dataset(tmp_path / "v21") == []


def test_convert_v21_to_v30(tmp_path, capsys):
    originals = make_v21(tmp_path / "v21")
    assert main(["data", "convert", str(tmp_path / "v21"), "--out", str(tmp_path / "v30")]) == 0
    ds = open_dataset(tmp_path / "v30")
    assert ds.layout == "v3.0" and ds.num_episodes == 3
    assert check_dataset(tmp_path / "v30") == []
    src = open_dataset(tmp_path / "v21")
    for i in range(3):
        got, ref = ds.episode(i), src.episode(i)
        np.testing.assert_array_equal(got["action"], originals[i]["action"])
        np.testing.assert_array_equal(got["observation.images.wrist"], ref["observation.images.wrist"])  # copied, not re-encoded
    assert ds.lineage["operation"]["name"] == "convert"
