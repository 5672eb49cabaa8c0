"""Training loader: delta_timestamps semantics, padding, cache equivalence and invalidation, workers."""

import numpy as np
import pytest
import torch

from vlaforge.data import open_dataset
from vlaforge.data.cache import cache_path
from vlaforge.data.loader import TrainingDataset, make_dataloader, split_episodes
from vlaforge.errors import DatasetError


def test_action_chunk_and_padding_past_episode_end(sample_dataset):
    ds = open_dataset(sample_dataset)
    td = TrainingDataset(ds, n_obs=2, chunk=8)
    a, b = ds.episode_range(1)
    ep_actions = ds.column("action")[a:b]
    i = int(np.flatnonzero(td.rows == b - 3)[0])  # third-from-last frame of episode 1
    s = td[i]
    assert s["action"].shape == (8, 4)
    np.testing.assert_array_equal(s["action"][:3].numpy(), ep_actions[-3:])
    np.testing.assert_array_equal(s["action"][3:].numpy(), np.repeat(ep_actions[-1:], 5, axis=0))  # clamped
    assert s["action_is_pad"].tolist() == [False] * 3 + [True] * 5
    # history at the first frame is padded with the first frame
    j = int(np.flatnonzero(td.rows == a)[0])
    h = td[j]
    assert h["observation.state_is_pad"].tolist() == [True, False]
    np.testing.assert_array_equal(h["observation.state"][0].numpy(), h["observation.state"][1].numpy())
    assert h["observation.images.front"].shape == (2, 3, 96, 96) and h["observation.images.front"].dtype == torch.uint8


def test_custom_delta_timestamps_and_validation(sample_dataset):
    ds = open_dataset(sample_dataset)
    td = TrainingDataset(ds, delta_timestamps={"observation.state": [-0.1, 0.0], "action": [0.0, 0.05, 0.1]}, cache=False)
    s = td[10]
    assert s["observation.state"].shape == (2, 4) and s["action"].shape == (3, 4)
    np.testing.assert_array_equal(s["action"][2].numpy(), ds.column("action")[12])
    with pytest.raises(DatasetError, match="multiples of 1/fps"):
        TrainingDataset(ds, delta_timestamps={"action": [0.0, 0.033]}, cache=False)
    with pytest.raises(DatasetError, match="does not have"):
        TrainingDataset(ds, delta_timestamps={"observation.depth": [0.0]}, cache=False)


def test_cached_frames_equal_decoded_frames(sample_dataset):
    warm = TrainingDataset(sample_dataset, n_obs=2, chunk=4)
    cold = TrainingDataset(sample_dataset, n_obs=2, chunk=4, cache=False)
    for i in (0, 17, len(warm) - 1):
        w, c = warm[i], cold[i]
        for cam in ("observation.images.front", "observation.images.wrist"):
            assert torch.equal(w[cam], c[cam])


def test_cache_is_invalidated_when_dataset_changes(sample_dataset):
    from vlaforge.data import DatasetWriter
    from vlaforge.data.sample import sample_episode

    td = TrainingDataset(sample_dataset)
    first = cache_path(td.ds)
    assert first.exists()
    with DatasetWriter.append(sample_dataset) as w:
        w.add_episode(*sample_episode(77, 10))
    td2 = TrainingDataset(sample_dataset)
    assert cache_path(td2.ds) != first and len(td2) == len(td) + 10
    last = td2[len(td2) - 1]
    ref = td2.ds.episode(5)["observation.images.front"][-1]
    assert torch.equal(last["observation.images.front"][0], torch.from_numpy(ref.transpose(2, 0, 1)))


def test_episode_split_is_disjoint_and_loader_respects_it(sample_dataset):
    train, val = split_episodes(range(5), val_fraction=0.2, seed=3)
    assert set(train).isdisjoint(val) and sorted(train + val) == list(range(5)) and len(val) == 1
    td = TrainingDataset(sample_dataset, episodes=val)
    assert set(td.ds.column("episode_index")[td.rows].tolist()) == set(val)


def test_dataloader_with_workers_matches_single_process(sample_dataset):
    td = TrainingDataset(sample_dataset, n_obs=1, chunk=4)
    b0 = list(make_dataloader(td, batch_size=8, shuffle=True, num_workers=0, seed=1))
    b2 = list(make_dataloader(td, batch_size=8, shuffle=True, num_workers=2, seed=1))
    assert len(b0) == len(b2) == len(td) // 8
    for x, y in zip(b0, b2):
        assert torch.equal(x["index"], y["index"])
        assert torch.equal(x["observation.images.wrist"], y["observation.images.wrist"])
        assert x["task"] == y["task"]
    assert b0[0]["observation.images.front"].shape == (8, 1, 3, 96, 96)
