// vlaforge ui: the episode list, the episode view and this tab's unsaved edits. Edits stay in the tab until
// "Save as new version" sends them all at once with the version they were made on; the server writes the next
// version, or refuses when another save came first. Decisions on the review queue (the corrections of
// `vlaforge engine loop`) are unsaved edits too, sent with the same save.
import {Player} from "/static/player.js";
import {Plots} from "/static/plots.js";
import {renderTimeline} from "/static/timeline.js";

const $ = (id) => document.getElementById(id);
const S = {
  name: "", versions: [], latest: 0, version: 0, episodes: [], tasks: [], health: {status: "off", findings: []},
  edits: {},        // episode -> changes in the server's save format
  queue: null,      // the version's review queue ({items: [...]}, null: none)
  decisions: {},    // queue item id -> "accept" | "reject", not saved yet
  mode: "episodes", // the sidebar's view: "episodes" or "queue"
  qcur: null,       // the queue item selected in the queue view
  cur: null,        // the open episode's detail
  frame: 0, selected: null, player: null, plots: null,
};
window.vlaforge = S;  // for tests and the curious

async function api(path, opts = {}) {
  const r = await fetch(path, opts);
  const body = await r.json().catch(() => ({error: `${r.status} ${r.statusText}`}));
  if (!r.ok) throw Object.assign(new Error(body.error || r.statusText), {status: r.status});
  return body;
}

function banner(text, kind = "info") {
  const b = $("banner");
  b.textContent = text;
  b.className = kind;
  b.hidden = !text;
}

// ------------------------------------------------------------------ edits and what the episode looks like with them
const edit = (ep) => S.edits[ep] || {};
function setEdit(ep, changes) {
  const e = {...edit(ep), ...changes};
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  if (e.suggestions && !Object.keys(e.suggestions).length) delete e.suggestions;
  if (Object.keys(e).length) S.edits[ep] = e; else delete S.edits[ep];
  updateSaveState();
}
const decision = (ep, kind) => (edit(ep).suggestions || {})[kind];
const pendingSugg = (d, kind) => d.suggestions && d.suggestions[kind] && d.suggestions[kind].status === "pending" ? d.suggestions[kind] : null;

function view(d) {
  const e = edit(d.index);
  const si = pendingSugg(d, "instruction"), ss = pendingSugg(d, "subtasks");
  let instruction = d.task, subtasks = d.subtasks || [];
  if (si && decision(d.index, "instruction") === "accept") instruction = si.text;
  if (ss && decision(d.index, "subtasks") === "accept") subtasks = ss.segments.map(({start, end, text}) => ({start, end, text}));
  const baseInstruction = instruction;
  if (e.instruction !== undefined) instruction = e.instruction;
  if (e.subtasks !== undefined) subtasks = e.subtasks;
  const flagged = e.flag !== undefined ? e.flag : !!(d.flags && d.flags.flagged);
  const it = itemOf(d.index);
  return {instruction, baseInstruction, subtasks, trim: e.trim || [0, d.length], flagged,
          drop: !!e.drop || !!(it && S.decisions[it.id] === "reject")};
}

// ------------------------------------------------------------------ the review queue: items and this tab's decisions
const itemOf = (ep) => (S.queue ? S.queue.items.find((it) => it.episode === ep) : null) || null;
const itemById = (id) => (S.queue ? S.queue.items.find((it) => it.id === id) : null) || null;
const toDecide = (it) => it.decidable && !S.decisions[it.id];
const nDecisions = () => Object.keys(S.decisions).length;

// ------------------------------------------------------------------ loading
async function loadState() {
  const st = await api("/api/state");
  Object.assign(S, {name: st.name, versions: st.versions, latest: st.latest});
  $("ds-name").textContent = st.name;
  $("version").replaceChildren(...st.versions.map((v) => new Option(`v${v.number} · ${v.name}`, v.number)));
  $("version").value = S.version || st.latest;
  $("newer").hidden = !S.version || S.version >= st.latest;
  $("newer").textContent = `v${st.latest} is newer than this page's v${S.version}`;
}

