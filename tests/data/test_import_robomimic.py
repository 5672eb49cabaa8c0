"""robomimic / LIBERO HDF5 -> LeRobot v3.0: files written here in the published layout, imported, checked."""

import hashlib
import json

import numpy as np
import pytest

from vlaforge.cli import main
from vlaforge.data import ImportOptions, check_dataset, import_dataset, open_dataset
from vlaforge.data.video import VideoConfig
from vlaforge.errors import ConfigError, SourceFormatError

h5py = pytest.importorskip("h5py")

LOSSLESS = VideoConfig.lossless()


def _frames(rng, T, size, shift):
    """Frames with a moving bright square over a gradient, so orientation and order are visible."""
    img = np.zeros((T, size, size, 3), np.uint8)
    img[..., 0] = np.linspace(0, 200, size, dtype=np.uint8)[None, :, None]
    img[..., 1] = np.linspace(0, 200, size, dtype=np.uint8)[None, None, :]
    for t in range(T):
        r = (t + shift) % (size - 4)
        img[t, r : r + 4, 2:6] = 255
    return img + rng.integers(0, 20, img.shape, dtype=np.uint8)


def write_robomimic(path, lengths=(6, 7, 5, 8), libero=False, size=24, seed=0):
    """A robomimic (or LIBERO) HDF5 file as the published datasets lay it out; returns the arrays per demo."""
    rng = np.random.default_rng(seed)
    demos = {}
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        env_kwargs = {"control_freq": 20, "robots": ["Panda"], "controller_configs": {"type": "OSC_POSE"}}
        data.attrs["env_args"] = json.dumps({"env_name": "LIBERO_Kitchen" if libero else "Lift", "type": 1, "env_kwargs": env_kwargs})
        data.attrs["total"] = sum(lengths)
        if libero:
            data.attrs["problem_info"] = json.dumps(
                {"problem_name": "libero_kitchen_tabletop_manipulation", "domain_name": "robosuite",
                 "language_instruction": "put the black bowl on the plate"}
            )
            data.attrs["bddl_file_name"] = "libero/bddl_files/libero_10/KITCHEN_SCENE3.bddl"
        names = [f"demo_{i}" for i in (0, 1, 2, 10)][: len(lengths)]  # demo_10 sorts after demo_2
        for name, T in zip(names, lengths):
            g = data.create_group(name)
            g.attrs["num_samples"] = T
            if libero:
                obs = {
                    "agentview_rgb": _frames(rng, T, size, 0),
                    "eye_in_hand_rgb": _frames(rng, T, size, 3),
                    "ee_states": rng.normal(size=(T, 6)),
                    "gripper_states": rng.normal(size=(T, 2)),
                    "joint_states": rng.normal(size=(T, 7)),
                }
            else:
                obs = {
                    "agentview_image": _frames(rng, T, size, 0),
                    "robot0_eye_in_hand_image": _frames(rng, T, size, 3),
                    "robot0_eef_pos": rng.normal(size=(T, 3)),
                    "robot0_eef_quat": rng.normal(size=(T, 4)),
                    "robot0_gripper_qpos": rng.normal(size=(T, 2)),
                    "object": rng.normal(size=(T, 10)),
                    "agentview_depth": rng.random((T, size, size, 1)).astype(np.float32),
                }
            for k, v in obs.items():
                g.create_dataset(f"obs/{k}", data=v)
                g.create_dataset(f"next_obs/{k}", data=v)
            actions = rng.uniform(-1, 1, size=(T, 7))
            g.create_dataset("actions", data=actions)
            g.create_dataset("rewards", data=np.zeros(T))
            g.create_dataset("dones", data=np.r_[np.zeros(T - 1), 1].astype(np.int64))
            g.create_dataset("states", data=rng.normal(size=(T, 32)))
            demos[name] = {"actions": actions, **obs}
        f.create_dataset("mask/train", data=np.array([n.encode() for n in names[:-1]]))
        f.create_dataset("mask/valid", data=np.array([names[-1].encode()]))
    return demos


