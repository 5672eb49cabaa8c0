"""Annotation: segmentation from an episode's own signals matches the sim experts' subtask labels; suggested
instructions name what moved where; `engine annotate` writes them as pending suggestions into a new version and
`engine review` applies a person's decisions; errors are one-line and leave nothing behind."""

import json
import shutil

import numpy as np
import pytest

from vlaforge.cli import main
from vlaforge.data import open_dataset
from vlaforge.data.edit import filter_episodes, relabel_tasks
from vlaforge.data.lineage import content_fingerprint
from vlaforge.data.sample import make_sample_dataset
from vlaforge.data.validate import check_dataset
from vlaforge.engine.annotate.run import annotate_dataset, annotate_episode, review
from vlaforge.engine.annotate.score import boundaries, counts, f1, match
from vlaforge.engine.annotate.segment import segment
from vlaforge.engine.annotate.signals import from_arrays, image_change
from vlaforge.errors import ConfigError, DatasetError

FAMILIES = ("pick_place", "push", "stack", "put_all", "sequence")


@pytest.fixture(scope="module")
def sim_ds(tmp_path_factory):
    """2 expert episodes of every family from the sim (48 px), with subtask labels and `label.*` columns."""
    from vlaforge.sim.collect import collect

    out = tmp_path_factory.mktemp("annotate") / "sim"
    collect(out, list(FAMILIES), 2, workers=1, image_size=48, seed=300, progress=False)
    return out


@pytest.fixture
def unlabelled_ds(sim_ds, tmp_path):
    """The sim episodes of pick_place and stack, the first one's instruction replaced by the placeholder 'unlabelled'."""
    ds = open_dataset(sim_ds)
    keep = [int(e["episode_index"]) for e in ds.episode_meta if ds.flags(int(e["episode_index"]))["family"] in ("pick_place", "stack")]
    sub = filter_episodes(sim_ds, tmp_path / "sub", episodes=keep)
    first = open_dataset(sub).episode(0, cameras=False)["task"][0]
    return relabel_tasks(sub, tmp_path / "unlabelled", {first: "unlabelled"})


# ---------------------------------------------------------------------------- scoring
def test_boundaries_skip_the_episode_ends_and_merge_shared_edges():
    segs = [{"start": 0, "end": 5}, {"start": 5, "end": 9}, {"start": 10, "end": 12}]
    assert boundaries(segs, 12) == [5, 9, 10]


def test_match_is_one_to_one_within_tolerance():
    assert match([10], [9, 11], tol=2) == 1  # one prediction cannot match two references
    assert match([10, 11], [9, 12], tol=2) == 2
    assert match([10], [13], tol=2) == 0
    assert counts([4, 20], [5], tol=2) == {"tp": 1, "fp": 1, "fn": 0}
    assert f1(0, 0, 0)["f1"] == 1.0 and f1(0, 1, 1)["f1"] == 0.0


# ---------------------------------------------------------------------------- segmentation
@pytest.mark.parametrize("family", FAMILIES)
def test_segmentation_matches_the_expert_labels(sim_ds, family):
    ds = open_dataset(sim_ds)
    eps = [int(e["episode_index"]) for e in ds.episode_meta if ds.flags(int(e["episode_index"]))["family"] == family]
    tot = {"tp": 0, "fp": 0, "fn": 0}
    phases = {"pick_place": {"reach", "grasp", "lift", "move", "release"}, "push": {"approach", "push"}}
    phases.update(stack=phases["pick_place"] | {"lower"}, put_all=phases["pick_place"], sequence=phases["pick_place"])
    for ep in eps:
        T = ds.episode_range(ep)[1] - ds.episode_range(ep)[0]
        got = annotate_episode(ds, ep)["segments"]
        assert phases[family] <= {s["phase"] for s in got} <= phases[family] | {"retreat"}
        assert got[0]["start"] == 0 and got[-1]["end"] == T
        assert all(a["end"] == b["start"] for a, b in zip(got, got[1:]))  # covers the episode without gaps
        for k, v in counts(boundaries(got, T), boundaries(ds.subtasks(ep), T)).items():
            tot[k] += v
    assert f1(**tot)["f1"] >= 0.95, (family, tot)  # the target is 0.9; the benchmark measures 0.99+


def test_segmentation_reads_only_the_episodes_own_signals(sim_ds):
    ds = open_dataset(sim_ds)
    ep = 0
    ep_arrays = ds.episode(ep, cameras=False)
    bare = from_arrays(ep_arrays["action"], ep_arrays["observation.state"], ds.features["action"].names,
                       ds.features["observation.state"].names)  # no labels, no flags, no subtasks
    phases = [(s["start"], s["end"], s["phase"]) for s in segment(bare)]
    assert phases == [(s["start"], s["end"], s["phase"]) for s in annotate_episode(ds, ep)["segments"]]


