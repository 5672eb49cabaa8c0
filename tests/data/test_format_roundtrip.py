"""Write → read returns what was written; the on-disk layout is LeRobot v3.0."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vlaforge.data import DatasetWriter, Feature, open_dataset
from vlaforge.data.sample import make_sample_dataset, sample_episode, sample_features
from vlaforge.data.stats import feature_stats
from vlaforge.data.video import VideoConfig
from vlaforge.errors import DatasetError, FeatureMismatch


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("video", [VideoConfig(), VideoConfig.lossless(), VideoConfig.lerobot_default()], ids=["default", "lossless", "av1"])
def test_roundtrip_exact_tabular_and_frames_within_codec_tolerance(tmp_path, video):
    root = make_sample_dataset(tmp_path / "ds", episodes=3, length=20, video=video)
    ds = open_dataset(root)
    assert (ds.num_episodes, ds.fps) == (3, 20)
    for ep in range(3):
        want, task = sample_episode(ep, 20 + (ep % 3) * 5)
        got = ds.episode(ep)
        T = len(want["action"])
        np.testing.assert_array_equal(got["action"], want["action"])
        np.testing.assert_array_equal(got["observation.state"], want["observation.state"])
        np.testing.assert_array_equal(got["frame_index"], np.arange(T))
        np.testing.assert_allclose(got["timestamp"], np.arange(T) / 20, atol=1e-6)
        assert got["task"][0] == task
        for cam in ("observation.images.front", "observation.images.wrist"):
            p = psnr(got[cam], want[cam])
            if video == VideoConfig.lossless():
                assert p == float("inf")
            else:
                assert p > 30, f"{cam} PSNR {p:.1f} dB"


def test_small_colored_objects_survive_default_codec(tmp_path):
    """4:4:4 keeps saturated blocks: the block's color stays within a few levels."""
    root = make_sample_dataset(tmp_path / "ds", episodes=1, length=10)
    got = open_dataset(root).episode(0)["observation.images.front"]
    want, _ = sample_episode(0, 10)
    block = np.all(want["observation.images.front"] == (220, 40, 40), axis=-1)  # red block pixels
    assert block.sum() > 0
    err = np.abs(got.astype(int) - want["observation.images.front"].astype(int))[block].mean()
    assert err < 6, f"mean abs error on the red block {err:.1f}"


def test_random_access_matches_episode_access(sample_dataset):
    ds = open_dataset(sample_dataset)
    ep = ds.episode(3)
    a, _ = ds.episode_range(3)
    item = ds[a + 7]
    assert item["episode_index"] == 3 and item["frame_index"] == 7
    np.testing.assert_array_equal(item["observation.images.wrist"], ep["observation.images.wrist"][7])
    np.testing.assert_array_equal(item["action"], ep["action"][7])
    assert item["task"] == ep["task"][0]


def test_layout_matches_lerobot_v30(sample_dataset):
    info = json.loads((sample_dataset / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    for k in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert k in info["features"]
    assert info["features"]["observation.images.front"]["info"]["video.codec"] == "h264"
    # several episodes share one video file, addressed by from/to timestamps
    eps = pq.read_table(sample_dataset / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert {e["videos/observation.images.front/file_index"] for e in eps} == {0}
    froms = [e["videos/observation.images.front/from_timestamp"] for e in eps]
    assert froms == sorted(froms) and froms[0] == 0.0
    for e in eps:
        assert e["dataset_to_index"] - e["dataset_from_index"] == e["length"]
        assert np.asarray(e["stats/observation.images.front/mean"]).shape == (3, 1, 1)
    tasks = pq.read_table(sample_dataset / "meta/tasks.parquet")
    assert set(tasks.column_names) == {"task", "task_index"}
    assert b"pandas" in tasks.schema.metadata  # pandas restores `task` as the index, as LeRobot expects
    data = pq.read_table(sample_dataset / "data/chunk-000/file-000.parquet")
    t = data.schema.field("action").type
    assert pa.types.is_fixed_size_list(t) and t.list_size == 4 and t.value_type == pa.float32()


def test_stats_aggregate_equals_stats_of_all_data(sample_dataset):
    ds = open_dataset(sample_dataset)
    for key in ("action", "observation.state"):
        direct = feature_stats(ds.column(key))
        for s in ("min", "max", "mean", "std"):
            np.testing.assert_allclose(ds.stats[key][s], direct[s], rtol=1e-6, atol=1e-7)
        assert ds.stats[key]["count"][0] == ds.num_frames


def test_append_keeps_existing_and_records_lineage(sample_dataset):
    before = open_dataset(sample_dataset)
    old_actions = before.column("action").copy()
    fp = before.lineage["fingerprint"]
    with DatasetWriter.append(sample_dataset) as w:
        data, task = sample_episode(100, 12)
        w.add_episode(data, "a brand new task")
    ds = open_dataset(sample_dataset)
    assert ds.num_episodes == 6 and ds.num_frames == before.num_frames + 12
    np.testing.assert_array_equal(ds.column("action")[: len(old_actions)], old_actions)
    np.testing.assert_array_equal(ds.episode(5)["action"], data["action"])
    assert ds.tasks[-1] == "a brand new task"
    assert ds.lineage["version"] == 2 and ds.lineage["parents"][0]["fingerprint"] == fp
    assert ds.flags(0) == {"success": True}  # notes of old episodes survive
    # new episode went to new files; old files untouched
    assert ds.episode_meta[5]["data/file_index"] == 1


def test_writer_rejects_bad_episodes(tmp_path):
    w = DatasetWriter.create(tmp_path / "ds", fps=10, features=sample_features(32))
    data, _ = sample_episode(0, 5, image_size=32)
    with pytest.raises(FeatureMismatch, match="missing"):
        w.add_episode({k: v for k, v in data.items() if k != "action"}, "t")
    bad = dict(data, action=data["action"][:, :3])
    with pytest.raises(FeatureMismatch, match="action"):
        w.add_episode(bad, "t")
    nan = dict(data, action=data["action"].copy())
    nan["action"][2, 1] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        w.add_episode(nan, "t")
    with pytest.raises(DatasetError, match="no episodes"):
        w.finalize()
    assert not (tmp_path / "ds").exists()


def test_create_refuses_to_replace_without_overwrite(sample_dataset):
    with pytest.raises(DatasetError, match="already exists"):
        DatasetWriter.create(sample_dataset, fps=20, features=sample_features())


def test_declared_index_features_are_rejected(tmp_path):
    with pytest.raises(FeatureMismatch, match="automatically"):
        DatasetWriter.create(tmp_path / "x", fps=10, features={"timestamp": Feature("float32", (1,))})


def test_frame_by_frame_recording(tmp_path):
    data, task = sample_episode(0, 6, image_size=32)
    with DatasetWriter.create(tmp_path / "rec", fps=10, features=sample_features(32)) as w:
        for t in range(6):
            w.add_frame({k: v[t] for k, v in data.items()})
        w.save_episode(task, subtasks=[{"start": 0, "end": 6, "text": "reach"}])
    ds = open_dataset(tmp_path / "rec")
    np.testing.assert_array_equal(ds.episode(0)["action"], data["action"])
    assert ds.subtasks(0) == [{"start": 0, "end": 6, "text": "reach"}]
