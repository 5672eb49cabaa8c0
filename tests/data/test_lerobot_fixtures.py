"""Datasets written by LeRobot 0.4.4 itself (AV1 and H.264; see fixtures/make_lerobot_fixtures.py) read exactly."""

from pathlib import Path

import numpy as np
import pytest

from vlaforge.data import DatasetWriter, check_dataset, open_dataset
from vlaforge.data.loader import TrainingDataset

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("codec", ["av1", "h264"])
def test_reads_lerobot_written_dataset(codec):
    root = FIXTURES / f"lerobot_v30_{codec}"
    exp = np.load(root / "expected.npz")
    ds = open_dataset(root)
    assert check_dataset(root) == []
    assert ds.num_frames == len(exp["action"]) and ds.num_episodes == len(exp["episode_lengths"])
    np.testing.assert_array_equal(ds.column("action"), exp["action"])
    np.testing.assert_array_equal(ds.column("observation.state"), exp["state"])
    np.testing.assert_array_equal(ds.column("frame_index"), exp["frame_index"])
    frames = np.concatenate([ds.episode(e)["observation.images.front"] for e in range(ds.num_episodes)])
    # We decode exactly what LeRobot's own decoder returns for its own files.
    np.testing.assert_array_equal(frames, exp["front_decoded_by_lerobot"])
    tasks = [ds[i]["task"] for i in range(ds.num_frames)]
    assert tasks == [str(t) for t in exp["task"]]


def test_append_to_lerobot_written_dataset_and_train_loader(tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(FIXTURES / "lerobot_v30_h264", root)
    ds = open_dataset(root)
    ep = ds.episode(0)
    data = {k: ep[k] for k in ("observation.state", "action", "observation.images.front", "observation.images.wrist")}
    with DatasetWriter.append(root) as w:
        w.add_episode(data, "pick up the red cube")
    ds2 = open_dataset(root)
    assert ds2.num_episodes == ds.num_episodes + 1 and check_dataset(root) == []
    td = TrainingDataset(ds2, chunk=4)
    assert td[0]["observation.images.front"].shape == (1, 3, 32, 32)
