// All cameras of one episode played in sync. Each camera's mp4 holds several episodes back to back; this
// episode starts at `from` seconds in it. The first camera is the clock; the others are re-seeked when they
// drift by more than one frame. Playback stops at the episode's last frame.

export class Player {
  constructor(container, cameras, fps, length, onFrame) {
    this.fps = fps;
    this.length = length;
    this.onFrame = onFrame;
    this.frame = 0;
    this.playing = false;
    this.rate = 1;
    container.replaceChildren();
    this.videos = cameras.map((c) => {
      const fig = document.createElement("figure");
      const el = document.createElement("video");
      el.muted = true;
      el.playsInline = true;
      el.preload = "auto";
      el.dataset.camera = c.name;
      el.src = c.url;
      const cap = document.createElement("figcaption");
      cap.textContent = c.name;
      fig.append(el, cap);
      container.append(fig);
      el.addEventListener("loadedmetadata", () => this._place(el, c.from, this.frame), {once: true});
      return {el, from: c.from};
    });
  }

  // Seconds into the file of the middle of frame f (the middle avoids landing on a frame boundary).
  _t(v, f) { return v.from + (f + 0.5) / this.fps; }

  _place(el, from, f) { el.currentTime = from + (f + 0.5) / this.fps; }

  seek(f) {
    this.pause();
    f = Math.max(0, Math.min(this.length - 1, Math.round(f)));
    this.frame = f;
    for (const v of this.videos) v.el.currentTime = this._t(v, f);
    this.onFrame(f);
  }

  setRate(r) {
    this.rate = r;
    for (const v of this.videos) v.el.playbackRate = r;
  }

  async play() {
    if (this.playing || !this.videos.length) return;
    if (this.frame >= this.length - 1) this.seek(0);
    for (const v of this.videos) { v.el.currentTime = this._t(v, this.frame); v.el.playbackRate = this.rate; }
    this.playing = true;
    await Promise.all(this.videos.map((v) => v.el.play().catch(() => {})));
    const tick = () => {
      if (!this.playing) return;
      const m = this.videos[0];
      const t = m.el.currentTime - m.from;
      const f = Math.floor(t * this.fps);
      if (f >= this.length - 1) { this.seek(this.length - 1); return; }
      for (const v of this.videos.slice(1)) {
        if (Math.abs(v.el.currentTime - v.from - t) > 1 / this.fps) v.el.currentTime = v.from + t;
      }
      if (f !== this.frame && f >= 0) { this.frame = f; this.onFrame(f); }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  pause() {
    this.playing = false;
    for (const v of this.videos) v.el.pause();
  }

  toggle() { this.playing ? this.pause() : this.play(); }

  // Seconds between the earliest and latest camera, relative to their episode starts (the sync check).
  spread() {
    const ts = this.videos.map((v) => v.el.currentTime - v.from);
    return Math.max(...ts) - Math.min(...ts);
  }

  destroy() {
    this.pause();
    for (const v of this.videos) { v.el.removeAttribute("src"); v.el.load(); }
  }
}
