"""Client mistakes get a 4xx (HTTP) or an error message (WebSocket), never a 5xx or a traceback; no
non-finite action ever leaves the server."""

import json

import httpx
import msgpack
import numpy as np
import pytest
from websockets.sync.client import connect

from vlaforge.serve import codec

AUTH = {"authorization": "Bearer s3cret", "content-type": codec.MSGPACK}
CAMERAS = ("observation.images.front", "observation.images.wrist")


def _obs(ds, i=3):
    item = ds[i]
    return {k: item[k] for k in (*CAMERAS, "observation.state")}


def _with_state_array(ds, tagged_state):
    """A request whose state is the raw tagged dict `tagged_state` (bypasses the encoder's checks)."""
    obs = {k: codec.encode_array(v) for k, v in _obs(ds).items() if k != "observation.state"}
    obs["observation.state"] = tagged_state
    return {"observation": obs, "instruction": "go"}


def _nested(depth):
    msg = "x"
    for _ in range(depth):
        msg = [msg]
    return {"observation": msg, "instruction": "go"}


def _nested_maps(depth):
    msg = {}
    for _ in range(depth):
        msg = {"a": msg}
    return {"observation": msg, "instruction": "go"}


HOSTILE = {
    "shape_2^32_x_2^32": lambda ds: msgpack.packb(_with_state_array(ds, {"__nd__": 1, "dtype": "float32", "shape": [2**32, 2**32], "data": b""})),
    "shape_2^62_x_4": lambda ds: msgpack.packb(_with_state_array(ds, {"__nd__": 1, "dtype": "float32", "shape": [2**62, 4], "data": b""})),
    "shape_bool": lambda ds: msgpack.packb(_with_state_array(ds, {"__nd__": 1, "dtype": "float32", "shape": [True], "data": b"\0" * 4})),
    "nested_lists_600": lambda ds: msgpack.packb(_nested(600)),
    "nested_lists_900": lambda ds: msgpack.packb(_nested(900)),
    "nested_maps_900": lambda ds: msgpack.packb(_nested_maps(900)),
}


def _assert_still_serving_http(url, ds):
    ok = httpx.post(f"{url}/act", content=codec.dumps({"observation": _obs(ds), "instruction": "go"}), headers=AUTH)
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_msgpack_gets_4xx_over_http(server, case):
    url, ds = server
    r = httpx.post(f"{url}/act", content=HOSTILE[case](ds), headers=AUTH)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "error" in r.json()
    _assert_still_serving_http(url, ds)


@pytest.mark.parametrize("depth", [600, 900])
def test_deeply_nested_json_gets_4xx_over_http(server, depth):
    url, ds = server
    body = "[" * depth + "]" * depth
    r = httpx.post(f"{url}/act", content=f'{{"observation": {body}, "instruction": "go"}}', headers={**AUTH, "content-type": codec.JSON})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "error" in r.json()
    _assert_still_serving_http(url, ds)


def _ws(url):
    return connect(url.replace("http://", "ws://") + "/ws", additional_headers={"authorization": "Bearer s3cret"})


def _ws_good(ws, ds):
    ws.send(codec.dumps({"observation": _obs(ds), "instruction": "go"}))
    return codec.loads(ws.recv(timeout=10))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_msgpack_gets_an_error_message_over_ws(server, case):
    url, ds = server
    with _ws(url) as ws:
        ws.send(HOSTILE[case](ds))
        msg = codec.loads(ws.recv(timeout=10))
        assert 400 <= msg["status"] < 500 and msg["error"], msg
        assert _ws_good(ws, ds)["action"].shape == (8, 4)  # the same socket keeps serving


def test_ws_text_frame_gets_an_error_message_and_the_socket_keeps_serving(server):
    url, ds = server
    with _ws(url) as ws:
        ws.send(json.dumps({"observation": {}, "instruction": "go"}))  # a str: sent as a text frame
        msg = codec.loads(ws.recv(timeout=10))
        assert msg["status"] == 400 and "binary" in msg["error"], msg
        assert _ws_good(ws, ds)["action"].shape == (8, 4)


def _huge_state(ds):
    obs = _obs(ds)
    obs["observation.state"] = np.full(obs["observation.state"].shape, 3e38, np.float32)  # finite, but overflows normalization
    return obs


def test_non_finite_action_is_a_422_over_http(server):
    url, ds = server
    r = httpx.post(f"{url}/act", content=codec.dumps({"observation": _huge_state(ds), "instruction": "go"}), headers=AUTH)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert "non-finite action" in r.json()["error"]
    _assert_still_serving_http(url, ds)


def test_non_finite_action_is_a_422_over_ws(server):
    url, ds = server
    with _ws(url) as ws:
        ws.send(codec.dumps({"observation": _huge_state(ds), "instruction": "go"}))
        msg = codec.loads(ws.recv(timeout=10))
        assert msg["status"] == 422 and "non-finite action" in msg["error"], msg
        assert "action" not in msg
        assert _ws_good(ws, ds)["action"].shape == (8, 4)


def test_policy_failure_on_ws_is_an_error_message_not_a_dropped_socket(tiny_checkpoint, serve_app):
    from vlaforge.serve.cli import load_predictor
    from vlaforge.serve.server import create_app

    class FailsOnCue:
        """The real tiny policy, except that the instruction "explode" makes it raise."""

        def __init__(self, inner):
            self.inner, self.spec = inner, inner.spec

        def predict_batch(self, observations, instructions):
            if "explode" in instructions:
                raise RuntimeError("policy blew up")
            return self.inner.predict_batch(observations, instructions)

    ck, ds = tiny_checkpoint
    url = serve_app(create_app(FailsOnCue(load_predictor(ck, threads=1)), token="s3cret", rate_limit=0, batch_window_ms=0))
    with _ws(url) as ws:
        ws.send(codec.dumps({"observation": _obs(ds), "instruction": "explode"}))
        msg = codec.loads(ws.recv(timeout=10))
        assert msg["status"] == 500 and "policy failed: RuntimeError" in msg["error"], msg
        assert _ws_good(ws, ds)["action"].shape == (8, 4)
