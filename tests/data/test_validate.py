"""`vlaforge data check` finds each planted problem, names file and field, and never crashes."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vlaforge.cli import main
from vlaforge.data import check_dataset, open_dataset
from vlaforge.errors import DatasetError

DATA = "data/chunk-000/file-000.parquet"
VIDEO = "videos/observation.images.front/chunk-000/file-000.mp4"


def _rewrite_data(root, fn):
    path = root / DATA
    table = pq.read_table(path)
    pq.write_table(fn(table), path)


def _problems(root):
    return [str(p) for p in check_dataset(root)]


def test_good_dataset_passes(sample_dataset, capsys):
    assert check_dataset(sample_dataset) == []
    assert main(["data", "check", str(sample_dataset)]) == 0
    assert "ok" in capsys.readouterr().out


def test_truncated_parquet(sample_dataset, capsys):
    path = sample_dataset / DATA
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    probs = _problems(sample_dataset)
    assert any(DATA in p and "truncated or corrupt" in p for p in probs), probs
    assert main(["data", "check", str(sample_dataset)]) == 1
    out = capsys.readouterr().out
    assert DATA in out and "Traceback" not in out
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        open_dataset(sample_dataset)


def test_deleted_video(sample_dataset):
    (sample_dataset / VIDEO).unlink()
    probs = _problems(sample_dataset)
    assert any(VIDEO in p and "missing file" in p for p in probs), probs
    ds = open_dataset(sample_dataset)  # tabular data still opens; frames fail clearly
    with pytest.raises(DatasetError, match="missing"):
        ds.episode(0)


def test_truncated_video_is_shorter_than_data(sample_dataset):
    path = sample_dataset / VIDEO
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.4)])
    probs = _problems(sample_dataset)
    assert any(VIDEO in p for p in probs), probs


def test_nan_action(sample_dataset):
    def plant(t):
        a = np.stack(t.column("action").to_numpy(zero_copy_only=False)).astype(np.float32)
        a[7, 2] = np.nan
        col = pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), 4)
        return t.set_column(t.column_names.index("action"), "action", col)

    _rewrite_data(sample_dataset, plant)
    probs = _problems(sample_dataset)
    assert any(DATA in p and "[action]" in p and "NaN" in p and "row 7" in p for p in probs), probs


def test_shuffled_timestamps(sample_dataset):
    def plant(t):
        ts = t.column("timestamp").to_numpy().copy()
        ts[3], ts[4] = ts[4], ts[3]
        return t.set_column(t.column_names.index("timestamp"), "timestamp", pa.array(ts, pa.float32()))

    _rewrite_data(sample_dataset, plant)
    probs = _problems(sample_dataset)
    assert any("[timestamp]" in p and "not strictly increasing" in p and "episode 0" in p for p in probs), probs


def test_timestamps_off_fps_grid(sample_dataset):
    def plant(t):
        ts = t.column("timestamp").to_numpy().copy()
        ts[10] += 0.01
        return t.set_column(t.column_names.index("timestamp"), "timestamp", pa.array(ts, pa.float32()))

    _rewrite_data(sample_dataset, plant)
    assert any("off the 20 fps grid" in p for p in _problems(sample_dataset))


def test_index_gap(sample_dataset):
    def plant(t):
        idx = t.column("frame_index").to_numpy().copy()
        idx[5] = 99
        return t.set_column(t.column_names.index("frame_index"), "frame_index", pa.array(idx, pa.int64()))

    _rewrite_data(sample_dataset, plant)
    assert any("[frame_index]" in p and "gaps" in p for p in _problems(sample_dataset))


def test_info_json_shape_lie(sample_dataset):
    info_path = sample_dataset / "meta/info.json"
    info = json.loads(info_path.read_text())
    info["features"]["action"]["shape"] = [7]
    info_path.write_text(json.dumps(info))
    probs = _problems(sample_dataset)
    assert any("[action]" in p and "shape is [7]" in p for p in probs), probs
    with pytest.raises(DatasetError, match="action"):
        open_dataset(sample_dataset)


def test_missing_and_stale_stats(sample_dataset):
    stats_path = sample_dataset / "meta/stats.json"
    stats = json.loads(stats_path.read_text())
    stats["action"]["mean"] = [9.0, 9.0, 9.0, 9.0]
    del stats["observation.state"]
    stats_path.write_text(json.dumps(stats))
    probs = _problems(sample_dataset)
    assert any("meta/stats.json [action]" in p and "stale 'mean'" in p for p in probs), probs
    assert any("meta/stats.json [observation.state]" in p and "no statistics" in p for p in probs), probs
    # the fix the message names works
    assert main(["data", "restats", str(sample_dataset)]) == 0
    assert check_dataset(sample_dataset) == []


def test_missing_and_extra_files(sample_dataset):
    (sample_dataset / "meta/tasks.parquet").unlink()
    shutil.copy(sample_dataset / DATA, sample_dataset / "data/chunk-000/file-009.parquet")
    probs = _problems(sample_dataset)
    assert any("meta/tasks.parquet" in p and "missing" in p for p in probs), probs
    assert any("file-009.parquet" in p and "extra file" in p for p in probs), probs


def test_not_a_dataset(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path)]) == 1
    assert "meta/info.json" in capsys.readouterr().out
    assert main(["data", "info", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_exception_inside_writer_keeps_previous_dataset(sample_dataset):
    from vlaforge.data import DatasetWriter
    from vlaforge.data.sample import sample_episode

    before = open_dataset(sample_dataset).lineage["fingerprint"]
    with pytest.raises(RuntimeError):
        with DatasetWriter.append(sample_dataset) as w:
            w.add_episode(*sample_episode(50, 10))
            raise RuntimeError("boom")
    assert open_dataset(sample_dataset).lineage["fingerprint"] == before
    assert check_dataset(sample_dataset) == []
    assert not [p for p in sample_dataset.parent.iterdir() if p.name.startswith(".sample.staging")]


@pytest.mark.parametrize("existing", [False, True], ids=["new", "append"])
def test_killed_writer_leaves_previous_dataset_or_none(tmp_path, sample_dataset, existing):
    target = sample_dataset if existing else tmp_path / "new"
    before = open_dataset(target).lineage["fingerprint"] if existing else None
    script = textwrap.dedent(f"""
        import sys, time
        from vlaforge.data import DatasetWriter
        from vlaforge.data.sample import sample_episode, sample_features
        w = DatasetWriter.append({str(target)!r}) if {existing} else DatasetWriter.create({str(target)!r}, fps=20, features=sample_features())
        for i in range(1000):
            w.add_episode(*sample_episode(i, 30))
            print("episode", i, flush=True)
        w.finalize()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for _ in range(3):
        proc.stdout.readline()  # killed mid-way, with files half-written
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if existing:
        assert open_dataset(target).lineage["fingerprint"] == before
        assert check_dataset(target) == []
    else:
        assert not target.exists()


def test_video_shorter_than_data(sample_dataset):
    from vlaforge.data.sample import sample_episode
    from vlaforge.data.video import VideoFileWriter

    w = VideoFileWriter(sample_dataset / VIDEO, 20, 96, 96)
    w.write(sample_episode(0, 30)[0]["observation.images.front"])
    w.close()  # a valid mp4 holding only the first episode's 30 frames
    probs = _problems(sample_dataset)
    assert any(VIDEO in p and "episode 1" in p and "video holds 1.50s" in p for p in probs), probs
    with pytest.raises(DatasetError, match="truncated"):
        open_dataset(sample_dataset).episode(2)
