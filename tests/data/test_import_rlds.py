"""RLDS (Open X-Embodiment) TFRecord shards -> LeRobot v3.0, without TensorFlow.

The shards are written here in the real framing (length, masked CRC-32C, data, CRC), and each
episode is a tf.train.Example serialized by the protobuf reference implementation (descriptors
built from example.proto's field numbers), keyed the way TFDS flattens an RLDS `steps` dataset.
"""

import json
import struct
from fractions import Fraction

import av
import numpy as np
import pytest

from vlaforge.cli import main
from vlaforge.data import ImportOptions, check_dataset, import_dataset, open_dataset
from vlaforge.data.video import VideoConfig
from vlaforge.errors import ConfigError, SourceFormatError

google_crc32c = pytest.importorskip("google_crc32c")
pytest.importorskip("google.protobuf")

LOSSLESS = VideoConfig.lossless()


def example_class():
    """tf.train.Example built at run time from feature.proto / example.proto (no TensorFlow)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="test_tf_example.proto", package="tensorflow", syntax="proto3")

    def message(name, fields, parent=None):
        m = (parent.nested_type if parent else fdp.message_type).add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name
        return m

    R, O = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message("BytesList", [("value", 1, F.TYPE_BYTES, R, None)])
    message("FloatList", [("value", 1, F.TYPE_FLOAT, R, None)])
    message("Int64List", [("value", 1, F.TYPE_INT64, R, None)])
    feature = message("Feature", [
        ("bytes_list", 1, F.TYPE_MESSAGE, O, ".tensorflow.BytesList"),
        ("float_list", 2, F.TYPE_MESSAGE, O, ".tensorflow.FloatList"),
        ("int64_list", 3, F.TYPE_MESSAGE, O, ".tensorflow.Int64List"),
    ])
    feature.oneof_decl.add(name="kind")
    for f in feature.field:
        f.oneof_index = 0
    features = message("Features", [("feature", 1, F.TYPE_MESSAGE, R, ".tensorflow.Features.FeatureEntry")])
    entry = message("FeatureEntry", [("key", 1, F.TYPE_STRING, O, None), ("value", 2, F.TYPE_MESSAGE, O, ".tensorflow.Feature")], features)
    entry.options.map_entry = True
    message("Example", [("features", 1, F.TYPE_MESSAGE, O, ".tensorflow.Features")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))


Example = example_class()


def serialize(fields):
    """{key: float array | int array | list of bytes} -> serialized tf.train.Example."""
    ex = Example()
    for k, v in fields.items():
        f = ex.features.feature[k]
        if isinstance(v, list):
            f.bytes_list.value.extend(v)
        elif np.asarray(v).dtype.kind == "f":
            f.float_list.value.extend(np.asarray(v, np.float32).ravel().tolist())
        else:
            f.int64_list.value.extend(np.asarray(v, np.int64).ravel().tolist())
    return ex.SerializeToString()


def _masked(data):
    c = google_crc32c.value(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def write_tfrecord(path, records):
    """TFRecord framing: uint64 length, masked crc32c(length), data, masked crc32c(data)."""
    with open(path, "wb") as f:
        for r in records:
            head = struct.pack("<Q", len(r))
            f.write(head + struct.pack("<I", _masked(head)) + r + struct.pack("<I", _masked(r)))


def encode(img, codec):
    """One RGB frame -> PNG or JPEG bytes (what tfds.features.Image stores)."""
    pix = {"png": "rgb24", "mjpeg": "yuvj444p"}[codec]
    enc = av.CodecContext.create(codec, "w")
    enc.width, enc.height, enc.pix_fmt, enc.time_base = img.shape[1], img.shape[0], pix, Fraction(1, 1)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24").reformat(format=pix)
    return b"".join(bytes(p) for p in enc.encode(frame) + enc.encode(None))


def encode_gray(img):
    enc = av.CodecContext.create("png", "w")
    enc.width, enc.height, enc.pix_fmt, enc.time_base = img.shape[1], img.shape[0], "gray", Fraction(1, 1)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="gray")
    return b"".join(bytes(p) for p in enc.encode(frame) + enc.encode(None))


def make_episode(seed, T, size=(24, 32), rt1=False):
    """An RLDS episode flattened as TFDS writes it; returns (serialized Example, expected arrays)."""
    rng = np.random.default_rng(seed)
    H, W = size
    image = rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    wrist = np.repeat(np.repeat(rng.integers(0, 255, (T, H // 8, W // 8, 3), dtype=np.uint8), 8, 1), 8, 2)  # blocky: JPEG keeps it
    state = rng.normal(size=(T, 4)).astype(np.float32)
    text = [f"put the cup in the sink {seed}".encode()] * T
    fields = {
        "steps/observation/image": [encode(im, "png") for im in image],
        "steps/observation/wrist_image": [encode(im, "mjpeg") for im in wrist],
        "steps/observation/depth": [encode_gray(rng.integers(0, 255, (H, W), dtype=np.uint8)) for _ in range(T)],
        "steps/is_first": np.r_[1, np.zeros(T - 1)].astype(np.int64),
        "steps/is_last": np.r_[np.zeros(T - 1), 1].astype(np.int64),
        "steps/is_terminal": np.r_[np.zeros(T - 1), 1].astype(np.int64),
        "steps/reward": np.r_[np.zeros(T - 1), 1.0].astype(np.float32),
        "steps/discount": np.ones(T, np.float32),
        "episode_metadata/file_path": [f"/data/raw/episode_{seed}.npy".encode()],
    }
    if rt1:  # RT-1 (fractal) style: dict actions, language and its embedding in the observation
        world, rot, grip = rng.normal(size=(T, 3)), rng.normal(size=(T, 3)), rng.normal(size=(T, 1))
        fields.update({
            "steps/action/world_vector": world, "steps/action/rotation_delta": rot, "steps/action/gripper_closedness_action": grip,
            "steps/action/terminate_episode": np.zeros((T, 3), np.int64),
            "steps/observation/natural_language_instruction": text,
            "steps/observation/natural_language_embedding": rng.normal(size=(T, 8)),
            "steps/observation/base_pose_tool_reached": state,
        })
        action = np.concatenate([grip, rot, np.zeros((T, 3)), world], axis=1)  # sorted key order
    else:
        action = rng.normal(size=(T, 7)).astype(np.float32)
        fields.update({"steps/action": action, "steps/observation/state": state, "steps/language_instruction": text})
    return serialize(fields), {"image": image, "wrist": wrist, "state": state, "action": action.astype(np.float32), "task": text[0].decode()}


def write_tfds_dir(root, lengths=(5, 4, 6), rt1=False):
    """A TFDS-style directory: dataset_info.json and train shards (two records in the first shard, one in the second)."""
    root.mkdir(parents=True)
    eps = [make_episode(i, T, rt1=rt1) for i, T in enumerate(lengths)]
    write_tfrecord(root / "toy-train.tfrecord-00000-of-00002", [e[0] for e in eps[:2]])
    write_tfrecord(root / "toy-train.tfrecord-00001-of-00002", [e[0] for e in eps[2:]])
    write_tfrecord(root / "toy-val.tfrecord-00000-of-00001", [make_episode(9, 3, rt1=rt1)[0]])
    (root / "dataset_info.json").write_text(json.dumps({"name": "toy", "version": "1.0.0"}))
    return [e[1] for e in eps]


def test_rlds_shards_import_to_a_valid_v30_dataset_with_lineage(tmp_path, capsys):
    src, out = tmp_path / "toy" / "1.0.0", tmp_path / "out"
    eps = write_tfds_dir(src)
    rc = main(["data", "import", "--format", "rlds", str(src), str(out), "--split", "train", "--fps", "10", "--lossless"])
    assert rc == 0, capsys.readouterr().err
    assert "skipping steps/observation/depth" in capsys.readouterr().out
    assert check_dataset(out) == []
    ds = open_dataset(out)
    assert ds.num_episodes == 3 and ds.fps == 10
    assert ds.camera_keys == ["observation.images.image", "observation.images.wrist"]
    assert ds.tasks == [e["task"] for e in eps]
    for i, e in enumerate(eps):
        ep = ds.episode(i)
        np.testing.assert_array_equal(ep["observation.images.image"], e["image"])  # PNG: exact
        assert np.abs(ep["observation.images.wrist"].astype(int) - e["wrist"]).mean() < 4  # JPEG: lossy
        np.testing.assert_array_equal(ep["observation.state"], e["state"])
        np.testing.assert_array_equal(ep["action"], e["action"])
    assert ds.flags(2) == {"source_episode": "toy-train.tfrecord-00001-of-00002:0", "episode_metadata": {"file_path": "/data/raw/episode_2.npy"}}
    op = ds.lineage["operation"]
    assert (op["format"], op["converter"], op["converter_version"]) == ("rlds", "vlaforge.data.importers.rlds", "1")
    assert op["source"]["name"] == "toy" and op["source"]["version"] == "1.0.0" and op["source"]["shards"] == 2
    assert [f["path"].rsplit("/", 1)[1] for f in op["source"]["files"]] == ["toy-train.tfrecord-00000-of-00002", "toy-train.tfrecord-00001-of-00002"]
    assert op["options"] == {"fps": 10, "split": "train"}


def test_rt1_style_dict_actions_and_language_in_observation(tmp_path):
    src, out = tmp_path / "fractal", tmp_path / "out"
    eps = write_tfds_dir(src, lengths=(4, 3), rt1=True)
    import_dataset(src, out, "rlds", ImportOptions(fps=3, split="train"), video=LOSSLESS)
    ds = open_dataset(out)
    assert ds.tasks == [e["task"] for e in eps]
    assert ds.features["observation.state"].names[0] == "base_pose_tool_reached_0"  # the text embedding is not state
    assert ds.features["action"].shape == (10,)
    np.testing.assert_allclose(ds.episode(1)["action"], eps[1]["action"], rtol=1e-6)
    assert len(ds.lineage["operation"]["source"]["files"]) == 2
    keys = ("action/world_vector", "action/rotation_delta", "action/gripper_closedness_action")
    opts = ImportOptions(fps=3, split="train", action_keys=keys, cameras=("image",), max_episodes=2)
    import_dataset(src, tmp_path / "picked", "rlds", opts, video=LOSSLESS)
    ds = open_dataset(tmp_path / "picked")
    assert ds.num_episodes == 2 and len(ds.lineage["operation"]["source"]["files"]) == 1  # the second shard was never read
    assert ds.features["action"].names == ("world_vector_0", "world_vector_1", "world_vector_2", "rotation_delta_0", "rotation_delta_1",
                                           "rotation_delta_2", "gripper_closedness_action")
    assert ds.camera_keys == ["observation.images.image"] and check_dataset(tmp_path / "picked") == []


def test_single_tfrecord_file_is_auto_detected_and_needs_fps(tmp_path):
    path = tmp_path / "episodes.tfrecord"
    e, expected = make_episode(0, 4)
    write_tfrecord(path, [e])
    with pytest.raises(ConfigError, match="pass --fps"):
        import_dataset(path, tmp_path / "out")
    import_dataset(path, tmp_path / "out", options=ImportOptions(fps=5), video=LOSSLESS)
    ds = open_dataset(tmp_path / "out")
    assert ds.lineage["operation"]["format"] == "rlds" and ds.tasks == [expected["task"]]


def _write_one(path, fields_patch=None, T=4, drop=()):
    """A one-episode file whose Example is patched (fields replaced or dropped)."""
    rng = np.random.default_rng(0)
    fields = {
        "steps/observation/image": [encode(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), "png") for _ in range(T)],
        "steps/observation/state": rng.normal(size=(T, 3)).astype(np.float32),
        "steps/action": rng.normal(size=(T, 2)).astype(np.float32),
        "steps/is_first": np.r_[1, np.zeros(T - 1)].astype(np.int64),
        "steps/language_instruction": [b"open the drawer"] * T,
    }
    fields.update(fields_patch or {})
    for k in drop:
        del fields[k]
    return serialize(fields)


def _bad_pixels(T=4):
    rng = np.random.default_rng(0)
    good = [encode(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), "png") for _ in range(T)]
    return good[:2] + [b"\xff\xd8\xff\xe0 not really a jpeg"] + good[3:]


MALFORMED_EXAMPLES = [
    ("no is_first", dict(drop=("steps/is_first",)), r"record 0: steps/is_first: missing or not an int64 list; not an RLDS episode"),
    ("action length", dict(fields_patch={"steps/action": np.zeros(7, np.float32)}), r"record 0: steps/action: 7 values for 4 steps"),
    ("NaN action", dict(fields_patch={"steps/action": np.r_[np.zeros(5), np.nan, np.zeros(2)].astype(np.float32)}), r"record 0: steps/action: NaN/inf at step 2"),
    ("undecodable frame", dict(fields_patch={"steps/observation/image": _bad_pixels()}), r"record 0: steps/observation/image: step 2 does not decode"),
    ("frames missing", dict(fields_patch={"steps/observation/image": _bad_pixels()[:1] * 3}), r"record 0: steps/observation/image: 3 encoded frames for 4 steps"),
    ("no action", dict(drop=("steps/action",)), r"record 0: steps/action: missing"),
    ("frame size changes", dict(fields_patch={"steps/observation/image": _bad_pixels()[:1] + [encode(np.zeros((8, 16, 3), np.uint8), "png")] * 3}),
     r"record 0: steps/observation/image: frames change size within the episode"),
]


@pytest.mark.parametrize("case,kwargs,message", MALFORMED_EXAMPLES, ids=[m[0] for m in MALFORMED_EXAMPLES])
def test_malformed_episodes_are_refused_naming_file_record_and_field(tmp_path, case, kwargs, message):
    path = tmp_path / "bad.tfrecord"
    if case == "frames missing":  # the first episode is fine; the second lacks frames
        write_tfrecord(path, [_write_one(path), _write_one(path, **kwargs)])
        message = message.replace("record 0", "record 1")
    else:
        write_tfrecord(path, [_write_one(path, **kwargs)])
    with pytest.raises(SourceFormatError, match=message) as e:
        import_dataset(path, tmp_path / "out", "rlds", ImportOptions(fps=10))
    assert str(path) in str(e.value)
    assert not (tmp_path / "out").exists()


def test_second_episode_with_other_frame_size_is_refused(tmp_path):
    path = tmp_path / "mixed.tfrecord"
    small = _write_one(path)
    big = _write_one(path, {"steps/observation/image": [encode(np.zeros((20, 16, 3), np.uint8), "png")] * 4})
    write_tfrecord(path, [small, big])
    with pytest.raises(SourceFormatError, match=r"record 1: steps/observation/image: frames are \(20, 16, 3\), the first episode's are \(16, 16, 3\)"):
        import_dataset(path, tmp_path / "out", "rlds", ImportOptions(fps=10))


def test_broken_framing_is_refused_naming_file_record_and_offset(tmp_path):
    path = tmp_path / "ok.tfrecord"
    recs = [_write_one(path), _write_one(path)]
    write_tfrecord(path, recs)
    raw = path.read_bytes()
    second = 16 + len(recs[0])

    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(raw[:-10])
    with pytest.raises(SourceFormatError, match=rf"cut.tfrecord: record 1 at byte {second}: length field says {len(recs[1])} bytes but the file ends first"):
        import_dataset(cut, tmp_path / "o1", "rlds", ImportOptions(fps=10))

    flipped = bytearray(raw)
    flipped[second + 12 + 40] ^= 0xFF
    bad = tmp_path / "flipped.tfrecord"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(SourceFormatError, match=rf"flipped.tfrecord: record 1 at byte {second}: data fails its CRC"):
        import_dataset(bad, tmp_path / "o2", "rlds", ImportOptions(fps=10))

    junk = tmp_path / "junk.tfrecord"
    junk.write_bytes(b"this is not a tfrecord file, just text" * 3)
    with pytest.raises(SourceFormatError, match=r"junk.tfrecord: record 0 at byte 0: length field fails its CRC"):
        import_dataset(junk, tmp_path / "o3", "rlds", ImportOptions(fps=10))

    not_example = tmp_path / "notexample.tfrecord"
    write_tfrecord(not_example, [b"\x0a\xff\xff\xff\x0f garbage"])
    with pytest.raises(SourceFormatError, match=r"notexample.tfrecord: record 0: not a tf.train.Example"):
        import_dataset(not_example, tmp_path / "o4", "rlds", ImportOptions(fps=10))
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))


def test_directory_without_shards_of_the_split(tmp_path):
    src = tmp_path / "toy"
    write_tfds_dir(src, lengths=(3,))
    with pytest.raises(SourceFormatError, match=r"no TFRecord shards of split 'test'"):
        import_dataset(src, tmp_path / "out", "rlds", ImportOptions(fps=10, split="test"))
    with pytest.raises(ConfigError, match="does not take --filter-key"):
        import_dataset(src, tmp_path / "out", "rlds", ImportOptions(fps=10, filter_key="train"))
