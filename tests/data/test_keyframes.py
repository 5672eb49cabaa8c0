"""Cold-path decoding from in-memory packets: bit-identical to video.decode_at, threaded loader unchanged."""

from pathlib import Path

import numpy as np
import pytest

from vlaforge.data import open_dataset
from vlaforge.data.keyframes import FramePool, KeyframeDecoder, PacketIndex
from vlaforge.data.loader import TrainingDataset
from vlaforge.data.sample import make_sample_dataset
from vlaforge.data.video import VideoConfig, decode_at
from vlaforge.errors import DatasetError

FIXTURES = Path(__file__).parent / "fixtures"


def _reference_batch(ds, td: TrainingDataset, idx: list[int]) -> dict[str, np.ndarray]:
    """The loader's cold frames as it computed them before the pool: decode_at per sample and camera."""
    pos = td.rows[np.asarray(idx)]
    ep_col, ts_col = ds.column("episode_index"), ds.column("timestamp")
    out = {}
    for cam in ds.camera_keys:
        rows, _ = td._query(pos, cam)
        frames = []
        for b in range(len(pos)):
            ep = int(ep_col[rows[b, 0]])
            ts = [ds.video_from(ep, cam) + float(ts_col[r]) for r in rows[b]]
            frames.append(decode_at(ds.video_path(ep, cam), ts, ds.fps).transpose(0, 3, 1, 2))
        out[cam] = np.stack(frames)
    return out


@pytest.mark.parametrize("threads", [1, 3])
def test_threaded_cold_loader_is_bit_identical_to_per_sample_decode(sample_dataset, threads):
    ds = open_dataset(sample_dataset)
    td = TrainingDataset(ds, n_obs=3, chunk=4, cache=False, decode_threads=threads)
    idx = [int(i) for i in np.random.default_rng(0).permutation(len(td))[:40]] + [0, len(td) - 1, 5, 6, 7]
    batch = td.__getitems__(idx)
    want = _reference_batch(ds, td, idx)
    for cam in ds.camera_keys:
        assert batch[cam].shape == want[cam].shape
        np.testing.assert_array_equal(batch[cam].numpy(), want[cam])


@pytest.mark.parametrize("video", [VideoConfig(), VideoConfig.lossless()], ids=["h264", "lossless"])
def test_every_frame_matches_decode_at_in_any_order(tmp_path, video):
    root = make_sample_dataset(tmp_path / "d", episodes=2, length=15, video=video)
    ds = open_dataset(root)
    path = ds.video_path(0, ds.camera_keys[0])
    ix = PacketIndex(path)
    n = len(ix.pts)
    assert ix.seekable and n >= 30 and ix.key[0]
    dec = KeyframeDecoder(ix)
    order = list(range(n)) + [int(i) for i in np.random.default_rng(1).permutation(n)] + [3, 3, 2, n - 1, 0]
    for i in order:  # forward runs continue from the decoder's state, backward jumps restart at a keyframe
        np.testing.assert_array_equal(dec.frame(i), decode_at(path, [float(ix.times[i])], ds.fps)[0])


def test_lerobot_written_av1_matches_decode_at():
    ds = open_dataset(FIXTURES / "lerobot_v30_av1")
    cam = ds.camera_keys[0]
    path, fps = ds.video_path(0, cam), ds.fps
    ts = [ds.video_from(0, cam) + float(t) for t in ds.column("timestamp")[:12][::-1]]
    got = FramePool(2).decode(path, ts, fps, fallback=decode_at)
    np.testing.assert_array_equal(got, decode_at(path, ts, fps))


def test_timestamp_without_a_frame_is_a_clear_error(sample_dataset):
    ds = open_dataset(sample_dataset)
    path = ds.video_path(0, ds.camera_keys[0])
    with pytest.raises(DatasetError, match="no frame within"):
        FramePool(1).decode(path, [1e6], ds.fps, fallback=decode_at)


def test_dataloader_workers_forked_after_threaded_decoding_finish(sample_dataset):
    # A worker forked while decode threads were alive hung; the pool now stops its threads before a fork.
    import subprocess
    import sys

    script = (
        "import sys, torch\n"
        "from vlaforge.data.loader import TrainingDataset, make_dataloader\n"
        "td = TrainingDataset(sys.argv[1], n_obs=1, chunk=4, cache=False, decode_threads=2)\n"
        "for w in (0, 2):\n"
        "    print(w, sum(len(b['task']) for b in make_dataloader(td, batch_size=8, num_workers=w)), flush=True)\n"
    )
    p = subprocess.run([sys.executable, "-c", script, str(sample_dataset)], capture_output=True, text=True, timeout=120, start_new_session=True)
    assert p.returncode == 0, p.stderr[-2000:]
    assert [line.split()[0] for line in p.stdout.split("\n") if line] == ["0", "2"]
