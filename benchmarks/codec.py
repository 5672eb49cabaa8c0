"""Video codec fidelity and size: PSNR per camera after a write → read round trip, for each codec option.

Also PSNR on the small saturated objects only (the colored blocks), where 4:2:0 chroma hurts most.
Usage: python benchmarks/codec.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from common import save
from vlaforge.data import open_dataset
from vlaforge.data.sample import COLORS, make_sample_dataset, sample_episode
from vlaforge.data.video import VideoConfig


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def main() -> None:
    configs = {
        f"default (h264 yuv444p crf{VideoConfig.crf} g2, no mbtree)": VideoConfig(),
        f"h264 yuv420p crf{VideoConfig.crf} g2": VideoConfig(pix_fmt="yuv420p"),
        "lerobot default (av1 yuv420p crf30 g2)": VideoConfig.lerobot_default(),
        "lossless (x264 rgb qp0)": VideoConfig.lossless(),
    }
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in configs.items():
            t = time.perf_counter()
            root = make_sample_dataset(Path(tmp) / name.split()[0], episodes=4, length=50, video=cfg, overwrite=True)
            write_s = time.perf_counter() - t
            ds = open_dataset(root)
            per_cam: dict[str, list[float]] = {}
            obj: list[float] = []
            for ep in range(ds.num_episodes):
                want, _ = sample_episode(ep, 50 + (ep % 3) * 5)
                got = ds.episode(ep)
                for cam in ds.camera_keys:
                    per_cam.setdefault(cam.split(".")[-1], []).append(psnr(got[cam], want[cam]))
                    mask = np.zeros(want[cam].shape[:-1], bool)
                    for c in COLORS.values():
                        mask |= np.all(want[cam] == c, axis=-1)
                    obj.append(psnr(got[cam][mask], want[cam][mask]))
            size = sum(p.stat().st_size for p in (root / "videos").rglob("*.mp4"))
            res[name] = {
                "psnr_db": {c: float(np.mean(v)) for c, v in per_cam.items()},
                "object_psnr_db": float(np.mean(obj)),
                "video_kb_per_frame_per_cam": size / 1e3 / ds.num_frames / len(ds.camera_keys),
                "write_s": write_s,
            }
    fmt = lambda v: "exact" if v == float("inf") else f"{v:.1f} dB"
    line = "**Codec** (96x96 sample, PSNR front/wrist, on colored blocks; KB/frame): " + "; ".join(
        f"{k}: {fmt(v['psnr_db']['front'])}/{fmt(v['psnr_db']['wrist'])}, blocks {fmt(v['object_psnr_db'])}, {v['video_kb_per_frame_per_cam']:.2f} KB"
        for k, v in res.items()
    ) + ". `python benchmarks/codec.py`"
    save("codec", {"configs": res}, line)


if __name__ == "__main__":
    main()
