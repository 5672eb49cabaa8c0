"""Training loader: LeRobot `delta_timestamps` semantics over a dataset, frames served from a memmap cache.

A sample for history n_obs and chunk H is
  observation.images.<cam>: uint8 (n_obs, 3, H_img, W_img)   observation.state: float32 (n_obs, S)
  action: float32 (H, A)   action_is_pad: bool (H,)   observation.state_is_pad: bool (n_obs,)
  task: str   episode_index, index: int64   timestamp: float32
Queries outside the episode are clamped to its first/last frame and flagged in `<key>_is_pad`,
exactly as LeRobot does. `__getitems__` returns a whole batch at once (numpy fancy indexing),
which is what makes the warm path fast; use `make_dataloader` to get a DataLoader wired for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vlaforge.data.features import is_label
from vlaforge.data.keyframes import FramePool, default_threads
from vlaforge.data.reader import LeRobotDataset, open_dataset
from vlaforge.data.video import decode_at
from vlaforge.errors import DatasetError


def split_episodes(episodes: Sequence[int], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
    """Episode-aware train/val split (no episode in both); at least one val episode when there are ≥ 2."""
    eps = list(episodes)
    rng = np.random.default_rng(seed)
    order = [eps[i] for i in rng.permutation(len(eps))]
    n_val = min(len(eps) - 1, max(1, round(len(eps) * val_fraction))) if len(eps) >= 2 and val_fraction > 0 else 0
    return sorted(order[n_val:]), sorted(order[:n_val])


def default_delta_timestamps(ds: LeRobotDataset, n_obs: int = 1, chunk: int = 16) -> dict[str, list[float]]:
    """History of n_obs frames for observations, the next `chunk` steps for actions, the current frame for `label.*`."""
    obs = [(i - n_obs + 1) / ds.fps for i in range(n_obs)]
    out = {k: obs for k in ds.features if k.startswith("observation.")}
    out["action"] = [i / ds.fps for i in range(chunk)]
    out.update({k: [0.0] for k in ds.features if is_label(k)})
    return out


class TrainingDataset(torch.utils.data.Dataset):
    """Frames of the chosen episodes with observation history and action chunks (see module doc)."""

    def __init__(
        self,
        dataset: LeRobotDataset | str | Path,
        delta_timestamps: dict[str, list[float]] | None = None,
        n_obs: int = 1,
        chunk: int = 16,
        episodes: Sequence[int] | None = None,
        cache: bool = True,
        cache_root: Path | None = None,
        tolerance_s: float = 1e-4,
        decode_threads: int | None = None,
    ):
        self.ds = dataset if isinstance(dataset, LeRobotDataset) else open_dataset(dataset)
        self.delta = delta_timestamps or default_delta_timestamps(self.ds, n_obs, chunk)
        unknown = sorted(set(self.delta) - set(self.ds.features))
        if unknown:
            raise DatasetError(f"delta_timestamps names {unknown}, which the dataset does not have; features: {sorted(self.ds.features)}")
        fps = self.ds.fps
        self.offsets: dict[str, np.ndarray] = {}
        for k, d in self.delta.items():
            steps = np.asarray(d, np.float64) * fps
            if np.abs(steps - np.round(steps)).max() * (1 / fps) > tolerance_s:
                raise DatasetError(f"delta_timestamps[{k!r}] = {d} are not multiples of 1/fps = {1 / fps:.4f}s")
            self.offsets[k] = np.round(steps).astype(np.int64)
        all_eps = [int(e["episode_index"]) for e in self.ds.episode_meta]
        self.episodes = sorted(all_eps if episodes is None else episodes)
        missing = sorted(set(self.episodes) - set(all_eps))
        if missing:
            raise DatasetError(f"episodes {missing[:10]} are not in the dataset ({len(all_eps)} episodes)")
        bounds = [self.ds.episode_range(e) for e in self.episodes]
        self.rows = np.concatenate([np.arange(a, b) for a, b in bounds]) if bounds else np.zeros(0, np.int64)  # (N,)
        # For each position in the dataset: first and last row of its episode.
        n = self.ds.num_frames
        self._ep_first = np.zeros(n, np.int64)
        self._ep_last = np.zeros(n, np.int64)
        for e in all_eps:
            a, b = self.ds.episode_range(e)
            self._ep_first[a:b], self._ep_last[a:b] = a, b - 1
        self._cols = {k: self.ds.column(k) for k in self.delta if not self.ds.features[k].is_visual}
        self._cams = [k for k in self.delta if self.ds.features[k].is_visual]
        self.cache = None
        if cache and self._cams:
            from vlaforge.data.cache import open_or_build

            self.cache = open_or_build(self.ds, cache_root)
        # Cold path: packets in memory, seek by keyframe, cameras and samples decoded on a few threads.
        self._pool = FramePool(decode_threads or default_threads()) if self.cache is None and self._cams else None

    def __len__(self) -> int:
        return len(self.rows)

    def _query(self, pos: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows for `key` around positions `pos` (B,) → (rows (B, K), is_pad (B, K))."""
        want = pos[:, None] + self.offsets[key][None, :]  # (B, K)
        first, last = self._ep_first[pos][:, None], self._ep_last[pos][:, None]
        return np.clip(want, first, last), (want < first) | (want > last)

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Any]:
        """A whole batch at once → dict of stacked tensors (B, ...) plus `task` as a list of strings."""
        pos = self.rows[np.asarray(indices, np.int64)]  # (B,)
        out: dict[str, Any] = {}
        queries = {key: self._query(pos, key) for key in self.delta}
        cold = self._cold_frames({k: queries[k][0] for k in self._cams}) if self._pool is not None else {}
        for key in self.delta:
            rows, pad = queries[key]
            if key in self._cams:
                out[key] = torch.from_numpy(cold[key] if key in cold else self._frames(key, rows))  # (B, K, 3, H, W) uint8
            else:
                out[key] = torch.from_numpy(np.ascontiguousarray(self._cols[key][rows]))  # (B, K, D)
            out[f"{key}_is_pad"] = torch.from_numpy(pad)
        ds = self.ds
        out["episode_index"] = torch.from_numpy(ds.column("episode_index")[pos])
        out["index"] = torch.from_numpy(ds.column("index")[pos])
        out["timestamp"] = torch.from_numpy(ds.column("timestamp")[pos])
        out["task"] = [ds.tasks[int(t)] for t in ds.column("task_index")[pos]]
        return out

    def __getitem__(self, i: int) -> dict[str, Any]:
        batch = self.__getitems__([i])
        return {k: (v[0] if k != "task" else v[0]) for k, v in batch.items()}

    def _frames(self, cam: str, rows: np.ndarray) -> np.ndarray:
        """Warm path: frames from the memmap cache → uint8 (B, K, 3, H, W)."""
        return self.cache.frames(cam)[rows.reshape(-1)].reshape(rows.shape + self.cache.frames(cam).shape[1:])  # type: ignore[union-attr]

    def _cold_frames(self, rows_by_cam: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Cold path: every camera of a batch decoded from the mp4 files in one go → {cam: uint8 (B, K, 3, H, W)}."""
        ds = self.ds
        ep_col, ts_col = ds.column("episode_index"), ds.column("timestamp")
        jobs, where = [], []
        for cam, rows in rows_by_cam.items():
            for b in range(rows.shape[0]):  # one job per sample and camera: all of a job's frames are in one file
                ep = int(ep_col[rows[b, 0]])
                start = ds.video_from(ep, cam)
                jobs.append((ds.video_path(ep, cam), [start + float(ts_col[r]) for r in rows[b]]))
                where.append((cam, b))
        frames = self._pool.map(jobs, ds.fps, fallback=decode_at)  # type: ignore[union-attr]
        out = {}
        for cam, rows in rows_by_cam.items():
            h, w, c = ds.features[cam].shape
            out[cam] = np.empty(rows.shape + (c, h, w), np.uint8)
        for (cam, b), f in zip(where, frames):
            out[cam][b] = f.transpose(0, 3, 1, 2)
        return out


def collate_batch(batch: Any) -> Any:
    """`__getitems__` already returns a collated batch; pass it through."""
    return batch


def make_dataloader(
    dataset: TrainingDataset,
    batch_size: int = 32,
    shuffle: bool = True,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool = True,
    batch_sampler: Any = None,
    **kwargs: Any,
) -> torch.utils.data.DataLoader:
    """A DataLoader that fetches whole batches through `__getitems__`; workers use one torch thread each.

    `batch_sampler` (lists of row indices, e.g. the trainer's seeded per-rank order) replaces
    batch_size/shuffle/seed/drop_last; such a loader is built per pass, so its workers do not persist."""
    if batch_sampler is not None:
        return torch.utils.data.DataLoader(
            dataset, batch_sampler=batch_sampler, num_workers=num_workers, collate_fn=collate_batch,
            worker_init_fn=_worker_init if num_workers > 0 else None, **kwargs,
        )
    g = torch.Generator()
    g.manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_batch,
        generator=g,
        drop_last=drop_last,
        worker_init_fn=_worker_init if num_workers > 0 else None,
        persistent_workers=num_workers > 0,
        **kwargs,
    )


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)