def test_robomimic_file_imports_to_a_valid_v30_dataset_with_lineage(tmp_path, capsys):
    src, out = tmp_path / "lift_image.hdf5", tmp_path / "lift"
    demos = write_robomimic(src)
    assert main(["data", "import", "--format", "robomimic", str(src), str(out), "--lossless"]) == 0
    assert "4 episodes" in capsys.readouterr().out
    assert check_dataset(out) == []
    ds = open_dataset(out)
    assert ds.fps == 20 and ds.info["robot_type"] == "panda" and ds.tasks == ["lift the cube"]
    assert ds.camera_keys == ["observation.images.agentview", "observation.images.robot0_eye_in_hand"]  # depth skipped
    assert ds.features["action"].names == ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")
    assert ds.features["observation.state"].names[:4] == ("robot0_eef_pos_0", "robot0_eef_pos_1", "robot0_eef_pos_2", "robot0_eef_quat_0")
    for i, name in enumerate(["demo_0", "demo_1", "demo_2", "demo_10"]):
        ep, d = ds.episode(i), demos[name]
        state = np.concatenate([d["robot0_eef_pos"], d["robot0_eef_quat"], d["robot0_gripper_qpos"]], axis=1)
        np.testing.assert_allclose(ep["observation.state"], state.astype(np.float32))
        np.testing.assert_allclose(ep["action"], d["actions"].astype(np.float32))
        np.testing.assert_array_equal(ep["observation.images.agentview"], d["agentview_image"])
        np.testing.assert_array_equal(ep["observation.images.robot0_eye_in_hand"], d["robot0_eye_in_hand_image"])
        assert ds.flags(i) == {"source_episode": f"lift_image.hdf5:data/{name}"}
    op = ds.lineage["operation"]
    assert op["name"] == "import" and op["format"] == "robomimic"
    assert op["converter"] == "vlaforge.data.importers.robomimic" and op["converter_version"] == "1"
    assert op["source"]["path"] == str(src.resolve()) and op["source"]["env_name"] == "Lift"
    assert op["source"]["files"][0]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert ds.lineage["parents"] == [] and ds.lineage["fingerprint"]


def test_libero_language_state_preset_and_rotation(tmp_path):
    src, out = tmp_path / "KITCHEN_SCENE3_demo.hdf5", tmp_path / "libero"
    demos = write_robomimic(src, lengths=(5, 6), libero=True)
    opts = ImportOptions(image_transform="rotate-180")
    import_dataset(src, out, "auto", opts, video=LOSSLESS)  # auto-detects the HDF5 signature
    assert check_dataset(out) == []
    ds = open_dataset(out)
    assert ds.tasks == ["put the black bowl on the plate"]
    assert ds.features["observation.state"].shape == (8,)  # ee_states (6) + gripper_states (2), as the LIBERO ports use
    ep = ds.episode(1)
    np.testing.assert_array_equal(ep["observation.images.agentview"], demos["demo_1"]["agentview_rgb"][:, ::-1, ::-1])
    np.testing.assert_array_equal(ep["observation.images.eye_in_hand"], demos["demo_1"]["eye_in_hand_rgb"][:, ::-1, ::-1])
    op = ds.lineage["operation"]
    assert op["options"] == {"image_transform": "rotate-180"}
    assert op["source"]["problem_name"] == "libero_kitchen_tabletop_manipulation"


def test_filter_key_state_keys_cameras_and_per_demo_language(tmp_path):
    src, out = tmp_path / "can.hdf5", tmp_path / "can"
    demos = write_robomimic(src)
    with h5py.File(src, "a") as f:
        f["data/demo_10"].attrs["ep_meta"] = json.dumps({"lang": "pick the can from the counter"})  # RoboCasa's per-demo language
    opts = ImportOptions(filter_key="valid", state_keys=("robot0_gripper_qpos",), cameras=("agentview",))
    import_dataset(src, out, "robomimic", opts, video=LOSSLESS)
    ds = open_dataset(out)
    assert ds.num_episodes == 1 and ds.tasks == ["pick the can from the counter"]
    assert ds.camera_keys == ["observation.images.agentview"]
    np.testing.assert_allclose(ds.episode(0)["observation.state"], demos["demo_10"]["robot0_gripper_qpos"].astype(np.float32))
    assert check_dataset(out) == []


