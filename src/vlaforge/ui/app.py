"""The web app's HTTP side (Starlette): the static front end, read-only JSON views, video files, and save.

Reading: GET /api/state, /api/v/{N}/episodes, /api/v/{N}/episodes/{ep}, /api/v/{N}/health, /api/v/{N}/lineage,
/api/v/{N}/queue (the review queue of `vlaforge engine loop`, see `vlaforge.ui.queue`),
/api/v/{N}/media/<video file> (HTTP range requests, only files the version's episodes reference).
Writing: POST /api/save writes a new version (edits and queue decisions, see `vlaforge.ui.edits`). Nothing else writes.
Guards (see `vlaforge.ui.guard`): token off loopback, Host check on loopback, JSON-only POSTs from the
page's own origin, a body size limit. Every refused request is a 4xx with {"error": one line}.
"""

from __future__ import annotations

import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vlaforge.data.reader import LeRobotDataset, open_dataset
from vlaforge.errors import ConfigError, DatasetError, VersionConflict
from vlaforge.ui.edits import parse_save, save
from vlaforge.ui.guard import COOKIE, Guard, read_json
from vlaforge.ui.queue import parse_decisions, queue_view
from vlaforge.ui.versions import VersionChain, lineage_of
from vlaforge.ui.views import HealthCache, episode_detail, episode_summary, media_files

STATIC = Path(__file__).parent / "static"


def error(status: int, message: str) -> JSONResponse:
    """A refused request: status and one line saying why."""
    return JSONResponse({"error": message}, status_code=status)


class Store:
    """Open versions of the chain (each directory is immutable once written, so caching them is safe)."""

    def __init__(self, chain: VersionChain):
        self.chain = chain
        self._open: dict[int, tuple[LeRobotDataset, dict[str, Path]]] = {}
        self._lock = threading.Lock()

    def get(self, number: int) -> tuple[LeRobotDataset, dict[str, Path]] | None:
        """The open dataset and its servable video files, or None when there is no such version."""
        with self._lock:
            if number in self._open:
                return self._open[number]
        v = self.chain.get(number)
        if v is None:
            return None
        ds = open_dataset(v.path)
        with self._lock:
            self._open[number] = (ds, media_files(ds))
            while len(self._open) > 8:  # keep memory bounded when many versions are browsed
                self._open.pop(next(iter(self._open)))
            return self._open[number]


def create_app(dataset: str | Path, token: str | None = None, host: str = "127.0.0.1", max_body_bytes: int = 1_000_000,
               health: bool = True) -> Starlette:
    """The web app for `dataset` (its versions are saved beside it as NAME.vN)."""
    chain = VersionChain(dataset)
    store = Store(chain)
    checks = HealthCache(enabled=health)
    guard = Guard(token=token, host=host)

    def version_of(request: Request) -> tuple[int, LeRobotDataset, dict[str, Path]] | JSONResponse:
        n = int(request.path_params["n"])
        got = store.get(n)
        if got is None:
            return error(404, f"there is no version {n} of {chain.name}; versions: {[v.number for v in chain.versions()]}")
        return n, *got

    async def index(request: Request) -> Response:
        page = "index.html" if guard.authorized(request) else "login.html"
        return FileResponse(STATIC / page, headers={"Cache-Control": "no-store"})

    async def login(request: Request) -> Response:
        body = await read_json(request, max_body_bytes)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not guard.check_token(body["token"]):
            return error(401, "wrong token")
        resp = JSONResponse({"ok": True})
        resp.set_cookie(COOKIE, body["token"], httponly=True, samesite="strict", path="/")
        return resp

    def state(_: Request) -> Response:
        vs = chain.versions()
        return JSONResponse({"name": chain.name, "opened": str(chain.opened), "latest": vs[-1].number, "auth": token is not None,
                             "versions": [{"number": v.number, "name": v.path.name, "path": str(v.path)} for v in vs]})

    def episodes(request: Request) -> Response:
        got = version_of(request)
        if isinstance(got, Response):
            return got
        n, ds, _ = got
        by_ep = checks.by_episode(n)
        return JSONResponse({"version": n, "fps": ds.fps, "tasks": ds.tasks,
                             "episodes": [episode_summary(ds, m, by_ep) for m in ds.episode_meta]})

    def episode(request: Request) -> Response:
        got = version_of(request)
        if isinstance(got, Response):
            return got
        n, ds, _ = got
        ep = int(request.path_params["ep"])
        if ep not in {int(m["episode_index"]) for m in ds.episode_meta}:
            return error(404, f"episode {ep} is not in version {n} ({ds.num_episodes} episodes)")
        found = [f for f in checks.get(n, ds)["findings"] if ep in f.get("episodes", [])]
        return JSONResponse(episode_detail(ds, ep, n, found))

    def health_route(request: Request) -> Response:
        got = version_of(request)
        if isinstance(got, Response):
            return got
        n, ds, _ = got
        return JSONResponse(checks.get(n, ds))

    def lineage(request: Request) -> Response:
        got = version_of(request)
        if isinstance(got, Response):
            return got
        n, ds, _ = got
        return JSONResponse({"version": n, "chain": lineage_of(Path(ds.root)), "operation": ds.lineage.get("operation")})

    def queue_route(request: Request) -> Response:
        got = version_of(request)
        if isinstance(got, Response):
            return got
        n, ds, _ = got
        try:
            q = queue_view(ds.root, {int(m["episode_index"]): int(m["length"]) for m in ds.episode_meta})
        except DatasetError as e:
            return error(422, str(e))
        return JSONResponse({"version": n, "queue": q})

    def media(request: Request) -> Response:
        got = version_of(request)
        if isinstance(got, Response):
            return got
        _, _, files = got
        path = files.get(request.path_params["path"])
        if path is None:  # only the files the episodes reference: no traversal, no other files
            return error(404, "no such video file in this version")
        return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "private, max-age=3600"})

    async def save_route(request: Request) -> Response:
        body = await read_json(request, max_body_bytes)
        if isinstance(body, Response):
            return body
        try:
            base, edits = parse_save(body)
            decisions = parse_decisions(body.get("queue"))
            return JSONResponse(await run_in_threadpool(save, chain, base, edits, decisions))
        except VersionConflict as e:
            return error(409, str(e))
        except (ConfigError, DatasetError) as e:
            return error(422, str(e))

    routes = [
        Route("/", index),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/state", state),
        Route("/api/v/{n:int}/episodes", episodes),
        Route("/api/v/{n:int}/episodes/{ep:int}", episode),
        Route("/api/v/{n:int}/health", health_route),
        Route("/api/v/{n:int}/lineage", lineage),
        Route("/api/v/{n:int}/queue", queue_route),
        Route("/api/v/{n:int}/media/{path:path}", media),
        Route("/api/save", save_route, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.chain, app.state.health = chain, checks
    return guard.wrap(app, max_body_bytes)
