"""robomimic / LIBERO / RoboCasa HDF5 -> LeRobot v3.0.

The published layout (robomimic's dataset docs; LIBERO and RoboCasa keep it):

    data                       attrs: env_args (JSON: env_name, env_kwargs.control_freq, robots, controller_configs)
                                      problem_info (LIBERO, JSON: language_instruction, problem_name), total
    data/demo_N                attrs: num_samples, ep_meta (RoboCasa, JSON: lang)
    data/demo_N/actions        (T, A) float
    data/demo_N/obs/<key>      (T, ...) e.g. agentview_image uint8 (T, H, W, 3), robot0_eef_pos (T, 3)
    mask/<filter>              demo names (e.g. train / valid)

RGB observations become `observation.images.<key without _image/_rgb>`, a set of low-dim
observations is concatenated into `observation.state`, `actions` becomes `action`. LIBERO's raw
frames are stored upside down (as rendered); pass `--image-transform rotate-180` to get the
orientation the LIBERO ports of OpenVLA, openpi and LeRobot train on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vlaforge.data.features import Feature
from vlaforge.data.importers._base import Importer, ImportOptions, Source, SourceEpisode, camera_name, choose, vector_names
from vlaforge.errors import ConfigError, SourceFormatError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# Proprioception presets, first complete match wins: robomimic/robosuite names, then LIBERO's.
STATE_PRESETS = (
    ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos"),
    ("ee_states", "gripper_states"),
)
OSC_POSE_NAMES = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")
# robomimic's own environments carry no language; these are the tasks as its paper describes them.
ROBOMIMIC_TASKS = {
    "Lift": "lift the cube",
    "PickPlaceCan": "pick up the can and place it in the bin",
    "NutAssemblySquare": "put the square nut on the square peg",
    "ToolHang": "hang the tool on the stand",
    "TwoArmTransport": "transport the hammer to the other bin",
}


def _demo_order(name: str) -> tuple[int, int | str]:
    m = re.fullmatch(r"demo_(\d+)", name)
    return (0, int(m.group(1))) if m else (1, name)


def _text(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _json_attr(obj: Any, name: str, where: str) -> dict[str, Any] | None:
    if name not in obj.attrs:
        return None
    raw = _text(obj.attrs[name])
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise SourceFormatError(f"{where}.attrs['{name}'] is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise SourceFormatError(f"{where}.attrs['{name}'] is JSON {type(value).__name__}, expected an object")
    return value


class RobomimicImporter(Importer):
    """robomimic-layout HDF5 files (robomimic, LIBERO, RoboCasa, MimicGen)."""

    name = "robomimic"
    version = "1"
    description = "robomimic / LIBERO / RoboCasa HDF5 (data/demo_N/obs/<key>, actions; language from problem_info or ep_meta)"
    options = frozenset({"fps", "task", "max_episodes", "cameras", "state_keys", "image_transform", "filter_key"})

    def detect(self, src: Path) -> bool:
        """An HDF5 file (by its signature)."""
        if not src.is_file():
            return False
        with open(src, "rb") as f:
            return f.read(8) == HDF5_MAGIC

    def open(self, src: Path, options: ImportOptions) -> Source:
        """Open the file and fix the features from its first demo."""
        return RobomimicSource(src, options)


class RobomimicSource(Source):
    """An open robomimic-layout HDF5 file."""

    def __init__(self, path: Path, options: ImportOptions):
        try:
            import h5py
        except ImportError:
            raise ConfigError("reading HDF5 needs h5py: pip install 'vlaforge[import]'") from None
        if path.is_dir():
            raise SourceFormatError(f"{path} is a directory; robomimic/LIBERO datasets are single .hdf5 files")
        try:
            self.f = h5py.File(path, "r")
        except OSError as e:
            raise SourceFormatError(f"{path}: not a readable HDF5 file ({e})") from None
        self.path, self.options, self.notes, self.files = path, options, [], [path]
        try:
            self._inspect()
        except BaseException:
            self.f.close()
            raise

    def _where(self, inner: str) -> str:
        return f"{self.path}: {inner}"

    def _inspect(self) -> None:
        import h5py

        data = self.f.get("data")
        if not isinstance(data, h5py.Group):
            raise SourceFormatError(self._where(f"no 'data' group (top-level keys: {sorted(self.f.keys())}); not a robomimic/LIBERO file"))
        self.data = data
        env_args = _json_attr(data, "env_args", self._where("data")) or {}
        problem = _json_attr(data, "problem_info", self._where("data")) or {}
        kwargs = env_args.get("env_kwargs") or {}
        if not isinstance(kwargs, dict):
            raise SourceFormatError(self._where("data.attrs['env_args'].env_kwargs is not an object"))
        self.demos = self._demo_names()
        first = self._group(self.demos[0])
        obs = first.get("obs")
        if not isinstance(obs, h5py.Group):
            raise SourceFormatError(self._where(f"data/{self.demos[0]}/obs is missing (or not a group)"))
        cams, lowdim = {}, {}
        for key in sorted(obs.keys()):
            ds = obs[key]
            if not isinstance(ds, h5py.Dataset):
                continue
            if ds.dtype == np.uint8 and ds.ndim == 4 and ds.shape[-1] == 3:
                cams[camera_name(key)] = key
            elif ds.ndim in (1, 2) and ds.dtype.kind in "fiub":
                lowdim[key] = 1 if ds.ndim == 1 else int(ds.shape[1])
            else:
                self.notes.append(f"skipping obs/{key} ({ds.dtype} {ds.shape}): not an RGB camera or a vector")
        where0 = self._where(f"data/{self.demos[0]}/obs")
        self.cameras = {c: cams[c] for c in choose(sorted(cams), self.options.cameras, "camera", where0)}
        if self.options.state_keys is not None:
            self.state_keys = choose(sorted(lowdim), self.options.state_keys, "low-dim observation", where0)
        else:
            preset = next((p for p in STATE_PRESETS if all(k in lowdim for k in p)), None)
            self.state_keys = list(preset) if preset else [k for k in sorted(lowdim) if k != "object"]
            self.notes.append(f"observation.state = {' + '.join(self.state_keys) or '(none)'} (choose with --state-keys)")
        actions = first.get("actions")
        if not isinstance(actions, h5py.Dataset) or actions.ndim != 2:
            got = "missing" if actions is None else f"shape {getattr(actions, 'shape', '?')}"
            raise SourceFormatError(self._where(f"data/{self.demos[0]}/actions: expected a (T, A) array, {got}"))
        A = int(actions.shape[1])
        controller = (kwargs.get("controller_configs") or {}).get("type") if isinstance(kwargs.get("controller_configs"), dict) else None
        action_names = OSC_POSE_NAMES if controller == "OSC_POSE" and A == 7 else tuple(vector_names("action", A))
        feats: dict[str, Feature] = {}
        for cam, key in self.cameras.items():
            feats[f"observation.images.{cam}"] = Feature("video", tuple(obs[key].shape[1:]))
        if self.state_keys:
            names = [n for k in self.state_keys for n in vector_names(k, lowdim[k])]
            feats["observation.state"] = Feature("float32", (len(names),), tuple(names))
        feats["action"] = Feature("float32", (A,), action_names)
        self.features, self.state_dims = feats, {k: lowdim[k] for k in self.state_keys}
        freq = kwargs.get("control_freq")
        self.fps = float(freq) if isinstance(freq, (int, float)) and freq > 0 else None
        robots = kwargs.get("robots")
        robot = robots[0] if isinstance(robots, list) and robots else robots
        self.robot_type = str(robot).lower() if robot else None
        env_name = env_args.get("env_name")
        self.default_task = problem.get("language_instruction") or ROBOMIMIC_TASKS.get(str(env_name))
        if isinstance(self.default_task, list):  # some LIBERO exports store it as a one-element list
            self.default_task = " ".join(map(str, self.default_task))
        self.info = {k: v for k, v in {
            "env_name": env_name, "problem_name": problem.get("problem_name"), "bddl_file_name": _text(data.attrs["bddl_file_name"]) if "bddl_file_name" in data.attrs else None,
            "demos": len(self.demos), "filter_key": self.options.filter_key,
        }.items() if v is not None}

    def _demo_names(self) -> list[str]:
        import h5py

        if self.options.filter_key is not None:
            mask = self.f.get(f"mask/{self.options.filter_key}")
            if not isinstance(mask, h5py.Dataset):
                known = sorted(self.f["mask"].keys()) if isinstance(self.f.get("mask"), h5py.Group) else []
                raise SourceFormatError(self._where(f"mask/{self.options.filter_key}: no such filter key (file has: {known or 'none'})"))
            demos = [_text(n) for n in mask[()]]
            absent = [d for d in demos if d not in self.data]
            if absent:
                raise SourceFormatError(self._where(f"mask/{self.options.filter_key} lists demos that data/ lacks: {absent[:5]}"))
        else:
            demos = [k for k in self.data.keys() if isinstance(self.data[k], h5py.Group)]
        if not demos:
            raise SourceFormatError(self._where("data has no demo groups (data/demo_0, data/demo_1, ...)"))
        return sorted(demos, key=_demo_order)

    def _group(self, name: str) -> Any:
        import h5py

        g = self.data.get(name)
        if not isinstance(g, h5py.Group):
            raise SourceFormatError(self._where(f"data/{name} is not a group"))
        return g

    def _array(self, g: Any, key: str, where: str, T: int | None, tail: tuple[int, ...]) -> np.ndarray:
        ds = g.get(key)
        if ds is None:
            raise SourceFormatError(self._where(f"{where}/{key} is missing (the first demo has it)"))
        arr = np.asarray(ds[()])
        if arr.ndim == 1 and tail == (1,):
            arr = arr[:, None]
        if (T is not None and len(arr) != T) or arr.shape[1:] != tail:
            want = f"({T if T is not None else 'T'}, {', '.join(map(str, tail))})"
            raise SourceFormatError(self._where(f"{where}/{key}: expected shape {want}, found {arr.shape}"))
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            t = int(np.argwhere(~np.isfinite(arr.reshape(len(arr), -1)))[0, 0])
            raise SourceFormatError(self._where(f"{where}/{key}: NaN/inf at step {t}"))
        return arr

    def episodes(self) -> Iterator[SourceEpisode]:
        """Read demos in numeric order (demo_2 before demo_10)."""
        A = self.features["action"].shape[0]
        for name in self.demos:
            g, where = self._group(name), f"data/{name}"
            actions = self._array(g, "actions", where, None, (A,))
            T = len(actions)
            if T == 0:
                raise SourceFormatError(self._where(f"{where}/actions has no steps"))
            if "num_samples" in g.attrs and int(g.attrs["num_samples"]) != T:
                raise SourceFormatError(self._where(f"{where}.attrs['num_samples'] is {int(g.attrs['num_samples'])} but actions has {T} steps"))
            obs = g.get("obs")
            if obs is None:
                raise SourceFormatError(self._where(f"{where}/obs is missing"))
            data: dict[str, np.ndarray] = {"action": actions.astype(np.float32)}
            for cam, key in self.cameras.items():
                shape = self.features[f"observation.images.{cam}"].shape
                frames = self._array(obs, key, f"{where}/obs", T, shape)
                if frames.dtype != np.uint8:
                    raise SourceFormatError(self._where(f"{where}/obs/{key}: expected uint8 frames, found {frames.dtype}"))
                data[f"observation.images.{cam}"] = frames
            if self.state_keys:
                parts = [self._array(obs, k, f"{where}/obs", T, (d,)).astype(np.float32) for k, d in self.state_dims.items()]
                data["observation.state"] = np.concatenate(parts, axis=1)  # (T, D)
            meta = _json_attr(g, "ep_meta", self._where(where)) or {}
            task = meta.get("lang") or self.default_task
            yield SourceEpisode(data, str(task) if task else None, f"{self.path.name}:{where}")

    def close(self) -> None:
        """Close the HDF5 file."""
        self.f.close()


IMPORTER = RobomimicImporter()
