"""The decoded-frame cache: stale caches are pruned, a full disk is a clear error before any decoding, `data cache` lists and clears."""

import json
import subprocess
import sys

import numpy as np

from vlaforge.cli import main
from vlaforge.data import DatasetWriter
from vlaforge.data.cache import cache_path, list_caches
from vlaforge.data.loader import TrainingDataset
from vlaforge.data.reader import open_dataset
from vlaforge.data.sample import sample_episode, sample_features


def test_a_rewritten_dataset_prunes_its_old_cache_and_a_removed_one_is_orphaned(sample_dataset, tmp_path, capsys, monkeypatch):
    root = tmp_path / "cache" / "frames"
    first = cache_path(TrainingDataset(sample_dataset, cache_root=root).ds, root)
    assert [e.state for e in list_caches(root)] == ["current"]
    with DatasetWriter.append(sample_dataset) as w:
        w.add_episode(*sample_episode(77, 10))
    frames = TrainingDataset(sample_dataset, cache_root=root).ds.num_frames  # the new build removes the superseded cache first
    (entry,) = list_caches(root)
    assert entry.state == "current" and entry.path != first and not first.exists() and entry.nbytes > 2 * 150 * 96 * 96 * 3

    monkeypatch.setenv("VLAFORGE_CACHE", str(root.parent))
    other = tmp_path / "other"
    other.mkdir()
    sample_dataset.rename(other / "sample")  # the dataset moved: its cache can never be read again
    assert main(["data", "cache", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["state"] for c in listed["caches"]] == ["orphaned"] and listed["caches"][0]["frames"] == frames
    assert main(["data", "cache", "--prune", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["removed"]) == 1 and list_caches(root) == []


def test_clear_removes_current_caches_too(sample_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VLAFORGE_CACHE", str(tmp_path / "cache"))
    TrainingDataset(sample_dataset)
    assert main(["data", "cache"]) == 0 and "current" in capsys.readouterr().out
    assert main(["data", "cache", "--clear"]) == 0 and "removed 1 frame caches" in capsys.readouterr().out
    assert list_caches(tmp_path / "cache" / "frames") == []


_NO_ROOM = """
import resource, signal, sys
from pathlib import Path
from vlaforge.data.loader import TrainingDataset
from vlaforge.data.reader import open_dataset
from vlaforge.errors import DatasetError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # no file over 200 kB: the cache needs 2 x 4.4 MB
try:
    TrainingDataset(sys.argv[1], cache_root=Path(sys.argv[2]))
except DatasetError as e:
    print(e)
"""


def test_no_room_for_the_cache_is_a_clear_error_before_decoding_and_leaves_nothing(sample_dataset, tmp_path):
    root = tmp_path / "cache" / "frames"
    out = subprocess.run([sys.executable, "-c", _NO_ROOM, str(sample_dataset), str(root)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    need = 2 * open_dataset(sample_dataset).num_frames * 96 * 96 * 3 / 2**20
    assert f"the frame cache of {sample_dataset} needs {need:.1f} MiB at {root.parent}" in out.stdout and "File too large" in out.stdout
    assert "vlaforge data cache` (--prune, --clear)" in out.stdout and "$VLAFORGE_CACHE" in out.stdout
    assert list(root.iterdir()) == []  # no cache and no staging dir left behind


def test_a_merged_dataset_copies_its_sources_cached_frames_instead_of_decoding(sample_dataset, tmp_path, monkeypatch):
    """merge links the source videos, so the merged dataset's cache takes the source's decoded frames; new episodes
    (from a source without a cache) are decoded; the result equals decoding everything. Relative paths given to the
    edit are recorded absolute, so the sources are found from the merged dataset whatever the working directory."""
    from vlaforge.data import edit

    root = tmp_path / "cache" / "frames"
    TrainingDataset(sample_dataset, cache_root=root)  # the source's cache
    other = tmp_path / "other"
    with DatasetWriter.create(other, fps=20, features=sample_features()) as w:
        w.add_episode(*sample_episode(50, 12))
    monkeypatch.chdir(tmp_path)
    merged = open_dataset(edit.merge_datasets([sample_dataset.name, other.name], "versions/merged"))
    assert merged.lineage["parents"][0]["path"] == str(sample_dataset.resolve())
    monkeypatch.chdir(other)
    merged = open_dataset(tmp_path / "versions" / "merged")
    cache = TrainingDataset(merged.root, cache_root=root).cache
    src = open_dataset(sample_dataset)
    assert cache.meta["reused_frames"] == src.num_frames * len(src.camera_keys)  # every source frame, no other
    for cam in merged.camera_keys:
        for ep in range(merged.num_episodes):
            a, b = merged.episode_range(ep)
            np.testing.assert_array_equal(cache.frames(cam)[a:b], merged.episode_frames(ep, cam).transpose(0, 3, 1, 2))
    assert {e.state for e in list_caches(root)} == {"current"}  # the source's cache stays: its dataset is unchanged
