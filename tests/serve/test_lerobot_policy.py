"""`vlaforge serve lerobot:DIR`: a LeRobot pretrained_model directory served through vlaforge's protocol.

The tests marked `needs_lerobot` run where `lerobot` (0.6) imports, i.e. in a LeRobot venv with vlaforge
installed into it; vlaforge's own venv (Python 3.11) skips them. To run them:

    bash benchmarks/lerobot_env.sh                                   # LeRobot 0.6.1 venv (Python 3.12, torch < 2.12)
    ~/.cache/vlaforge/lerobot-0.6.1/bin/pip install -e ".[test]"     # vlaforge into it
    MUJOCO_GL=egl ~/.cache/vlaforge/lerobot-0.6.1/bin/python -m pytest -n 0 tests/serve/test_lerobot_policy.py

They build a tiny ACT (random init, no downloaded weights) on the features of a tiny vlaforge sim dataset,
save it with its processors as `lerobot-train` does, and check it against LeRobot's own inference path.
"""

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vlaforge.cli import main
from vlaforge.errors import CheckpointError, MissingExtra
from vlaforge.serve.lerobot_policy import lerobot_dir

HAVE_LEROBOT = importlib.util.find_spec("lerobot") is not None
needs_lerobot = pytest.mark.skipif(
    not HAVE_LEROBOT, reason="lerobot is not importable here (LeRobot 0.6 needs Python >= 3.12, torch < 2.12); run these "
                             "from a LeRobot venv with vlaforge installed into it (see this file's docstring)")


def test_lerobot_prefix_names_a_directory():
    assert lerobot_dir("lerobot:/tmp/x/pretrained_model") == Path("/tmp/x/pretrained_model")
    assert lerobot_dir("lerobot:rel/dir") == Path("rel/dir")
    assert lerobot_dir("runs/flow") is None and lerobot_dir(Path("model.onnx")) is None


def test_without_lerobot_the_error_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "lerobot", None)  # `import lerobot` raises ImportError, in any venv
    assert main(["serve", "--policy", f"lerobot:{tmp_path}"]) == MissingExtra.exit_code
    err = capsys.readouterr().err
    assert "LeRobot venv" in err and "pip install -e /path/to/vlaforge" in err and "Python >= 3.12" in err


def test_the_policy_is_named_exactly_once(tmp_path, capsys):
    assert main(["serve"]) == 2
    assert main(["serve", "runs/a", "--policy", "runs/b"]) == 2
    assert "name the policy once" in capsys.readouterr().err


# ---- in a LeRobot venv ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_meta(tmp_path_factory):
    """LeRobot's metadata of a tiny vlaforge-written sim dataset (2 pick_place episodes, cameras front/wrist 96 px)."""
    from lerobot.datasets import LeRobotDatasetMetadata

    from vlaforge.sim.collect import collect

    root = tmp_path_factory.mktemp("lerobot") / "ds"
    collect(root, ["pick_place"], episodes=2, workers=1, progress=False)
    return LeRobotDatasetMetadata("local/vlaforge_pick_place", root=root)


def _save_act(meta, out: Path, stats: bool = True, processors: bool = True) -> Path:
    """A tiny random-init ACT on the dataset's features, saved the way lerobot-train saves pretrained_model/."""
    import torch
    from lerobot.configs import FeatureType
    from lerobot.policies import make_pre_post_processors
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.utils.feature_utils import dataset_to_policy_features

    torch.manual_seed(0)
    feats = dataset_to_policy_features(meta.features)
    cfg = ACTConfig(input_features={k: f for k, f in feats.items() if f.type is not FeatureType.ACTION},
                    output_features={k: f for k, f in feats.items() if f.type is FeatureType.ACTION},
                    device="cpu", pretrained_backbone_weights=None, dim_model=32, n_heads=2, dim_feedforward=64,
                    n_encoder_layers=1, n_decoder_layers=1, n_vae_encoder_layers=1, latent_dim=8, chunk_size=10, n_action_steps=6)
    ACTPolicy(cfg).save_pretrained(out)
    if processors:
        for p in make_pre_post_processors(cfg, dataset_stats=meta.stats if stats else None):
            p.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def act_dir(sim_meta, tmp_path_factory):
    return _save_act(sim_meta, tmp_path_factory.mktemp("act") / "pretrained_model")


def _obs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"observation.images.front": rng.integers(0, 256, (96, 96, 3), dtype=np.uint8),
            "observation.images.wrist": rng.integers(0, 256, (96, 96, 3), dtype=np.uint8),
            "observation.state": rng.normal(0, 0.1, 4).astype(np.float32)}


@needs_lerobot
def test_spec_comes_from_the_lerobot_features(act_dir):
    from vlaforge.serve.lerobot_policy import LeRobotPolicy

    p = LeRobotPolicy(act_dir)
    assert p.spec.observation == {"observation.images.front": ((96, 96, 3), "uint8"),
                                  "observation.images.wrist": ((96, 96, 3), "uint8"),
                                  "observation.state": ((4,), "float32")}
    assert (p.spec.chunk, p.spec.action_dim) == (10, 4)
    assert p.spec.to_json()["action"]["execute"] == 6  # n_action_steps: how many of each chunk LeRobot's loop executes
    assert "act policy" in p.describe() and "chunk 10" in p.describe() and "executes 6" in p.describe()


