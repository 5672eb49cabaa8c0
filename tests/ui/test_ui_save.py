"""Saving from the web app: exactly the requested changes land in a NEW version with lineage; the source is never
touched; of two saves based on the same version exactly one is written and the other is refused."""

import threading

import numpy as np
import pytest

from vlaforge.data import check_dataset, open_dataset
from vlaforge.errors import ConfigError, VersionConflict
from vlaforge.ui.edits import parse_save, save
from vlaforge.ui.versions import VersionChain, lineage_of


def _body(base, edits):
    return parse_save({"base": base, "edits": edits})


def test_save_writes_exactly_the_edits_into_a_new_version(annotated, snapshot):
    src = open_dataset(annotated)
    before = snapshot(annotated)
    v = src.lineage["version"]
    T = {i: int(m["length"]) for i, m in enumerate(src.episode_meta)}
    subs1 = [{"start": 0, "end": 7, "text": "reach the block"}, {"start": 7, "end": T[1], "text": "grasp and place"}]
    base, edits = _body(v, {
        "0": {"suggestions": {"instruction": "accept", "subtasks": "reject"}},
        "1": {"instruction": "put the thing in the bin", "subtasks": subs1, "flag": True, "flag_note": "gripper slips"},
        "2": {"trim": [3, T[2] - 2]},
        "3": {"drop": True},
    })
    res = save(VersionChain(annotated), base, edits)
    out = annotated.parent / f"pp.v{v + 1}"
    assert res["path"] == str(out) and res["version"] == v + 1 and res["episode_map"] == {"0": 0, "1": 1, "2": 2}
    assert snapshot(annotated) == before  # never in place
    new = open_dataset(out)
    assert check_dataset(out) == []
    assert new.lineage["version"] == v + 1 and new.lineage["operation"]["name"] == "ui"
    assert new.lineage["parents"][0] == {"fingerprint": src.lineage["fingerprint"], "path": str(annotated)}
    assert new.num_episodes == 3
    # episode 0: suggested instruction accepted, subtask suggestion rejected, nothing else changed
    s0 = src.suggestions(0)
    assert new.episode(0, cameras=False)["task"][0] == s0["instruction"]["text"]
    assert new.suggestions(0)["instruction"]["status"] == "accepted"
    assert new.suggestions(0)["instruction"]["replaced"] == src.episode(0, cameras=False)["task"][0]
    assert new.suggestions(0)["subtasks"]["status"] == "rejected"
    assert new.subtasks(0) == src.subtasks(0) and new.flags(0) == src.flags(0)
    # episode 1: instruction, subtasks, flag; suggestions still pending
    assert new.episode(1, cameras=False)["task"][0] == "put the thing in the bin"
    assert new.subtasks(1) == subs1
    assert new.flags(1) == {**src.flags(1), "flagged": True, "flag_note": "gripper slips"}
    assert {k: s["status"] for k, s in new.suggestions(1).items()} == {"instruction": "pending", "subtasks": "pending"}
    # episode 2: frames 3..T-3 kept, in the data and the video; subtasks shifted; suggestions dropped
    a, b = src.episode(2), new.episode(2)
    np.testing.assert_array_equal(b["action"], a["action"][3 : T[2] - 2])
    np.testing.assert_array_equal(b["observation.state"], a["observation.state"][3 : T[2] - 2])
    for cam in src.camera_keys:
        assert np.abs(b[cam].astype(int) - a[cam][3 : T[2] - 2].astype(int)).mean() < 3  # re-encoded (lossy codec)
    assert new.subtasks(2)[0]["start"] == 0 and new.subtasks(2)[-1]["end"] == T[2] - 5
    assert new.suggestions(2) == {}
    # untouched data is identical
    for ep in (0, 1):
        for k in ("action", "observation.state"):
            np.testing.assert_array_equal(new.episode(ep, cameras=False)[k], src.episode(ep, cameras=False)[k])
    op = new.lineage["operation"]
    assert op["base_version"] == v and op["episodes_dropped"] == 1 and set(op["edits"]) == {"0", "1", "2", "3"}


def test_a_save_on_an_older_version_is_refused_and_writes_nothing(annotated, snapshot):
    v = open_dataset(annotated).lineage["version"]
    chain = VersionChain(annotated)
    save(chain, *_body(v, {"0": {"flag": True}}))
    before = snapshot(annotated.parent)
    with pytest.raises(VersionConflict, match=rf"based on version {v}, but the latest version is {v + 1}"):
        save(chain, *_body(v, {"1": {"instruction": "other"}}))
    assert snapshot(annotated.parent) == before
    # based on the latest, the next save goes through
    assert save(chain, *_body(v + 1, {"1": {"instruction": "other"}}))["version"] == v + 2


