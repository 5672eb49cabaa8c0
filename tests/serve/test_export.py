"""ONNX export: parity with PyTorch on every head, int8 (every method) within its stated tolerance, same API at run time."""

import json
import shutil

import numpy as np
import pytest

from vlaforge.control import PolicyControl
from vlaforge.cli import main
from vlaforge.errors import DatasetError, VlaforgeError
from vlaforge.models import FlowConfig, PolicyConfig, build_policy, load_policy
from vlaforge.models.registry import names
from vlaforge.serve.export import FP32_TOLERANCE, INT8_TOLERANCE, export_onnx
from vlaforge.serve.onnx_policy import OnnxPolicy
from vlaforge.serve.quantize import CALIBRATED, DEFAULT_METHOD, METHODS

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
    assert op.spec.to_json()["action"]["execute"] == load_policy(ck).cfg.n_action_steps  # served as the checkpoint is
    item = ds[4]
    obs = {k: item[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")}
    chunk = op.predict_chunk(obs, item["task"])
    assert chunk.shape == (8, 4) and chunk.dtype == np.float32
    if head != "flow":  # deterministic heads: identical to PyTorch on the same input
        np.testing.assert_allclose(chunk, load_policy(ck).predict_chunk(obs, item["task"]), atol=1e-4)
    act = PolicyControl(op)
    act.reset()
    assert act(obs, "an instruction it never saw").shape == (4,)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_int8_every_method_within_tolerance(ds, tmp_path, method):
    ck = build_policy(PolicyConfig(head="flow", **TINY), ds, verbose=False).save(tmp_path / "ck")
    meta = export_onnx(ck, tmp_path / "q.onnx", int8=True, int8_method=method, samples=4)
    assert max(meta["parity"]["max_rel_err_per_dim"]) <= INT8_TOLERANCE and meta["int8"]
    q = json.loads((tmp_path / "q.onnx.json").read_text())["quantization"]
    assert q["method"] == method
    if method in CALIBRATED:  # 24 frames, 4 of them the parity samples: the other 20 calibrate
        assert q["calibration_frames"] == ds.num_frames - 4 and q["calibration_dataset"] == str(ds.root)
    else:
        assert q["calibration_frames"] == 0 and "calibration_dataset" not in q


def test_default_int8_runs_static_int8_convs_and_dynamic_int8_matmuls(ds, tmp_path):
    import onnx

    ck = build_policy(PolicyConfig(head="chunk", **TINY), ds, verbose=False).save(tmp_path / "ck")
    meta = export_onnx(ck, tmp_path / "q.onnx", int8=True, samples=4)
    assert meta["quantization"]["method"] == DEFAULT_METHOD == "hybrid"
    ops = {n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node}
    assert "ConvInteger" not in ops  # dynamic int8 convolutions: what made int8 slower than fp32
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops  # QDQ convolutions, fused to QLinearConv by onnxruntime
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
    assert meta["parity"]["samples"] == 4 and max(meta["parity"]["max_rel_err_per_dim"]) <= INT8_TOLERANCE


def test_int8_calibrates_on_another_dataset_when_asked(ds, tmp_path):
    from vlaforge.data.sample import make_sample_dataset

    other = make_sample_dataset(tmp_path / "other", episodes=1, length=10, image_size=32, seed=5)
    ck = build_policy(PolicyConfig(head="chunk", **TINY), ds, verbose=False).save(tmp_path / "ck")
    q = export_onnx(ck, tmp_path / "q.onnx", int8=True, samples=4, calibration=other)["quantization"]
    assert q["calibration_dataset"] == str(other) and q["calibration_frames"] == 10  # all of it: no parity frame is there


def test_missing_training_dataset_names_the_flags(tmp_path):
    from vlaforge.data import open_dataset
    from vlaforge.data.sample import make_sample_dataset

    gone = open_dataset(make_sample_dataset(tmp_path / "gone", episodes=1, length=10, image_size=32))
    ck = build_policy(PolicyConfig(head="chunk", **TINY), gone, verbose=False).save(tmp_path / "ck")
    shutil.rmtree(tmp_path / "gone")
    with pytest.raises(DatasetError, match=r"gone does not exist; it is needed for the parity check's samples and the int8 calibration frames: pass --dataset DATASET"):
        export_onnx(ck, tmp_path / "q.onnx", int8=True, samples=2)
    with pytest.raises(DatasetError, match=r"gone does not exist; it is needed for the parity check's samples: pass --dataset"):
        export_onnx(ck, tmp_path / "p.onnx", samples=2)  # fp32 needs it for parity only
    assert not (tmp_path / "q.onnx").exists() and not (tmp_path / "p.onnx").exists()


def test_missing_calibration_dataset_names_its_flag(ds, tmp_path):
    ck = build_policy(PolicyConfig(head="chunk", **TINY), ds, verbose=False).save(tmp_path / "ck")
    with pytest.raises(DatasetError, match=r"nowhere does not exist; it is needed for int8 'hybrid' calibration frames: pass --calibration DATASET"):
        export_onnx(ck, tmp_path / "q.onnx", int8=True, samples=2, calibration=tmp_path / "nowhere")


def test_export_cli_int8_reports_the_method(ds, tmp_path, capsys):
    ck = build_policy(PolicyConfig(head="chunk", **TINY), ds, verbose=False).save(tmp_path / "ck")
    rc = main(["export", str(ck), "--int8", "--int8-method", "dynamic", "--out", str(tmp_path / "q.onnx"), "--samples", "2"])
    assert rc == 0 and "int8 dynamic; parity max relative error" in capsys.readouterr().out
    assert json.loads((tmp_path / "q.onnx.json").read_text())["quantization"]["method"] == "dynamic"
    rc = main(["export", str(ck), "--int8", "--calibration", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.onnx")])
    assert rc == 1 and "pass --calibration DATASET" in capsys.readouterr().err


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
