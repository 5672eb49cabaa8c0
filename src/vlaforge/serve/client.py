"""Client for a `vlaforge serve` server (HTTP keep-alive or WebSocket), optionally with injected latency."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vlaforge.errors import VlaforgeError
from vlaforge.serve import codec


class ServerError(VlaforgeError):
    """The server refused a request (4xx) or failed (5xx); the message is the server's."""


class Client:
    """`Client(url, token).predict_chunk(obs, instruction) -> (H, A)`, the same call as a local policy."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 10.0, latency_ms: float = 0.0, transport: str = "http"):
        import httpx

        self.url = url.rstrip("/")
        self.headers = {"content-type": codec.MSGPACK}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self.latency_s = latency_ms / 1000
        self.transport = transport
        self._http = httpx.Client(timeout=timeout_s)
        self._ws: Any = None
        self.spec = self.fetch_spec()

    def fetch_spec(self) -> dict[str, Any]:
        """GET /spec (needs the token): the policy's input/output spec."""
        r = self._request("GET", "/spec")
        if r.status_code != 200:
            raise ServerError(f"{self.url}/spec answered {r.status_code}: {r.text[:200]}")
        return r.json()["spec"]

    def health(self) -> dict[str, Any]:
        """GET /health (public liveness, {"ok": true}) together with the spec this client fetched with its token."""
        r = self._request("GET", "/health", auth=False)
        if r.status_code != 200:
            raise ServerError(f"{self.url}/health answered {r.status_code}: {r.text[:200]}")
        return {**r.json(), "spec": self.spec}

    def metrics(self) -> dict[str, Any]:
        """GET /metrics."""
        r = self._request("GET", "/metrics")
        if r.status_code != 200:
            raise ServerError(f"/metrics answered {r.status_code}: {r.text[:200]}")
        return r.json()

    def predict_chunk(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """Send one observation, get the (H, A) action chunk (after the injected latency, if any)."""
        if self.latency_s:
            time.sleep(self.latency_s / 2)  # half on the way there, half on the way back
        body = codec.dumps({"observation": obs, "instruction": instruction})
        if self.transport == "ws":
            msg = self._ws_call(body)
        else:
            r = self._request("POST", "/act", content=body)
            if r.status_code != 200:
                raise ServerError(f"/act answered {r.status_code}: {r.text[:300]}")
            msg = codec.loads(r.content)
        if "error" in msg:
            raise ServerError(f"server refused the request ({msg.get('status')}): {msg['error']}")
        if self.latency_s:
            time.sleep(self.latency_s / 2)
        return msg["action"]

    def _request(self, method: str, path: str, auth: bool = True, content: bytes | None = None) -> Any:
        """One HTTP request; a server that cannot be reached is a ServerError saying so, not a traceback."""
        import httpx

        try:
            return self._http.request(method, f"{self.url}{path}", content=content, headers=self.headers if auth else None)
        except httpx.TransportError as e:
            why = str(e) or type(e).__name__
            raise ServerError(
                f"cannot reach a vlaforge server at {self.url} ({method} {path}: {why}); "
                "start one with `vlaforge serve RUN` or fix the URL (--server)"
            ) from None

    def _ws_call(self, body: bytes) -> dict[str, Any]:
        from websockets.sync.client import connect

        if self._ws is None:
            ws_url = self.url.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
            self._ws_cm = connect(ws_url, additional_headers={k: v for k, v in self.headers.items() if k == "authorization"})
            self._ws = self._ws_cm.__enter__()
        self._ws.send(body)
        return codec.loads(self._ws.recv())

    def close(self) -> None:
        """Close connections."""
        self._http.close()
        if self._ws is not None:
            self._ws_cm.__exit__(None, None, None)
            self._ws = None