async function openVersion(n, keepEpisode = null) {
  S.version = Number(n);
  $("version").value = S.version;
  $("newer").hidden = S.version >= S.latest;
  const r = await api(`/api/v/${S.version}/episodes`);
  S.episodes = r.episodes;
  S.tasks = r.tasks;
  $("f-task").replaceChildren(new Option("all", ""), ...r.tasks.map((t) => new Option(t, t)));
  S.queue = (await api(`/api/v/${S.version}/queue`).catch((err) => {
    banner(`review queue unreadable: ${err.message}`, "warn");
    return {queue: null};
  })).queue;
  if (!S.queue && S.mode === "queue") setMode("episodes");
  renderQueue();
  renderList();
  loadLineage();
  pollHealth(S.version);
  if (keepEpisode !== null && S.episodes.some((e) => e.index === keepEpisode)) await openEpisode(keepEpisode);
  else closeEpisode();
}

async function loadLineage() {
  const r = await api(`/api/v/${S.version}/lineage`);
  const chain = [...r.chain].reverse();
  $("lineage").textContent = "lineage: " + chain.map((c) => `v${c.version ?? "?"} ${c.operation || "plain"}`).join(" → ");
  $("lineage-rows").replaceChildren(...r.chain.map((c) => {
    const tr = document.createElement("tr");
    for (const x of [`v${c.version ?? "?"}`, c.operation || "plain LeRobot", c.summary || "", c.path + (c.exists ? "" : " (gone)")]) {
      const td = document.createElement("td");
      td.textContent = x;
      tr.append(td);
    }
    return tr;
  }));
  const op = r.operation || {};
  $("lineage-op").textContent = (op.edits ? "edits of this version:\n" + JSON.stringify(op.edits, null, 1) : "")
    + (op.queue ? "\nreview queue decisions:\n" + JSON.stringify(op.queue, null, 1) : "");
}

async function pollHealth(n) {
  const h = await api(`/api/v/${n}/health`).catch(() => ({status: "failed", findings: []}));
  if (n !== S.version) return;
  S.health = h;
  $("health-status").textContent = {running: "health check running…", off: "health check off", failed: "health check failed: " + (h.error || ""),
    ready: `health: ${h.findings.length} finding(s)`}[h.status] || "";
  if (h.status === "running") { $("health-findings").replaceChildren(); setTimeout(() => pollHealth(n), 1500); return; }
  const byEp = {};
  for (const f of h.findings) for (const ep of f.episodes || []) (byEp[ep] = byEp[ep] || []).push(f.id);
  for (const e of S.episodes) e.findings = byEp[e.index] || [];
  // each finding about some episodes becomes a filter, and is listed with links to its episodes
  const sel = $("f-health"), keep = sel.value;
  sel.replaceChildren(new Option("any", ""), new Option("with findings", "findings"), new Option("no findings", "clean"),
    ...h.findings.filter((f) => (f.episodes || []).length).map((f) => new Option(`${f.id} (${f.episodes.length})`, f.id)));
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
  $("health-findings").replaceChildren(...h.findings.map((f) => {
    const li = document.createElement("li");
    li.className = f.severity;
    li.textContent = `${f.severity}: ${f.title}`;
    li.title = `${f.id}: ${f.detail}\n${f.recommendation}`;
    for (const ep of (f.episodes || []).slice(0, 20)) {
      const a = document.createElement("a");
      a.href = "#";
      a.textContent = ` #${ep}`;
      a.addEventListener("click", (ev) => { ev.preventDefault(); openEpisode(ep); });
      li.append(a);
    }
    return li;
  }));
  renderList();
}

