"""Structural fuzz of both server backends (PyTorch checkpoint and ONNX export): generated requests over real HTTP
(msgpack and JSON) and WebSocket frames never get a 5xx, a dropped socket or a non-finite action.

Each request starts as a valid one and takes 1-3 structural mutations: array shapes (wrong rank, huge, negative,
bool, float, text, nested), dtypes (allowed but wrong, unknown, not a string), data (wrong length, wrong type, bad
base64, NaN/inf/huge values), nesting (lists/maps hundreds of levels deep, arrays where maps belong), sizes (empty,
truncated, over the body limit, too many keys, long strings), keys (bytes, int, extra, missing), content types, and
WebSocket text/empty/binary frames. A seeded generator (not hypothesis) keeps 10,000+ requests within seconds;
set VLAFORGE_FUZZ_SEED to replay a failure (the seed is in every assertion message).
"""

import base64
import json
import math
import os
import random
from typing import Any

import httpx
import msgpack
import numpy as np
import pytest
from websockets.sync.client import connect

from vlaforge.serve import codec

TOKEN = "s3cret"
MAX_BODY = 200_000
PER_BACKEND = {"http-msgpack": 2600, "http-json": 1300, "ws": 1100}  # 5,000 per backend, 10,000 per run
HUGE_INTS = [2**31, 2**32, 2**62, 2**63 - 1, 2**64 - 1, -1, -(2**63)]
DTYPES = sorted(codec.ALLOWED_DTYPES)
BAD_DTYPES = ["float16", "object", "O", "<f4", ">f4", "V8", "S5", "U3", "complex64", "", "float32 ", "uint8\0", "ü", "int128"]