def test_source_without_language_needs_task_and_its_rate_cannot_be_contradicted(tmp_path):
    src = tmp_path / "custom.hdf5"
    write_robomimic(src, lengths=(4, 4))
    with h5py.File(src, "a") as f:
        f["data"].attrs["env_args"] = json.dumps({"env_name": "MyEnv", "env_kwargs": {"control_freq": 20}})
    with pytest.raises(SourceFormatError, match=r"custom.hdf5:data/demo_0: the episode has no language instruction; pass --task"):
        import_dataset(src, tmp_path / "a", options=ImportOptions())
    with pytest.raises(ConfigError, match="records 20 Hz but --fps is 10"):
        import_dataset(src, tmp_path / "b", options=ImportOptions(fps=10, task="x"))
    with pytest.raises(ConfigError, match="does not take --split"):
        import_dataset(src, tmp_path / "c", options=ImportOptions(split="train"))
    import_dataset(src, tmp_path / "d", options=ImportOptions(task="stack the blocks", max_episodes=1))
    ds = open_dataset(tmp_path / "d")
    assert ds.tasks == ["stack the blocks"] and ds.num_episodes == 1


def _drop(f, key):
    del f[key]


def _replace(f, key, value):
    del f[key]
    f.create_dataset(key, data=value)


def _nan(f, key):
    v = f[key][()]
    v[4, 1] = np.nan
    _replace(f, key, v)


MALFORMED = [
    ("no data group", lambda f: _drop(f, "data"), "no 'data' group"),
    ("env_args not JSON", lambda f: f["data"].attrs.__setitem__("env_args", "{control_freq: 20"), r"data.attrs\['env_args'\] is not valid JSON"),
    ("problem_info not an object", lambda f: f["data"].attrs.__setitem__("problem_info", "[1, 2]"), r"data.attrs\['problem_info'\] is JSON list"),
    ("demo without actions", lambda f: _drop(f, "data/demo_1/actions"), r"data/demo_1/actions is missing"),
    ("state key too short", lambda f: _replace(f, "data/demo_2/obs/robot0_eef_pos", np.zeros((3, 3))), r"data/demo_2/obs/robot0_eef_pos: expected shape \(5, 3\), found \(3, 3\)"),
    ("NaN in a state key", lambda f: _nan(f, "data/demo_10/obs/robot0_eef_quat"), r"data/demo_10/obs/robot0_eef_quat: NaN/inf at step 4"),
    ("float frames", lambda f: _replace(f, "data/demo_1/obs/agentview_image", np.zeros((7, 24, 24, 3), np.float32)), r"data/demo_1/obs/agentview_image: expected uint8 frames"),
    ("wrong frame size", lambda f: _replace(f, "data/demo_1/obs/agentview_image", np.zeros((7, 20, 24, 3), np.uint8)), r"data/demo_1/obs/agentview_image: expected shape \(7, 24, 24, 3\)"),
    ("num_samples disagrees", lambda f: f["data/demo_2"].attrs.__setitem__("num_samples", 9), r"data/demo_2.attrs\['num_samples'\] is 9 but actions has 5 steps"),
    ("actions not 2-D", lambda f: _replace(f, "data/demo_0/actions", np.zeros(6)), r"data/demo_0/actions: expected a \(T, A\) array"),
    ("no demos", lambda f: [_drop(f, f"data/{d}") for d in ("demo_0", "demo_1", "demo_2", "demo_10")], "data has no demo groups"),
]


@pytest.mark.parametrize("case,mutate,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_files_are_refused_naming_file_and_field(tmp_path, case, mutate, message):
    src, out = tmp_path / "bad.hdf5", tmp_path / "out"
    write_robomimic(src)
    with h5py.File(src, "a") as f:
        mutate(f)
    with pytest.raises(SourceFormatError, match=message) as e:
        import_dataset(src, out, "robomimic")
    assert str(src) in str(e.value)
    assert not out.exists() and not list(tmp_path.glob(".out.staging.*"))  # nothing half-written is left


def test_unknown_filter_key_and_non_hdf5_file(tmp_path, capsys):
    src = tmp_path / "lift.hdf5"
    write_robomimic(src)
    with pytest.raises(SourceFormatError, match=r"mask/nope: no such filter key \(file has: \['train', 'valid'\]\)"):
        import_dataset(src, tmp_path / "o", "robomimic", ImportOptions(filter_key="nope"))
    fake = tmp_path / "fake.hdf5"
    fake.write_text("not hdf5 at all")
    assert main(["data", "import", "--format", "robomimic", str(fake), str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(fake) in err and "not a readable HDF5 file" in err and len(err.splitlines()) == 1