def test_a_pick_is_reach_grasp_lift_move_release():
    # A synthetic pick: reach down, close, rise, travel, open, rise away (delta actions, opening stays apart when holding).
    steps = [((0.02, 0, -0.02), 0, 0.08)] * 5 + [((0, 0, 0), 1, 0.04)] * 3 + [((0, 0, 0.02), 1, 0.04)] * 3
    steps += [((0.02, 0.02, 0), 1, 0.04)] * 6 + [((0, 0, 0), 0, 0.04)] + [((0, 0, 0.02), 0, 0.08)] * 3
    action = np.array([[*v, g] for v, g, _ in steps], np.float32)
    xyz = np.cumsum(np.vstack([[0, 0, 0.15], action[:-1, :3]]), axis=0)
    state = np.column_stack([xyz, [o for *_, o in steps]])
    segs = segment(from_arrays(action, state, ("dx", "dy", "dz", "gripper"), ("x", "y", "z", "gripper")))
    assert [(s["phase"], s["start"]) for s in segs] == [("reach", 0), ("grasp", 5), ("lift", 8), ("move", 11), ("release", 17), ("retreat", 18)]


def test_without_a_gripper_it_falls_back_to_moving_and_still_runs():
    motion = np.array([[0.02, 0, 0]] * 6 + [[0, 0, 0]] * 6 + [[0, 0.02, 0]] * 6, np.float32)
    joints = np.vstack([np.zeros((1, 3)), np.cumsum(motion, axis=0)[:-1]])  # absolute joint targets: motion[t] moves t -> t+1
    segs = segment(from_arrays(joints, None, ("j1", "j2", "j3"), None))
    assert [(s["phase"], s["start"], s["end"]) for s in segs] == [("move", 0, 6), ("still", 6, 12), ("move", 12, 18)]


def test_image_change_is_zero_for_a_still_video_and_positive_when_it_changes():
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    frames[2:] = 255
    ch = image_change(frames)
    assert ch.shape == (4,) and ch[0] == 0 and ch[1] == pytest.approx(1.0) and ch[2] == 0


# ---------------------------------------------------------------------------- suggestions
def test_suggested_instructions_name_what_moved_where(sim_ds):
    ds = open_dataset(sim_ds)
    for e in ds.episode_meta:
        ep = int(e["episode_index"])
        task = ds.flags(ep)["task"]  # the answer, read here only to check
        objs = task["objects"]
        text = annotate_episode(ds, ep)["instruction"]
        if task["family"] == "pick_place":
            assert text == f"put the {objs[task['subject'][0]]['color']} object in the {task['target']['color']} bin"
        elif task["family"] == "stack":
            assert text == f"put the {objs[task['subject'][0]]['color']} object on the {task['target']['color']} object"
        elif task["family"] == "put_all":
            assert text == f"put all the {task['color']} objects in the {task['target']['color']} bin"
        elif task["family"] == "sequence":
            (i, j), (a, b) = task["subject"], task["targets"]
            assert text == f"put the {objs[i]['color']} object in the {a['color']} bin, then the {objs[j]['color']} object in the {b['color']} bin"
        else:
            assert text.startswith(f"push the {objs[task['subject'][0]]['color']} object ")


def test_without_scene_labels_the_suggestion_says_where_the_hand_went(tmp_path):
    ds = open_dataset(make_sample_dataset(tmp_path / "s", episodes=1, length=30, image_size=32))
    res = annotate_episode(ds, 0)
    assert res["segments"] and res["segments"][-1]["end"] == 30
    assert res["instruction"] is None or "object" in res["instruction"]


# ---------------------------------------------------------------------------- the new version
def test_annotate_writes_pending_suggestions_into_a_new_version(unlabelled_ds, tmp_path):
    before = (unlabelled_ds / "meta" / "vlaforge.json").read_bytes()
    src = open_dataset(unlabelled_ds)
    out = tmp_path / "v2"
    summary = annotate_dataset(unlabelled_ds, out)
    assert (unlabelled_ds / "meta" / "vlaforge.json").read_bytes() == before  # the source is untouched
    assert summary["unlabelled"] == 1 and summary["instructions"] == 1
    new = open_dataset(out)
    assert check_dataset(out) == []
    lin = new.lineage
    assert lin["version"] == src.lineage["version"] + 1 and lin["operation"]["name"] == "annotate"
    assert lin["parents"] == [{"fingerprint": src.lineage["fingerprint"], "path": str(unlabelled_ds)}]
    assert lin["fingerprint"] == content_fingerprint(out) == src.lineage["fingerprint"]  # same data, new notes
    assert new.tasks == src.tasks  # no instruction replaced
    for e in new.episode_meta:
        ep = int(e["episode_index"])
        sugg = new.suggestions(ep)
        assert sugg["subtasks"]["status"] == "pending" and sugg["subtasks"]["segments"]
        assert new.subtasks(ep) == src.subtasks(ep)  # the expert's labels are still there
        assert ("instruction" in sugg) == (e["tasks"][0] == "unlabelled")
    ep0 = new.suggestions(0)["instruction"]
    assert ep0["status"] == "pending" and ep0["text"].startswith("put the ")


