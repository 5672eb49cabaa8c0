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
    err = capsys.readouterr().err
    assert "is not a dataset directory (it has no meta/info.json)" in err and "pass the directory" in err
    assert "not a dataset directory" in str(check_dataset(tmp_path)[0])  # the Python API names it the same way
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


def _scribble(path, start_frac, end_frac):
    """Overwrite part of the file's bytes in place (same size) with seeded garbage."""
    data = bytearray(path.read_bytes())
    lo, hi = int(len(data) * start_frac), int(len(data) * end_frac)
    data[lo:hi] = np.random.default_rng(0).integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_scribbled_video_fails_to_decode(sample_dataset, capsys):
    (sample_dataset / "meta/vlaforge.json").unlink()  # no fingerprint to fall back on
    size = (sample_dataset / VIDEO).stat().st_size
    _scribble(sample_dataset / VIDEO, 0.05, 0.85)  # most of the frame data, the index (moov, at the end) intact
    assert (sample_dataset / VIDEO).stat().st_size == size
    probs = _problems(sample_dataset)
    assert any(VIDEO in p and "observation.images.front" in p and "frame " in p and "the file is corrupt" in p for p in probs), probs
    assert main(["data", "check", str(sample_dataset)]) == 1
    assert "does not decode" in capsys.readouterr().out


def test_deep_check_decodes_every_frame(sample_dataset, capsys):
    (sample_dataset / "meta/vlaforge.json").unlink()
    _scribble(sample_dataset / VIDEO, 0.50, 0.56)  # a few frames in the middle only
    assert main(["data", "check", "--deep", str(sample_dataset)]) == 1
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if VIDEO in l)
    assert "frame " in line and "does not decode" in line and "--deep" not in line, out
    assert any("frame" in p for p in map(str, check_dataset(sample_dataset, decode_all=True)))


def _kill_writer_after_one_episode(target):
    script = textwrap.dedent(f"""
        from vlaforge.data import DatasetWriter
        from vlaforge.data.sample import sample_episode
        w = DatasetWriter.append({str(target)!r})
        w.add_episode(*sample_episode(50, 10))
        print("episode", flush=True)
        import time; time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid


def test_killed_writers_staging_dir_is_listed_then_cleaned(tmp_path, sample_dataset, capsys):
    from vlaforge.data import DatasetWriter
    from vlaforge.data.sample import sample_episode, sample_features
    from vlaforge.io import staging_dirs, staging_owner

    pid = _kill_writer_after_one_episode(sample_dataset)
    left = staging_dirs(sample_dataset.parent, "sample")
    assert len(left) == 1 and staging_owner(left[0])["pid"] == pid
    assert main(["data", "check", str(sample_dataset)]) == 0  # the dataset itself is fine
    out = capsys.readouterr().out
    assert f"{left[0]}: leftover of a killed writer (pid {pid} is gone)" in out
    live = shutil.copytree(left[0], sample_dataset.parent / ".other.staging.live")  # a live writer's (ours) is kept
    (live / ".staging-owner.json").write_text(json.dumps({"pid": os.getpid(), "host": staging_owner(left[0])["host"]}))
    with DatasetWriter.create(sample_dataset.parent / "next", fps=20, features=sample_features()) as w:
        w.add_episode(*sample_episode(0, 5))
    assert staging_dirs(sample_dataset.parent) == [live]
    assert not (sample_dataset.parent / "next" / ".staging-owner.json").exists()
    assert check_dataset(sample_dataset.parent / "next") == []