def test_two_concurrent_saves_on_the_same_version_write_exactly_one(annotated):
    v = open_dataset(annotated).lineage["version"]
    chain = VersionChain(annotated)
    results, start = [], threading.Barrier(2)

    def run(text):
        start.wait()
        try:
            results.append(save(VersionChain(annotated), *_body(v, {"0": {"instruction": text}})))
        except VersionConflict as e:
            results.append(e)

    threads = [threading.Thread(target=run, args=(t,)) for t in ("from tab one", "from tab two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if isinstance(r, dict)]
    assert len(ok) == 1 and sum(isinstance(r, VersionConflict) for r in results) == 1
    assert [x.number for x in chain.versions()] == [v, v + 1]
    assert sorted(p.name for p in annotated.parent.iterdir() if not p.name.startswith(".")) == ["pp", f"pp.v{v + 1}"]
    assert check_dataset(ok[0]["path"]) == []


@pytest.mark.parametrize("edits, message", [
    ({"9": {"flag": True}}, "episode 9 is not in this version"),
    ({"0": {"trim": [5, 6]}}, "must keep at least 2"),
    ({"0": {"subtasks": [{"start": 0, "end": 10, "text": "a"}, {"start": 5, "end": 12, "text": "b"}]}}, "not overlap"),
    ({"0": {"subtasks": [{"start": 0, "end": 10_000, "text": "a"}]}}, "end <="),
    ({"0": {"drop": True}, "1": {"drop": True}, "2": {"drop": True}, "3": {"drop": True}}, "drops every episode"),
])
def test_edits_that_do_not_fit_the_data_write_nothing(annotated, snapshot, edits, message):
    v = open_dataset(annotated).lineage["version"]
    before = snapshot(annotated.parent)
    with pytest.raises(ConfigError, match=message):
        save(VersionChain(annotated), *_body(v, edits))
    assert snapshot(annotated.parent) == before


def test_deciding_on_a_suggestion_twice_is_refused(annotated):
    v = open_dataset(annotated).lineage["version"]
    chain = VersionChain(annotated)
    save(chain, *_body(v, {"0": {"suggestions": {"instruction": "reject"}}}))
    with pytest.raises(ConfigError, match="no pending instruction suggestion"):
        save(chain, *_body(v + 1, {"0": {"suggestions": {"instruction": "accept"}}}))


@pytest.mark.parametrize("body, message", [
    ([], "the body must be"),
    ({"base": 1}, "the body must be"),
    ({"base": "1", "edits": {"0": {}}}, "base must be an integer"),
    ({"base": True, "edits": {"0": {}}}, "base must be an integer"),
    ({"base": 1, "edits": {}}, "nothing to save"),
    ({"base": 1, "edits": {"../0": {}}}, "not an episode index"),
    ({"base": 1, "edits": {"0": {"rm": True}}}, "unknown fields"),
    ({"base": 1, "edits": {"0": {"instruction": ""}}}, "1-500 characters"),
    ({"base": 1, "edits": {"0": {"instruction": "a\nb"}}}, "control characters"),
    ({"base": 1, "edits": {"0": {"instruction": "x" * 501}}}, "1-500 characters"),
    ({"base": 1, "edits": {"0": {"trim": [0]}}}, "trim must be"),
    ({"base": 1, "edits": {"0": {"trim": [0.5, 3]}}}, "must be an integer"),
    ({"base": 1, "edits": {"0": {"subtasks": [{"start": 0, "end": 3}]}}}, "exactly start, end and text"),
    ({"base": 1, "edits": {"0": {"drop": "yes"}}}, "true or false"),
    ({"base": 1, "edits": {"0": {"suggestions": {"instruction": "maybe"}}}}, "suggestions must look like"),
])
def test_malformed_save_bodies_are_refused_with_the_field_named(body, message):
    with pytest.raises(ConfigError, match=message):
        parse_save(body)


def test_the_chain_continues_from_a_saved_version_and_ignores_impostors(annotated):
    v = open_dataset(annotated).lineage["version"]
    save(VersionChain(annotated), *_body(v, {"0": {"flag": True}}))
    (annotated.parent / f"pp.v{v + 5}").mkdir()  # not a dataset: not a version
    chain = VersionChain(annotated.parent / f"pp.v{v + 1}")
    assert chain.name == "pp" and [x.number for x in chain.versions()] == [v, v + 1]
    assert chain.next_path() == annotated.parent / f"pp.v{v + 2}"
    lin = lineage_of(annotated.parent / f"pp.v{v + 1}")
    assert [x["operation"] for x in lin[:2]] == ["ui", "annotate"] and lin[0]["version"] == v + 1