// ------------------------------------------------------------------ episode list and filters
function filtered() {
  const f = {task: $("f-task").value, min: Number($("f-min").value || 0), max: Number($("f-max").value || Infinity),
             outcome: $("f-outcome").value, health: $("f-health").value, sugg: $("f-sugg").value, flag: $("f-flag").value};
  return S.episodes.filter((e) => {
    const flagged = edit(e.index).flag !== undefined ? edit(e.index).flag : e.flagged;
    return (!f.task || e.task === f.task) && e.length >= f.min && e.length <= f.max
      && (!f.outcome || (f.outcome === "success" ? e.success === true : f.outcome === "failure" ? e.success === false : e.success == null))
      && (!f.health || (f.health === "findings" || f.health === "clean" ? (f.health === "findings") === (e.findings.length > 0) : e.findings.includes(f.health)))
      && (!f.sugg || (f.sugg === "pending") === needsReview(e))
      && (!f.flag || (f.flag === "flagged" ? flagged : !!S.edits[e.index]));
  });
}

// titles carry names read from the dataset's files (queue ids, suggestion kinds): never markup
const escapeAttr = (x) => String(x).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// pending suggestions this tab has not decided yet
const needsReview = (e) => e.pending.some((k) => !decision(e.index, k));

function renderList() {
  const list = filtered();
  $("count").textContent = `${list.length} of ${S.episodes.length} episodes`;
  $("episodes").replaceChildren(...list.map((e) => {
    const li = document.createElement("li");
    li.dataset.ep = e.index;
    if (S.cur && S.cur.index === e.index) li.className = "current";
    const ed = edit(e.index);
    const badges = [
      e.success === true ? ["ok", "✓", "success"] : e.success === false ? ["bad", "✗", "failure"] : null,
      (ed.flag !== undefined ? ed.flag : e.flagged) ? ["flag", "⚑", "flagged"] : null,
      needsReview(e) ? ["sugg", "●", "pending suggestions: " + e.pending.join(", ")] : null,
      e.findings.length ? ["health", "!", "health: " + e.findings.join(", ")] : null,
      S.edits[e.index] ? ["edited", "✎", "edited in this tab"] : null,
      ed.drop || (itemOf(e.index) && S.decisions[itemOf(e.index).id] === "reject") ? ["dropped", "✕", "dropped in the next version"] : null,
      itemOf(e.index) ? ["queue", "Q", `review queue ${itemOf(e.index).id}: ${itemState(itemOf(e.index))}`] : null,
    ].filter(Boolean);
    li.innerHTML = `<span class="idx">#${e.index}</span> <span class="len">${e.length} f</span> ` +
      badges.map(([c, t, title]) => `<span class="badge ${c}" title="${escapeAttr(title)}">${t}</span>`).join("");
    const task = document.createElement("div");
    task.className = "task";
    task.textContent = ed.instruction || e.task;
    li.append(task);
    li.addEventListener("click", () => openEpisode(e.index));
    return li;
  }));
}

// ------------------------------------------------------------------ the episode view
function closeEpisode() {
  if (S.player) S.player.destroy();
  S.player = S.cur = null;
  $("episode").hidden = true;
  $("empty").hidden = S.mode === "queue" && !!S.qcur;
  renderQueueItem();
}

async function openEpisode(ep, frame = 0) {
  const d = await api(`/api/v/${S.version}/episodes/${ep}`);
  if (S.player) S.player.destroy();
  S.cur = d;
  S.selected = null;
  S.frame = 0;
  $("empty").hidden = true;
  $("episode").hidden = false;
  $("ep-title").textContent = `episode ${d.index} · ${d.length} frames · ${d.fps} fps`;
  $("scrub").max = d.length - 1;
  S.player = new Player($("cameras"), d.cameras, d.fps, d.length, onFrame);
  S.player.setRate(Number($("rate").value));
  S.plots = new Plots($("plots"), d.series, d.length, (f) => S.player.seek(f));
  $("findings").replaceChildren(...d.findings.map((f) => {
    const li = document.createElement("li");
    li.className = f.severity;
    li.textContent = `${f.severity}: ${f.title} — ${f.recommendation}`;
    return li;
  }));
  $("instruction").value = view(d).instruction;
  if (S.mode !== "queue") S.qcur = itemOf(d.index) ? itemOf(d.index).id : null;
  renderEpisode();
  if (frame) S.player.seek(frame);
  renderList();
  renderQueue();
}

