"""Resume state on disk: safetensors + JSON round-trip exactly, and pickled train_state.pt is never opened."""

import random

import numpy as np
import pytest
import torch

from vlaforge.errors import CheckpointError
from vlaforge.train import state_io
from vlaforge.train.checkpoint import load_train_state, rng_state, set_rng_state, write_checkpoint


class _Planted:
    """Unpickling this creates the file `marker` (stands in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 ** s)
    model(torch.randn(2, 3)).sum().backward()
    opt.step()
    sched.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "ema": None,
            "step": 7, "epoch": 1, "in_epoch": 3, "total_steps": 9, "elapsed_s": 1.25, "rng": [rng_state(), rng_state()]}


def _same(a, b):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict)), (a, b)  # OrderedDict comes back a dict
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


def test_state_round_trips_exactly(tmp_path):
    state = _state()
    write_checkpoint(tmp_path, 7, lambda d: None, state)
    _same(state, load_train_state(tmp_path / "checkpoints" / "last"))
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "000007").iterdir()) == ["train_state.json", "train_state.safetensors"]


def test_restored_rng_draws_the_same_numbers(tmp_path):
    write_checkpoint(tmp_path, 1, lambda d: None, {"rng": rng_state()})
    want = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    set_rng_state(load_train_state(tmp_path / "checkpoints" / "last")["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1]) and want[2] == got[2]


def test_planted_pickle_is_refused_and_never_unpickled(tmp_path):
    ck, marker = tmp_path / "ck", tmp_path / "pwned"
    ck.mkdir()
    torch.save({"model": _Planted(marker)}, ck / "train_state.pt")
    with pytest.raises(CheckpointError, match="never loaded"):
        load_train_state(ck)
    assert not marker.exists()


def test_leftover_pickle_next_to_new_state_is_refused(tmp_path):
    write_checkpoint(tmp_path, 1, lambda d: None, {"step": 1})
    ck, marker = tmp_path / "checkpoints" / "last", tmp_path / "pwned"
    torch.save(_Planted(marker), ck / "train_state.pt")
    with pytest.raises(CheckpointError, match="delete it"):
        load_train_state(ck)
    assert not marker.exists()


def test_planted_pickle_would_run_code(tmp_path):
    """The attack the refusal guards against is real: torch.load(weights_only=False) runs it."""
    marker = tmp_path / "pwned"
    torch.save(_Planted(marker), tmp_path / "x.pt")
    torch.load(tmp_path / "x.pt", weights_only=False)
    assert marker.exists()


def test_tensor_missing_from_safetensors_is_a_checkpoint_error(tmp_path):
    state_io.save_state({"w": torch.ones(2)}, tmp_path)
    (tmp_path / "train_state.json").write_text('{"w": {"__tensor__": "nope"}}')
    with pytest.raises(CheckpointError, match="lacks the tensor 'nope'"):
        state_io.load_state(tmp_path)


def test_object_dtype_in_json_is_refused(tmp_path):
    state_io.save_state({"a": np.arange(3, dtype=np.uint32)}, tmp_path)
    (tmp_path / "train_state.json").write_text('{"a": {"__ndarray__": "a", "dtype": "|O", "shape": [1]}}')
    with pytest.raises(CheckpointError, match="corrupt"):
        state_io.load_state(tmp_path)
