// vlaforge ui: the episode list, the episode view and this tab's unsaved edits. Edits stay in the tab until
// "Save as new version" sends them all at once with the version they were made on; the server writes the next
// version, or refuses when another save came first.
import {Player} from "/static/player.js";
import {Plots} from "/static/plots.js";
import {renderTimeline} from "/static/timeline.js";

const $ = (id) => document.getElementById(id);
const S = {
  name: "", versions: [], latest: 0, version: 0, episodes: [], tasks: [], health: {status: "off", findings: []},
  edits: {},        // episode -> changes in the server's save format
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
  return {instruction, baseInstruction, subtasks, trim: e.trim || [0, d.length], flagged, drop: !!e.drop};
}

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
  $("lineage-op").textContent = r.operation && r.operation.edits ? "edits of this version:\n" + JSON.stringify(r.operation.edits, null, 1) : "";
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
      ed.drop ? ["dropped", "✕", "dropped in the next version"] : null,
    ].filter(Boolean);
    li.innerHTML = `<span class="idx">#${e.index}</span> <span class="len">${e.length} f</span> ` +
      badges.map(([c, t, title]) => `<span class="badge ${c}" title="${title}">${t}</span>`).join("");
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
  $("empty").hidden = false;
}

async function openEpisode(ep) {
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
  renderEpisode();
  renderList();
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
  } else setEdit(d.index, {drop: v.drop ? undefined : true});
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
  const n = Object.keys(S.edits).length;
  $("pending-count").textContent = n ? `${n} episode(s) edited, not saved` : "no unsaved edits";
  $("save-btn").disabled = !n;
}

async function saveAll() {
  if (!Object.keys(S.edits).length) return;
  $("save-btn").disabled = true;
  banner("saving…");
  try {
    const r = await api("/api/save", {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify({base: S.version, edits: S.edits})});
    const keep = S.cur ? r.episode_map[String(S.cur.index)] ?? null : null;
    S.edits = {};
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

// ------------------------------------------------------------------ keys: the review queue
const KEYS = [
  ["space", "play / pause"], ["← →", "previous / next frame (shift: 10)"], ["j  k", "next / previous episode in the list"],
  ["n", "next episode with undecided suggestions (the review queue)"], ["a  r", "accept / reject this episode's suggestions"],
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
  $("version").addEventListener("change", () => {
    if (Object.keys(S.edits).length && !confirm("Switching versions forgets this tab's unsaved edits. Switch?")) { $("version").value = S.version; return; }
    S.edits = {};
    updateSaveState();
    openVersion($("version").value);
  });
  $("play").addEventListener("click", togglePlay);
  $("scrub").addEventListener("input", () => S.player.seek(Number($("scrub").value)));
  $("rate").addEventListener("change", () => S.player.setRate(Number($("rate").value)));
  $("instruction").addEventListener("change", () => setInstruction($("instruction").value));
  $("instruction").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { setInstruction($("instruction").value); $("instruction").blur(); } });
  for (const b of document.querySelectorAll(".suggestion button")) b.addEventListener("click", () => decide(b.dataset.kind, b.dataset.verdict));
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
  window.addEventListener("beforeunload", (ev) => { if (Object.keys(S.edits).length) ev.preventDefault(); });
  setInterval(() => loadState().catch(() => {}), 10000);  // notice a save from another tab
}

wire();
loadState().then(() => openVersion(S.latest)).catch((err) => banner(`cannot load: ${err.message}`, "error"));
