"""TFRecord files and `tf.train.Example` records, read without TensorFlow.

A TFRecord file is a sequence of records, each framed as
`uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)` (little-endian),
optionally gzip-compressed as a whole. `tf.train.Example` is a small proto3 message
(example.proto / feature.proto), decoded here from the protobuf wire format directly:

    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }      # map entries: key = 1, value = 2
    Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1 [packed]; }
    Int64List { repeated int64 value = 1 [packed]; }

Hand-written because these six messages are all RLDS needs and packed float lists then become
one `np.frombuffer` (no per-value Python objects); the `protobuf` package would need the
descriptors built at run time and copies every float into a Python list.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Iterator

import numpy as np

from vlaforge.errors import SourceFormatError

_MASK_DELTA = 0xA282EAD8


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli polynomial, reflected
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c_python(data: bytes) -> int:
    """CRC-32C (Castagnoli) in pure Python: ~10 MB/s, the fallback when google-crc32c is not installed."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c(data: bytes) -> int:
    """CRC-32C of `data`, with the C implementation from `google-crc32c` when it is installed."""
    try:
        import google_crc32c
    except ImportError:
        return crc32c_python(data)
    return int(google_crc32c.value(bytes(data)))


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant (mod 2**32)."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _open(path: Path):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_records(path: str | Path, verify: bool = True) -> Iterator[bytes]:
    """Yield the records of a TFRecord file; a bad frame or checksum is a SourceFormatError naming record and byte offset."""
    path = Path(path)
    try:
        f = _open(path)
    except OSError as e:
        raise SourceFormatError(f"{path}: cannot open ({e.strerror or e})") from None
    with f:
        n, offset = 0, 0
        while True:
            try:
                head = f.read(12)
            except (OSError, EOFError) as e:  # a damaged gzip stream
                raise SourceFormatError(f"{path}: record {n} at byte {offset}: cannot read ({e})") from None
            if not head:
                return
            if len(head) < 12:
                raise SourceFormatError(f"{path}: record {n} at byte {offset}: truncated header ({len(head)} of 12 bytes); the file is cut short")
            (length,), (length_crc,) = struct.unpack("<Q", head[:8]), struct.unpack("<I", head[8:])
            if verify and masked_crc32c(head[:8]) != length_crc:
                raise SourceFormatError(
                    f"{path}: record {n} at byte {offset}: length field fails its CRC (not a TFRecord file, or corrupt)"
                )
            data = f.read(length)
            tail = f.read(4)
            if len(data) < length or len(tail) < 4:
                raise SourceFormatError(
                    f"{path}: record {n} at byte {offset}: length field says {length} bytes but the file ends first; the file is cut short"
                )
            if verify and masked_crc32c(data) != struct.unpack("<I", tail)[0]:
                raise SourceFormatError(f"{path}: record {n} at byte {offset}: data fails its CRC (the file is corrupt)")
            yield data
            n += 1
            offset += 16 + length


# ---------------------------------------------------------------- protobuf wire format


class _WireError(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _WireError("varint runs past the end of the message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _WireError("varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, value) of one message; value is int (varint/fixed) or bytes (length-delimited)."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise _WireError(f"field {field} claims {n} bytes but only {end - pos} remain")
            value, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            if pos + 4 > end:
                raise _WireError("fixed32 runs past the end")
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            if pos + 8 > end:
                raise _WireError("fixed64 runs past the end")
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise _WireError(f"unsupported wire type {wire} for field {field}")
        if field == 0:
            raise _WireError("field number 0")
        yield field, wire, value


def _float_list(buf: bytes) -> np.ndarray:
    parts = []
    for field, wire, value in _fields(buf):
        if field != 1:
            continue
        if wire == 2:  # packed (what every writer emits)
            if len(value) % 4:  # type: ignore[arg-type]
                raise _WireError("packed float list length is not a multiple of 4")
            parts.append(np.frombuffer(value, "<f4"))  # type: ignore[arg-type]
        elif wire == 5:  # unpacked, still valid proto
            parts.append(np.frombuffer(value, "<f4"))  # type: ignore[arg-type]
        else:
            raise _WireError(f"float list value has wire type {wire}")
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _int64_list(buf: bytes) -> np.ndarray:
    out: list[int] = []
    for field, wire, value in _fields(buf):
        if field != 1:
            continue
        if wire == 2:
            pos, data = 0, value
            while pos < len(data):  # type: ignore[arg-type]
                v, pos = _varint(data, pos)  # type: ignore[arg-type]
                out.append(v)
        elif wire == 0:
            out.append(value)  # type: ignore[arg-type]
        else:
            raise _WireError(f"int64 list value has wire type {wire}")
    return np.array(out, np.uint64).view(np.int64)  # two's complement: negatives arrive as 10-byte varints


def _bytes_list(buf: bytes) -> list[bytes]:
    out = []
    for field, wire, value in _fields(buf):
        if field == 1:
            if wire != 2:
                raise _WireError(f"bytes list value has wire type {wire}")
            out.append(bytes(value))  # type: ignore[arg-type]
    return out


def _feature(buf: bytes) -> np.ndarray | list[bytes]:
    kind: np.ndarray | list[bytes] = np.zeros(0, np.float32)  # an empty Feature (no kind set): TF reads it as empty
    for field, wire, value in _fields(buf):
        if wire != 2:
            raise _WireError(f"Feature field {field} has wire type {wire}")
        if field == 1:
            kind = _bytes_list(value)  # type: ignore[arg-type]
        elif field == 2:
            kind = _float_list(value)  # type: ignore[arg-type]
        elif field == 3:
            kind = _int64_list(value)  # type: ignore[arg-type]
    return kind


def parse_example(record: bytes) -> dict[str, np.ndarray | list[bytes]]:
    """Decode a serialized tf.train.Example: feature name -> float32 array, int64 array, or list of bytes.

    Raises ValueError on bytes that are not a valid Example (callers add the file and record to the message).
    """
    out: dict[str, np.ndarray | list[bytes]] = {}
    try:
        for field, wire, features in _fields(record):
            if field != 1:
                continue
            if wire != 2:
                raise _WireError("Example.features is not a message")
            for f2, w2, entry in _fields(features):  # type: ignore[arg-type]
                if f2 != 1:
                    continue
                if w2 != 2:
                    raise _WireError("Features.feature entry is not a message")
                key, value = None, b""
                for f3, w3, v in _fields(entry):  # type: ignore[arg-type]
                    if f3 == 1 and w3 == 2:
                        key = bytes(v).decode("utf-8")  # type: ignore[arg-type]
                    elif f3 == 2 and w3 == 2:
                        value = v  # type: ignore[assignment]
                if key is None:
                    raise _WireError("a feature map entry has no key")
                out[key] = _feature(value)
    except UnicodeDecodeError:
        raise ValueError("a feature name is not UTF-8: not a tf.train.Example") from None
    except _WireError as e:
        raise ValueError(f"not a tf.train.Example ({e})") from None
    return out
