"""The job backends: local processes and Ray give the same records for the same seeds; bad choices fail with the fix."""

import operator
import shutil
import sys
import tempfile

import pytest

from vlaforge.cli import main
from vlaforge.errors import ConfigError, MissingExtra
from vlaforge.jobs import Backend, require_ray, run_jobs


def test_backend_names_and_address_are_checked():
    assert Backend().describe() == "local" and Backend("ray", "auto").describe() == "ray@auto"
    with pytest.raises(ConfigError, match="choose from local, ray"):
        Backend("dask")
    with pytest.raises(ConfigError, match="--address 10.0.0.1:6379 applies to --backend ray only"):
        Backend("local", "10.0.0.1:6379")


def test_cli_refuses_an_address_without_the_ray_backend(tmp_path, capsys):
    args = ["sim", "collect", "--episodes", "1", "--address", "auto", "--out", str(tmp_path / "x")]
    assert main(args) == 2
    assert "--backend ray" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_missing_ray_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(MissingExtra, match=r"pip install -e '\.\[ray\]'"):
        require_ray()


def test_local_backend_returns_results_in_job_order():
    with run_jobs(operator.neg, list(range(7)), workers=2) as results:
        assert list(results) == [-k for k in range(7)]


# --- Ray: a private local cluster of 2 CPUs, started by this module and stopped at its end ---------------------------

@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_TOKEN", "vlaforge-test-token")  # a token of its own: nothing written to ~/.ray
    tmp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit in 107 characters
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tmp, object_store_memory=200 * 1024**2)
    try:
        yield ray
    finally:
        ray.shutdown()
        mp.undo()
        shutil.rmtree(tmp, ignore_errors=True)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


@pytest.fixture(scope="module")
def collected(ray_cluster, tmp_path_factory):
    """The same collection on both backends: (local dataset, Ray dataset), Ray's through the CLI flags."""
    from vlaforge.sim.collect import collect

    root = tmp_path_factory.mktemp("backends")
    collect(root / "local", ["pick_place", "push"], 2, workers=2, image_size=48, perturb=["all"], one_each=True, progress=False)
    # Ray is already initialized in this process, so the command joins this cluster (and leaves it running).
    assert main(["sim", "collect", "--tasks", "pick_place,push", "--episodes", "2", "--workers", "2", "--image-size", "48",
                 "--perturb", "all", "--one-each", "--backend", "ray", "--address", "auto", "--out", str(root / "ray")]) == 0
    return root / "local", root / "ray"


@pytest.mark.slow
def test_collect_writes_the_same_dataset_on_local_and_ray(collected):
    local, ray = collected
    a, b = _files(local), _files(ray)
    assert sorted(a) == sorted(b) and any(k.startswith("data/") for k in a)
    assert [k for k in a if a[k] != b[k]] == []  # byte for byte: parquet, videos, meta, lineage


@pytest.mark.slow
def test_evaluate_gives_the_same_records_on_local_and_ray(collected, tmp_path):
    from vlaforge.data import open_dataset
    from vlaforge.eval.records import load_records
    from vlaforge.eval.runner import evaluate
    from vlaforge.models import PolicyConfig, build_policy

    cfg = PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4)
    ck = build_policy(cfg, open_dataset(collected[0]), verbose=False).save(tmp_path / "ck")
    kw = dict(tasks="pick_place", splits="seen,perturbed", episodes=1, workers=2, image_size=48, progress=False)
    a = evaluate({"checkpoint": ck}, tmp_path / "local", **kw)
    b = evaluate({"checkpoint": ck}, tmp_path / "ray", backend=Backend("ray"), **kw)

    def records(run):
        out = load_records(tmp_path / run / "records.jsonl")
        for r in out:
            r.inference_ms = 0.0  # wall-clock time, the one field that may differ
        return out

    assert records("local") == records("ray") and len(records("local")) == 2
    assert a["summary"]["overall"] == b["summary"]["overall"]
    assert (a["meta"]["backend"], b["meta"]["backend"]) == ("local", "ray")


@pytest.mark.slow
def test_ray_backend_raises_the_workers_own_error_and_refuses_more_workers_than_cpus(ray_cluster):
    with pytest.raises(TypeError, match="bad operand type for unary -"):
        with run_jobs(operator.neg, [1, "x"], workers=2, backend=Backend("ray")) as results:
            list(results)
    with pytest.raises(ConfigError, match="--workers 3 is more than the 2 CPUs of the Ray cluster"):
        with run_jobs(operator.neg, [1, 2, 3], workers=3, backend=Backend("ray")):
            pass
