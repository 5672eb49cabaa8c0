"""Who may use the web app, and what a write request must look like.

- A token (same sources and rules as `vlaforge serve`) is required when binding anything but loopback;
  the page gets it once through a login form and keeps it in an HttpOnly, SameSite=Strict cookie; API
  clients may send `Authorization: Bearer <token>` instead.
- Without a token the app answers only requests whose Host is a loopback name, so a web page the user
  visits cannot reach it through DNS rebinding.
- A POST must be `application/json` (a cross-site form cannot send that without the browser asking first,
  and the app never says yes) and, when the browser names its Origin, come from the app's own origin.
- Bodies are limited in size and must be valid JSON.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from http.cookies import SimpleCookie
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


COOKIE = "vlaforge_ui"
OPEN_PATHS = ("/", "/api/login")  # "/" shows the login form until the token is given
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Guard:
    """Token, Host and Origin checks as ASGI middleware around the app."""

    def __init__(self, token: str | None, host: str = "127.0.0.1"):
        self.token = token
        self.host = host

    def check_token(self, given: str) -> bool:
        """Constant-time comparison with the server's token."""
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def authorized(self, request: Request | Any) -> bool:
        """True without a token, or when the request carries it (bearer header or cookie)."""
        if self.token is None:
            return True
        headers = request.headers
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer ") and self.check_token(auth[len("Bearer "):]):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is just no cookie  # noqa: BLE001
            return False
        return COOKIE in cookie and self.check_token(cookie[COOKIE].value)

    def host_allowed(self, host_header: str) -> bool:
        """Without a token, only loopback Host names (DNS-rebinding guard); with one, any."""
        if self.token is not None:
            return True
        name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        name = name.strip("[]").lower()
        if name in LOOPBACK_NAMES:
            return True
        try:  # an IP literal only: a DNS name is never resolved here, it is what a rebinding attack controls
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def wrap(self, app: Any, max_body_bytes: int) -> Any:
        """`app` behind the checks."""
        guard = self

        async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                await app(scope, receive, send)
                return
            if scope["type"] != "http":
                return  # no WebSockets here
            request = Request(scope)
            refusal = guard.refuse(request, max_body_bytes)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            await app(scope, receive, send)

        return guarded

    def refuse(self, request: Request, max_body_bytes: int) -> Response | None:
        """The response that refuses this request, or None to let it through."""
        host = request.headers.get("host", "")
        if not self.host_allowed(host):
            return _fail(403, f"Host {host[:80]!r} is not a loopback name; open the app at http://127.0.0.1 (or start it with a token)")
        path = request.url.path
        if path.startswith("/api/") and path not in OPEN_PATHS and not self.authorized(request):
            return _fail(401, "missing or wrong token: open the app's page and log in, or send 'Authorization: Bearer <token>'")
        if request.method not in ("GET", "HEAD"):
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return _fail(415, f"send JSON with 'Content-Type: application/json' (got {ctype[:60] or 'none'!r})")
            origin = request.headers.get("origin")
            if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
                return _fail(403, f"cross-origin request from {origin[:80]!r} refused")
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
                return _fail(413, f"body larger than {max_body_bytes} bytes")
        return None


async def read_json(request: Request, max_body_bytes: int) -> Any | Response:
    """The request's JSON body, or a 4xx response: 413 past `max_body_bytes`, 400 when it is not JSON."""
    body = bytearray()
    async for part in request.stream():
        body.extend(part)
        if len(body) > max_body_bytes:
            return _fail(413, f"body larger than {max_body_bytes} bytes")
    try:
        return json.loads(bytes(body).decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return _fail(400, f"the body is not valid JSON ({str(e)[:120]})")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
