"""The review queue of `vlaforge engine loop` in the web app: listed per version; accept/reject decisions saved as a
new version that drops the rejected corrections and records every decision; bad item ids get a 4xx and write nothing."""

import json

import numpy as np
import pytest
from starlette.testclient import TestClient

from vlaforge.data import check_dataset, open_dataset
from vlaforge.engine.active.queue import read_queue
from vlaforge.ui.app import create_app

LOCAL = "http://127.0.0.1:8766"


@pytest.fixture
def client(queued):
    with TestClient(create_app(queued, health=False), base_url=LOCAL) as c:
        yield c


def _post(client, body):
    return client.post("/api/save", content=json.dumps(body), headers={"Content-Type": "application/json"})


def _corrections(root):
    """The queue items that link a mined moment to its expert correction."""
    return [it for it in read_queue(root)["items"] if it["status"] == "corrected"]


def test_the_queue_lists_each_mined_moment_with_its_correction_episode(client, queued):
    ds = open_dataset(queued)
    v = ds.lineage["version"]
    q = client.get(f"/api/v/{v}/queue").json()["queue"]
    on_disk = read_queue(queued)
    assert q["round"] == 1 and q["uncertainty"] == "flow" and q["labeler"] == "expert"
    assert [it["id"] for it in q["items"]] == [it["id"] for it in on_disk["items"]]
    corrected = [it for it in q["items"] if it["status"] == "corrected"]
    assert len(corrected) >= 2
    for it in corrected:
        assert it["decidable"] is True and it["frame"] == 0 and it["kind"] and it["seed"] is not None
        flags = ds.flags(it["episode"])  # the correction starts at the mined step of the policy's rollout
        assert flags["source"] == "active-learning" and flags["start_step"] == it["step"] and flags["moment"] == it["kind"]


def test_a_version_without_a_queue_has_none_and_unknown_versions_are_404(annotated, queued):
    with TestClient(create_app(annotated, health=False), base_url=LOCAL) as c:
        v = open_dataset(annotated).lineage["version"]
        assert c.get(f"/api/v/{v}/queue").json() == {"version": v, "queue": None}
        assert c.get("/api/v/99/queue").status_code == 404


def test_accept_and_reject_write_a_new_version_without_the_rejected_correction(client, queued, snapshot):
    src = open_dataset(queued)
    v = src.lineage["version"]
    before = snapshot(queued)
    acc, rej, *rest = _corrections(queued)
    r = _post(client, {"base": v, "edits": {}, "queue": {acc["id"]: "accept", rej["id"]: "reject"}})
    assert r.status_code == 200, r.text
    assert snapshot(queued) == before  # never in place
    out = queued.parent / f"pq.v{v + 1}"
    new = open_dataset(out)
    assert check_dataset(out) == [] and new.num_episodes == src.num_episodes - 1
    assert str(rej["episode"]) not in r.json()["episode_map"]
    kept = [i for i in range(src.num_episodes) if i != rej["episode"]]
    for new_i, old_i in enumerate(kept):  # every other episode as it was, in order
        np.testing.assert_array_equal(new.episode(new_i, cameras=False)["action"], src.episode(old_i, cameras=False)["action"])
        assert new.flags(new_i) == src.flags(old_i)
    items = {it["id"]: it for it in read_queue(out)["items"]}
    a, b = items[acc["id"]], items[rej["id"]]
    assert a["status"] == "accepted" and a["episode"] == kept.index(acc["episode"]) and a["reviewer"] == "vlaforge ui"
    assert a["reviewed_version"] == v and new.flags(a["episode"])["start_step"] == acc["step"]
    assert b["status"] == "rejected" and b["episode"] is None and b["rejected_episode"] == rej["episode"]
    for it in rest:  # undecided items stay undecided and follow their episode
        assert items[it["id"]]["status"] == "corrected" and items[it["id"]]["episode"] == kept.index(it["episode"])
    op = new.lineage["operation"]
    assert op["name"] == "ui" and op["queue"] == {acc["id"]: "accept", rej["id"]: "reject"} and op["episodes_dropped"] == 1
    assert new.lineage["parents"][0]["path"] == str(queued)
    again = client.get(f"/api/v/{v + 1}/queue").json()["queue"]["items"]
    assert [it["decidable"] for it in again if it["id"] in (acc["id"], rej["id"])] == [False, False]


def test_dropping_a_correction_rejects_its_item_and_edits_elsewhere_keep_the_queue(client, queued):
    v = open_dataset(queued).lineage["version"]
    first, *_ = _corrections(queued)
    r = _post(client, {"base": v, "edits": {"0": {"drop": True}, str(first["episode"]): {"drop": True}}})
    assert r.status_code == 200, r.text
    items = {it["id"]: it for it in read_queue(queued.parent / f"pq.v{v + 1}")["items"]}
    assert items[first["id"]]["status"] == "rejected" and items[first["id"]]["rejected_episode"] == first["episode"]
    for it in _corrections(queued)[1:]:  # the episodes after the dropped ones moved up by two
        assert items[it["id"]]["episode"] == it["episode"] - 2 and items[it["id"]]["status"] == "corrected"


@pytest.mark.parametrize("queue, status, message", [
    ({"r9-99": "accept"}, 422, "is not in the review queue"),
    ({"../../meta/info": "accept"}, 422, "is not an id of the review queue"),
    ({"r1-0/../r1-1": "reject"}, 422, "is not an id of the review queue"),
    ({"": "accept"}, 422, "is not an id of the review queue"),
    ({"r1-0": "maybe"}, 422, "must be 'accept' or 'reject'"),
    ({"r1-0": 1}, 422, "must be 'accept' or 'reject'"),
    ({"r1-0": None}, 422, "must be 'accept' or 'reject'"),
    (["r1-0"], 422, "queue must be an object"),
    ("r1-0", 422, "queue must be an object"),
    ({}, 422, "nothing to save"),
])
def test_bad_queue_item_ids_are_4xx_and_write_nothing(client, queued, snapshot, queue, status, message):
    before = snapshot(queued.parent)
    r = _post(client, {"base": open_dataset(queued).lineage["version"], "edits": {}, "queue": queue})
    assert r.status_code == status and message in r.json()["error"]
    assert snapshot(queued.parent) == before


def test_items_that_are_not_an_undecided_correction_are_refused(client, queued, snapshot):
    v = open_dataset(queued).lineage["version"]
    first, second, *_ = _corrections(queued)
    before = snapshot(queued.parent)
    r = _post(client, {"base": v, "edits": {str(second["episode"]): {"drop": True}}, "queue": {second["id"]: "accept"}})
    assert r.status_code == 422 and "reject the item instead" in r.json()["error"]
    assert snapshot(queued.parent) == before
    assert _post(client, {"base": v, "edits": {}, "queue": {first["id"]: "accept"}}).status_code == 200
    before = snapshot(queued.parent)
    r = _post(client, {"base": v + 1, "edits": {}, "queue": {first["id"]: "reject"}})  # decided already
    assert r.status_code == 422 and "is 'accepted'" in r.json()["error"]
    assert snapshot(queued.parent) == before


def test_queue_decisions_on_a_version_without_a_queue_are_refused(annotated, snapshot):
    before = snapshot(annotated.parent)
    with TestClient(create_app(annotated, health=False), base_url=LOCAL) as c:
        r = _post(c, {"base": open_dataset(annotated).lineage["version"], "edits": {}, "queue": {"r1-0": "accept"}})
    assert r.status_code == 422 and "has no review queue" in r.json()["error"]
    assert snapshot(annotated.parent) == before
