"""Thresholds of the dataset health check, as one frozen config with defaults that work on real demos."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class HealthConfig:
    """Every threshold a finding is judged against; `vlaforge engine health --set key=value` overrides one."""

    # counts
    rare_task_fraction: float = 0.25  # a task with fewer episodes than this x the median per task is rare
    imbalance_ratio: float = 4.0  # largest / smallest episodes per task (or family) above this is imbalanced

    # images (brightness, contrast, saturation in [0, 1])
    frames_per_episode: int = 16  # frames sampled per episode and camera for the per-frame image statistics
    dark_brightness: float = 0.15  # median brightness of a camera below this is dark
    bright_brightness: float = 0.85  # ... above this is overexposed
    low_contrast: float = 0.04  # median grey-level std below this is washed out
    blur_relative: float = 0.25  # a frame whose variance of Laplacian is below this x its camera's median is blurry
    blurry_fraction: float = 0.1  # ... and a camera with more than this fraction of blurry frames gets a finding
    black_level: float = 0.03  # a frame whose mean brightness is below this is black
    frozen_diff: float = 0.5  # consecutive frames whose mean |difference| (0..255) is below this are identical
    frozen_frames: int = 8  # a run of identical frames this long while the robot moves is a frozen camera
    frozen_speed: float = 0.5  # "moves": mean per-frame state change over the run above this x the 90th percentile of all
    lighting_spread: float = 0.01  # std of per-episode brightness below this: no lighting variety

    # actions and states
    action_eps: float = 1e-3  # |motion action| below this counts as idle (as `vlaforge data edit trim-idle`)
    state_eps: float = 1e-4  # per-frame state change below this counts as idle
    idle_edge_frames: int = 5  # an idle run this long at an episode's start or end is worth trimming
    idle_mid_frames: int = 20  # an idle run this long inside an episode is a pause
    saturation_fraction: float = 0.2  # a motion action dimension pinned at its min or max this often is saturated
    jerk_factor: float = 4.0  # an episode whose RMS jerk is above this x the median episode's is jerky
    chatter_toggles: int = 6  # more gripper open/close switches than this in one episode is chatter
    max_lag: int = 12  # state->action lags searched, in frames
    lag_frames: int = 2  # an estimated lag above this many frames is reported (1 is a clean recorder)
    outlier_span: float = 1.0  # a value farther than this x (p99 - p01) below p01 or above p99 is an outlier

    # episodes
    short_fraction: float = 0.5  # an episode shorter than this x the median length (of its family, if recorded) is short
    long_factor: float = 2.0  # ... longer than this x the median is long
    duplicate_rms: float = 0.02  # RMS distance (in per-dimension stds) between resampled trajectories below this is a duplicate
    duplicate_points: int = 32  # points each trajectory is resampled to before comparing
    min_wordings: int = 2  # a task group with >= `min_wordings_episodes` episodes but fewer wordings than this is monotone
    min_wordings_episodes: int = 10
    colors: tuple[str, ...] = ("red", "green", "blue", "yellow", "white", "black", "orange", "purple", "pink", "gray", "grey", "brown")
    shapes: tuple[str, ...] = ("block", "cube", "cylinder", "ball", "sphere", "box", "cup", "bowl", "plate", "can", "bottle", "object", "item")

    # spatial heatmaps
    grasp_spread: float = 0.05  # std of grasp x/y below this fraction of the workspace extent: objects always at one spot

    # report
    heatmap_bins: int = 48  # heatmap resolution over the workspace (bins per axis)
    top_findings: int = 10  # findings printed by the CLI
