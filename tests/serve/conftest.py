"""A real uvicorn server on a free loopback port, serving a real (small) policy checkpoint."""

import contextlib
import socket
import threading
import time

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    from vlaforge.data import open_dataset
    from vlaforge.data.sample import make_sample_dataset
    from vlaforge.models import FlowConfig, PolicyConfig, build_policy

    root = tmp_path_factory.mktemp("serve")
    ds = open_dataset(make_sample_dataset(root / "ds", episodes=2, length=10, image_size=32))
    policy = build_policy(PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, flow=FlowConfig(steps=3)), ds, verbose=False)
    return policy.save(root / "ck"), ds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app):
    """Serve `app` with uvicorn on 127.0.0.1 in a thread; yields the base URL."""
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def serve_app():
    """`serve_app(app) -> url`: run any app on loopback until the session ends."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(running(app))


@pytest.fixture(scope="session")
def server(tiny_checkpoint, serve_app):
    from vlaforge.serve.cli import load_predictor
    from vlaforge.serve.server import create_app

    ck, ds = tiny_checkpoint
    app = create_app(load_predictor(ck, threads=1), token="s3cret", max_body_bytes=200_000, rate_limit=0)
    return serve_app(app), ds


@pytest.fixture(scope="session")
def onnx_export(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint exported to ONNX, and what the export printed."""
    import contextlib
    import io

    from vlaforge.serve.export import export_onnx

    out, printed = tmp_path_factory.mktemp("onnx") / "policy.onnx", io.StringIO()
    with contextlib.redirect_stdout(printed):
        export_onnx(tiny_checkpoint[0], out, samples=2)
    return out, printed.getvalue()
