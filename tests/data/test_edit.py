"""Dataset edits: each preserves data exactly where it should and records lineage."""

import numpy as np
import pytest

from vlaforge.cli import main
from vlaforge.data import DatasetWriter, check_dataset, open_dataset
from vlaforge.data import edit
from vlaforge.data.sample import sample_episode, sample_features
from vlaforge.data.stats import feature_stats
from vlaforge.errors import DatasetError, FeatureMismatch


def _same_episode(a, ea, b, eb, cameras=True):
    x, y = a.episode(ea, cameras=cameras), b.episode(eb, cameras=cameras)
    for k in ("action", "observation.state"):
        np.testing.assert_array_equal(x[k], y[k])
    assert x["task"][0] == y["task"][0]
    if cameras:
        for c in a.camera_keys:
            np.testing.assert_array_equal(x[c], y[c])


def test_filter_keeps_exact_episodes_and_records_lineage(sample_dataset, tmp_path):
    src = open_dataset(sample_dataset)
    task = src.tasks[1]
    out = edit.filter_episodes(sample_dataset, tmp_path / "f", tasks=[task])
    ds = open_dataset(out)
    kept = [i for i in range(src.num_episodes) if src.episode(i, cameras=False)["task"][0] == task]
    assert ds.num_episodes == len(kept) >= 1
    for new, old in enumerate(kept):
        _same_episode(ds, new, src, old)
    assert ds.lineage["operation"]["name"] == "filter" and ds.lineage["parents"][0]["fingerprint"] == src.lineage["fingerprint"]
    assert ds.lineage["version"] == src.lineage["version"] + 1
    assert check_dataset(out) == []


def test_filter_by_length_and_flags_via_cli(sample_dataset, tmp_path, capsys):
    assert main(["data", "edit", "filter", str(sample_dataset), "--out", str(tmp_path / "f"), "--min-length", "31", "--success", "true"]) == 0
    ds = open_dataset(tmp_path / "f")
    assert all(int(e["length"]) >= 31 for e in ds.episode_meta)
    assert main(["data", "edit", "filter", str(sample_dataset), "--out", str(tmp_path / "g"), "--success", "false"]) == 1
    assert "selected no episodes" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def test_split_is_episode_disjoint_and_complete(sample_dataset, tmp_path):
    tr, va = edit.split_dataset(sample_dataset, tmp_path / "s", val_fraction=0.4)
    a, b = open_dataset(tr), open_dataset(va)
    src = open_dataset(sample_dataset)
    assert a.num_episodes + b.num_episodes == src.num_episodes and b.num_episodes == 2
    assert a.num_frames + b.num_frames == src.num_frames


def test_merge_stats_equal_stats_of_merged_data(sample_dataset, tmp_path):
    other = tmp_path / "other"
    with DatasetWriter.create(other, fps=20, features=sample_features()) as w:
        for i in range(3):
            d, _ = sample_episode(40 + i, 25)
            d["action"] = d["action"] * 3 + 1  # a different distribution
            w.add_episode(d, "something else")
    out = edit.merge_datasets([sample_dataset, other], tmp_path / "m")
    ds = open_dataset(out)
    assert ds.num_episodes == 8 and len(ds.lineage["parents"]) == 2
    for k in ("action", "observation.state"):
        direct = feature_stats(ds.column(k))
        for s in ("min", "max", "mean", "std"):
            np.testing.assert_allclose(ds.stats[k][s], direct[s], rtol=1e-6, atol=1e-7)
    _same_episode(ds, 6, open_dataset(other), 1)
    assert check_dataset(out) == []


def test_merge_keeps_each_episodes_image_stats_without_decoding_again(sample_dataset, tmp_path):
    """The sources recorded image stats of these very frames: merge carries them over (it links the videos)."""
    src = open_dataset(sample_dataset)
    ds = open_dataset(edit.merge_datasets([sample_dataset, sample_dataset], tmp_path / "m"))
    cam = src.camera_keys[0]
    for new, old in ((1, 1), (src.num_episodes + 3, 3)):
        for s in ("mean", "std", "min", "max"):
            np.testing.assert_array_equal(ds.episode_stats(new)[cam][s], src.episode_stats(old)[cam][s])
    np.testing.assert_allclose(ds.stats[cam]["mean"], src.stats[cam]["mean"], rtol=1e-6)  # the same data twice
    assert check_dataset(ds.root) == []


