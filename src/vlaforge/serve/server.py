"""Inference server: POST /act, GET /health, GET /spec, GET /metrics, WebSocket /ws. Starlette + uvicorn.

/health is the only route open without the token and says nothing but {"ok": true}; the policy's
input/output spec (/spec) and the counters (/metrics) need the token like /act does.
Safety: bearer-token auth compared in constant time (required off loopback), body size limit, a body-read
timeout (a client that stalls mid-body gets 408 and the connection closed), per-connection
token-bucket rate limit, strict schema validation against the policy's spec,
explicit array encoding (never pickle), bounded nesting. Every malformed request gets a 4xx (over
WebSocket: an error message, text frames included) and the server keeps serving; an action chunk
that is not finite is never sent (422). /metrics counts rejected requests by reason and 5xx responses;
a client that disconnects mid-request is one debug log line, not a traceback. Concurrent requests are batched
into one policy call: a batch starts as soon as the policy thread is free and holds what queued meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import ipaddress
import logging
import socket
import time
from typing import Any, Callable

import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from vlaforge.serve import codec
from vlaforge.serve.schema import Predictor

LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, float("inf"))
BODY_TIMEOUT_S = 10.0  # a request body must arrive within this long after the headers
log = logging.getLogger("vlaforge.serve")


class Metrics:
    """Request counters and a latency histogram (served at /metrics)."""

    def __init__(self) -> None:
        self.requests = 0
        self.errors: dict[int, int] = {}
        self.rejected: dict[str, int] = {}  # client mistakes (4xx) and disconnects, by reason
        self.responses_5xx = 0
        self.buckets = [0] * len(LATENCY_BUCKETS_MS)
        self.latency_sum_ms = 0.0
        self.batches = 0
        self.batched_items = 0
        self.started = time.time()

    def observe(self, ms: float) -> None:
        """Count one successful request and its latency."""
        self.requests += 1
        self.latency_sum_ms += ms
        for i, b in enumerate(LATENCY_BUCKETS_MS):
            if ms <= b:
                self.buckets[i] += 1
                break

    def error(self, status: int, reason: str = "") -> None:
        """Count one refused request by status code, and by `reason` when it is the client's (4xx)."""
        self.errors[status] = self.errors.get(status, 0) + 1
        if status < 500 and reason:
            self.reject(reason)

    def reject(self, reason: str) -> None:
        """Count one request that ended early by `reason` (e.g. "unauthorized", "client_disconnected")."""
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def to_json(self) -> dict[str, Any]:
        """Snapshot for /metrics."""
        return {
            "requests": self.requests,
            "errors": {str(k): v for k, v in sorted(self.errors.items())},
            "rejected": dict(sorted(self.rejected.items())),
            "responses_5xx": self.responses_5xx,
            "latency_ms_buckets": {("+Inf" if b == float("inf") else str(b)): c for b, c in zip(LATENCY_BUCKETS_MS, self.buckets)},
            "latency_ms_mean": self.latency_sum_ms / self.requests if self.requests else None,
            "mean_batch_size": self.batched_items / self.batches if self.batches else None,
            "batches": self.batches,
            "batched_items": self.batched_items,
            "uptime_s": time.time() - self.started,
        }

    def to_prometheus(self) -> str:
        """Prometheus text exposition of the same numbers."""
        lines = ["# TYPE vlaforge_requests_total counter", f"vlaforge_requests_total {self.requests}"]
        for code, n in sorted(self.errors.items()):
            lines.append(f'vlaforge_errors_total{{code="{code}"}} {n}')
        lines.append("# TYPE vlaforge_rejected_total counter")
        lines += [f'vlaforge_rejected_total{{reason="{r}"}} {n}' for r, n in sorted(self.rejected.items())]
        lines += ["# TYPE vlaforge_responses_5xx_total counter", f"vlaforge_responses_5xx_total {self.responses_5xx}"]
        cum = 0
        lines.append("# TYPE vlaforge_latency_ms histogram")
        for b, c in zip(LATENCY_BUCKETS_MS, self.buckets):
            cum += c
            lines.append(f'vlaforge_latency_ms_bucket{{le="{"+Inf" if b == float("inf") else b}"}} {cum}')
        lines += [f"vlaforge_latency_ms_sum {self.latency_sum_ms}", f"vlaforge_latency_ms_count {self.requests}"]
        return "\n".join(lines) + "\n"


