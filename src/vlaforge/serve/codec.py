"""Wire format for observations and actions: msgpack (or JSON) with numpy arrays encoded explicitly.

An array travels as {"__nd__": 1, "dtype": "uint8", "shape": [96, 96, 3], "data": <bytes>}
(`data` is raw little-endian bytes in msgpack, base64 text in JSON). Nothing is ever unpickled:
only the dtypes in ALLOWED_DTYPES are accepted, and the byte count must match shape x itemsize.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import msgpack
import numpy as np

ALLOWED_DTYPES = {"uint8", "float32", "float64", "int64", "int32", "bool"}
MSGPACK = "application/msgpack"
JSON = "application/json"
MAX_DEPTH = 32  # a request is 4 levels deep; anything far deeper is an attack on the parser's stack


class DecodeError(ValueError):
    """The payload is not a well-formed request (→ HTTP 400)."""


def encode_array(a: np.ndarray, binary: bool = True) -> dict[str, Any]:
    """numpy array → tagged dict."""
    a = np.ascontiguousarray(a)
    if a.dtype.name not in ALLOWED_DTYPES:
        raise DecodeError(f"dtype {a.dtype} cannot be sent; use one of {sorted(ALLOWED_DTYPES)}")
    data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    return {"__nd__": 1, "dtype": a.dtype.name, "shape": list(a.shape), "data": data if binary else base64.b64encode(data).decode()}


def decode_array(d: Any, max_elements: int = 1 << 24) -> np.ndarray:
    """Tagged dict → numpy array, validating dtype, shape and byte count."""
    if not isinstance(d, dict) or d.get("__nd__") != 1:
        raise DecodeError("expected an encoded array {__nd__, dtype, shape, data}")
    dtype, shape, data = d.get("dtype"), d.get("shape"), d.get("data")
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise DecodeError(f"dtype {dtype!r} is not allowed; use one of {sorted(ALLOWED_DTYPES)}")
    if not isinstance(shape, list) or len(shape) > 8 or not all(type(s) is int and 0 <= s for s in shape):
        raise DecodeError(f"shape must be a list of at most 8 non-negative ints (not bools), got {str(shape)[:80]}")
    n = math.prod(shape)  # exact python ints: np.prod wraps around at 2**64 and lets a huge shape pass as 0 elements
    if n > max_elements:
        raise DecodeError(f"array of {n} elements exceeds the limit of {max_elements}")
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=True)
        except (ValueError, TypeError):
            raise DecodeError("array data is not valid base64") from None
    if not isinstance(data, (bytes, bytearray)):
        raise DecodeError("array data must be bytes (msgpack) or base64 text (JSON)")
    dt = np.dtype(dtype).newbyteorder("<")
    if len(data) != n * dt.itemsize:
        raise DecodeError(f"array data has {len(data)} bytes, shape {shape} of {dtype} needs {n * dt.itemsize}")
    return np.frombuffer(data, dtype=dt).reshape(shape).astype(dt.newbyteorder("="), copy=False)


def _walk(obj: Any, fn: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise DecodeError(f"message is nested deeper than {MAX_DEPTH} levels; a request is a map of arrays and an instruction")
    if isinstance(obj, dict) and obj.get("__nd__") == 1:
        return fn(obj)
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):  # msgpack also carries bytes keys; names are text
            bad = next(k for k in obj if not isinstance(k, str))
            raise DecodeError(f"map keys must be text strings, got a {type(bad).__name__} key {str(bad)[:40]}")
        return {k: _walk(v, fn, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, fn, depth + 1) for v in obj]
    return obj


def dumps(obj: Any, content_type: str = MSGPACK) -> bytes:
    """Serialize a message whose arrays are numpy arrays."""
    binary = content_type == MSGPACK

    def enc(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            return encode_array(o, binary)
        if isinstance(o, dict):
            return {k: enc(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [enc(v) for v in o]
        if isinstance(o, np.generic):
            return o.item()
        return o

    body = enc(obj)
    return msgpack.packb(body, use_bin_type=True) if binary else json.dumps(body).encode()


def loads(data: bytes, content_type: str = MSGPACK, max_elements: int = 1 << 24) -> Any:
    """Parse a message, turning tagged arrays back into numpy arrays. Raises DecodeError on anything malformed."""
    try:
        if content_type.startswith(JSON):
            obj = json.loads(data)
        else:
            obj = msgpack.unpackb(data, raw=False, strict_map_key=True, max_bin_len=len(data), max_str_len=1 << 20, max_array_len=1 << 16, max_map_len=1 << 10)
    except Exception as e:  # noqa: BLE001 - any parser failure (RecursionError included) is a bad request
        raise DecodeError(f"body is not valid {'JSON' if content_type.startswith(JSON) else 'msgpack'} ({type(e).__name__})") from None
    try:
        return _walk(obj, lambda d: decode_array(d, max_elements))
    except RecursionError:
        raise DecodeError(f"message is nested too deeply; a request is at most {MAX_DEPTH} levels deep") from None
