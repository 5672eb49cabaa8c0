"""RLDS (Open X-Embodiment) TFRecord shards -> LeRobot v3.0, without TensorFlow.

TFDS writes one `tf.train.Example` per episode. Its nested `steps` dataset is flattened into
keys joined by '/', each holding all steps' values back to back: `steps/action` is a float
list of T*A values, `steps/observation/image` a bytes list of T encoded JPEG/PNG frames,
`steps/is_first` an int64 list of T (TFDS stores bools as int64, and every float, float64
included, as float32), `steps/language_instruction` T strings. Episode-level fields sit
under `episode_metadata/`. T is the length of `steps/is_first`, which RLDS always has.
Per-step shapes are inferred (length / T): vectors stay flat, which is what
`observation.state` and `action` are. Frames decode with PyAV (already a dependency).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vlaforge.data.features import Feature
from vlaforge.data.importers._base import Importer, ImportOptions, Source, SourceEpisode, camera_name, choose, vector_names
from vlaforge.data.tfrecord import masked_crc32c, parse_example, read_records
from vlaforge.errors import SourceFormatError

IMAGE_MAGIC = {b"\xff\xd8\xff": "mjpeg", b"\x89PNG": "png"}
LANGUAGE_KEYS = ("language_instruction", "observation/natural_language_instruction", "observation/language_instruction")
NOT_STATE = ("language", "instruction", "embedding")  # observation keys that are text or text embeddings, not proprioception


def _codec(value: bytes) -> str | None:
    return next((c for m, c in IMAGE_MAGIC.items() if value.startswith(m)), None)


def _shards(src: Path, split: str | None) -> list[Path]:
    if src.is_file():
        return [src]
    shards = sorted(p for p in src.iterdir() if p.is_file() and ".tfrecord" in p.name)
    if split is not None:
        shards = [p for p in shards if f"-{split}.tfrecord" in p.name]
    if not shards:
        which = f" of split {split!r}" if split else ""
        raise SourceFormatError(f"{src}: no TFRecord shards{which} (files named NAME-SPLIT.tfrecord-00000-of-000NN)")
    return shards


class RldsImporter(Importer):
    """TFDS/RLDS episodes stored as TFRecord shards of tf.train.Example."""

    name = "rlds"
    version = "1"
    description = "RLDS / Open X-Embodiment TFRecord shards (a TFDS directory or one .tfrecord file); no TensorFlow needed"
    options = frozenset({"fps", "task", "max_episodes", "cameras", "state_keys", "action_keys", "image_transform", "split"})

    def detect(self, src: Path) -> bool:
        """A TFDS directory with .tfrecord shards, or a file whose first record header passes TFRecord's CRC."""
        if src.is_dir():
            return any(".tfrecord" in p.name for p in src.iterdir())
        with open(src, "rb") as f:
            head = f.read(12)
        return len(head) == 12 and masked_crc32c(head[:8]) == int.from_bytes(head[8:], "little")

    def open(self, src: Path, options: ImportOptions) -> Source:
        """List the shards and fix the features from the first episode."""
        return RldsSource(src, options)