function onFrame(f) {
  S.frame = f;
  $("scrub").value = f;
  $("frame").textContent = `${f} / ${S.cur.length - 1}`;
  $("frame").dataset.frame = f;
  $("play").textContent = S.player && S.player.playing ? "Pause" : "Play";
  renderTimelineNow();
  const v = view(S.cur);
  S.plots.draw(f, v.trim, v.subtasks);
}

function renderTimelineNow(subtasksOverride = null) {
  const d = S.cur, v = view(d);
  const ss = pendingSugg(d, "subtasks");
  renderTimeline(
    {trim: $("tl-trim"), subtasks: $("tl-subtasks"), sugg: $("tl-sugg"), suggLabel: $("tl-sugg-label")},
    {T: d.length, frame: S.frame, subtasks: subtasksOverride || v.subtasks, trim: v.trim, selected: S.selected,
     suggested: ss && !decision(d.index, "subtasks") ? ss.segments : null},
    {
      onSeek: (f) => S.player.seek(f),
      onSelect: (i, f) => { S.selected = i; S.player.seek(f); renderEpisode(); },
      onDrag: (subs) => { S.dragging = subs; renderTimelineNow(subs); },
      onDragEnd: () => { if (S.dragging) setSubtasks(S.dragging); S.dragging = null; },
    },
  );
}

function renderEpisode() {
  const d = S.cur, v = view(d), e = edit(d.index);
  $("ep-badges").textContent = [v.flagged ? "⚑ flagged" : "", v.drop ? "✕ dropped" : "", S.edits[d.index] ? "✎ edited" : ""].filter(Boolean).join(" ");
  $("instruction").classList.toggle("edited", v.instruction !== d.task);
  for (const kind of ["instruction", "subtasks"]) {
    const s = pendingSugg(d, kind), box = $(`sugg-${kind}`);
    box.hidden = !s;
    if (!s) continue;
    const dec = decision(d.index, kind);
    box.querySelector(".decision").textContent = dec ? `${dec}ed (saved with the next version)` : "";
    box.classList.toggle("decided", !!dec);
    if (kind === "instruction") $("sugg-instruction-text").textContent = s.text;
    else $("sugg-subtasks-n").textContent = `${s.segments.length} segments`;
  }
  const seg = S.selected !== null ? v.subtasks[S.selected] : null;
  $("seg-editor").hidden = !seg;
  if (seg) {
    $("seg-range").textContent = `#${S.selected} [${seg.start}, ${seg.end})`;
    if (document.activeElement !== $("seg-text")) $("seg-text").value = seg.text;
  }
  $("flag-btn").textContent = v.flagged ? "Unflag" : "Flag";
  $("drop-btn").textContent = v.drop ? "Keep" : "Drop";
  $("drop-btn").classList.toggle("on", v.drop);
  $("episode").classList.toggle("dropped", v.drop);
  renderQueueItem();
  onFrame(S.frame);
}

// ------------------------------------------------------------------ editing
function decide(kind, verdict) {
  const d = S.cur;
  if (!d || !pendingSugg(d, kind)) return;
  const sugg = {...(edit(d.index).suggestions || {}), [kind]: verdict};
  const changes = {suggestions: sugg};
  if (verdict === "accept" && kind === "instruction") changes.instruction = undefined;  // the accepted text wins
  if (verdict === "accept" && kind === "subtasks") changes.subtasks = undefined;
  setEdit(d.index, changes);
  if (kind === "instruction") $("instruction").value = view(d).instruction;
  renderEpisode();
  renderList();
}

function setInstruction(text) {
  const d = S.cur;
  setEdit(d.index, {instruction: text.trim() === view(d).baseInstruction ? undefined : text.trim()});
  renderEpisode();
  renderList();
}