def test_review_accepts_an_instruction_and_subtasks_into_another_version(unlabelled_ds, tmp_path):
    annotate_dataset(unlabelled_ds, tmp_path / "v2")
    v2 = open_dataset(tmp_path / "v2")
    text, segs = v2.suggestions(0)["instruction"]["text"], v2.suggestions(0)["subtasks"]["segments"]
    res = review(tmp_path / "v2", tmp_path / "v3", {0: {"instruction": "accept", "subtasks": "accept"}, 1: {"subtasks": "reject"}})
    assert res["accept"] == 2 and res["reject"] == 1
    v3 = open_dataset(tmp_path / "v3")
    assert check_dataset(tmp_path / "v3") == []
    assert v3.episode(0, cameras=False)["task"][0] == text and "unlabelled" not in v3.tasks
    assert v3.subtasks(0) == [{"start": s["start"], "end": s["end"], "text": s["text"]} for s in segs]
    assert v3.suggestions(0)["instruction"]["status"] == "accepted" and v3.suggestions(0)["instruction"]["replaced"] == "unlabelled"
    assert v3.suggestions(1)["subtasks"]["status"] == "rejected" and v3.subtasks(1) == v2.subtasks(1)
    assert v3.suggestions(2)["subtasks"]["status"] == "pending"
    assert v3.lineage["version"] == v2.lineage["version"] + 1 and v3.lineage["operation"]["name"] == "review"
    assert v3.episode(1, cameras=False)["task"][0] == v2.episode(1, cameras=False)["task"][0]


def test_review_refuses_unknown_episodes_kinds_and_missing_suggestions(unlabelled_ds, tmp_path):
    with pytest.raises(DatasetError, match="no instruction suggestion"):
        review(unlabelled_ds, tmp_path / "x", {0: {"instruction": "accept"}})
    annotate_dataset(unlabelled_ds, tmp_path / "v2")
    with pytest.raises(DatasetError, match="episode 99"):
        review(tmp_path / "v2", tmp_path / "x", {99: {"subtasks": "accept"}})
    with pytest.raises(ConfigError, match="decision"):
        review(tmp_path / "v2", tmp_path / "x", {0: {"subtasks": "maybe"}})
    with pytest.raises(DatasetError, match="episode 1 has no instruction"):
        review(tmp_path / "v2", tmp_path / "x", {1: {"instruction": "accept"}})
    assert not (tmp_path / "x").exists()


def test_annotate_refuses_its_source_and_an_existing_out(unlabelled_ds, tmp_path):
    with pytest.raises(DatasetError, match="source dataset"):
        annotate_dataset(unlabelled_ds, unlabelled_ds)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "f").write_text("x")
    with pytest.raises(DatasetError, match="already exists"):
        annotate_dataset(unlabelled_ds, tmp_path / "taken")
    with pytest.raises(ConfigError, match="suggest"):
        annotate_dataset(unlabelled_ds, tmp_path / "y", suggest="some")


def test_a_failure_midway_leaves_no_new_version(unlabelled_ds, tmp_path):
    def boom(ep):
        if ep == 1:
            raise RuntimeError("stop")

    annotate_dataset(unlabelled_ds, tmp_path / "v2")
    first = (tmp_path / "v2" / "meta" / "vlaforge.json").read_bytes()
    with pytest.raises(RuntimeError):
        annotate_dataset(unlabelled_ds, tmp_path / "v2", suggest="all", overwrite=True, on_episode=boom)
    assert (tmp_path / "v2" / "meta" / "vlaforge.json").read_bytes() == first  # the earlier version is intact
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging dir left behind


def test_suggestions_survive_a_filter_and_are_dropped_by_a_trim(unlabelled_ds, tmp_path):
    from vlaforge.data.edit import subsample

    annotate_dataset(unlabelled_ds, tmp_path / "v2")
    kept = open_dataset(filter_episodes(tmp_path / "v2", tmp_path / "f", episodes=[0]))
    assert kept.suggestions(0)["instruction"]["status"] == "pending"
    half = open_dataset(subsample(tmp_path / "v2", tmp_path / "h", 2))
    assert half.suggestions(0) == {}  # their frame indices would be wrong


def test_cli_annotate_and_review(unlabelled_ds, tmp_path, capsys):
    assert main(["engine", "annotate", str(unlabelled_ds), "--out", str(tmp_path / "v2"), "--suggest", "all"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["instructions"] == summary["episodes"] == open_dataset(unlabelled_ds).num_episodes
    assert main(["engine", "review", str(tmp_path / "v2"), "--out", str(tmp_path / "v3"), "--accept", "subtasks", "--episodes", "0,2-3"]) == 0
    v3 = open_dataset(tmp_path / "v3")
    assert [v3.suggestions(i)["subtasks"]["status"] for i in range(4)] == ["accepted", "pending", "accepted", "accepted"]
    assert main(["engine", "review", str(tmp_path / "v2"), "--out", str(tmp_path / "v4"), "--accept", "both", "--episodes", "7"]) == 1
    assert "not in" in capsys.readouterr().err
    assert main(["engine", "review", str(tmp_path / "v2"), "--out", str(tmp_path / "v4"), "--accept", "both", "--episodes", "x"]) == 2
    shutil.rmtree(tmp_path / "v3")
