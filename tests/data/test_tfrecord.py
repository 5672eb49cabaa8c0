"""TFRecord framing and tf.train.Example wire decoding, checked against hand-built bytes."""

import gzip
import struct

import numpy as np
import pytest

from vlaforge.data.tfrecord import crc32c, crc32c_python, masked_crc32c, parse_example, read_records
from vlaforge.errors import SourceFormatError


def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field, payload):  # length-delimited field
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _frame(data):
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", masked_crc32c(head)) + data + struct.pack("<I", masked_crc32c(data))


def test_crc32c_matches_the_standard_check_value_and_the_c_library():
    assert crc32c_python(b"123456789") == 0xE3069283  # RFC 3720's CRC-32C check value
    assert crc32c(b"123456789") == 0xE3069283
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc32c_python(data) == crc32c(data)


def test_example_wire_forms_other_writers_may_use():
    unpacked_floats = b"".join(_varint(1 << 3 | 5) + struct.pack("<f", v) for v in (1.5, -2.0))
    packed_ints = _ld(1, b"".join(_varint(v) for v in (3, -1, 1 << 40)))  # -1 arrives as a 10-byte varint
    entries = [
        _ld(1, _ld(1, b"f") + _ld(2, _ld(2, unpacked_floats))),
        _ld(1, _ld(1, b"i") + _ld(2, _ld(3, packed_ints))),
        _ld(1, _ld(1, b"b") + _ld(2, _ld(1, _ld(1, b"abc") + _ld(1, b"")))),
        _ld(1, _ld(1, b"empty") + _ld(2, b"")),
        _ld(1, _ld(9, b"unknown field, skipped") + _ld(1, b"u") + _ld(2, _ld(2, _ld(1, struct.pack("<f", 4.0))))),
    ]
    ex = parse_example(_varint(7 << 3 | 0) + _varint(5) + _ld(1, b"".join(entries)))  # an unknown top-level field first
    np.testing.assert_array_equal(ex["f"], np.array([1.5, -2.0], np.float32))
    np.testing.assert_array_equal(ex["i"], np.array([3, -1, 1 << 40], np.int64))
    assert ex["b"] == [b"abc", b""] and len(ex["empty"]) == 0 and ex["u"][0] == 4.0


@pytest.mark.parametrize("data", [b"\x0a\x05\x0a\x03", b"\x0a\x02\x0a\x00", b"\x0b", b"\x0a\x03\x0a\x01\x12"])
def test_truncated_or_invalid_examples_raise_value_error(data):
    with pytest.raises(ValueError, match="tf.train.Example"):
        parse_example(data)


def test_gzip_records_and_verification_switch(tmp_path):
    recs = [b"first", b"", b"third record"]
    raw = b"".join(_frame(r) for r in recs)
    gz = tmp_path / "a.tfrecord.gz"
    gz.write_bytes(gzip.compress(raw))
    assert list(read_records(gz)) == recs
    bad = bytearray(raw)
    bad[12] ^= 1  # first byte of record 0's data
    p = tmp_path / "b.tfrecord"
    p.write_bytes(bytes(bad))
    with pytest.raises(SourceFormatError, match=r"b.tfrecord: record 0 at byte 0: data fails its CRC"):
        list(read_records(p))
    assert list(read_records(p, verify=False))[0] == b"girst"
