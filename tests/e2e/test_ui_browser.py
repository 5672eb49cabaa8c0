"""`vlaforge ui` in a real browser (Debian's chromium driven by Playwright): open an episode, play it, edit, accept a
suggestion, save; then check on disk that the new version holds exactly those changes and passes `data check`.

Screenshots go to $VLAFORGE_SCREENSHOTS when set (docs/img/ for the README), else to the test's temp dir.
"""

import contextlib
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vlaforge.data import check_dataset, open_dataset

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api") if not os.environ.get("CI") else __import__("playwright.sync_api").sync_api
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@contextlib.contextmanager
def serving(dataset):
    """The app on a free loopback port, in a thread; yields its URL."""
    import uvicorn

    from vlaforge.ui.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(dataset), log_level="warning"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        t.join(10)
        sock.close()


@pytest.fixture
def shots(tmp_path):
    out = Path(os.environ.get("VLAFORGE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _page(browser, url):
    page = browser.new_page(viewport={"width": 1200, "height": 760})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("#episodes li")
    return page, errors


def _open(page, ep):
    page.click(f"#episodes li[data-ep='{ep}']")
    page.wait_for_function(f"window.vlaforge.cur && window.vlaforge.cur.index === {ep} && "
                           "window.vlaforge.player.videos.every(v => v.el.readyState >= 2)")


def _saved(page):
    page.wait_for_function("document.getElementById('banner').className !== '' && !document.getElementById('banner').textContent.startsWith('saving')")
    return page.text_content("#banner")


def _same(a, ea, b, eb, cameras=False):
    x, y = a.episode(ea, cameras=cameras), b.episode(eb, cameras=cameras)
    for k in ("action", "observation.state"):
        np.testing.assert_array_equal(x[k], y[k])
    if cameras:
        for c in a.camera_keys:
            np.testing.assert_array_equal(x[c], y[c])


def test_play_edit_accept_and_save_a_new_version(browser, annotated, shots):
    src = open_dataset(annotated)
    v = src.lineage["version"]
    with serving(annotated) as url:
        page, errors = _page(browser, url)
        _open(page, 0)
        fps = src.fps
        # play: every camera advances, in sync, and the plot cursor follows the video
        page.click("#play")
        page.wait_for_function("window.vlaforge.frame >= 8")
        assert page.evaluate("window.vlaforge.player.spread()") <= 1.5 / fps
        page.click("#play")
        frame = page.evaluate("window.vlaforge.frame")
        assert int(page.get_attribute("#frame", "data-frame")) == frame
        assert {int(page.get_attribute(f"canvas[data-series='{k}']", "data-cursor")) for k in ("observation.state", "action")} == {frame}
        times = page.evaluate("window.vlaforge.player.videos.map(v => v.el.currentTime - v.from)")
        assert min(times) > 6 / fps and max(times) - min(times) <= 1.5 / fps

        # edit the instruction
        page.fill("#instruction", "pick up the red cube and drop it in the bin")
        page.press("#instruction", "Enter")
        # drag the first shared subtask boundary 3 frames to the right
        subs = src.subtasks(0)
        T = int(src.episode_meta[0]["length"])
        b = subs[0]["end"]
        row = page.locator("#tl-subtasks").bounding_box()
        handle = page.locator(f"#tl-subtasks .handle[data-frame='{b}']").first.bounding_box()
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        page.mouse.move(row["x"] + (b + 1.5) / T * row["width"], handle["y"] + 5, steps=3)
        page.mouse.move(row["x"] + (b + 3) / T * row["width"], handle["y"] + 5, steps=3)
        page.mouse.up()
        expected0 = [dict(s) for s in subs]
        expected0[0]["end"] = expected0[1]["start"] = b + 3
        assert page.evaluate("window.vlaforge.edits[0].subtasks") == expected0
        page.screenshot(path=str(shots / "ui-episode.png"))

        # accept the suggested instruction of episode 1
        _open(page, 1)
        suggested = src.suggestions(1)["instruction"]["text"]
        assert page.text_content("#sugg-instruction-text") == suggested
        page.click("#sugg-instruction button[data-verdict='accept']")
        assert page.input_value("#instruction") == suggested
        page.click("#save-btn")
        assert f"saved version {v + 1}" in _saved(page)
        assert page.evaluate("window.vlaforge.version") == v + 1 and "v1 sim collect" in page.text_content("#lineage")
        assert errors == []

    out = annotated.parent / f"pp.v{v + 1}"
    new = open_dataset(out)
    assert check_dataset(out) == []
    assert new.lineage["parents"][0]["path"] == str(annotated) and new.lineage["operation"]["name"] == "ui"
    assert new.num_episodes == src.num_episodes
    tasks = [src.episode(i, cameras=False)["task"][0] for i in range(src.num_episodes)]
    tasks[0], tasks[1] = "pick up the red cube and drop it in the bin", suggested
    assert [new.episode(i, cameras=False)["task"][0] for i in range(new.num_episodes)] == tasks
    assert new.subtasks(0) == expected0
    for i in range(src.num_episodes):
        _same(src, i, new, i, cameras=i == 0)
        assert new.flags(i) == src.flags(i)
        if i:
            assert new.subtasks(i) == src.subtasks(i)
        status = {k: s["status"] for k, s in new.suggestions(i).items()}
        assert status == ({"instruction": "accepted", "subtasks": "pending"} if i == 1 else {"instruction": "pending", "subtasks": "pending"})


def test_a_second_tab_saving_on_an_old_version_is_refused(browser, annotated, shots):
    v = open_dataset(annotated).lineage["version"]
    with serving(annotated) as url:
        a, _ = _page(browser, url)
        b, _ = _page(browser, url)
        _open(a, 0)
        a.fill("#instruction", "first tab's instruction")
        a.press("#instruction", "Enter")
        a.click("#save-btn")
        assert f"saved version {v + 1}" in _saved(a)
        _open(b, 2)
        b.click("#flag-btn")
        b.click("#save-btn")
        msg = _saved(b)
        assert b.get_attribute("#banner", "class") == "error"
        assert f"based on version {v}, but the latest version is {v + 1}" in msg and "nothing was written" in msg
        assert b.evaluate("Object.keys(window.vlaforge.edits)") == ["2"]  # the tab keeps its edits
        b.screenshot(path=str(shots / "ui-conflict.png"))
    assert sorted(p.name for p in annotated.parent.iterdir() if not p.name.startswith(".")) == ["pp", f"pp.v{v + 1}"]


def test_review_queue_by_keyboard(browser, annotated, shots):
    src = open_dataset(annotated)
    v = src.lineage["version"]
    with serving(annotated) as url:
        page, errors = _page(browser, url)
        page.evaluate("document.activeElement.blur()")
        page.keyboard.press("n")  # the first episode with undecided suggestions
        page.wait_for_function("window.vlaforge.cur && window.vlaforge.cur.index === 0")
        page.keyboard.press("a")  # accept both suggestions
        page.keyboard.press("n")
        page.wait_for_function("window.vlaforge.cur && window.vlaforge.cur.index === 1")
        page.keyboard.press("r")  # reject both
        page.keyboard.press("f")  # and flag it
        page.keyboard.press("n")
        page.wait_for_function("window.vlaforge.cur && window.vlaforge.cur.index === 2")
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("r")
        page.keyboard.press("[")  # keep frames 4..
        page.keyboard.press("n")
        page.wait_for_function("window.vlaforge.cur && window.vlaforge.cur.index === 3")
        page.keyboard.press("d")  # drop
        page.select_option("#f-sugg", "pending")
        assert page.locator("#episodes li").count() == 1  # only the dropped one is still undecided
        page.select_option("#f-sugg", "")
        page.evaluate("document.activeElement.blur()")
        page.keyboard.press("k")  # back to episode 2, to see it trimmed in the new version
        page.wait_for_function("window.vlaforge.cur && window.vlaforge.cur.index === 2")
        page.keyboard.press("Control+s")
        assert f"saved version {v + 1}" in _saved(page)
        page.wait_for_function("window.vlaforge.cur && window.vlaforge.cur.length === window.vlaforge.episodes[2].length && "
                               "window.vlaforge.player.videos.every(v => v.el.readyState >= 2)")
        page.click("#lineage")
        page.screenshot(path=str(shots / "ui-lineage.png"))
        assert "sim collect" in page.text_content("#lineage-rows") and '"drop": true' in page.text_content("#lineage-op")
        assert errors == []

    new = open_dataset(annotated.parent / f"pp.v{v + 1}")
    assert check_dataset(new.root) == [] and new.num_episodes == 3
    s0 = src.suggestions(0)
    assert new.episode(0, cameras=False)["task"][0] == s0["instruction"]["text"]
    assert new.subtasks(0) == [{k: s[k] for k in ("start", "end", "text")} for s in s0["subtasks"]["segments"]]
    assert {k: s["status"] for k, s in new.suggestions(1).items()} == {"instruction": "rejected", "subtasks": "rejected"}
    assert new.flags(1)["flagged"] is True and new.subtasks(1) == src.subtasks(1)
    T2 = int(src.episode_meta[2]["length"])
    assert int(new.episode_meta[2]["length"]) == T2 - 4 and new.suggestions(2) == {}
    np.testing.assert_array_equal(new.episode(2, cameras=False)["action"], src.episode(2, cameras=False)["action"][4:])


def test_review_queue_of_the_loop_accept_one_reject_one_and_save(browser, queued, shots):
    from vlaforge.engine.active.queue import read_queue

    src = open_dataset(queued)
    v = src.lineage["version"]
    acc, rej, *rest = [it for it in read_queue(queued)["items"] if it["status"] == "corrected"]
    with serving(queued) as url:
        page, errors = _page(browser, url)
        _open(page, 1)
        page.evaluate("window.vlaforge.player.seek(5)")  # the cursor elsewhere: picking an item must move it
        page.click("#view-queue")
        page.wait_for_selector(f"#queue-items li[data-item='{acc['id']}']")
        assert page.locator("#queue-items li").count() == len(read_queue(queued)["items"])
        page.evaluate("document.activeElement.blur()")
        page.keyboard.press("n")  # the first correction to decide opens its episode, cursor on the moment's frame
        page.wait_for_function(f"window.vlaforge.cur && window.vlaforge.cur.index === {acc['episode']} && "
                               "window.vlaforge.player.videos.every(v => v.el.readyState >= 2)")
        assert page.evaluate("window.vlaforge.frame") == page.evaluate("window.vlaforge.player.frame") == 0
        assert int(page.get_attribute("#frame", "data-frame")) == 0
        assert page.text_content("#qi-id") == acc["id"] and acc["kind"] in page.text_content("#qi-what")
        assert f"step {acc['step']}" in page.text_content("#qi-where") and f"#{acc['episode']}" in page.text_content("#qi-correction")
        page.keyboard.press("a")
        page.click(f"#queue-items li[data-item='{rej['id']}']")  # a click works as well as j
        page.wait_for_function(f"window.vlaforge.cur && window.vlaforge.cur.index === {rej['episode']}")
        page.keyboard.press("r")
        assert page.evaluate("window.vlaforge.decisions") == {acc["id"]: "accept", rej["id"]: "reject"}
        assert page.evaluate("document.getElementById('episode').classList.contains('dropped')")
        assert "2 queue decision(s)" in page.text_content("#pending-count")
        page.screenshot(path=str(shots / "ui-queue.png"))
        page.keyboard.press("Control+s")
        assert f"saved version {v + 1}" in _saved(page)
        page.wait_for_function(f"window.vlaforge.version === {v + 1} && window.vlaforge.queue !== null")
        states = {i: page.text_content(f"#queue-items li[data-item='{i}'] .task") for i in (acc["id"], rej["id"])}
        assert "accepted" in states[acc["id"]] and "rejected" in states[rej["id"]]
        assert errors == []

    out = queued.parent / f"pq.v{v + 1}"
    new = open_dataset(out)
    assert check_dataset(out) == [] and new.num_episodes == src.num_episodes - 1
    assert new.lineage["operation"]["queue"] == {acc["id"]: "accept", rej["id"]: "reject"}
    gone = src.episode(rej["episode"], cameras=False)["action"]
    assert not any(np.array_equal(new.episode(i, cameras=False)["action"], gone) for i in range(new.num_episodes))
    items = {it["id"]: it for it in read_queue(out)["items"]}
    kept = items[acc["id"]]
    assert kept["status"] == "accepted" and items[rej["id"]]["status"] == "rejected" and items[rej["id"]]["episode"] is None
    _same(src, acc["episode"], new, kept["episode"], cameras=True)
    assert new.flags(kept["episode"])["start_step"] == acc["step"]
    assert all(items[it["id"]]["status"] == "corrected" for it in rest)
