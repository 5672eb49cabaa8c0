"""Random-access frame decoding from packets held in memory: seek = jump to the keyframe, no demuxer.

A `PacketIndex` demuxes one mp4 once (packets' bytes, pts, keyframe flags; ~0.3 KB per 96x96
frame); a `KeyframeDecoder` per thread decodes a wanted frame by feeding the packets from the
keyframe before it. Same packets, same decoder, same RGB conversion as `video.decode_at`, so the
frames are bit-identical; only the demux, seek and container overhead are gone. PyAV releases the
GIL while it decodes and converts, so decoders on several threads run in parallel (`FramePool`).
Files whose presentation order differs from decode order (B-frames) are not indexed: callers
fall back to `video.decode_at`.
"""

from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import av
import numpy as np

from vlaforge.errors import DatasetError

MAX_INDEXED_BYTES = 512 * 2**20  # per process: packet bytes kept in memory over all indexed files
_INHERITED: list[dict[str, Any]] = []  # a parent's pool state seen after fork (see FramePool._reset)
_POOLS: "weakref.WeakSet[FramePool]" = weakref.WeakSet()  # pools whose threads stop before a fork


class PacketIndex:
    """One video file's packets in decode order, with presentation times in seconds."""

    def __init__(self, path: Path):
        self.path = path
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            cc = s.codec_context
            self.codec, self.extradata = cc.name, cc.extradata
            self.width, self.height, self.pix_fmt = cc.width, cc.height, cc.pix_fmt
            self.time_base = s.time_base
            pts, key, data = [], [], []
            for p in c.demux(s):
                if p.size and p.pts is not None:
                    pts.append(int(p.pts))
                    key.append(bool(p.is_keyframe))
                    data.append(bytes(p))
        self.pts = np.asarray(pts, np.int64)  # (P,) decode order
        self.key = np.asarray(key, bool)
        self.data = data
        self.nbytes = sum(len(d) for d in data)
        # Seek-by-keyframe is exact only when every frame follows its keyframe in presentation order too.
        self.seekable = bool(len(self.pts)) and bool(self.key[0]) and bool(np.all(np.diff(self.pts) > 0))
        self.times = self.pts * float(self.time_base)  # (P,) seconds, increasing when seekable
        self._keys = np.flatnonzero(self.key)

    def nearest(self, t: float, tol: float) -> int:
        """Packet index of the frame nearest time t; error if none is within tol."""
        i = int(np.searchsorted(self.times, t))
        best = min((j for j in (i - 1, i) if 0 <= j < len(self.times)), key=lambda j: abs(self.times[j] - t), default=None)
        if best is None or abs(self.times[best] - t) > tol:
            raise DatasetError(
                f"video {self.path} has no frame within {tol * 1000:.1f} ms of t={t:.4f}s; "
                "the video is shorter than the data or timestamps are off the fps grid (run `vlaforge data check`)"
            )
        return best

    def keyframe_before(self, i: int) -> int:
        """Index of the last keyframe at or before packet i."""
        return int(self._keys[np.searchsorted(self._keys, i, side="right") - 1])


class KeyframeDecoder:
    """A codec context for one PacketIndex, used by one thread at a time."""

    def __init__(self, index: PacketIndex):
        self.index = index
        self.ctx = av.CodecContext.create(index.codec, "r")
        if index.extradata is not None:
            self.ctx.extradata = index.extradata
        self.ctx.width, self.ctx.height = index.width, index.height
        self.ctx.thread_count = 1  # parallelism comes from FramePool's threads
        self.rgb = av.video.reformatter.VideoReformatter()
        self.sent = -1  # index of the last packet fed since the last flush
        self.out = -1  # index of the last frame the decoder handed out

    def frame(self, i: int) -> np.ndarray:
        """RGB uint8 (H, W, 3) of packet i: decode on from where the decoder is, or from the keyframe before i.

        The decoder may hand a frame out only after the next packet (x264 streams signal reordering even
        without B-frames), so packets are fed until frame i comes out; frames before it are not converted."""
        idx = self.index
        k = idx.keyframe_before(i)
        if not (self.out < i and self.sent >= k - 1 and self.sent >= 0):
            self.ctx.flush_buffers()
            self.sent, self.out = k - 1, -1
        want = int(idx.pts[i])
        got = None
        try:
            while got is None:
                if self.sent + 1 < len(idx.data):
                    j = self.sent + 1
                    p = av.Packet(idx.data[j])
                    p.pts = p.dts = int(idx.pts[j])
                    p.time_base = idx.time_base
                    frames = self.ctx.decode(p)
                    self.sent = j
                else:  # end of file: drain, and start afresh next time
                    frames = self.ctx.decode(None)
                    self.ctx.flush_buffers()
                    self.sent, self.out = len(idx.data), len(idx.data)
                    if not frames:
                        break
                for f in frames:
                    if f.pts == want:
                        got = f
                    if self.out < len(idx.data):
                        self.out = int(np.searchsorted(idx.pts, f.pts))
        except av.error.FFmpegError as e:
            self.ctx.flush_buffers()
            self.sent, self.out = -1, -1
            raise DatasetError(f"video file {idx.path} failed to decode near t={idx.times[i]:.3f}s ({e}); it is corrupt") from None
        if got is None:
            raise DatasetError(f"video file {idx.path}: packet at t={idx.times[i]:.3f}s decoded to no frame; it is corrupt")
        # frame.to_ndarray(format=...) builds a new swscale context for every frame (~0.2 ms at 96x96);
        # one reformatter per decoder reuses it, with the same conversion.
        return self.rgb.reformat(got, format="rgb24").to_ndarray()