class _Episode:
    """One parsed RLDS episode: per-step fields (without the 'steps/' prefix), episode metadata, length."""

    def __init__(self, example: dict[str, Any], where: str, source: str):
        self.where, self.source = where, source
        self.steps = {k[len("steps/"):]: v for k, v in example.items() if k.startswith("steps/")}
        self.meta = {k[len("episode_metadata/"):]: v for k, v in example.items() if k.startswith("episode_metadata/")}
        first = self.steps.get("is_first")
        if not isinstance(first, np.ndarray) or first.dtype != np.int64:
            keys = sorted(example)[:8]
            raise SourceFormatError(f"{where}: steps/is_first: missing or not an int64 list; not an RLDS episode (features: {keys} ...)")
        self.T = len(first)
        if self.T == 0:
            raise SourceFormatError(f"{where}: steps/is_first is empty: the episode has no steps")

    def vector(self, key: str, dim: int | None = None) -> np.ndarray:
        """A numeric per-step field as float32 (T, D)."""
        v = self.steps.get(key)
        if not isinstance(v, np.ndarray):
            kind = "missing" if v is None else "a bytes list"
            raise SourceFormatError(f"{self.where}: steps/{key}: expected a float or int64 list, found {kind}")
        if len(v) % self.T or (dim is not None and len(v) != self.T * dim):
            want = f"{self.T} x {dim}" if dim is not None else f"a multiple of {self.T}"
            raise SourceFormatError(f"{self.where}: steps/{key}: {len(v)} values for {self.T} steps (expected {want})")
        out = v.reshape(self.T, -1).astype(np.float32)  # (T, D)
        if not np.isfinite(out).all():
            t = int(np.argwhere(~np.isfinite(out))[0, 0])
            raise SourceFormatError(f"{self.where}: steps/{key}: NaN/inf at step {t}")
        return out

    def images(self, key: str, limit: int | None = None) -> tuple[np.ndarray, str]:
        """Decode a per-step encoded-image field to uint8 (T, H, W, 3) (the first `limit` steps); also the pixel format."""
        import av

        values = self.steps.get(key)
        if not isinstance(values, list) or len(values) != self.T:
            n = len(values) if values is not None else "no"
            raise SourceFormatError(f"{self.where}: steps/{key}: {n} encoded frames for {self.T} steps")
        frames, pix = [], ""
        for t, data in enumerate(values[:limit]):
            codec = _codec(data)
            if codec is None:
                raise SourceFormatError(f"{self.where}: steps/{key}: step {t} is not a JPEG or PNG image")
            dec = av.CodecContext.create(codec, "r")  # one per frame (~20 us): a reused PNG decoder keeps state and garbles later frames
            try:
                out = dec.decode(av.Packet(data))
            except av.error.FFmpegError as e:
                raise SourceFormatError(f"{self.where}: steps/{key}: step {t} does not decode ({e})") from None
            if len(out) != 1:
                raise SourceFormatError(f"{self.where}: steps/{key}: step {t} does not decode to one frame")
            pix = out[0].format.name
            frames.append(out[0].to_ndarray(format="rgb24"))
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise SourceFormatError(f"{self.where}: steps/{key}: frames change size within the episode {sorted(shapes)}")
        return np.stack(frames), pix  # (T, H, W, 3)

    def text(self, key: str) -> str | None:
        """The first step's string of a text field ('' -> None)."""
        v = self.steps.get(key)
        if not isinstance(v, list) or not v:
            return None
        try:
            s = v[0].decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SourceFormatError(f"{self.where}: steps/{key}: step 0 is not UTF-8 text") from None
        return s or None

    def metadata(self) -> dict[str, Any]:
        """Scalar episode_metadata/* fields (strings, numbers), for the episode's flags."""
        out: dict[str, Any] = {}
        for k, v in self.meta.items():
            if isinstance(v, list) and len(v) == 1:
                try:
                    out[k] = v[0].decode("utf-8")
                except UnicodeDecodeError:
                    continue
            elif isinstance(v, np.ndarray) and len(v) == 1:
                out[k] = v[0].item()
        return out