@needs_lerobot
def test_actions_match_lerobots_own_inference(act_dir):
    """vlaforge's mapping (uint8 HWC -> [0, 1] CHW, task, processors) gives what LeRobot's select_action path gives."""
    import torch
    from lerobot.policies import make_pre_post_processors
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.utils import prepare_observation_for_inference

    from vlaforge.serve.lerobot_policy import LeRobotPolicy

    ours = LeRobotPolicy(act_dir)
    ref = ACTPolicy.from_pretrained(act_dir)
    pre, post = make_pre_post_processors(ref.config, pretrained_path=str(act_dir))
    for seed in (1, 2):
        obs = _obs(seed)
        ref.reset()
        batch = pre(prepare_observation_for_inference(dict(obs), torch.device("cpu"), task="pick up the red block"))
        want = post(ref.select_action(batch)).numpy()[0]  # (A,): the first action of LeRobot's chunk
        got = ours.predict_chunk(obs, "pick up the red block")  # (H, A)
        assert got.shape == (10, 4) and np.isfinite(got).all()
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


@needs_lerobot
def test_a_batch_equals_single_calls(act_dir):
    from vlaforge.serve.lerobot_policy import LeRobotPolicy

    p = LeRobotPolicy(act_dir)
    both = p.predict_batch([_obs(3), _obs(4)], ["a", "b"])  # (2, H, A)
    np.testing.assert_allclose(both[1], p.predict_chunk(_obs(4), "b"), rtol=1e-5, atol=1e-5)


@needs_lerobot
def test_missing_normalization_stats_are_refused(sim_meta, tmp_path):
    from vlaforge.serve.lerobot_policy import LeRobotPolicy

    with pytest.raises(CheckpointError, match=r"policy_preprocessor.json: feature 'observation.images.front' is normalized with MEAN_STD"):
        LeRobotPolicy(_save_act(sim_meta, tmp_path / "nostats", stats=False))


@needs_lerobot
def test_a_directory_without_processors_is_refused(sim_meta, tmp_path):
    from vlaforge.serve.lerobot_policy import LeRobotPolicy

    with pytest.raises(CheckpointError, match="no policy_preprocessor.json.*migrate_policy_normalization"):
        LeRobotPolicy(_save_act(sim_meta, tmp_path / "noproc", processors=False))
    with pytest.raises(CheckpointError, match="not a directory"):
        LeRobotPolicy(tmp_path / "nowhere")


@needs_lerobot
@pytest.mark.slow
def test_serve_lerobot_then_eval_over_the_server(act_dir, tmp_path):
    """The commands of docs/deploy.md: `vlaforge serve --policy lerobot:DIR`, then `vlaforge eval --server`."""
    from vlaforge.eval.records import load_records

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "token").write_text("s3cret\n")
    env = {**os.environ, "MUJOCO_GL": "egl", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vlaforge", "serve", "--policy", f"lerobot:{act_dir}", "--port", str(port),
                             "--threads", "1", "--token-file", str(tmp_path / "token")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 600  # a loaded shared machine can take minutes to import torch + lerobot
        while time.monotonic() < deadline and not any(l.startswith("serving") for l in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert any(l.startswith("serving") for l in lines), "".join(lines)
        assert any("LeRobot" in l and "act policy" in l for l in lines), "".join(lines)
        out = tmp_path / "eval"
        assert main(["eval", "--server", f"http://127.0.0.1:{port}", "--token", "s3cret", "--split", "seen", "--episodes", "1",
                     "--workers", "1", "--executor", "naive", "--videos", "0", "--no-progress", "--out", str(out)]) == 0
        recs = load_records(out / "records.jsonl")
        assert len(recs) == 1 and recs[0].steps > 0 and recs[0].inference_ms > 0
        # no --n-action-steps: eval executes the served n_action_steps (6) of each chunk, one request per 6 steps
        from vlaforge.serve.client import Client

        assert Client(f"http://127.0.0.1:{port}", token="s3cret").metrics()["requests"] == -(-recs[0].steps // 6)
        assert (out / "report.html").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@needs_lerobot
def test_a_policy_with_history_gets_the_observation_repeated(sim_meta, tmp_path):
    """Diffusion reads n_obs_steps=2 observations: served statelessly, it acts as LeRobot does on an episode's first step."""
    pytest.importorskip("diffusers", reason="LeRobot's Diffusion policy needs diffusers (pip install 'lerobot[diffusion]')")
    import torch
    from lerobot.configs import FeatureType
    from lerobot.policies import make_pre_post_processors
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
    from lerobot.policies.utils import prepare_observation_for_inference
    from lerobot.utils.feature_utils import dataset_to_policy_features

    from vlaforge.serve.lerobot_policy import LeRobotPolicy

    feats = dataset_to_policy_features(sim_meta.features)
    cfg = DiffusionConfig(input_features={k: f for k, f in feats.items() if f.type is not FeatureType.ACTION},
                          output_features={k: f for k, f in feats.items() if f.type is FeatureType.ACTION},
                          device="cpu", pretrained_backbone_weights=None, n_obs_steps=2, horizon=16, n_action_steps=8,
                          down_dims=(16, 32), diffusion_step_embed_dim=32, spatial_softmax_num_keypoints=8,
                          num_inference_steps=2, crop_shape=(84, 84))
    torch.manual_seed(0)
    DiffusionPolicy(cfg).save_pretrained(tmp_path / "dp")
    for p in make_pre_post_processors(cfg, dataset_stats=sim_meta.stats):
        p.save_pretrained(tmp_path / "dp")
    ours = LeRobotPolicy(tmp_path / "dp")
    assert ours.spec.chunk == 8 and "n_obs_steps=2" in ours.describe()
    torch.manual_seed(5)
    got = ours.predict_chunk(_obs(1), "x")  # (8, 4)
    ref = DiffusionPolicy.from_pretrained(tmp_path / "dp")
    pre, post = make_pre_post_processors(ref.config, pretrained_path=str(tmp_path / "dp"))
    torch.manual_seed(5)  # the same diffusion noise
    want = post(ref.select_action(pre(prepare_observation_for_inference(_obs(1), torch.device("cpu"), task="x")))).numpy()[0]
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
