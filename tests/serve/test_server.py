"""The inference server over real HTTP and WebSocket: round trips, auth, and every malformed request gets a 4xx."""

import httpx
import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlaforge.serve import codec
from vlaforge.serve.client import Client, ServerError

AUTH = {"authorization": "Bearer s3cret", "content-type": codec.MSGPACK}


def _obs(ds, i=3):
    item = ds[i]
    return {k: item[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")}


def test_round_trip_http_and_ws(server):
    url, ds = server
    obs = _obs(ds)
    for transport in ("http", "ws"):
        c = Client(url, token="s3cret", transport=transport)
        chunk = c.predict_chunk(obs, "move to the red block")
        assert chunk.shape == (8, 4) and chunk.dtype == np.float32 and np.isfinite(chunk).all()
        c.close()


def test_health_is_public_and_bare_while_the_spec_needs_the_token(server):
    url, _ = server
    r = httpx.get(f"{url}/health")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert httpx.get(f"{url}/spec").status_code == 401
    assert httpx.get(f"{url}/spec", headers={"authorization": "Bearer wrong"}).status_code == 401
    spec = httpx.get(f"{url}/spec", headers=AUTH).json()["spec"]
    assert spec["action"]["chunk"] == 8 and "observation.state" in spec["observation"]


def test_client_reads_the_spec_with_its_token(server):
    url, _ = server
    c = Client(url, token="s3cret")
    assert c.spec["action"]["chunk"] == 8
    assert c.health() == {"ok": True, "spec": c.spec}  # eval's --server path reads health()["spec"]
    c.close()
    with pytest.raises(ServerError, match="/spec answered 401"):
        Client(url)


def test_auth_required(server):
    url, ds = server
    body = codec.dumps({"observation": _obs(ds), "instruction": "go"})
    assert httpx.post(f"{url}/act", content=body, headers={"content-type": codec.MSGPACK}).status_code == 401
    assert httpx.post(f"{url}/act", content=body, headers={**AUTH, "authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{url}/metrics").status_code == 401
    with pytest.raises(ServerError, match="401"):
        Client(url, token="nope").predict_chunk(_obs(ds), "go")


@pytest.mark.parametrize("case", ["shape", "dtype", "missing", "garbage", "oversized", "nan", "content_type", "empty_instruction"])
def test_malformed_requests_get_4xx_and_server_keeps_serving(server, case):
    url, ds = server
    obs = _obs(ds)
    headers = dict(AUTH)
    if case == "shape":
        obs["observation.images.front"] = np.zeros((16, 16, 3), np.uint8)
    elif case == "dtype":
        obs["observation.state"] = obs["observation.state"].astype(np.float64)
    elif case == "missing":
        del obs["observation.images.wrist"]
    elif case == "nan":
        obs["observation.state"] = np.full(4, np.nan, np.float32)
    body = codec.dumps({"observation": obs, "instruction": "" if case == "empty_instruction" else "go"})
    if case == "garbage":
        body = b"\x00\xff not msgpack at all"
    elif case == "oversized":
        body = b"\x00" * 300_000
    elif case == "content_type":
        headers["content-type"] = "text/plain"
    r = httpx.post(f"{url}/act", content=body, headers=headers)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "error" in r.json()
    ok = httpx.post(f"{url}/act", content=codec.dumps({"observation": _obs(ds), "instruction": "go"}), headers=AUTH)
    assert ok.status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["observation", "instruction", "x"]),
                       st.recursive(st.none() | st.integers(-5, 5) | st.text(max_size=8) | st.binary(max_size=16),
                                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["__nd__", "dtype", "shape", "data", "observation.state"]), c, max_size=4),
                                    max_leaves=12), max_size=3))
def test_fuzzed_requests_never_cause_5xx(server, payload):
    url, _ = server
    r = httpx.post(f"{url}/act", content=msgpack.packb(payload, use_bin_type=True), headers=AUTH)
    assert r.status_code < 500, r.text


def test_metrics_count_requests_and_errors(server):
    url, ds = server
    Client(url, token="s3cret").predict_chunk(_obs(ds), "go")
    m = httpx.get(f"{url}/metrics", headers=AUTH).json()
    assert m["requests"] >= 1 and sum(m["latency_ms_buckets"].values()) == m["requests"]
    prom = httpx.get(f"{url}/metrics?format=prometheus", headers=AUTH).text
    assert "vlaforge_requests_total" in prom