def test_merge_refuses_a_source_whose_video_is_shorter_than_its_episodes(sample_dataset, tmp_path):
    """A truncated video (here: re-encoded with 10 frames fewer) fails the merge by name, and nothing is written."""
    from vlaforge.data.video import VideoFileWriter, decode_range

    src = open_dataset(sample_dataset)
    cam = src.camera_keys[0]
    path = src.video_path(0, cam)
    frames = decode_range(path, 0.0, src.num_frames / src.fps, src.fps)  # every episode of this file
    path.unlink()
    w = VideoFileWriter(path, src.fps, *frames.shape[1:3])
    w.write(frames[:-10])
    w.close()
    with pytest.raises(DatasetError, match="truncated"):
        edit.merge_datasets([sample_dataset, sample_dataset], tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_merge_refuses_incompatible_features(sample_dataset, tmp_path):
    small = tmp_path / "small"
    with DatasetWriter.create(small, fps=20, features=sample_features(32)) as w:
        w.add_episode(*sample_episode(0, 5, image_size=32))
    with pytest.raises(FeatureMismatch, match="observation.images.front"):
        edit.merge_datasets([sample_dataset, small], tmp_path / "m")


def test_relabel_tasks(sample_dataset, tmp_path):
    src = open_dataset(sample_dataset)
    old = src.tasks[0]
    ds = open_dataset(edit.relabel_tasks(sample_dataset, tmp_path / "r", {old: "pick up the thing"}))
    assert "pick up the thing" in ds.tasks and old not in ds.tasks
    np.testing.assert_array_equal(ds.column("action"), src.column("action"))
    ds2 = open_dataset(edit.relabel_tasks(sample_dataset, tmp_path / "r2", {r"move to": "go to"}, regex=True))
    assert all(t.startswith("go to") for t in ds2.tasks)
    with pytest.raises(DatasetError, match="not in"):
        edit.relabel_tasks(sample_dataset, tmp_path / "r3", {"no such task": "x"})


def test_trim_idle_removes_planted_prefix_and_suffix(tmp_path):
    feats = sample_features(32)
    src = tmp_path / "idle"
    d, task = sample_episode(3, 20, image_size=32)
    pad = lambda x, n, where: np.concatenate([np.repeat(x[:1], n, 0), x] if where == "pre" else [x, np.repeat(x[-1:], n, 0)])
    planted = {k: pad(pad(v, 6, "pre"), 4, "post") for k, v in d.items()}
    planted["action"][:6, :3] = 0
    planted["action"][-4:, :3] = 0
    planted["action"][-5, :3] = 0.05  # keep one active frame at the end of the real motion
    with DatasetWriter.create(src, fps=20, features=feats) as w:
        w.add_episode(planted, task, subtasks=[{"start": 0, "end": 30, "text": "all"}])
    out = edit.trim_idle(src, tmp_path / "t")
    ds = open_dataset(out)
    e = ds.episode(0)
    assert len(e["action"]) == 20
    np.testing.assert_array_equal(e["observation.state"], d["observation.state"])
    assert ds.subtasks(0) == [{"start": 0, "end": 20, "text": "all"}]
    assert check_dataset(out) == []


def test_subsample_sums_delta_actions(sample_dataset, tmp_path):
    src = open_dataset(sample_dataset)
    ds = open_dataset(edit.subsample(sample_dataset, tmp_path / "s", factor=2))
    assert ds.fps == 10
    a, b = src.episode(0), ds.episode(0)
    np.testing.assert_array_equal(b["observation.state"], a["observation.state"][::2])
    np.testing.assert_allclose(b["action"][:, :3], a["action"][:, :3].reshape(-1, 2, 3).sum(1), rtol=1e-6)
    np.testing.assert_array_equal(b["action"][:, 3], a["action"][1::2, 3])
    assert ds.lineage["operation"] == {"name": "subsample", "factor": 2, "action_mode": "sum"}
    assert check_dataset(tmp_path / "s") == []
    with pytest.raises(DatasetError, match="divide fps"):
        edit.subsample(sample_dataset, tmp_path / "x", factor=3)


def test_edit_in_place_replaces_atomically(sample_dataset):
    n = open_dataset(sample_dataset).num_episodes
    edit.filter_episodes(sample_dataset, sample_dataset, drop_episodes=[0])
    ds = open_dataset(sample_dataset)
    assert ds.num_episodes == n - 1 and check_dataset(sample_dataset) == []