class RldsSource(Source):
    """The shards of one RLDS dataset, read record by record."""

    def __init__(self, src: Path, options: ImportOptions):
        self.src, self.options, self.notes = src, options, []
        self.files = _shards(src, options.split)
        self._opened: list[Path] = []
        self.info = self._dataset_info()
        self.info["shards"] = len(self.files)
        records = self._records()
        first = next(records, None)
        records.close()  # closes the shard it read from
        if first is None:
            raise SourceFormatError(f"{src}: no records in {len(self.files)} shard(s)")
        self._spec(first)

    def _dataset_info(self) -> dict[str, Any]:
        p = self.src / "dataset_info.json"
        if not self.src.is_dir() or not p.exists():
            return {}
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise SourceFormatError(f"{p}: not valid JSON ({e})") from None
        return {k: d[k] for k in ("name", "version") if isinstance(d, dict) and isinstance(d.get(k), str)}

    def files_read(self) -> list[Path]:
        """The shards read so far: --max-episodes stops early, and only what was read is hashed."""
        return list(self._opened)

    def _records(self) -> Iterator[_Episode]:
        for path in self.files:
            if path not in self._opened:
                self._opened.append(path)
            for i, rec in enumerate(read_records(path)):
                where = f"{path}: record {i}"
                try:
                    example = parse_example(rec)
                except ValueError as e:
                    raise SourceFormatError(f"{where}: {e}") from None
                yield _Episode(example, where, f"{path.name}:{i}")

    def _spec(self, ep: _Episode) -> None:
        numeric = {k: len(v) // ep.T for k, v in ep.steps.items() if isinstance(v, np.ndarray) and len(v)}
        images = sorted(k for k, v in ep.steps.items() if isinstance(v, list) and len(v) == ep.T and _codec(v[0]) and k.startswith("observation/"))
        cams, shapes = {}, {}
        for key in images:
            first, pix = ep.images(key, limit=1)
            if pix.startswith(("gray", "ya")):  # depth maps and masks are single-channel PNGs
                self.notes.append(f"skipping steps/{key} ({pix} frames): not an RGB camera")
                continue
            cams[camera_name(key)], shapes[key] = key, first.shape[1:]
        where = f"{ep.where}: steps/observation"
        self.cameras = {c: cams[c] for c in choose(sorted(cams), self.options.cameras, "camera", where)}
        obs_numeric = sorted(k[len("observation/"):] for k in numeric if k.startswith("observation/"))
        if self.options.state_keys is not None:
            wanted = tuple(k.removeprefix("observation/") for k in self.options.state_keys)
            self.state_keys = choose(obs_numeric, wanted, "numeric observation", where)
        else:
            self.state_keys = ["state"] if "state" in obs_numeric else [k for k in obs_numeric if not any(w in k for w in NOT_STATE)]
            self.notes.append(f"observation.state = {' + '.join(self.state_keys) or '(none)'} (choose with --state-keys)")
        self.state_keys = [f"observation/{k}" for k in self.state_keys]
        action_numeric = sorted(k for k in numeric if k == "action" or k.startswith("action/"))
        if self.options.action_keys is not None:
            self.action_keys = choose(action_numeric, tuple(self.options.action_keys), "numeric action field", f"{ep.where}: steps")
        else:
            self.action_keys = ["action"] if "action" in action_numeric else action_numeric
            if self.action_keys != ["action"]:
                self.notes.append(f"action = {' + '.join(self.action_keys)} (choose with --action-keys)")
        if not self.action_keys:
            raise SourceFormatError(f"{ep.where}: steps/action: missing (or not numeric); fields: {sorted(ep.steps)}")
        self.language_key = next((k for k in LANGUAGE_KEYS if isinstance(ep.steps.get(k), list)), None)
        self.notes.append(f"instruction from steps/{self.language_key}" if self.language_key else "no language field; every episode gets --task")
        feats: dict[str, Feature] = {}
        for cam, key in self.cameras.items():
            feats[f"observation.images.{cam}"] = Feature("video", shapes[key])
        self.dims = {k: ep.vector(k).shape[1] for k in self.state_keys + self.action_keys}  # refuses lengths that are not T x D
        if self.state_keys:
            names = [n for k in self.state_keys for n in vector_names(k, self.dims[k])]
            feats["observation.state"] = Feature("float32", (len(names),), tuple(names))
        names = [n for k in self.action_keys for n in vector_names(k, self.dims[k])]
        feats["action"] = Feature("float32", (len(names),), tuple(names))
        self.features, self.fps, self.robot_type = feats, None, None

    def episodes(self) -> Iterator[SourceEpisode]:
        """Read episodes shard by shard, record by record."""
        for ep in self._records():
            data: dict[str, np.ndarray] = {}
            for cam, key in self.cameras.items():
                frames, _ = ep.images(key)
                want = self.features[f"observation.images.{cam}"].shape
                if frames.shape[1:] != want:
                    raise SourceFormatError(f"{ep.where}: steps/{key}: frames are {frames.shape[1:]}, the first episode's are {want}")
                data[f"observation.images.{cam}"] = frames
            if self.state_keys:
                data["observation.state"] = np.concatenate([ep.vector(k, self.dims[k]) for k in self.state_keys], axis=1)  # (T, D)
            data["action"] = np.concatenate([ep.vector(k, self.dims[k]) for k in self.action_keys], axis=1)  # (T, A)
            task = ep.text(self.language_key) if self.language_key else None
            meta = ep.metadata()
            yield SourceEpisode(data, task, ep.source, {"episode_metadata": meta} if meta else {})


IMPORTER = RldsImporter()
