"""The web app's HTTP API: what it serves, and that bad ids, path traversal, huge bodies, malformed JSON, wrong
content types, foreign origins and missing tokens get a 4xx and change nothing on disk."""

import json

import pytest
from starlette.testclient import TestClient

from vlaforge.cli import main
from vlaforge.data import open_dataset
from vlaforge.ui.app import create_app

LOCAL = "http://127.0.0.1:8766"


@pytest.fixture
def client(annotated):
    with TestClient(create_app(annotated, health=False), base_url=LOCAL) as c:
        yield c


def _version(annotated):
    return open_dataset(annotated).lineage["version"]


def test_state_lists_versions_and_the_episode_list_shows_pending_suggestions(client, annotated):
    v = _version(annotated)
    st = client.get("/api/state").json()
    assert st["latest"] == v and st["versions"] == [{"number": v, "name": "pp", "path": str(annotated)}] and st["auth"] is False
    eps = client.get(f"/api/v/{v}/episodes").json()["episodes"]
    assert [e["index"] for e in eps] == [0, 1, 2, 3]
    assert all(e["pending"] == ["instruction", "subtasks"] and e["success"] is True for e in eps)


def test_episode_detail_has_cameras_signals_subtasks_and_suggestions(client, annotated):
    v = _version(annotated)
    ds = open_dataset(annotated)
    d = client.get(f"/api/v/{v}/episodes/1").json()
    assert d["length"] == int(ds.episode_meta[1]["length"]) and d["fps"] == ds.fps
    assert [c["name"] for c in d["cameras"]] == ["front", "wrist"]
    assert d["cameras"][0]["from"] == ds.video_from(1, "observation.images.front") > 0  # episodes share one mp4
    state = next(s for s in d["series"] if s["key"] == "observation.state")
    assert len(state["values"]) == d["length"] and state["names"] == list(ds.features["observation.state"].names)
    assert d["subtasks"] == ds.subtasks(1) and d["suggestions"]["instruction"]["status"] == "pending"


