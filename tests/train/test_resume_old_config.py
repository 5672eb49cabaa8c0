"""A run whose config.json was written before the heads had config sections (flat `flow_steps`, ...) resumes."""

import json

import pytest

from vlaforge.models import FlowConfig, PolicyConfig
from vlaforge.train.config import TrainConfig
from vlaforge.train.trainer import RunConfig, train

FLAT = {"flow_steps": 3, "time_sampling": "beta", "tokenizer": "dct", "n_bins": 256, "dct_scale": 10.0}


def test_a_run_saved_with_flat_head_keys_resumes(tiny_dataset, tmp_path):
    model = PolicyConfig(head="flow", width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, flow=FlowConfig(steps=3))
    cfg = RunConfig(str(tiny_dataset.root), model, TrainConfig(steps=3, batch_size=4, val_fraction=0.0, save_every=1, log_every=1,
                                                                warmup_steps=0, threads=1))

    def crash(row):
        if row["step"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", progress=False, on_log=crash)
    path = tmp_path / "run/config.json"
    saved = json.loads(path.read_text())
    saved["model"] = {k: v for k, v in saved["model"].items() if k not in ("flow", "tokens")} | FLAT  # the old form
    path.write_text(json.dumps(saved))
    assert RunConfig.from_json(saved) == cfg
    train(RunConfig.from_json(saved), tmp_path / "run", resume=True, progress=False)
    assert (tmp_path / "run/checkpoints/000003").is_dir()
