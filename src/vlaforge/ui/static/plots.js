// State/action plots on canvases: the lines are drawn once per episode, the cursor, trim shading and subtask
// boundaries on every frame over a copy of them.

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

export class Plots {
  constructor(container, series, length, onSeek) {
    this.length = length;
    container.replaceChildren();
    this.items = series.map((s) => {
      const box = document.createElement("div");
      box.className = "plot";
      const title = document.createElement("div");
      title.className = "plot-title";
      title.textContent = s.key;
      const legend = document.createElement("span");
      legend.className = "legend";
      s.names.forEach((n, i) => {
        const k = document.createElement("span");
        k.style.color = COLORS[i % COLORS.length];
        k.textContent = ` ${n}`;
        legend.append(k);
      });
      title.append(legend);
      const canvas = document.createElement("canvas");
      canvas.dataset.series = s.key;
      box.append(title, canvas);
      container.append(box);
      canvas.addEventListener("click", (ev) => {
        const r = canvas.getBoundingClientRect();
        onSeek(Math.floor(((ev.clientX - r.left) / r.width) * length));
      });
      return {s, canvas, base: null};
    });
    this.resize();
  }

  resize() {
    for (const it of this.items) {
      const w = Math.max(200, it.canvas.parentElement.clientWidth - 4), h = 110;
      it.canvas.width = w;
      it.canvas.height = h;
      it.base = this._drawLines(it.s, w, h);
    }
  }

  _drawLines(s, w, h) {
    const off = document.createElement("canvas");
    off.width = w;
    off.height = h;
    const g = off.getContext("2d");
    const v = s.values;
    let lo = Infinity, hi = -Infinity;
    for (const row of v) for (const x of row) { if (x === null) continue; if (x < lo) lo = x; if (x > hi) hi = x; }
    if (!(hi > lo)) { hi = lo + 1; lo -= 1; }
    const pad = 6, T = this.length;
    const X = (t) => ((t + 0.5) / T) * w, Y = (x) => pad + (1 - (x - lo) / (hi - lo)) * (h - 2 * pad);
    g.fillStyle = "#fff";
    g.fillRect(0, 0, w, h);
    g.fillStyle = "#888";
    g.font = "10px sans-serif";
    g.fillText(hi.toPrecision(3), 2, 10);
    g.fillText(lo.toPrecision(3), 2, h - 2);
    for (let d = 0; d < (v[0] || []).length; d++) {
      g.strokeStyle = COLORS[d % COLORS.length];
      g.lineWidth = 1.25;
      g.beginPath();
      let up = true;  // a null (NaN or inf in the data) breaks the line
      v.forEach((row, t) => {
        if (row[d] === null) { up = true; return; }
        up ? g.moveTo(X(t), Y(row[d])) : g.lineTo(X(t), Y(row[d]));
        up = false;
      });
      g.stroke();
    }
    return off;
  }

  draw(frame, trim, subtasks) {
    const T = this.length;
    for (const it of this.items) {
      const c = it.canvas, g = c.getContext("2d"), w = c.width, h = c.height;
      g.drawImage(it.base, 0, 0);
      g.fillStyle = "rgba(0,0,0,0.12)";
      g.fillRect(0, 0, (trim[0] / T) * w, h);
      g.fillRect((trim[1] / T) * w, 0, w, h);
      g.strokeStyle = "rgba(0,0,0,0.25)";
      g.setLineDash([3, 3]);
      for (const s of subtasks) {
        if (s.start > 0) { g.beginPath(); g.moveTo((s.start / T) * w, 0); g.lineTo((s.start / T) * w, h); g.stroke(); }
      }
      g.setLineDash([]);
      g.strokeStyle = "#000";
      g.lineWidth = 1.5;
      const x = ((frame + 0.5) / T) * w;
      g.beginPath();
      g.moveTo(x, 0);
      g.lineTo(x, h);
      g.stroke();
      c.dataset.cursor = frame;
    }
  }
}
