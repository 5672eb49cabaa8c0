"""Augmentation: every registered augmentation keeps shapes/dtypes, is seed-reproducible and time-consistent;
flips mirror actions, state and words; inconsistent transforms are refused; offline, preview and online use work."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from vlaforge.data import open_dataset
from vlaforge.data.features import Feature
from vlaforge.data.sample import make_sample_dataset
from vlaforge.data.validate import check_dataset
from vlaforge.data.writer import DatasetWriter
from vlaforge.data.augment.base import ACTION, STATE, AugmentRefused, DataSpec, get, registered
from vlaforge.data.augment.language import swap_left_right
from vlaforge.data.augment.offline import augment_dataset
from vlaforge.data.augment.pipeline import Pipeline, Recipe, Step, build_pipeline, load_recipe
from vlaforge.data.augment.preview import write_preview
from vlaforge.errors import ConfigError, DatasetError

S = 32
FRONT, WRIST = "observation.images.front", "observation.images.wrist"
ISSUE_TYPES = {"flip", "rot90", "crop", "rotate", "shear", "grayscale", "hue", "saturation", "brightness", "exposure", "blur",
               "noise", "cutout", "mosaic", "motion_blur", "camera_gain", "paraphrase", "state_noise"}


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    """3 real sample episodes (a dot moving to a colored block, drawn top-down: image right = +x, image down = +y)."""
    return open_dataset(make_sample_dataset(tmp_path_factory.mktemp("aug") / "ds", episodes=3, length=12, image_size=S))


def _batch(ds, B=4, T=3, same_frames=False, task="push the red block to the left"):
    """A training-style batch of real frames: cameras uint8 (B, T, 3, H, W), state (B, T, 4), action (B, 16, 4)."""
    ep = ds.episode(0)
    out = {}
    for cam in (FRONT, WRIST):
        f = torch.from_numpy(np.ascontiguousarray(ep[FRONT if same_frames else cam].transpose(0, 3, 1, 2)))  # (T_ep, 3, H, W)
        rows = torch.stack([f[[b] * T] if same_frames else f[b : b + T] for b in range(B)])  # (B, T, 3, H, W)
        out[cam] = rows.contiguous()
    out[STATE] = torch.from_numpy(np.stack([ep[STATE][b : b + T] for b in range(B)]))  # (B, T, 4)
    out[ACTION] = torch.from_numpy(np.stack([np.resize(ep[ACTION][b:], (16, 4)) for b in range(B)]))  # (B, 16, 4)
    out["task"] = [task] * B
    out["episode_index"] = torch.zeros(B, dtype=torch.int64)
    return out


def _pipe(ds, name, p=1.0, **params):
    cls = get(name)
    return Pipeline(Recipe((Step(name, p, {**cls.showcase, **params}),)), DataSpec.from_dataset(ds), record=True)


def test_registry_covers_the_issue_types():
    assert ISSUE_TYPES <= set(registered())


@pytest.mark.parametrize("name", registered())
def test_augmentation_contract(ds, name):
    """Shapes/dtypes kept, same seed → same result, one draw per sample shared over time and cameras, and it does something."""
    cls = get(name)
    pipe = Pipeline(Recipe((Step(name, 1.0, {"topdown": "y_down"} if name == "rot90" else {}),)), DataSpec.from_dataset(ds))
    batch = _batch(ds, same_frames=True)
    out = pipe(batch, torch.Generator().manual_seed(3))
    assert set(out) == set(batch)
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            assert out[k].shape == v.shape and out[k].dtype == v.dtype, k
    again = pipe(batch, torch.Generator().manual_seed(3))
    for k, v in out.items():
        assert (torch.equal(v, again[k]) if isinstance(v, torch.Tensor) else v == again[k]), k
    imgs = torch.stack([out[FRONT], out[WRIST]], 1).float()  # (B, cams, T, 3, H, W); every input frame of a sample is the same
    if cls.per_frame:  # fresh noise every frame, but the same strength on every frame and camera
        dev = (imgs - batch[FRONT].float()[:, None]).abs().mean((-3, -2, -1))  # (B, cams, T)
        assert torch.allclose(dev, dev[:, :1, :1].expand_as(dev), rtol=0.25, atol=0.5)
    else:
        assert torch.equal(imgs, imgs[:, :1, :1].expand_as(imgs))
    changed = {"image": not torch.equal(out[FRONT], batch[FRONT]), "text": out["task"] != batch["task"],
               "state": not torch.equal(out[STATE], batch[STATE])}
    assert changed[cls.kind], f"{name} changed nothing it should"
    if not cls.moves_actions:
        assert torch.equal(out[ACTION], batch[ACTION])
    if cls.kind == "image" and name != "flip":  # a flip has no parameters to draw
        other = pipe(batch, torch.Generator().manual_seed(4))
        assert not torch.equal(other[FRONT], out[FRONT])


def test_probability_zero_is_identity_and_one_applies_to_all(ds):
    batch = _batch(ds, B=8)
    out = _pipe(ds, "brightness", p=0.0)(batch, torch.Generator().manual_seed(0))
    assert all(torch.equal(out[k], batch[k]) for k in (FRONT, WRIST, STATE, ACTION))
    ab = _pipe(ds, "brightness", p=1.0).run(batch, torch.Generator().manual_seed(0))
    assert all("brightness" in a for a in ab.applied)


def _dot_col(img: torch.Tensor) -> float:
    """Column of the white gripper dot in a (3, H, W) frame of the sample data."""
    ys, xs = torch.nonzero((img.float() > 225).all(0), as_tuple=True)
    return float(xs.float().mean())


def test_flip_mirrors_actions_state_words_and_the_picture_agrees(ds):
    batch = _batch(ds)
    ab = _pipe(ds, "flip").run(batch, torch.Generator().manual_seed(0))
    out = ab.result()
    assert torch.equal(out[FRONT], batch[FRONT].flip(-1)) and torch.equal(out[WRIST], batch[WRIST].flip(-1))
    assert torch.equal(out[ACTION][..., 0], -batch[ACTION][..., 0]) and torch.equal(out[ACTION][..., 1:], batch[ACTION][..., 1:])
    assert torch.equal(out[STATE][..., 0], -batch[STATE][..., 0]) and torch.equal(out[STATE][..., 1:], batch[STATE][..., 1:])
    assert out["task"] == ["push the red block to the right"] * 4
    # The flipped picture shows the dot where the mirrored state says it is (the sample data draws x as the column).
    for b in range(4):
        col = ((out[STATE][b, 0, 0] + 1) / 2 * (S - 1)).item()
        assert abs(_dot_col(out[FRONT][b, 0]) - col) <= 1.5
    assert swap_left_right("Left of the leftmost cup, turn clockwise") == "Right of the rightmost cup, turn counterclockwise"


def test_rot90_turns_xy_with_the_picture_for_a_topdown_camera(ds):
    batch = _batch(ds)
    out = _pipe(ds, "rot90", k=(1,))(batch, torch.Generator().manual_seed(0))
    x, y = batch[STATE][..., 0], batch[STATE][..., 1]
    assert torch.allclose(out[STATE][..., 0], y) and torch.allclose(out[STATE][..., 1], -x)  # CCW with image down = +y
    assert torch.allclose(out[ACTION][..., 0], batch[ACTION][..., 1]) and torch.allclose(out[ACTION][..., 1], -batch[ACTION][..., 0])
    for b in range(4):
        col = ((out[STATE][b, 0, 0] + 1) / 2 * (S - 1)).item()
        assert abs(_dot_col(out[FRONT][b, 0]) - col) <= 1.5


def _named_dataset(root, action_names, state_names=("x", "y", "z", "gripper"), task="pick up the cube"):
    feats = {FRONT: Feature("video", (16, 16, 3)), STATE: Feature("float32", (len(state_names),), state_names),
             ACTION: Feature("float32", (len(action_names),), action_names)}
    with DatasetWriter.create(root, fps=10, features=feats) as w:
        w.add_episode({FRONT: np.zeros((4, 16, 16, 3), np.uint8), STATE: np.zeros((4, len(state_names)), np.float32),
                       ACTION: np.zeros((4, len(action_names)), np.float32)}, task)
    return open_dataset(root)


def test_inconsistent_geometry_is_refused_with_the_reason(ds, tmp_path):
    joints = _named_dataset(tmp_path / "joints", ("shoulder_pan", "shoulder_lift", "elbow", "gripper"))
    with pytest.raises(AugmentRefused, match=r"shoulder_pan.*refused"):
        _pipe(joints, "flip")
    no_lateral = _named_dataset(tmp_path / "nolat", ("dy", "dz", "gripper"), ("y", "z", "gripper"))
    with pytest.raises(AugmentRefused, match="no lateral"):
        _pipe(no_lateral, "flip")
    with pytest.raises(AugmentRefused, match="oblique"):
        Pipeline(load_recipe({"augmentations": [{"name": "rot90"}]}), DataSpec.from_dataset(ds))
    with pytest.raises(AugmentRefused, match="camera jitter"):
        _pipe(ds, "rotate", degrees=45.0)
    with pytest.raises(AugmentRefused, match="name colors"):  # "red" would turn into another named color
        _pipe(ds, "hue", shift=(0.2, 0.3))
    _pipe(joints, "hue", shift=(0.2, 0.3))  # no color words in "pick up the cube": allowed


def test_recipe_errors_name_the_valid_choices(ds, tmp_path):
    spec = DataSpec.from_dataset(ds)
    with pytest.raises(ConfigError, match="registered augmentations: flip"):
        Pipeline(load_recipe({"augmentations": [{"name": "flipp"}]}), spec)
    with pytest.raises(ConfigError, match=r"valid keys: \['crop.params.ratio', 'crop.params.scale'\]"):
        Pipeline(load_recipe({"augmentations": [{"name": "crop", "params": {"scael": [0.5, 1]}}]}), spec)
    with pytest.raises(ConfigError, match="unknown key"):
        load_recipe({"augmentations": [], "seed": 1})
    with pytest.raises(ConfigError, match="probability"):
        load_recipe({"augmentations": [{"name": "blur", "p": 1.5}]})
    with pytest.raises(ConfigError, match="low <= high"):
        Pipeline(load_recipe({"augmentations": [{"name": "blur", "params": {"sigma": [2, 1]}}]}), spec)
    with pytest.raises(ConfigError, match="built-in recipe"):
        load_recipe("nonsense")
    yml = tmp_path / "r.yaml"
    yml.write_text("augmentations:\n  - {name: flip, p: 0.5}\n  - name: noise\n")
    assert [s.name for s in load_recipe(yml).augmentations] == ["flip", "noise"]
    assert len(build_pipeline("default", ds).steps) >= 15


def test_offline_writes_a_valid_new_version_atomically(ds, tmp_path):
    recipe = {"augmentations": [{"name": "flip", "p": 1.0}, {"name": "brightness", "p": 1.0}]}
    out = augment_dataset(ds.root, tmp_path / "aug", recipe, copies=1, seed=1, progress=False)
    assert check_dataset(out) == []
    new = open_dataset(out)
    assert new.num_episodes == 2 * ds.num_episodes and new.num_frames == 2 * ds.num_frames
    lin = json.loads((out / "meta/vlaforge.json").read_text())
    assert lin["operation"]["name"] == "augment" and [s["name"] for s in lin["operation"]["recipe"]["augmentations"]] == ["flip", "brightness"]
    assert lin["parents"][0]["fingerprint"] == ds.lineage["fingerprint"] and lin["version"] == ds.lineage["version"] + 1
    orig, aug = new.episode(0), new.episode(1)  # original, then its augmented copy
    assert new.flags(1)["augmented"]["source_episode"] == 0 and "flip" in new.flags(1)["augmented"]["applied"]
    assert np.allclose(aug[ACTION][:, 0], -orig[ACTION][:, 0]) and np.allclose(aug[ACTION][:, 1:], orig[ACTION][:, 1:])
    delta = aug[FRONT].astype(float).mean((1, 2, 3)) - orig[FRONT][:, :, ::-1].astype(float).mean((1, 2, 3))  # (T,)
    assert abs(delta.mean()) > 5 and delta.std() < 1.5  # one brightness for the whole episode (codec noise aside)
    # Failures leave nothing behind: a refused recipe, an existing target, an interrupted write.
    with pytest.raises(AugmentRefused):
        augment_dataset(ds.root, tmp_path / "bad", {"augmentations": [{"name": "rot90"}]}, progress=False)
    with pytest.raises(DatasetError, match="already exists"):
        augment_dataset(ds.root, out, recipe, progress=False)

    def crash(ep):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        augment_dataset(ds.root, tmp_path / "half", recipe, progress=False, on_episode=crash)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aug"]
    assert open_dataset(out).num_episodes == 2 * ds.num_episodes


def test_preview_writes_a_self_contained_gallery(ds, tmp_path):
    png, page = write_preview(ds.root, tmp_path / "prev", times=2)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert all(f"<b>{n}</b>" for n in registered() if f"<b>{n}</b>" in text) and text.count("<tr") == len(registered()) + 1
    assert "http" not in text and "<script" not in text
    assert "refused with default parameters" in text  # rot90 says why it is off by default


def test_cli_offline_and_list(ds, tmp_path, capsys):
    from vlaforge.cli import main

    assert main(["engine", "augment", str(ds.root), "--out", str(tmp_path / "a"), "--recipe", "photometric", "--copies", "2",
                 "--no-originals", "--no-progress"]) == 0
    assert open_dataset(tmp_path / "a").num_episodes == 2 * ds.num_episodes
    assert main(["engine", "augment", "--list"]) == 0
    assert "motion_blur" in capsys.readouterr().out
    assert main(["engine", "augment", str(ds.root), "--out", str(tmp_path / "b"), "--recipe", "missing.yaml"]) == 2


def test_online_augmentation_trains_and_resumes_exactly(ds, tmp_path):
    from safetensors.torch import load_file

    from vlaforge.models import PolicyConfig
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig, train

    tiny = PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4)
    cfg = TrainConfig(steps=4, batch_size=8, log_every=1, val_every=4, save_every=2, warmup_steps=1, threads=1, augment="default")
    full = train(RunConfig(str(ds.root), tiny, cfg), tmp_path / "full", progress=False)
    assert json.loads((full / "config.json").read_text())["train"]["augment"] == "default"
    rows = [json.loads(line) for line in (full / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all(np.isfinite(r["loss"]) for r in rows)

    def crash(row):
        if row["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(RunConfig(str(ds.root), tiny, cfg), tmp_path / "part", progress=False, on_log=crash)
    train(RunConfig(str(ds.root), tiny, cfg), tmp_path / "part", resume=True, progress=False)
    a, b = (load_file(str(r / "checkpoints/last/model.safetensors")) for r in (full, tmp_path / "part"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # the augmentation draws do not depend on where the run restarted
    bad = dataclasses.replace(cfg, augment="nope.json")
    with pytest.raises(ConfigError, match="does not exist"):
        train(RunConfig(str(ds.root), tiny, bad), tmp_path / "bad", progress=False)


def test_hue_turns_the_hsv_wheel():
    from vlaforge.data.augment.photometric import hsv_to_rgb, rgb_to_hsv

    red = torch.tensor([1.0, 0.0, 0.0]).reshape(1, 1, 3, 1, 1)
    h, s, v = rgb_to_hsv(red)
    assert torch.allclose(hsv_to_rgb((h + 1 / 6) % 1, s, v).reshape(3), torch.tensor([1.0, 1.0, 0.0]), atol=1e-5)  # red → yellow
    x = torch.rand(2, 1, 3, 8, 8)
    assert torch.allclose(hsv_to_rgb(*rgb_to_hsv(x)), x, atol=1e-5)


def test_noun_swap_keeps_colors_and_never_uses_an_unseen_template_word():
    import re

    from vlaforge.data.augment.language import FILLER_NOUNS, SWAP_NOUNS, swap_nouns
    from vlaforge.sim.tasks import TASKS

    unseen = {w for fam in TASKS.values() for k in ("heldout", "val") for t in fam.templates[k] for w in re.findall(r"[a-z]+", t)}
    assert not unseen & set(FILLER_NOUNS), "a filler noun would leak unseen wording into training"
    assert not set(FILLER_NOUNS) & set(SWAP_NOUNS)
    out = swap_nouns("Put the red block in the blue bin", [0.0, 0.5] * 8, 1.0)
    words = out.split()
    assert words[:3] == ["Put", "the", "red"] and words[5:7] == ["the", "blue"]
    assert words[3] in FILLER_NOUNS and words[7] in FILLER_NOUNS
    assert swap_nouns("Put the red block in the blue bin", [0.9, 0.5] * 8, 0.5) == "Put the red block in the blue bin"


def test_instruction_variants_list_every_wording_a_batch_can_carry(ds):
    """Precomputing text embeddings needs the whole set: the fixed-camera recipe's wordings (paraphrase, then noun swap,
    8 fixed versions each) and a mirror's left/right swap; a step that rewords without a limit makes the set unknowable."""
    tasks = ["push the red block to the left", "put the blue cube in the green bin"]
    recipe = Recipe((Step("flip", 0.5), Step("paraphrase", 0.5, {"variants": 8}), Step("noun_swap", 0.5, {"variants": 8})))
    pipe = Pipeline(recipe, DataSpec.from_dataset(ds))
    variants = pipe.instruction_variants(tasks)
    assert set(tasks) <= variants and "push the red block to the right" in variants
    assert len(tasks) < len(variants) <= len(tasks) * 2 * 9 * 9
    seen = set()
    for seed in range(60):
        batch = _batch(ds, B=8, task=tasks[seed % 2])
        seen |= set(pipe(batch, torch.Generator().manual_seed(seed))["task"])
    assert seen <= variants and len(seen) > 20
    unlimited = Pipeline(Recipe((Step("paraphrase", 0.5),)), DataSpec.from_dataset(ds))
    assert unlimited.instruction_variants(tasks) is None
    assert Pipeline(Recipe((Step("brightness", 1.0),)), DataSpec.from_dataset(ds)).instruction_variants(tasks) == set(tasks)
