"""JSON views of one dataset version for the web app: the episode list, one episode, its health findings."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from vlaforge.data.reader import LeRobotDataset
from vlaforge.engine.health.findings import jsonable


def episode_summary(ds: LeRobotDataset, meta: dict[str, Any], findings: dict[int, list[str]]) -> dict[str, Any]:
    """One row of the episode list."""
    ep = int(meta["episode_index"])
    flags = ds.flags(ep)
    sugg = ds.suggestions(ep)
    return {
        "index": ep, "length": int(meta["length"]), "task": meta["tasks"][0] if meta.get("tasks") else "",
        "success": flags.get("success"), "flagged": bool(flags.get("flagged")), "flags": jsonable(flags),
        "subtasks": len(ds.subtasks(ep)), "pending": sorted(k for k, v in sugg.items() if v.get("status") == "pending"),
        "findings": findings.get(ep, []),
    }


def series_keys(ds: LeRobotDataset) -> list[str]:
    """The per-frame signals plotted under the videos: the state and the action, then any other observation."""
    keys = [k for k in ("observation.state", "action") if k in ds.features]
    keys += [k for k, f in ds.features.items() if k.startswith("observation.") and not f.is_visual and k not in keys]
    return keys


def media_files(ds: LeRobotDataset) -> dict[str, Path]:
    """Every video file of the version by its path relative to the dataset root: the only files served."""
    out = {}
    for m in ds.episode_meta:
        for cam in ds.camera_keys:
            p = ds.video_path(int(m["episode_index"]), cam)
            out[p.relative_to(ds.root).as_posix()] = p
    return out


def episode_detail(ds: LeRobotDataset, ep: int, version: int, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the episode view shows: cameras (file URL + start time), signals, subtasks, suggestions, flags."""
    arrays = ds.episode(ep, cameras=False)
    cams = []
    for cam in ds.camera_keys:
        rel = ds.video_path(ep, cam).relative_to(ds.root).as_posix()
        cams.append({"key": cam, "name": cam.removeprefix("observation.images."), "url": f"/api/v/{version}/media/{rel}",
                     "from": ds.video_from(ep, cam), "shape": list(ds.features[cam].shape)})
    series = []
    for k in series_keys(ds):
        v = np.asarray(arrays[k], np.float64).reshape(len(arrays[k]), -1)  # (T, D)
        names = list(ds.features[k].names or [f"{k}[{i}]" for i in range(v.shape[1])])
        series.append({"key": k, "names": [str(n) for n in names][: v.shape[1]], "values": np.round(v, 5).tolist()})
    return jsonable({  # NaN/inf (a dataset from elsewhere may hold them) become null: JSON has neither
        "index": ep, "version": version, "length": len(arrays["index"]), "fps": ds.fps, "task": arrays["task"][0],
        "flags": ds.flags(ep), "subtasks": ds.subtasks(ep), "suggestions": ds.suggestions(ep),
        "cameras": cams, "series": series, "findings": findings,
    })


class HealthCache:
    """Health findings per version, computed once in the background (a big dataset takes a while)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._lock = threading.Lock()
        self._done: dict[int, dict[str, Any]] = {}
        self._threads: dict[int, threading.Thread] = {}

    def get(self, version: int, ds: LeRobotDataset) -> dict[str, Any]:
        """{"status": "ready"|"running"|"off"|"failed", "findings": [...]}; starts the check on first use."""
        if not self.enabled:
            return {"status": "off", "findings": []}
        with self._lock:
            if version in self._done:
                return self._done[version]
            if version not in self._threads:
                t = threading.Thread(target=self._run, args=(version, ds), daemon=True, name=f"health-v{version}")
                self._threads[version] = t
                t.start()
        return {"status": "running", "findings": []}

    def wait(self, version: int, ds: LeRobotDataset) -> dict[str, Any]:
        """Compute (or reuse) the findings, blocking."""
        self.get(version, ds)
        if version in self._threads:
            self._threads[version].join()
        return self._done.get(version, {"status": "off", "findings": []})

    def by_episode(self, version: int) -> dict[int, list[str]]:
        """{episode: [finding ids]} of the findings known so far."""
        out: dict[int, list[str]] = {}
        for f in self._done.get(version, {}).get("findings", []):
            for ep in f.get("episodes", []):
                out.setdefault(int(ep), []).append(f["id"])
        return out

    def _run(self, version: int, ds: LeRobotDataset) -> None:
        from vlaforge.engine.health.run import run_health

        try:
            report = run_health(ds)
            res = {"status": "ready", "findings": [f.to_json() for f in report.findings]}
        except Exception as e:  # a report that cannot be made must not take the editor down  # noqa: BLE001
            res = {"status": "failed", "error": f"{type(e).__name__}: {e}"[:300], "findings": []}
        with self._lock:
            self._done[version] = res
