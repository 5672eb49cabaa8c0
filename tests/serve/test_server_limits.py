"""Server limits over real HTTP on loopback: a bounded instruction cache, rejections counted by reason,
5xx counted, a stalled body answered with 408, a vanished client logged at debug without a traceback,
and an ONNX server that warms up before it listens."""

import logging
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from vlaforge.serve import codec
from vlaforge.serve.client import Client

AUTH = {"authorization": "Bearer s3cret", "content-type": codec.MSGPACK}
CAMERAS = ("observation.images.front", "observation.images.wrist")


def _obs(ds, i=3):
    item = ds[i]
    return {k: item[k] for k in (*CAMERAS, "observation.state")}


def _app(tiny_checkpoint, **kw):
    from vlaforge.serve.cli import load_predictor
    from vlaforge.serve.server import create_app

    ck, _ = tiny_checkpoint
    predictor = load_predictor(ck, threads=1, instruction_cache=kw.pop("instruction_cache", 4096))
    return create_app(predictor, token="s3cret", rate_limit=0, batch_window_ms=0, **kw), predictor


def _raw(url, head, body=b""):
    """A raw loopback socket that sent `head` (request line + headers) and the first bytes of a body."""
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(head.encode() + b"\r\n" + body)
    return s


HEAD = "POST /act HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\nContent-Type: application/msgpack\r\nContent-Length: 1000\r\n"


def test_instruction_cache_keeps_the_most_recent(tiny_checkpoint, serve_app):
    app, predictor = _app(tiny_checkpoint, instruction_cache=2)
    url, (_, ds) = serve_app(app), tiny_checkpoint
    client = Client(url, token="s3cret")
    for instruction in ("first wording", "second wording", "third wording", "second wording"):
        client.predict_chunk(_obs(ds), instruction)
    cache = predictor.policy.text.cache
    assert "first wording" not in cache and {"second wording", "third wording"} <= set(cache)
    assert len(predictor.recent) == 2


def test_onnx_policy_keeps_exported_tasks_and_bounds_the_rest(onnx_export, tiny_checkpoint):
    from vlaforge.serve.onnx_policy import OnnxPolicy

    path, _ = onnx_export
    op, ds = OnnxPolicy(path, threads=1, instruction_cache=2), tiny_checkpoint[1]
    tasks = set(op.table)
    for instruction in ("w1", "w2", "w3"):
        op.predict_chunk(_obs(ds), instruction)
    assert set(op.table) == tasks and len(op.unseen) == 2 and "w1" not in op.unseen and "w3" in op.unseen


def test_metrics_count_rejections_by_reason_and_5xx(tiny_checkpoint, serve_app):
    from vlaforge.serve.server import create_app

    _, predictor = _app(tiny_checkpoint)

    class FailsOnCue:
        """The real tiny policy, except that the instruction "explode" makes it raise."""

        spec = predictor.spec

        def predict_batch(self, observations, instructions):
            if "explode" in instructions:
                raise RuntimeError("policy blew up")
            return predictor.predict_batch(observations, instructions)

    url, ds = serve_app(create_app(FailsOnCue(), token="s3cret", rate_limit=0, batch_window_ms=0)), tiny_checkpoint[1]
    assert httpx.post(f"{url}/act", content=b"", headers={"content-type": codec.MSGPACK}).status_code == 401
    assert httpx.post(f"{url}/act", content=b"x", headers={**AUTH, "content-type": "text/plain"}).status_code == 415
    assert httpx.post(f"{url}/act", content=b"\xc1", headers=AUTH).status_code == 400
    assert httpx.post(f"{url}/act", content=codec.dumps({"observation": {}, "instruction": "go"}), headers=AUTH).status_code == 400
    assert httpx.post(f"{url}/act", content=codec.dumps({"observation": _obs(ds), "instruction": "explode"}), headers=AUTH).status_code == 500
    m = httpx.get(f"{url}/metrics", headers=AUTH).json()
    assert m["rejected"] == {"malformed_body": 1, "schema": 1, "unauthorized": 1, "unsupported_media_type": 1}, m
    assert m["responses_5xx"] == 1 and m["errors"]["500"] == 1
    prom = httpx.get(f"{url}/metrics?format=prometheus", headers=AUTH).text
    assert 'vlaforge_rejected_total{reason="schema"} 1' in prom and "vlaforge_responses_5xx_total 1" in prom


def test_oversized_body_is_413_and_a_flood_is_429(tiny_checkpoint, serve_app):
    app, _ = _app(tiny_checkpoint, max_body_bytes=1000)
    url = serve_app(app)
    assert httpx.post(f"{url}/act", content=b"\x81" * 2000, headers=AUTH).status_code == 413
    from vlaforge.serve.server import create_app

    url = serve_app(create_app(_app(tiny_checkpoint)[1], token="s3cret", rate_limit=0.01, burst=1))
    with httpx.Client() as c:  # one connection: its bucket holds one request
        codes = [c.post(f"{url}/act", content=b"\xc1", headers=AUTH).status_code for _ in range(3)]
    assert codes == [400, 429, 429]
    assert httpx.get(f"{url}/metrics", headers=AUTH).json()["rejected"] == {"malformed_body": 1, "rate_limited": 2}


def test_stalled_body_gets_408_and_the_connection_closes(tiny_checkpoint, serve_app):
    app, _ = _app(tiny_checkpoint, body_timeout_s=0.3)
    url = serve_app(app)
    t0 = time.monotonic()
    with _raw(url, HEAD, b"\x81" * 10) as s:  # 10 of the 1000 announced bytes, then nothing
        reply = b""
        while chunk := s.recv(4096):  # the server closes after answering; socket timeout 5 s bounds the test
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"did not arrive within 0.3 s" in reply and time.monotonic() - t0 < 4
    m = httpx.get(f"{url}/metrics", headers=AUTH).json()
    assert m["rejected"].get("body_timeout") == 1


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_client_gone_mid_body_is_one_debug_line_not_a_traceback(tiny_checkpoint, serve_app):
    app, _ = _app(tiny_checkpoint)
    url = serve_app(app)
    handler, loggers = _Records(), [logging.getLogger(n) for n in ("vlaforge.serve", "uvicorn.error", "uvicorn")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        _raw(url, HEAD, b"\x81" * 10).close()  # gone before the body is complete
        deadline = time.monotonic() + 5
        while not any(r.name == "vlaforge.serve" for r in handler.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert httpx.get(f"{url}/health").status_code == 200
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)
    ours = [r for r in handler.records if r.name == "vlaforge.serve"]
    assert len(ours) == 1 and ours[0].levelno == logging.DEBUG and "disconnected" in ours[0].getMessage()
    assert not [r for r in handler.records if r.exc_info or r.levelno >= logging.WARNING], [r.getMessage() for r in handler.records]
    assert httpx.get(f"{url}/metrics", headers=AUTH).json()["rejected"] == {"client_disconnected": 1}


def test_export_prints_each_stage(onnx_export):
    lines = onnx_export[1].splitlines()
    assert [l.split(":")[0] for l in lines if l.startswith("[")] == ["[1/2] export", "[2/2] parity"], lines
    assert any("export done in" in l for l in lines)


def test_onnx_server_warms_up_before_it_listens(onnx_export, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MUJOCO_GL": "egl", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vlaforge", "serve", str(onnx_export[0]), "--port", str(port), "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(l.startswith("serving") for l in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert [l.split(" ")[0] for l in lines] == ["warmed", "serving"], lines
        assert "text model loaded, one inference run" in lines[0]
        for _ in range(200):
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"ok": True}
                break
            except httpx.TransportError:
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
