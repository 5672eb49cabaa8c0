"""ONNX export: parity with PyTorch on every head, int8 within its stated tolerance, same API at run time."""

import json

import numpy as np
import pytest

from vlaforge.control import PolicyControl
from vlaforge.errors import VlaforgeError
from vlaforge.models import FlowConfig, PolicyConfig, build_policy, load_policy
from vlaforge.models.registry import names
from vlaforge.serve.export import FP32_TOLERANCE, INT8_TOLERANCE, export_onnx
from vlaforge.serve.onnx_policy import OnnxPolicy

TINY = dict(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, flow=FlowConfig(steps=4))


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    from vlaforge.data import open_dataset
    from vlaforge.data.sample import make_sample_dataset

    return open_dataset(make_sample_dataset(tmp_path_factory.mktemp("exp") / "ds", episodes=2, length=12, image_size=32))


@pytest.mark.parametrize("head", names("head"))
def test_fp32_parity_every_head(ds, tmp_path, head):
    ck = build_policy(PolicyConfig(head=head, **TINY), ds, verbose=False).save(tmp_path / "ck")
    meta = export_onnx(ck, tmp_path / "p.onnx", samples=4)
    assert max(meta["parity"]["max_rel_err_per_dim"]) <= FP32_TOLERANCE
    saved = json.loads((tmp_path / "p.onnx.json").read_text())
    assert saved["parity"] == meta["parity"] and saved["head"] == head
    assert saved["head_config"] == {"flow": {"steps": 4, "time_sampling": "beta"}, "tokens": {"tokenizer": "dct", "n_bins": 256, "dct_scale": 10.0},
                                    "chunk": {}}[head]  # the head's own settings (the flow steps unrolled into the graph)
    op = OnnxPolicy(tmp_path / "p.onnx", threads=1)
    item = ds[4]
    obs = {k: item[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")}
    chunk = op.predict_chunk(obs, item["task"])
    assert chunk.shape == (8, 4) and chunk.dtype == np.float32
    if head != "flow":  # deterministic heads: identical to PyTorch on the same input
        np.testing.assert_allclose(chunk, load_policy(ck).predict_chunk(obs, item["task"]), atol=1e-4)
    act = PolicyControl(op)
    act.reset()
    assert act(obs, "an instruction it never saw").shape == (4,)


def test_int8_flow_within_tolerance(ds, tmp_path):
    ck = build_policy(PolicyConfig(head="flow", **TINY), ds, verbose=False).save(tmp_path / "ck")
    meta = export_onnx(ck, tmp_path / "q.onnx", int8=True, samples=4)
    assert max(meta["parity"]["max_rel_err_per_dim"]) <= INT8_TOLERANCE and meta["int8"]


def test_failed_parity_removes_the_export(ds, tmp_path):
    ck = build_policy(PolicyConfig(head="flow", **TINY), ds, verbose=False).save(tmp_path / "ck")
    with pytest.raises(VlaforgeError, match="parity failed"):
        export_onnx(ck, tmp_path / "bad.onnx", int8=True, samples=4, tolerance=1e-9)
    assert not (tmp_path / "bad.onnx").exists() and not (tmp_path / "bad.onnx.json").exists()


def test_predict_batch_is_one_session_call_equal_to_single_calls(ds, tmp_path):
    ck = build_policy(PolicyConfig(head="flow", **TINY), ds, verbose=False).save(tmp_path / "ck")
    meta = export_onnx(ck, tmp_path / "p.onnx", samples=4)
    assert meta["batch"] == "dynamic" and meta["parity"]["batched"]
    batched, single = OnnxPolicy(tmp_path / "p.onnx", threads=1, seed=3), OnnxPolicy(tmp_path / "p.onnx", threads=1, seed=3)
    assert batched.dynamic_batch
    calls = []
    run = batched.session.run

    class Counting:
        def run(self, *a, **k):
            calls.append(1)
            return run(*a, **k)

    batched.session = Counting()
    items = [ds[i] for i in (1, 7, 15)]
    obs = [{k: it[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")} for it in items]
    instr = [items[0]["task"], "a wording it never saw", items[2]["task"]]
    got = batched.predict_batch(obs, instr)
    assert got.shape == (3, 8, 4) and len(calls) == 1
    want = np.stack([single.predict_chunk(o, i) for o, i in zip(obs, instr)])  # same seed: same noise, in request order
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_an_export_whose_metadata_says_spec_still_loads(ds, tmp_path):
    ck = build_policy(PolicyConfig(head="chunk", **TINY), ds, verbose=False).save(tmp_path / "ck")
    export_onnx(ck, tmp_path / "p.onnx", samples=2)
    path = tmp_path / "p.onnx.json"
    meta = json.loads(path.read_text())
    assert meta["dataset_info"] == load_policy(ck).dataset_info
    meta["spec"] = meta.pop("dataset_info")  # the key exports had before the policy's `spec` became `dataset_info`
    path.write_text(json.dumps(meta))
    op = OnnxPolicy(tmp_path / "p.onnx", threads=1)
    item = ds[3]
    obs = {k: item[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")}
    assert op.spec.observation["observation.state"] == ((4,), "float32")  # the I/O signature, built from it
    np.testing.assert_allclose(op.predict_chunk(obs, item["task"]), load_policy(ck).predict_chunk(obs, item["task"]), atol=1e-4)