class FramePool:
    """Decode camera frames on a few threads; packet indexes are shared, decoders are per thread."""

    def __init__(self, threads: int):
        self.threads = max(1, threads)
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        return {"threads": self.threads, "_pid": -1}  # threads, locks and decoders are rebuilt where it lands

    def _reset(self) -> None:
        # After a fork (DataLoader workers) the parent's threads and decoders are not ours to use, nor to free:
        # freeing an inherited FFmpeg codec context in a forked child hung the worker, so they are kept, unused.
        forked = self._pid != -1
        if forked:
            _INHERITED.append(dict(self.__dict__))
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._indexes: dict[tuple[str, int, int], PacketIndex | None] = {}
        self._bytes = 0
        self._local = threading.local()
        # In a DataLoader worker the workers are the parallelism: decode serially there.
        self._serial = self.threads == 1 or forked or _in_dataloader_worker()
        self._executor: ThreadPoolExecutor | None = None
        _POOLS.add(self)

    def _stop_threads(self) -> None:
        """Before a fork: a child forked while decode threads were alive hung, so stop them (restarted on next use)."""
        ex = getattr(self, "_executor", None)
        if ex is not None and self._pid == os.getpid():
            ex.shutdown(wait=True)
            self._executor = None

    def index(self, path: Path) -> PacketIndex | None:
        """The file's PacketIndex, built on first use; None when it cannot seek by keyframe or the memory budget is spent."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise DatasetError(f"video file {path} is missing; re-create the dataset or restore the file") from None
        key = (str(path), st.st_ino, st.st_mtime_ns)  # a file replaced on disk is indexed again
        with self._lock:  # builds are rare (once per file and process); holding the lock keeps them single
            if key not in self._indexes:
                ix = None
                if st.st_size <= MAX_INDEXED_BYTES - self._bytes:
                    try:
                        ix = PacketIndex(path)
                    except av.error.FFmpegError as e:
                        raise DatasetError(f"video file {path} cannot be read ({e}); the file is corrupt or truncated") from None
                    ix = ix if ix.seekable else None
                self._indexes[key] = ix
                self._bytes += ix.nbytes if ix is not None else 0
            return self._indexes[key]

    def decode(self, path: Path, timestamps: Sequence[float], fps: int, fallback: Callable[..., np.ndarray]) -> np.ndarray:
        """Frames nearest `timestamps` in one file → uint8 (N, H, W, 3); `fallback(path, ts, fps)` for unindexable files."""
        if self._pid != os.getpid():
            self._reset()
        ix = self.index(path)
        if ix is None:
            return fallback(path, list(timestamps), fps)
        decoders = getattr(self._local, "decoders", None)
        if decoders is None:
            decoders = self._local.decoders = {}
        dec = decoders.get(id(ix))
        if dec is None or dec.index is not ix:
            dec = decoders[id(ix)] = KeyframeDecoder(ix)
        tol = 0.5 / fps
        pos = [ix.nearest(float(t), tol) for t in timestamps]
        order = np.argsort(pos, kind="stable")
        out = np.empty((len(pos), ix.height, ix.width, 3), np.uint8)
        for k in order:
            out[k] = dec.frame(pos[k])
        return out

    def map(self, jobs: Sequence[tuple[Path, Sequence[float]]], fps: int, fallback: Callable[..., np.ndarray]) -> list[np.ndarray]:
        """decode() for each (path, timestamps) job, on the pool's threads; results in job order."""
        if self._pid != os.getpid():
            self._reset()
        if self._serial or len(jobs) < 2:
            return [self.decode(p, ts, fps, fallback) for p, ts in jobs]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="vlaforge-decode")
        return list(self._executor.map(lambda job: self.decode(job[0], job[1], fps, fallback), jobs))


def _in_dataloader_worker() -> bool:
    import sys

    torch = sys.modules.get("torch")  # only a process that imported torch can be a DataLoader worker
    return torch is not None and torch.utils.data.get_worker_info() is not None


def default_threads() -> int:
    """Decode threads per loader process: the cores we may run on, at most 4 (96x96 frames are ~0.5 ms each)."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def describe(pool: FramePool) -> dict[str, Any]:
    """What the pool holds (for logs and benchmarks)."""
    ixs = [i for i in getattr(pool, "_indexes", {}).values() if i is not None]
    return {"threads": pool.threads, "files_indexed": len(ixs), "bytes": sum(i.nbytes for i in ixs)}


os.register_at_fork(before=lambda: [p._stop_threads() for p in list(_POOLS)])