function setSubtasks(subs) {
  setEdit(S.cur.index, {subtasks: subs});
  renderEpisode();
  renderList();
}

function splitAtCursor() {
  const v = view(S.cur), f = S.frame;
  const i = v.subtasks.findIndex((s) => s.start < f && f < s.end);
  if (i < 0) return banner("put the cursor inside a subtask (not on its first frame) to split it", "warn");
  const s = v.subtasks[i];
  setSubtasks([...v.subtasks.slice(0, i), {...s, end: f}, {...s, start: f}, ...v.subtasks.slice(i + 1)]);
}

function setTrim(which) {
  const d = S.cur, v = view(d);
  let [a, b] = v.trim;
  if (which === "start") a = S.frame; else if (which === "end") b = S.frame + 1; else [a, b] = [0, d.length];
  if (b - a < 2) return banner("a trim must keep at least 2 frames", "warn");
  if ((a > 0 || b < d.length) && (pendingSugg(d, "instruction") || pendingSugg(d, "subtasks")))
    banner("trimming drops this episode's suggestions when saved (their frame numbers would be wrong): decide on them first", "warn");
  setEdit(d.index, {trim: a === 0 && b === d.length ? undefined : [a, b]});
  renderEpisode();
  renderList();
}

function toggle(kind) {
  const d = S.cur, v = view(d);
  if (kind === "flag") {
    const was = !!(d.flags && d.flags.flagged);
    setEdit(d.index, {flag: !v.flagged === was ? undefined : !v.flagged});
  } else if (itemOf(d.index) && itemOf(d.index).decidable) return decideItem(itemOf(d.index).id, v.drop ? null : "reject");
  else setEdit(d.index, {drop: v.drop ? undefined : true});
  renderEpisode();
  renderList();
}

function revert() {
  delete S.edits[S.cur.index];
  updateSaveState();
  $("instruction").value = view(S.cur).instruction;
  renderEpisode();
  renderList();
}

function updateSaveState() {
  const n = Object.keys(S.edits).length, m = nDecisions();
  const parts = [n ? `${n} episode(s) edited` : "", m ? `${m} queue decision(s)` : ""].filter(Boolean);
  $("pending-count").textContent = parts.length ? parts.join(", ") + ", not saved" : "no unsaved edits";
  $("save-btn").disabled = !n && !m;
}

async function saveAll() {
  if (!Object.keys(S.edits).length && !nDecisions()) return;
  $("save-btn").disabled = true;
  banner("saving…");
  try {
    const r = await api("/api/save", {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify({base: S.version, edits: S.edits, queue: S.decisions})});
    const keep = S.cur ? r.episode_map[String(S.cur.index)] ?? null : null;
    S.edits = {};
    S.decisions = {};
    updateSaveState();
    await loadState();
    await openVersion(r.version, keep);
    banner(`saved version ${r.version}: ${r.path}`, "ok");
  } catch (err) {
    banner(err.status === 409 ? err.message : `not saved: ${err.message}`, "error");
    updateSaveState();
    loadState();
  }
}

function togglePlay() {
  S.player.toggle();
  $("play").textContent = S.player.playing ? "Pause" : "Play";
}

// ------------------------------------------------------------------ the review queue view
function setMode(mode) {
  if (mode === "queue" && !S.queue) return banner("this version has no review queue (meta/review_queue.json from `vlaforge engine loop`)", "warn");
  S.mode = mode;
  $("view-episodes").classList.toggle("on", mode === "episodes");
  $("view-queue").classList.toggle("on", mode === "queue");
  $("episodes-pane").hidden = mode !== "episodes";
  $("queue-pane").hidden = mode !== "queue";
  if (mode === "queue" && S.cur && itemOf(S.cur.index)) S.qcur = itemOf(S.cur.index).id;
  renderQueue();
  renderQueueItem();
}

// what an item's row says about it: this tab's decision first, then what the file records
function itemState(it) {
  const dec = S.decisions[it.id];
  if (dec) return `${dec}ed, not saved yet`;
  return {corrected: "correction to decide", accepted: "accepted", rejected: "rejected", pending: "to label (no correction)",
          "expert-failed": "the expert failed from here too"}[it.status] || it.status;
}

