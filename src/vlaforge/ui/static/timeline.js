// The subtask timeline: segments on a frame axis, boundaries dragged with the pointer, the trim shaded,
// the suggested segments in a row of their own, and a cursor at the current frame.

const pct = (f, T) => `${(100 * f) / T}%`;

function cursor(row, frame, T) {
  const c = document.createElement("div");
  c.className = "cursor";
  c.style.left = pct(frame + 0.5, T);
  row.append(c);
}

function frameAt(row, clientX, T) {
  const r = row.getBoundingClientRect();
  return Math.round(((clientX - r.left) / r.width) * T);
}

function segments(row, segs, T, opts) {
  for (const [i, s] of segs.entries()) {
    const d = document.createElement("div");
    d.className = "seg" + (opts.selected === i ? " selected" : "");
    d.style.left = pct(s.start, T);
    d.style.width = pct(s.end - s.start, T);
    d.title = `${s.text} [${s.start}, ${s.end})`;
    d.textContent = s.text;
    d.dataset.index = i;
    if (opts.onSelect) d.addEventListener("click", (ev) => { ev.stopPropagation(); opts.onSelect(i, frameAt(row, ev.clientX, T)); });
    row.append(d);
  }
}

// Boundaries that can be dragged: a shared edge (end of i == start of i+1) moves both segments.
export function boundaries(segs, T) {
  const out = [];
  segs.forEach((s, i) => {
    const prev = segs[i - 1], next = segs[i + 1];
    if (!prev || prev.end !== s.start) out.push({frame: s.start, moves: [[i, "start"]], lo: prev ? prev.end : 0, hi: s.end - 1});
    if (next && next.start === s.end) out.push({frame: s.end, moves: [[i, "end"], [i + 1, "start"]], lo: s.start + 1, hi: next.end - 1});
    else out.push({frame: s.end, moves: [[i, "end"]], lo: s.start + 1, hi: next ? next.start : T});
  });
  return out;
}

export function renderTimeline(els, m, handlers) {
  const {T, frame, subtasks, suggested, trim, selected} = m;
  // trim row: the kept range, the rest shaded
  els.trim.replaceChildren();
  const kept = document.createElement("div");
  kept.className = "kept";
  kept.style.left = pct(trim[0], T);
  kept.style.width = pct(trim[1] - trim[0], T);
  kept.textContent = trim[0] === 0 && trim[1] === T ? `all ${T} frames` : `frames ${trim[0]}–${trim[1] - 1} kept`;
  els.trim.append(kept);
  cursor(els.trim, frame, T);

  els.subtasks.replaceChildren();
  segments(els.subtasks, subtasks, T, {selected, onSelect: handlers.onSelect});
  for (const [bi, b] of boundaries(subtasks, T).entries()) {
    const h = document.createElement("div");
    h.className = "handle";
    h.style.left = pct(b.frame, T);
    h.dataset.boundary = bi;
    h.dataset.frame = b.frame;
    h.title = `drag to move this boundary (frame ${b.frame})`;
    h.addEventListener("pointerdown", (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
      // listen on the window: the timeline is redrawn while dragging, which replaces this handle
      let last = b.frame;
      const move = (e) => {
        const f = Math.max(b.lo, Math.min(b.hi, frameAt(els.subtasks, e.clientX, T)));
        if (f === last) return;
        last = f;
        const next = subtasks.map((s) => ({...s}));
        for (const [i, side] of b.moves) next[i][side] = f;
        handlers.onDrag(next, f);
      };
      const up = () => {
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", up);
        handlers.onDragEnd(last);
      };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    });
    els.subtasks.append(h);
  }
  cursor(els.subtasks, frame, T);
  for (const row of [els.trim, els.subtasks]) row.onclick = (ev) => handlers.onSeek(frameAt(row, ev.clientX, T));

  const showSugg = !!suggested;
  els.sugg.hidden = els.suggLabel.hidden = !showSugg;
  els.sugg.replaceChildren();
  if (showSugg) {
    segments(els.sugg, suggested, T, {});
    cursor(els.sugg, frame, T);
  }
}
