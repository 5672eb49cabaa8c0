"""Resume state on disk without pickle: tensors in safetensors, everything else in JSON.

A nested state (dicts, lists, tuples, scalars, torch tensors, numpy arrays) is split in two:
  train_state.safetensors  every tensor, keyed by its path in the state ("model/head.w",
                           "optimizer/state/3/exp_avg", "rng/0/torch"); numpy arrays (the
                           numpy RNG key) are stored as their raw bytes in a uint8 tensor
  train_state.json         the rest, with {"__tensor__": key} / {"__ndarray__": key, ...} where
                           a tensor was, {"__tuple__": [...]} for tuples (python's RNG state
                           must come back as a tuple) and {"__items__": [[k, v], ...]} for dicts
                           whose keys are not plain strings (optimizer state is keyed by int)
Reading either file runs no code: JSON is data and safetensors holds only raw tensor bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vlaforge.errors import CheckpointError

JSON_NAME = "train_state.json"
TENSORS_NAME = "train_state.safetensors"
_MARKERS = ("__tensor__", "__ndarray__", "__tuple__", "__items__")


def save_state(state: dict[str, Any], directory: Path) -> None:
    """Write `state` as train_state.json + train_state.safetensors in `directory`."""
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, "", tensors)
    save_file(tensors, str(Path(directory) / TENSORS_NAME))
    (Path(directory) / JSON_NAME).write_text(json.dumps(tree))


def load_state(directory: Path) -> dict[str, Any]:
    """Read what `save_state` wrote; a missing key or a corrupt file is a CheckpointError."""
    jpath, tpath = Path(directory) / JSON_NAME, Path(directory) / TENSORS_NAME
    try:
        tree = json.loads(jpath.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{jpath} is unreadable ({e}); this checkpoint cannot be resumed, resume from an earlier one") from e
    try:
        tensors = load_file(str(tpath), device="cpu")
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"{tpath} is unreadable ({e}); this checkpoint cannot be resumed, resume from an earlier one") from e
    try:
        return _decode(tree, tensors, tpath)
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{jpath} does not match {tpath} ({e}); the checkpoint is corrupt, resume from an earlier one") from e


def _encode(obj: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        return {"__tensor__": _put(tensors, path, obj.detach().cpu().contiguous())}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError(f"train state at {path} is an object array; only numeric arrays can be saved")
        raw = torch.from_numpy(np.ascontiguousarray(obj).view(np.uint8).reshape(-1).copy())
        return {"__ndarray__": _put(tensors, path, raw), "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{path}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{path}/{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and k not in _MARKERS for k in obj):
            return {k: _encode(v, f"{path}/{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[_encode(k, f"{path}/key{i}", tensors), _encode(v, f"{path}/{k}", tensors)] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"train state at {path or '/'} holds a {type(obj).__name__}; only tensors, arrays, dicts, lists, tuples and scalars can be saved")


def _put(tensors: dict[str, torch.Tensor], path: str, t: torch.Tensor) -> str:
    key = path.lstrip("/") or "root"
    if key in tensors:
        raise ValueError(f"two tensors in the train state map to the key {key!r}")
    tensors[key] = t
    return key


def _decode(obj: Any, tensors: dict[str, torch.Tensor], tpath: Path) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors, tpath) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return _tensor(tensors, obj["__tensor__"], tpath)
    if "__ndarray__" in obj:
        dtype = np.dtype(obj["dtype"])
        if dtype.hasobject:
            raise TypeError(f"array {obj['__ndarray__']!r} has dtype {dtype}; only numeric arrays are read")
        raw = _tensor(tensors, obj["__ndarray__"], tpath).numpy()
        return raw.view(dtype).reshape(obj["shape"]).copy()
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors, tpath) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_decode(k, tensors, tpath): _decode(v, tensors, tpath) for k, v in obj["__items__"]}
    return {k: _decode(v, tensors, tpath) for k, v in obj.items()}


def _tensor(tensors: dict[str, torch.Tensor], key: str, tpath: Path) -> torch.Tensor:
    if key not in tensors:
        raise CheckpointError(f"{tpath} lacks the tensor {key!r} that {JSON_NAME} names; the checkpoint is incomplete, resume from an earlier one")
    return tensors[key]