function queuedItems() {
  const f = $("q-filter").value, items = S.queue ? S.queue.items : [];
  return items.filter((it) => !f || (f === "undecided" ? toDecide(it) : !!S.decisions[it.id] || ["accepted", "rejected"].includes(it.status)));
}

function el(tag, cls, text) {
  const x = document.createElement(tag);
  if (cls) x.className = cls;
  if (text !== undefined) x.textContent = text;
  return x;
}

function renderQueue() {
  $("view-queue").disabled = !S.queue;
  if (!S.queue) { $("queue-count").textContent = ""; $("queue-items").replaceChildren(); return; }
  const open = S.queue.items.filter(toDecide).length;
  $("queue-count").textContent = `(${open})`;
  const q = S.queue;
  $("queue-meta").textContent = `round ${q.round ?? "?"} of ${q.source || "?"} · ${q.uncertainty || "?"} uncertainty · `
    + `${q.items.length} item(s), ${open} to decide · policy ${q.policy || "?"}`;
  $("queue-items").replaceChildren(...queuedItems().map((it) => {
    const li = el("li");
    li.dataset.item = it.id;
    if (it.id === S.qcur) li.className = "current";
    const dec = S.decisions[it.id] || {accepted: "accept", rejected: "reject"}[it.status];
    li.append(el("span", "idx", it.id), " ", el("span", "kind", it.kind),
              el("span", "score", it.score == null ? "" : ` ${Number(it.score).toFixed(3)}`),
              el("span", `badge ${dec === "accept" ? "ok" : dec === "reject" ? "dropped" : toDecide(it) ? "sugg" : "muted"}`,
                 dec === "accept" ? "✓" : dec === "reject" ? "✕" : toDecide(it) ? "●" : "–"));
    li.lastChild.title = itemState(it);
    if (S.decisions[it.id]) li.append(el("span", "badge edited", "✎"));
    li.append(el("div", "task", `${itemState(it)}${it.episode != null ? ` · → #${it.episode}` : ""} · step ${it.step}, seed ${it.seed}`));
    li.append(el("div", "task", it.instruction || ""));
    li.addEventListener("click", () => selectItem(it.id));
    return li;
  }));
}

// the item box above the episode: what was mined and why, where, and its correction's decision
function renderQueueItem() {
  const it = S.mode === "queue" ? itemById(S.qcur) : S.cur && itemOf(S.cur.index);
  $("queue-item").hidden = !it;
  if (!it) return;
  $("qi-id").textContent = it.id;
  const why = it.tier === 0 ? "the policy's rollout failed" : "the policy was unsure";
  $("qi-what").textContent = `${it.kind} (${why})` + (it.score == null ? "" : ` · uncertainty ${Number(it.score).toFixed(3)}`)
    + (it.detail ? ` · ${it.detail}` : "");
  $("qi-where").textContent = `${it.family} ${it.split}, seed ${it.seed}, step ${it.step} of the policy's rollout`
    + ` (${it.rollout_success ? "it succeeded" : "it failed"}) · "${it.instruction}"`;
  $("qi-correction").textContent = it.episode != null
    ? `correction: episode #${it.episode}, ${it.labelled_steps} expert steps from that state (its frame ${it.frame ?? 0})`
    : it.status === "rejected" ? `its correction was rejected (episode #${it.rejected_episode} of v${it.reviewed_version}) and dropped`
    : `no correction episode: ${itemState(it)}`;
  $("qi-buttons").hidden = !it.decidable;
  for (const b of $("qi-buttons").querySelectorAll("button")) b.classList.toggle("on", S.decisions[it.id] === b.dataset.verdict);
  $("queue-item").querySelector(".decision").textContent = itemState(it);
  $("queue-item").classList.toggle("decided", !toDecide(it));
}

async function selectItem(id) {
  const it = itemById(id);
  if (!it) return;
  S.qcur = id;
  if (it.episode != null) await openEpisode(it.episode, it.frame || 0);
  else closeEpisode();
  renderQueue();
  renderQueueItem();
}

function decideItem(id, verdict) {
  const it = itemById(id);
  if (!it || !it.decidable) return banner(it ? `queue item ${id}: ${itemState(it)}; only an undecided correction can be accepted or rejected` : "no queue item selected", "warn");
  if (verdict) S.decisions[id] = verdict; else delete S.decisions[id];
  if (edit(it.episode).drop) setEdit(it.episode, {drop: undefined});  // the decision says whether it stays
  updateSaveState();
  renderQueue();
  renderList();
  if (S.cur) renderEpisode(); else renderQueueItem();
}

function stepItem(delta) {
  const list = queuedItems();
  if (!list.length) return;
  const i = list.findIndex((it) => it.id === S.qcur);
  selectItem(list[i < 0 ? 0 : Math.max(0, Math.min(list.length - 1, i + delta))].id);
}

function nextItem() {
  const list = queuedItems();
  const i = list.findIndex((it) => it.id === S.qcur);
  const it = [...list.slice(i + 1), ...list.slice(0, i + 1)].find(toDecide);
  if (it) selectItem(it.id); else banner("review queue done: every correction in this list is decided (save to keep the decisions)", "ok");
}

// ------------------------------------------------------------------ keys: the review queue
const KEYS = [
  ["space", "play / pause"], ["← →", "previous / next frame (shift: 10)"], ["j  k", "next / previous episode in the list (review queue view: item)"],
  ["n", "next episode with undecided suggestions (review queue view: next correction to decide)"],
  ["a  r", "accept / reject this episode's suggestions (review queue view: the item's correction)"],
  ["q", "switch between the episode list and the review queue of `vlaforge engine loop`"],
  ["i", "edit the instruction (Enter: done, Esc: leave)"], ["x", "split the subtask at the cursor"], ["[  ]", "trim start / end at the cursor"],
  ["f", "flag / unflag"], ["d", "drop / keep"], ["u", "revert this episode's edits"], ["Ctrl+S", "save as a new version"], ["?", "this help"],
];

function step(delta) {
  const list = filtered();
  if (!list.length) return;
  const i = S.cur ? list.findIndex((e) => e.index === S.cur.index) : -1;
  const j = i < 0 ? 0 : Math.max(0, Math.min(list.length - 1, i + delta));
  openEpisode(list[j].index);
}

function nextInQueue() {
  const list = filtered();
  const i = S.cur ? list.findIndex((e) => e.index === S.cur.index) : -1;
  const rest = [...list.slice(i + 1), ...list.slice(0, i + 1)];
  const e = rest.find(needsReview);
  if (e) openEpisode(e.index); else banner("review queue empty: no undecided suggestions in this list", "ok");
}

function onKey(ev) {
  if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") { ev.preventDefault(); saveAll(); return; }
  const t = ev.target;
  if (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA") {
    if (ev.key === "Escape") t.blur();
    return;
  }
  const cur = S.cur;
  const k = ev.key;
  if (k === "?") { $("help-dlg").showModal(); return; }
  if (k === "q") return setMode(S.mode === "queue" ? "episodes" : "queue");
  if (S.mode === "queue" && (k === "j" || k === "k" || k === "n" || k === "a" || k === "r")) {
    ev.preventDefault();
    if (k === "j" || k === "k") return stepItem(k === "j" ? 1 : -1);
    if (k === "n") return nextItem();
    return decideItem(S.qcur, k === "a" ? "accept" : "reject");
  }
  if (k === "j") return step(1);
  if (k === "k") return step(-1);
  if (k === "n") return nextInQueue();
  if (!cur) return;
  if (k === " ") togglePlay();
  else if (k === "ArrowRight") S.player.seek(S.frame + (ev.shiftKey ? 10 : 1));
  else if (k === "ArrowLeft") S.player.seek(S.frame - (ev.shiftKey ? 10 : 1));
  else if (k === "a" || k === "r") for (const kind of ["instruction", "subtasks"]) decide(kind, k === "a" ? "accept" : "reject");
  else if (k === "i") { ev.preventDefault(); $("instruction").focus(); $("instruction").select(); }
  else if (k === "x") splitAtCursor();
  else if (k === "[") setTrim("start");
  else if (k === "]") setTrim("end");
  else if (k === "f") toggle("flag");
  else if (k === "d") toggle("drop");
  else if (k === "u") revert();
  else return;
  ev.preventDefault();
}

// ------------------------------------------------------------------ wiring
function wire() {
  for (const id of ["f-task", "f-min", "f-max", "f-outcome", "f-health", "f-sugg", "f-flag"]) $(id).addEventListener("input", renderList);
  $("q-filter").addEventListener("input", renderQueue);
  $("view-episodes").addEventListener("click", () => setMode("episodes"));
  $("view-queue").addEventListener("click", () => setMode("queue"));
  for (const b of $("qi-buttons").querySelectorAll("button")) {
    b.addEventListener("click", () => decideItem(S.mode === "queue" ? S.qcur : itemOf(S.cur.index).id, b.dataset.verdict));
  }
  $("version").addEventListener("change", () => {
    if ((Object.keys(S.edits).length || nDecisions()) && !confirm("Switching versions forgets this tab's unsaved edits. Switch?")) {
      $("version").value = S.version;
      return;
    }
    S.edits = {};
    S.decisions = {};
    updateSaveState();
    openVersion($("version").value);
  });
  $("play").addEventListener("click", togglePlay);
  $("scrub").addEventListener("input", () => S.player.seek(Number($("scrub").value)));
  $("rate").addEventListener("change", () => S.player.setRate(Number($("rate").value)));
  $("instruction").addEventListener("change", () => setInstruction($("instruction").value));
  $("instruction").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { setInstruction($("instruction").value); $("instruction").blur(); } });
  for (const b of document.querySelectorAll(".suggestion button[data-kind]")) b.addEventListener("click", () => decide(b.dataset.kind, b.dataset.verdict));
  $("seg-text").addEventListener("change", () => {
    const subs = view(S.cur).subtasks.map((s) => ({...s}));
    const text = $("seg-text").value.trim();
    if (!text) return banner("a subtask needs a text", "warn");
    subs[S.selected].text = text;
    setSubtasks(subs);
  });
  $("seg-split").addEventListener("click", splitAtCursor);
  $("seg-delete").addEventListener("click", () => {
    const subs = view(S.cur).subtasks.filter((_, i) => i !== S.selected);
    S.selected = null;
    setSubtasks(subs);
  });
  $("trim-start").addEventListener("click", () => setTrim("start"));
  $("trim-end").addEventListener("click", () => setTrim("end"));
  $("trim-reset").addEventListener("click", () => setTrim("reset"));
  $("flag-btn").addEventListener("click", () => toggle("flag"));
  $("drop-btn").addEventListener("click", () => toggle("drop"));
  $("revert-btn").addEventListener("click", revert);
  $("save-btn").addEventListener("click", saveAll);
  $("help-btn").addEventListener("click", () => $("help-dlg").showModal());
  $("lineage").addEventListener("click", () => $("lineage-dlg").showModal());
  $("help-keys").replaceChildren(...KEYS.map(([k, what]) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td><kbd>${k}</kbd></td><td>${what}</td>`;
    return tr;
  }));
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", () => { if (S.plots) { S.plots.resize(); onFrame(S.frame); } });
  window.addEventListener("beforeunload", (ev) => { if (Object.keys(S.edits).length || nDecisions()) ev.preventDefault(); });
  setInterval(() => loadState().catch(() => {}), 10000);  // notice a save from another tab
}

wire();
loadState().then(() => openVersion(S.latest)).catch((err) => banner(`cannot load: ${err.message}`, "error"));