class Batcher:
    """Runs queued requests as one policy call per batch (up to `max_batch`) on one worker thread.

    A batch starts as soon as the worker is free and holds every request that queued meanwhile, so a lone
    request never waits for company (no added latency at 1 client) and under load the next batch is what
    arrived while the previous one ran. `window_s` > 0 additionally waits that long for more requests.
    """

    def __init__(self, predictor: Predictor, max_batch: int, window_s: float, metrics: Metrics):
        self.predictor, self.max_batch, self.window_s, self.metrics = predictor, max_batch, window_s, metrics
        self.queue: asyncio.Queue | None = None
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy")
        self.task: asyncio.Task | None = None

    async def submit(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """Queue one request; resolves to its (H, A) chunk."""
        loop = asyncio.get_running_loop()
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self._run())
        fut: asyncio.Future = loop.create_future()
        self.queue.put_nowait((obs, instruction, fut))  # unbounded: the body limit and rate limit bound it
        return await fut

    async def _collect(self) -> list[tuple[dict[str, np.ndarray], str, asyncio.Future]]:
        """The next batch: the first waiting request, everything queued behind it, and (window_s > 0) what arrives in time."""
        assert self.queue is not None
        items = [await self.queue.get()]
        while len(items) < self.max_batch and not self.queue.empty():
            items.append(self.queue.get_nowait())
        if self.window_s > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.window_s
            while len(items) < self.max_batch and (timeout := deadline - loop.time()) > 0:
                try:
                    items.append(await asyncio.wait_for(self.queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            obs, instr = [i[0] for i in items], [i[1] for i in items]
            try:
                out = await loop.run_in_executor(self.pool, self.predictor.predict_batch, obs, instr)  # (B, H, A)
                self.metrics.batches += 1
                self.metrics.batched_items += len(items)
                for (_, _, fut), chunk in zip(items, out):
                    if not fut.done():
                        fut.set_result(np.asarray(chunk))
            except Exception as e:  # noqa: BLE001 - hand the failure to every waiting request
                for _, _, fut in items:
                    if not fut.done():
                        fut.set_exception(e)


class Refused(Exception):
    """A request answered with an error status and message instead of an action."""

    def __init__(self, status: int, message: str, reason: str = ""):
        super().__init__(message)
        self.status, self.reason = status, reason


class RateLimiter:
    """Token bucket per connection (client host:port): `rate` requests/s with bursts of `burst`."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        """Take one token for `key` if there is one."""
        if self.rate <= 0:
            return True
        now = time.monotonic()
        tokens, last = self.buckets.get(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return False
        self.buckets[key] = (tokens - 1, now)
        if len(self.buckets) > 10000:  # forget idle connections
            self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 60}
        return True


class Count5xx:
    """ASGI middleware: count every HTTP 5xx response, including those for exceptions no route caught."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        counted = False

        async def counting_send(message: Any) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and message["status"] >= 500:
                counted = True
                self.metrics.responses_5xx += 1
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            if not counted:  # the 500 that Starlette's outer error handler is about to send
                self.metrics.responses_5xx += 1
            raise


def create_app(
    predictor: Predictor,
    token: str | None = None,
    max_body_bytes: int = 4 << 20,
    rate_limit: float = 1000.0,
    burst: int = 100,
    max_batch: int = 16,
    batch_window_ms: float = 0.0,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> Starlette:
    """Build the ASGI app serving `predictor`."""
    metrics = Metrics()
    limiter = RateLimiter(rate_limit, burst)
    batcher = Batcher(predictor, max_batch, batch_window_ms / 1000, metrics)
    spec = predictor.spec
    expected = f"Bearer {token}".encode() if token else None

    def authorized(headers: Any) -> bool:
        if expected is None:
            return True
        got = headers.get("authorization", "").encode()
        return hmac.compare_digest(got, expected)

    def fail(status: int, msg: str, reason: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
        metrics.error(status, reason)
        return JSONResponse({"error": msg}, status_code=status, headers=headers)

    async def read_body(request: Request) -> bytes:
        """The whole body, at most `max_body_bytes`, within `body_timeout_s` (Refused otherwise)."""
        body = bytearray()

        async def read() -> None:
            async for part in request.stream():
                body.extend(part)
                if len(body) > max_body_bytes:
                    raise Refused(413, f"body larger than {max_body_bytes} bytes", "body_too_large")

        try:
            async with asyncio.timeout(body_timeout_s):  # a deadline on this task, not a new task per request
                await read()
        except TimeoutError:
            raise Refused(408, f"the request body did not arrive within {body_timeout_s:g} s; send it at once", "body_timeout") from None
        return bytes(body)

    def client_key(scope_client: Any) -> str:
        return f"{scope_client[0]}:{scope_client[1]}" if scope_client else "?"

    async def infer(data: bytes, ctype: str, t0: float) -> dict[str, Any]:
        """Decode, validate, run the policy and check its answer; Refused(status, message) on any failure."""
        try:
            msg = codec.loads(data, ctype)
        except codec.DecodeError as e:
            raise Refused(400, str(e), "malformed_body") from None
        try:
            obs, instr = spec.validate(msg)
        except codec.DecodeError as e:
            raise Refused(400, str(e), "schema") from None
        try:
            chunk = np.asarray(await batcher.submit(obs, instr), dtype=np.float32)  # (H, A)
        except Exception as e:  # noqa: BLE001 - the server's fault, but the client gets a message, not a dropped connection
            raise Refused(500, f"policy failed: {type(e).__name__}: {e}", "policy_failed") from None
        if not np.isfinite(chunk).all():
            raise Refused(422, "the input produced a non-finite action (NaN or inf), so none is sent; "
                               "check that the observation values are in the range the policy was trained on", "non_finite_action")
        ms = (time.perf_counter() - t0) * 1000
        metrics.observe(ms)
        return {"action": chunk, "latency_ms": ms}

    async def act(request: Request) -> Response:
        t0 = time.perf_counter()
        if not authorized(request.headers):
            return fail(401, "missing or wrong bearer token (header 'Authorization: Bearer <token>')", "unauthorized")
        if not limiter.allow(client_key(request.client)):
            return fail(429, "rate limit exceeded for this connection; slow down", "rate_limited")
        ctype = request.headers.get("content-type", codec.MSGPACK).split(";")[0].strip()
        if ctype not in (codec.MSGPACK, codec.JSON):
            return fail(415, f"content-type must be {codec.MSGPACK} or {codec.JSON}", "unsupported_media_type")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            return fail(413, f"body larger than {max_body_bytes} bytes", "body_too_large")
        try:
            body = await read_body(request)
            answer = await infer(body, ctype, t0)
        except Refused as e:
            # After a stalled body the connection is in an unknown state: close it.
            return fail(e.status, str(e), e.reason, headers={"connection": "close"} if e.status == 408 else None)
        except ClientDisconnect:
            metrics.reject("client_disconnected")
            log.debug("client %s disconnected before its request was complete", client_key(request.client))
            return Response(status_code=400)  # nobody is left to read it
        return Response(codec.dumps(answer, ctype), media_type=ctype)

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def spec_route(request: Request) -> Response:
        if not authorized(request.headers):
            return fail(401, "missing or wrong bearer token (header 'Authorization: Bearer <token>')", "unauthorized")
        return JSONResponse({"spec": spec.to_json(), "auth": token is not None})

    async def metrics_route(request: Request) -> Response:
        if not authorized(request.headers):
            return fail(401, "missing or wrong bearer token", "unauthorized")
        if request.query_params.get("format") == "prometheus":
            return PlainTextResponse(metrics.to_prometheus())
        return JSONResponse(metrics.to_json())

    async def ws(websocket: WebSocket) -> None:
        if not authorized(websocket.headers):
            metrics.error(401, "unauthorized")
            await websocket.close(code=1008)
            return
        await websocket.accept()
        key = client_key(websocket.client)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                t0 = time.perf_counter()
                data = message.get("bytes")
                try:
                    if data is None:
                        raise Refused(400, "send requests as binary msgpack frames; text frames are not accepted", "text_frame")
                    if len(data) > max_body_bytes:
                        raise Refused(413, f"message larger than {max_body_bytes} bytes", "body_too_large")
                    if not limiter.allow(key):
                        raise Refused(429, "rate limit exceeded", "rate_limited")
                    answer = await infer(data, codec.MSGPACK, t0)
                except Refused as e:
                    metrics.error(e.status, e.reason)
                    if e.status >= 500:
                        metrics.responses_5xx += 1
                    await websocket.send_bytes(codec.dumps({"error": str(e), "status": e.status}))
                    continue
                await websocket.send_bytes(codec.dumps(answer))
        except WebSocketDisconnect:
            return

    app = Starlette(middleware=[Middleware(Count5xx, metrics=metrics)], routes=[
        Route("/act", act, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/spec", spec_route, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        WebSocketRoute("/ws", ws),
    ])
    app.state.batcher = batcher
    return app


def is_loopback(host: str, resolve: Callable[..., list[Any]] = socket.getaddrinfo) -> bool:
    """True when `host` can only be reached from this machine: a loopback IP, "localhost", or a name
    whose every resolved address is loopback. A name that does not resolve is not loopback."""
    host = host.strip()
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass  # not an IP literal: a name
    if not host:
        return False
    try:
        infos = resolve(host, None)
    except (OSError, UnicodeError):
        return False
    addrs = {info[4][0].split("%")[0] for info in infos}
    try:
        return bool(addrs) and all(ipaddress.ip_address(a).is_loopback for a in addrs)
    except ValueError:
        return False