class Gen:
    """Seeded generator of mutated requests for one policy spec; `wire` is "msgpack" or "json"."""

    def __init__(self, spec, seed: int):
        self.spec, self.r = spec, random.Random(seed)

    # -- building blocks ---------------------------------------------------------------------------------------
    def array(self, shape, dtype, wire: str, fill: str = "random") -> dict[str, Any]:
        """A tagged array as it travels on the wire."""
        n = math.prod(shape)
        if dtype == "uint8":
            a = np.frombuffer(self.r.randbytes(n), np.uint8).reshape(shape)
        else:
            a = np.asarray([self.r.uniform(-1, 1) for _ in range(n)]).astype(dtype).reshape(shape)
        if fill != "random" and a.dtype.kind == "f":
            a = np.full(shape, {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 3e38, "big": 1e30, "tiny": 1e-45}[fill], dtype)
        return codec.encode_array(a, binary=wire == "msgpack")

    def valid(self, wire: str) -> dict[str, Any]:
        """A request the policy accepts."""
        obs = {k: self.array(shape, dtype, wire) for k, (shape, dtype) in self.spec.observation.items()}
        return {"observation": obs, "instruction": self.r.choice(["go", "move to the red block", "pick up the blue thing"])}

    def junk(self, wire: str, depth: int = 0) -> Any:
        """Any value the wire format can carry (bytes and ext types in msgpack only)."""
        r, kinds = self.r, ["none", "bool", "int", "bigint", "float", "str", "list", "map"]
        if wire == "msgpack":
            kinds += ["bytes", "ext"]
        k = r.choice(kinds if depth < 3 else kinds[:6])
        if k == "none":
            return None
        if k == "bool":
            return r.random() < 0.5
        if k == "int":
            return r.randint(-5, 5)
        if k == "bigint":
            return r.choice(HUGE_INTS + ([10**400, -(10**400)] if wire == "json" else []))
        if k == "float":
            return r.choice([0.5, -0.0, 1e308, float("nan"), float("inf"), -float("inf")])
        if k == "str":
            return r.choice(["", "x", "observation", "__nd__", "float32", "é" * r.randint(1, 40)])
        if k == "bytes":
            return r.randbytes(r.randint(0, 24))
        if k == "ext":
            return msgpack.ExtType(r.randint(0, 127), r.randbytes(r.choice([0, 4, 5]))) if r.random() < 0.8 else msgpack.Timestamp(r.randint(0, 2**34))
        if k == "list":
            return [self.junk(wire, depth + 1) for _ in range(r.randint(0, 3))]
        return {self.key(wire): self.junk(wire, depth + 1) for _ in range(r.randint(0, 3))}

    def key(self, wire: str) -> Any:
        """A map key: mostly meaningful names, sometimes bytes or ints (msgpack)."""
        r = self.r
        names = ["observation", "instruction", "__nd__", "dtype", "shape", "data", "x", *self.spec.observation]
        if wire == "msgpack" and r.random() < 0.2:
            return r.choice([b"observation", b"__nd__", 0, -1, 2**40, True])
        return r.choice(names)

    def nested(self, depth: int, leaf: Any) -> Any:
        """`leaf` wrapped `depth` levels deep in lists or maps."""
        for _ in range(depth):
            leaf = [leaf] if self.r.random() < 0.5 else {"a": leaf}
        return leaf

    # -- mutations of a request tree ---------------------------------------------------------------------------
    def mutate_array(self, tagged: dict[str, Any], wire: str, name: str) -> Any:
        r = self.r
        shape, dtype = self.spec.observation[name]
        what = r.choice(["shape", "shape", "dtype", "dtype", "data", "values", "tag", "replace"])
        t = dict(tagged)
        if what == "shape":
            t["shape"] = r.choice([
                [], [0], list(shape)[::-1], [*shape, 1], [1, *shape], [s + r.choice([-1, 1]) for s in shape],
                [r.choice(HUGE_INTS) for _ in range(r.randint(1, 3))], [2**32, 2**32], [2**62, 4], [True] * len(shape),
                [float(s) for s in shape], [str(s) for s in shape], [[s] for s in shape], [1] * 9, [0] * r.randint(1, 9),
                [-s for s in shape], None, 4, "4", {"0": 4},
            ])
            if r.random() < 0.5:
                t["data"] = b"" if wire == "msgpack" else ""
        elif what == "dtype":
            other = r.choice([d for d in DTYPES if d != dtype] + BAD_DTYPES + [None, 4, ["float32"], {"a": 1}])
            t["dtype"] = other
            if r.random() < 0.7 and isinstance(other, str) and other in codec.ALLOWED_DTYPES:  # right byte count: decodes fine
                t = self.array(shape, other, wire)
        elif what == "data":
            fresh = self.array(shape, dtype, wire)  # `tagged` may be mutated already
            raw = fresh["data"] if wire == "msgpack" else base64.b64decode(fresh["data"])
            cut = r.choice([raw[:-1], raw + b"\0", b"", raw[: len(raw) // 2], raw * 2])
            t["data"] = r.choice([
                cut if wire == "msgpack" else base64.b64encode(cut).decode(), "not base64!", "QQ", None, 7, [1, 2, 3],
                {"__nd__": 1}, self.junk(wire),
            ])
        elif what == "values":
            t = self.array(shape, dtype, wire, fill=r.choice(["nan", "inf", "-inf", "huge", "big", "tiny", "random"]))
        elif what == "tag":
            t["__nd__"] = r.choice([0, 2, True, 1.0, "1", None, [1]])
            if r.random() < 0.5:
                t.pop(r.choice(["dtype", "shape", "data"]), None)
        else:
            return r.choice([self.junk(wire), self.nested(r.randint(1, 40), t), [t, t], None])
        return t

    def mutate(self, req: dict[str, Any], wire: str) -> Any:
        """Apply one structural mutation to a request tree (returns the new tree)."""
        r = self.r
        obs = dict(req["observation"])
        what = r.choice(["array"] * 6 + ["obs_keys", "instruction", "top", "deep", "extra", "swap"])
        if what == "array":
            name = r.choice(list(obs)) if obs else None
            if name in self.spec.observation and isinstance(obs.get(name), dict):
                obs[name] = self.mutate_array(obs[name], wire, name)
            return {**req, "observation": obs}
        if what == "obs_keys":
            action = r.choice(["drop", "add", "rename", "bytes_key", "many"])
            if action == "drop" and obs:
                del obs[r.choice(list(obs))]
            elif action == "add":
                obs[r.choice(["observation.images.top", "action", "__nd__", ""])] = self.junk(wire)
            elif action == "rename" and obs:
                k = r.choice(list(obs))
                obs[k.upper()] = obs.pop(k)
            elif action == "bytes_key" and wire == "msgpack" and any(isinstance(k, str) for k in obs):
                k = r.choice([k for k in obs if isinstance(k, str)])
                obs[k.encode()] = obs.pop(k)
            elif action == "many":
                obs.update({f"k{i}": i for i in range(r.choice([50, 1100]))})
            return {**req, "observation": obs}
        if what == "instruction":
            instr = r.choice([None, 3, "", "   ", "x" * 513, "é" * 512, "\0", ["go"], {"text": "go"}, self.junk(wire), "go " * 100])
            return {**req, "instruction": instr}
        if what == "top":
            return r.choice([self.junk(wire), [req], req["observation"], {"observation": req["observation"]}, "go", 0])
        if what == "deep":  # nesting anywhere: as the observation, inside a field, or around the whole request
            depth = r.choice([2, 31, 33, 100, 600, 900])
            where = r.choice(["observation", "field", "instruction", "whole"])
            if where == "whole":
                return self.nested(depth, req)
            if where == "field" and obs:
                obs[r.choice(list(obs))] = self.nested(depth, "x")
                return {**req, "observation": obs}
            return {**req, where: self.nested(depth, {})}
        if what == "extra":
            key = self.key(wire)
            return {**req, key: self.junk(wire)} if key not in ("observation", "instruction") else {**req, "x": 1}
        # swap: arrays where the instruction belongs and the other way round
        return {"observation": req.get("instruction"), "instruction": obs}

    # -- whole requests ----------------------------------------------------------------------------------------
    def body(self, wire: str) -> bytes:
        """One request body: a mutated tree serialized, sometimes damaged at the byte level."""
        r = self.r
        tree: Any = self.valid(wire)
        for _ in range(0 if r.random() < 0.04 else r.choice([1, 1, 1, 2, 3])):  # 4% stay valid: the policy runs too
            if isinstance(tree, dict) and isinstance(tree.get("observation"), dict):
                tree = self.mutate(tree, wire)
        data = _serialize(tree, wire)
        damage = r.random()
        if damage < 0.05:
            data = data[: r.randint(0, len(data))]  # truncated
        elif damage < 0.08:
            data = bytes(b ^ 0xFF if r.random() < 0.01 else b for b in data)  # flipped bits
        elif damage < 0.10:
            data = r.choice([b"", b"\xc1", b"\x00" * 16, b"null", b"[]", b"{}", r.randbytes(64), b"\xdf\xff\xff\xff\xff",
                             b"\xc7\x05\xff" + r.randbytes(5)])  # the last: an ext -1 (timestamp) of impossible length
        elif damage < 0.11:
            data = data + r.randbytes(r.randint(1, 8))  # trailing bytes
        elif damage < 0.12:
            data = r.randbytes(r.randint(MAX_BODY - 10, MAX_BODY + 5000))  # around the body limit
        return data


def _serialize(tree: Any, wire: str) -> bytes:
    """msgpack, or JSON (bytes never reach JSON; NaN/Infinity literals may, as Python writes them)."""
    if wire == "msgpack":
        try:
            return msgpack.packb(tree, use_bin_type=True)
        except (ValueError, OverflowError):  # nesting beyond what msgpack-python will write: send it hand-built
            return b"\x91" * 600 + b"\xc0"
    try:
        return json.dumps(tree).encode()
    except (ValueError, RecursionError):
        return b"[" * 900 + b"]" * 900


def _seed() -> int:
    return int(os.environ.get("VLAFORGE_FUZZ_SEED", random.SystemRandom().randrange(2**32)))


def _check_answer(status: int, payload: Any, why: str) -> None:
    assert status < 500, why
    if status == 200:
        action = payload["action"]
        assert isinstance(action, np.ndarray) and np.isfinite(action).all(), f"{why}: a non-finite action was sent"


@pytest.fixture(scope="module", params=["torch", "onnx"])
def backend(request, tiny_checkpoint, serve_app):
    """(url, spec) of a server on loopback for each backend."""
    from vlaforge.serve.cli import load_predictor
    from vlaforge.serve.server import create_app

    path = tiny_checkpoint[0] if request.param == "torch" else request.getfixturevalue("onnx_export")[0]
    predictor = load_predictor(path, threads=1)
    predictor.warmup()  # as `vlaforge serve` does: the text model loads before the first request
    return request.param, serve_app(create_app(predictor, token=TOKEN, max_body_bytes=MAX_BODY, rate_limit=0)), predictor.spec


def test_structural_fuzz_never_gets_a_5xx(backend):
    name, url, spec = backend
    seed = _seed()
    gen, counts = Gen(spec, seed), {"sent": 0, "200": 0}
    ctypes = {"http-msgpack": codec.MSGPACK, "http-json": codec.JSON}
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        for transport in ("http-msgpack", "http-json"):
            wire = transport.removeprefix("http-")
            for i in range(PER_BACKEND[transport]):
                body = gen.body(wire)
                ctype = ctypes[transport] if gen.r.random() < 0.97 else gen.r.choice([ctypes["http-json" if wire == "msgpack" else "http-msgpack"], "text/plain", f"{ctypes[transport]}; charset=utf-8", ""])
                r = client.post("/act", content=body, headers={"content-type": ctype})
                why = f"{name} {transport} request {i}: {r.status_code} {r.text[:300]!r} for {body[:200]!r} (VLAFORGE_FUZZ_SEED={seed})"
                _check_answer(r.status_code, codec.loads(r.content, r.headers.get("content-type", codec.JSON)) if r.status_code == 200 else None, why)
                counts["sent"] += 1
                counts["200"] += r.status_code == 200
        ws_url = url.replace("http://", "ws://") + "/ws"
        with connect(ws_url, additional_headers={"authorization": f"Bearer {TOKEN}"}, max_size=None) as ws:
            for i in range(PER_BACKEND["ws"]):
                kind = gen.r.random()
                frame: Any = gen.body("msgpack")
                if kind < 0.1:  # a text frame: JSON text or anything
                    frame = gen.body("json").decode("utf-8", "replace")
                elif kind < 0.12:
                    frame = b""
                ws.send(frame)
                msg = codec.loads(ws.recv(timeout=30))
                why = f"{name} ws frame {i}: {str(msg)[:300]} for {frame[:200]!r} (VLAFORGE_FUZZ_SEED={seed})"
                _check_answer(msg.get("status", 200), msg, why)
                counts["sent"] += 1
                counts["200"] += "action" in msg
        metrics = client.get("/metrics").json()
    assert metrics["responses_5xx"] == 0 and not any(int(c) >= 500 for c in metrics["errors"]), f"{metrics} (VLAFORGE_FUZZ_SEED={seed})"
    assert counts["sent"] == sum(PER_BACKEND.values())
    assert counts["200"] > 0.02 * counts["sent"], f"{counts}: too few requests reached the policy (VLAFORGE_FUZZ_SEED={seed})"