def test_videos_are_served_with_range_requests(client, annotated):
    v = _version(annotated)
    url = client.get(f"/api/v/{v}/episodes/0").json()["cameras"][0]["url"]
    path = annotated / url.split("/media/", 1)[1]
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == path.read_bytes() and whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == path.read_bytes()[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{path.stat().st_size}"
    assert client.get(url, headers={"Range": f"bytes={10**9}-"}).status_code == 416


@pytest.mark.parametrize("path", [
    "/api/v/99/episodes", "/api/v/abc/episodes", "/api/v/-1/episodes", "/api/v/{v}/episodes/99", "/api/v/{v}/episodes/-1",
    "/api/v/{v}/episodes/1.5", "/api/v/{v}/episodes/0x1", "/api/v/{v}/health/../../state/x", "/api/v/99/lineage",
])
def test_bad_ids_are_404(client, annotated, path):
    r = client.get(path.format(v=_version(annotated)))
    assert r.status_code == 404


@pytest.mark.parametrize("path", [
    "/api/v/{v}/media/../meta/info.json", "/api/v/{v}/media/..%2F..%2F..%2Fetc%2Fpasswd", "/api/v/{v}/media/%2Fetc%2Fpasswd",
    "/api/v/{v}/media/videos/../meta/info.json", "/api/v/{v}/media/meta/info.json", "/api/v/{v}/media/data/chunk-000/file-000.parquet",
    "/api/v/{v}/media/videos/observation.images.front/chunk-000/..%2F..%2F..%2Fmeta%2Finfo.json",
    "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2Fapp.py", "/static/%2e%2e%2f%2e%2e%2fcli.py",
])
def test_path_traversal_never_reaches_a_file_outside_what_is_served(client, annotated, path):
    r = client.get(path.format(v=_version(annotated)))
    assert 400 <= r.status_code < 500
    assert b"codebase_version" not in r.content and b"root:" not in r.content and b"def " not in r.content


def _post(client, body, **headers):
    return client.post("/api/save", content=body, headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("body", [b"{", b"[1, 2", b'{"base": NaN, "edits": {}}', b"\xff\xfe", b"[" * 100_000, b""])
def test_malformed_json_is_400_and_writes_nothing(client, annotated, snapshot, body):
    before = snapshot(annotated.parent)
    r = _post(client, body)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    assert snapshot(annotated.parent) == before


def test_huge_bodies_are_413_whether_declared_or_streamed(annotated, snapshot):
    before = snapshot(annotated.parent)
    with TestClient(create_app(annotated, health=False, max_body_bytes=10_000), base_url=LOCAL) as c:
        big = json.dumps({"base": 1, "edits": {"0": {"instruction": "x" * 50_000}}}).encode()
        assert _post(c, big).status_code == 413
        r = c.post("/api/save", content=iter([big[:5000], big[5000:]]), headers={"Content-Type": "application/json"})  # chunked
        assert r.status_code == 413 and "larger than" in r.json()["error"]
    assert snapshot(annotated.parent) == before


@pytest.mark.parametrize("edits", [
    {"7": {"flag": True}}, {"0": {"trim": [0, 1]}}, {"0": {"instruction": 3}}, {"../../x": {"flag": True}},
    {"0": {"subtasks": [{"start": 4, "end": 2, "text": "a"}]}}, {"0": {"suggestions": {"nothing": "accept"}}},
])
def test_invalid_edits_are_422_and_write_nothing(client, annotated, snapshot, edits):
    before = snapshot(annotated.parent)
    r = _post(client, json.dumps({"base": _version(annotated), "edits": edits}))
    assert r.status_code == 422 and r.json()["error"]
    assert snapshot(annotated.parent) == before


def test_a_save_writes_the_next_version_and_a_stale_one_is_409(client, annotated):
    v = _version(annotated)
    body = json.dumps({"base": v, "edits": {"0": {"instruction": "put the red block in the bin"}}})
    r = _post(client, body)
    assert r.status_code == 200 and r.json()["version"] == v + 1 and r.json()["name"] == f"pp.v{v + 1}"
    assert open_dataset(annotated.parent / f"pp.v{v + 1}").episode(0, cameras=False)["task"][0] == "put the red block in the bin"
    again = _post(client, body)
    assert again.status_code == 409 and f"latest version is {v + 1}" in again.json()["error"]
    assert client.get("/api/state").json()["latest"] == v + 1
    chain = client.get(f"/api/v/{v + 1}/lineage").json()["chain"]
    assert [c["operation"] for c in chain] == ["ui", "annotate", "sim collect"]


def test_posts_must_be_json_from_the_same_origin_and_hosts_must_be_loopback(client, annotated, snapshot):
    before = snapshot(annotated.parent)
    body = json.dumps({"base": _version(annotated), "edits": {"0": {"flag": True}}})
    assert client.post("/api/save", content=body, headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.post("/api/save", content=body).status_code == 415
    assert _post(client, body, Origin="http://evil.example").status_code == 403
    assert client.get("/api/state", headers={"Host": "evil.example:8766"}).status_code == 403  # DNS rebinding
    assert client.get("/api/state", headers={"Host": "127.0.0.1.evil.example"}).status_code == 403
    assert client.get("/api/state", headers={"Host": "localhost:8766"}).status_code == 200
    assert snapshot(annotated.parent) == before


def test_a_token_guards_everything_but_the_login_page(annotated):
    app = create_app(annotated, token="s3cret-token", host="0.0.0.0", health=False)
    with TestClient(app, base_url="http://192.0.2.1:8766") as c:
        assert c.get("/api/state").status_code == 401
        assert c.get("/api/state", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/state", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        page = c.get("/")
        assert page.status_code == 200 and 'id="login"' in page.text
        assert c.post("/api/login", json={"token": "wrong"}).status_code == 401
        assert c.post("/api/login", json={"token": "s3cret-token"}).status_code == 200  # sets the cookie
        assert c.get("/api/state").status_code == 200 and 'id="episodes"' in c.get("/").text


def test_cli_refuses_a_network_address_without_a_token(annotated, capsys, monkeypatch):
    monkeypatch.delenv("VLAFORGE_TOKEN", raising=False)
    assert main(["ui", str(annotated), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--token-file" in err
    assert main(["ui", str(annotated), "--host", "0.0.0.0", "--token-file", str(annotated / "missing")]) == 2
    assert main(["ui", str(annotated / "nope")]) == 1
