"""Training-only scene labels: written by `sim collect`, they put the named object and its goal where the camera sees them."""

import numpy as np

from vlaforge.data import open_dataset
from vlaforge.data.features import is_label
from vlaforge.sim.labels import label_spec
from vlaforge.sim.scene import COLORS


def test_collect_writes_every_label_feature(labelled_dataset):
    ds = open_dataset(labelled_dataset)
    assert {k for k in ds.features if is_label(k)} == set(label_spec())
    for k, f in label_spec().items():
        assert ds.features[k].shape == f.shape and ds.features[k].names == f.names


def test_target_uv_lands_on_the_named_objects_color(labelled_dataset):
    ds = open_dataset(labelled_dataset)
    for ep in range(ds.num_episodes):
        a, _ = ds.episode_range(ep)
        item = ds[a]
        task = ds.flags(ep)["task"]
        named = task["objects"][task["subject"][0]]["color"]
        img = item["observation.images.front"].astype(float) / 255  # (H, W, 3)
        u, v = item["label.target_uv"]
        H, W = img.shape[:2]
        pix = img[int(v * H), int(u * W)]
        # The pixel under the label is closest in hue (direction in RGB) to the named object's color.
        cos = {c: float(pix @ np.array(rgb)) / (np.linalg.norm(pix) * np.linalg.norm(rgb)) for c, rgb in COLORS.items()}
        assert max(cos, key=cos.get) == named, (ep, pix, named)
        objs = np.asarray(item["label.objects"]).reshape(-1, 3)
        np.testing.assert_allclose(objs[task["subject"][0]], item["label.target"], atol=1e-6)


def test_goal_follows_the_expert_to_the_bin(labelled_dataset):
    ds = open_dataset(labelled_dataset)
    bins = ("blue", "yellow")
    for ep in range(ds.num_episodes):
        a, b = ds.episode_range(ep)
        task = ds.flags(ep)["task"]
        want = np.asarray(ds[a]["label.bins"]).reshape(-1, 3)[bins.index(task["target"]["color"])]
        np.testing.assert_allclose(ds[b - 1]["label.goal"][:2], want[:2], atol=1e-5)
        # When the episode ends, the object rests in the bin it was sent to.
        assert np.linalg.norm(ds[b - 1]["label.target"][:2] - want[:2]) < 0.06
