"""Wire format: explicit arrays round-trip; anything malformed is a DecodeError, never a crash."""

import json

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlaforge.serve import codec
from vlaforge.serve.schema import PolicySpec

SPEC = PolicySpec({"observation.images.front": ((8, 8, 3), "uint8"), "observation.state": ((4,), "float32")}, chunk=4, action_dim=4)


def _req(img=None, state=None, instruction="pick"):
    img = np.zeros((8, 8, 3), np.uint8) if img is None else img
    state = np.zeros(4, np.float32) if state is None else state
    return {"observation": {"observation.images.front": img, "observation.state": state}, "instruction": instruction}


@pytest.mark.parametrize("ctype", [codec.MSGPACK, codec.JSON])
def test_roundtrip(ctype):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    state = rng.normal(size=4).astype(np.float32)
    msg = codec.loads(codec.dumps(_req(img, state), ctype), ctype)
    obs, instr = SPEC.validate(msg)
    np.testing.assert_array_equal(obs["observation.images.front"], img)
    np.testing.assert_array_equal(obs["observation.state"], state)
    assert instr == "pick"


@pytest.mark.parametrize(
    "bad, match",
    [
        (_req(img=np.zeros((8, 8, 4), np.uint8)), "shape"),
        (_req(state=np.zeros(4, np.float64)), "dtype float64"),
        (_req(state=np.array([0, np.nan, 0, 0], np.float32)), "NaN"),
        (_req(instruction=""), "instruction"),
        ({"observation": {"observation.state": np.zeros(4, np.float32)}, "instruction": "x"}, "missing"),
        ({**_req(), "extra": 1}, "unexpected request fields"),
    ],
)
def test_schema_rejects(bad, match):
    with pytest.raises(codec.DecodeError, match=match):
        SPEC.validate(codec.loads(codec.dumps(bad)))


def test_tampered_arrays_are_rejected():
    enc = codec.encode_array(np.zeros(4, np.float32))
    with pytest.raises(codec.DecodeError, match="bytes"):
        codec.decode_array({**enc, "data": enc["data"][:-1]})
    with pytest.raises(codec.DecodeError, match="not allowed"):
        codec.decode_array({**enc, "dtype": "object"})
    for unhashable in ([], {}):  # found by the server fuzz: once a TypeError, so a 500
        with pytest.raises(codec.DecodeError, match="not allowed"):
            codec.decode_array({**enc, "dtype": unhashable})
    with pytest.raises(codec.DecodeError, match="exceeds"):
        codec.decode_array({**enc, "shape": [1 << 30]})
    with pytest.raises(codec.DecodeError, match="not valid"):
        codec.loads(b"\xc1garbage")
    with pytest.raises(codec.DecodeError, match="JSON"):
        codec.loads(b"{not json", codec.JSON)


@pytest.mark.parametrize("where", ["request", "observation"])
def test_bytes_map_keys_are_a_decode_error(where):
    """Found by the structural fuzz: a bytes key beside str keys made sorting the field names a TypeError (a 500)."""
    req = msgpack.unpackb(codec.dumps(_req()), raw=False)
    if where == "request":
        req[b"extra"] = 1
    else:
        req["observation"][b"observation.state"] = req["observation"].pop("observation.state")
    with pytest.raises(codec.DecodeError, match="map keys must be text strings, got a bytes key"):
        SPEC.validate(codec.loads(msgpack.packb(req, use_bin_type=True)))


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20) | st.binary(max_size=40),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4), max_leaves=20))
def test_fuzz_any_msgpack_value_is_accepted_or_a_decode_error(value):
    try:
        msg = codec.loads(msgpack.packb(value, use_bin_type=True))
        SPEC.validate(msg)
    except codec.DecodeError:
        pass


def test_json_wire_form_is_plain_json():
    body = json.loads(codec.dumps(_req(), codec.JSON))
    assert body["observation"]["observation.state"]["__nd__"] == 1 and isinstance(body["observation"]["observation.state"]["data"], str)


@pytest.mark.parametrize("shape, data", [([2**32, 2**32], b""), ([2**62, 4], b""), ([2**64 - 1, 2, 2], b""),
                                         ([True], b"\0" * 4), ([2, False], b""), ([1] * 9, b"\0" * 4)])
def test_shapes_that_overflow_or_are_not_ints_are_rejected(shape, data):
    # np.prod wraps [2**32, 2**32] to 0 elements, which empty data then "matches"
    with pytest.raises(codec.DecodeError, match="must be a list|exceeds the limit"):
        codec.decode_array({"__nd__": 1, "dtype": "float32", "shape": shape, "data": data})


@pytest.mark.parametrize("ctype", [codec.MSGPACK, codec.JSON])
@pytest.mark.parametrize("depth", [600, 900, 5000])
def test_deep_nesting_is_a_decode_error_not_a_recursion_error(ctype, depth):
    if ctype == codec.JSON:
        body = ("[" * depth + "]" * depth).encode()
    else:
        msg: object = []
        for _ in range(min(depth, 1000)):  # msgpack's own packer stops at 1024 levels
            msg = [msg]
        body = msgpack.packb(msg)
    with pytest.raises(codec.DecodeError, match="nested|not valid"):
        codec.loads(body, ctype)
