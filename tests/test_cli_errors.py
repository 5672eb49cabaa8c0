"""A user mistake on the command line is one line on stderr, a non-zero exit code and no traceback.

Each row runs the real `vlaforge` in a subprocess (the truest check that nothing prints a traceback):
2 for usage errors (a bad option value), 1 for bad files or an unreachable server.
"""

import os
import socket
import subprocess
import sys

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on exit: nothing listens there


@pytest.fixture(scope="module")
def corrupt_checkpoint(sample_dataset_master, tmp_path_factory):
    """A real checkpoint whose model.safetensors was overwritten with garbage of the same size."""
    from vlaforge.data import open_dataset
    from vlaforge.models import PolicyConfig, build_policy

    policy = build_policy(PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4),
                          open_dataset(sample_dataset_master), verbose=False)
    ck = policy.save(tmp_path_factory.mktemp("ck") / "ck")
    weights = ck / "model.safetensors"
    weights.write_bytes(bytes(range(256)) * (weights.stat().st_size // 256 + 1))
    return ck


def _run(argv: list[str], cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUJOCO_GL": "egl", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "vlaforge", *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def _assert_one_line(out: subprocess.CompletedProcess, code: int, needle: str) -> None:
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert out.returncode == code, (out.returncode, out.stderr[-2000:])
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]


TRAIN_ROWS = [
    pytest.param(["--train.lr", "-1"], "--train.lr", id="lr-negative"),
    pytest.param(["--train.lr", "nan"], "--train.lr", id="lr-nan"),
    pytest.param(["--train.batch_size", "0"], "--train.batch_size", id="batch-size-0"),
    pytest.param(["--train.val_every", "0"], "--train.val_every", id="val-every-0"),
    pytest.param(["--train.steps", "0"], "--train.steps", id="steps-0"),
    pytest.param(["--train.ema_decay", "2"], "--train.ema_decay", id="ema-decay-2"),
    pytest.param(["--model.chunk", "0"], "--model.chunk", id="model-chunk-0"),
    pytest.param(["--model.n_action_steps", "99"], "--model.n_action_steps", id="n-action-steps-99"),
    pytest.param(["--model.flow.steps", "0"], "--model.flow.steps", id="flow-steps-0"),
    pytest.param(["--model.flow_steps", "0"], "--model.flow.steps", id="old-flow-steps-flag-0"),
    pytest.param(["--model.tokens.tokenizer", "bpe"], "--model.tokens.tokenizer", id="tokenizer-bpe"),
]


@pytest.mark.parametrize("flags, needle", TRAIN_ROWS)
def test_bad_train_value_is_a_usage_error(flags, needle, sample_dataset_master, tmp_path):
    # A short valid run first, so a value the old code accepted fails the row in seconds, not minutes.
    short = ["--train.steps", "1", "--train.batch_size", "4", "--model.width", "32", "--model.depth", "1", "--model.n_heads", "2"]
    out = _run(["train", "--dataset", str(sample_dataset_master), "--out", str(tmp_path / "run"), "--no-progress", *short, *flags], tmp_path)
    _assert_one_line(out, 2, needle)
    assert not (tmp_path / "run").exists()  # nothing written, in particular no untrained checkpoint


def test_unreachable_eval_server(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    out = _run(["eval", "--server", url, "--out", str(tmp_path / "ev"), "--episodes", "1", "--workers", "1", "--no-progress"], tmp_path)
    _assert_one_line(out, 1, f"cannot reach a vlaforge server at {url}")


@pytest.mark.parametrize("command", [["serve"], ["export", "--out", "x.onnx"]], ids=["serve", "export"])
def test_corrupt_weights(command, corrupt_checkpoint, tmp_path):
    out = _run([command[0], str(corrupt_checkpoint), *command[1:]], tmp_path)
    _assert_one_line(out, 1, "model.safetensors is corrupt or truncated")


def test_truncated_weights(sample_dataset_master, tmp_path):
    from vlaforge.data import open_dataset
    from vlaforge.models import PolicyConfig, build_policy

    ck = build_policy(PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4),
                      open_dataset(sample_dataset_master), verbose=False).save(tmp_path / "ck")
    weights = ck / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _assert_one_line(_run(["serve", str(ck)], tmp_path), 1, "model.safetensors is corrupt or truncated")


def test_garbage_onnx_is_refused(tmp_path):
    model = tmp_path / "policy.onnx"
    model.write_bytes(b"not a protobuf" * 100)
    (tmp_path / "policy.onnx.json").write_text("{}")
    _assert_one_line(_run(["serve", str(model)], tmp_path), 1, "is not a loadable ONNX model")


def test_garbage_onnx_metadata_is_refused(tmp_path):
    model = tmp_path / "policy.onnx"
    model.write_bytes(b"x")
    (tmp_path / "policy.onnx.json").write_text("{not json")
    _assert_one_line(_run(["serve", str(model)], tmp_path), 1, "policy.onnx.json is not valid JSON")


@pytest.mark.parametrize("name, text", [
    ("evil.yaml", "train: !!python/object/apply:os.system ['touch {marker}']\n"),
    ("broken.json", '{"train": {"steps": 1'),
], ids=["yaml-python-tag", "broken-json"])
def test_config_file_that_is_not_plain_data(name, text, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / name).write_text(text.replace("{marker}", str(marker)))
    out = _run(["train", "--config", str(tmp_path / name), "--out", str(tmp_path / "run")], tmp_path)
    _assert_one_line(out, 2, name)
    assert not marker.exists()  # the tag was refused, never run


@pytest.mark.parametrize("what", ["file", "empty-dir", "meta-subdir", "parent-of-datasets"])
def test_data_check_on_what_is_no_dataset_directory(what, sample_dataset_master, tmp_path):
    """One line saying it is no dataset directory and which directory to pass instead (the dataset around or inside it)."""
    path, hint = {
        "file": (tmp_path / "notes.txt", "e.g. the --out of"),
        "empty-dir": (tmp_path / "empty", "e.g. the --out of"),
        "meta-subdir": (sample_dataset_master / "meta", f"the dataset it belongs to is {sample_dataset_master}"),
        "parent-of-datasets": (sample_dataset_master.parent, f"the datasets inside it are {sample_dataset_master}"),
    }[what]
    if what == "file":
        path.write_text("not a dataset")
    elif what == "empty-dir":
        path.mkdir()
    out = _run(["data", "check", str(path)], tmp_path)
    _assert_one_line(out, 1, "not a dataset directory")
    assert "pass the directory that holds meta/info.json" in out.stderr and hint in out.stderr, out.stderr
    assert out.stdout == ""
