"""The dashboard's web app: a read-only JSON API over the runs folder, a live stream, the page.

Why Starlette: a small, well-kept ASGI toolkit (routing, static files, streaming responses, a
test client) with no framework around it; uvicorn serves it. Live updates are Server-Sent Events
(``/api/stream``): one long GET per page, which browsers reconnect by themselves, over plain HTTP
— enough for a server that only ever tells the page "this changed". The stream polls file
signatures a few times a second; a new ``epoch`` record reaches the page well within 2 s.

Safety: every route only reads; a run is named by its directory entry in RUNS_DIR (``RunsFolder``);
with a token (``--host``) every request must carry it, compared in constant time; on loopback the
``Host`` header must be a loopback name, so a web page elsewhere cannot reach the server through a
DNS name it re-points (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Sequence
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from knobs.dashboard._compare import compare, seed_groups
from knobs.dashboard._events import CURVE_KEYS
from knobs.dashboard._figures import dashboard_views
from knobs.dashboard._json import dumps
from knobs.dashboard._runs import LoadedRun, RunsFolder, UnknownRun, collector_paused
from knobs.dashboard._table import SORT_KEYS, TableQuery, table_rows, trials_page
from knobs.report import run_views, sorter_js
from knobs.report._bundle import bundle_gzipped, bundle_javascript

__all__ = ["create_app", "shared_views", "REPLACED", "POLL_S", "TOKEN_COOKIE", "LOOPBACK_NAMES"]

POLL_S = 0.25
"""How often the live stream looks at the runs' files."""

TOKEN_COOKIE = "knobs_dashboard_token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
STATIC = Path(__file__).parent / "static"
_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' "
                                 b"'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
                                 b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
]


def create_app(runs_dir: str | Path, *, token: str | None = None, loopback: bool = True,
               storage: Sequence[str] = ()) -> Starlette:
    """The dashboard over ``runs_dir``. ``token``: required on every request when given (the
    server listens beyond loopback); ``loopback``: accept only loopback ``Host`` headers;
    ``storage``: database URLs (passwords included) that runs keep their studies in — the only
    databases read (`RunsFolder`)."""
    api = _Api(RunsFolder(Path(runs_dir), storage))
    routes = [
        Route("/", _index), Route("/plotly.min.js", _plotly_js), Route("/views.js", _views_js), Route("/api/runs", api.runs),
        Route("/api/runs/{name}", api.run), Route("/api/runs/{name}/dashboard", api.own_views),
        Route("/api/runs/{name}/views", api.views), Route("/api/runs/{name}/trials", api.trials),
        Route("/api/compare", api.compare), Route("/api/groups", api.groups), Route("/api/stream", api.stream),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {UnknownRun: _unknown_run, Exception: _failure}
    app = Starlette(routes=routes, exception_handlers=handlers,
                    middleware=[Middleware(_Gate, token=token, loopback=loopback), Middleware(GZipMiddleware)])
    app.state.folder = api.folder
    return app


class _Api:
    """The JSON endpoints over one runs folder; each reads (cached) and answers, nothing else."""

    def __init__(self, folder: RunsFolder) -> None:
        self.folder, self.report_views, self.memo = folder, _ReportViews(), _Memo()

    def load(self, request: Request, name: str | None = None) -> LoadedRun:
        return self.folder.run(name if name is not None else request.path_params["name"]).load()

    def runs(self, request: Request) -> _JSON:
        return _JSON({"root": self.folder.root.name, "runs": self.folder.rows()})

    def run(self, request: Request) -> _JSON:
        loaded = self.load(request)
        return _JSON({"run": loaded.row(), "config": loaded.config, "summary": loaded.record.summary})

    def own_views(self, request: Request) -> Response:
        loaded = self.load(request)
        lines = _int(request.query_params.get("lines"), 10, 1, 50)
        return self.memo.response(("dashboard", loaded.name, lines), loaded.signature, lambda: {
            "views": [v.to_json() for v in dashboard_views(loaded, lines=lines)], "problems": loaded.problems,
            "state": loaded.state})

    def views(self, request: Request) -> _JSON:
        loaded = self.load(request)
        return _JSON({"views": self.report_views.get(loaded), "problems": loaded.problems})

    def trials(self, request: Request) -> _JSON:
        loaded, q = self.load(request), request.query_params
        sort = q.get("sort", "number")
        if sort not in SORT_KEYS and not sort.startswith("param:"):
            return _error(400, f"sort must be one of {', '.join(SORT_KEYS)} or param:<name>; got {sort!r}")
        query = TableQuery(sort=sort, descending=q.get("desc") in ("1", "true"),
                           states=frozenset(s for s in q.get("state", "").split(",") if s), text=q.get("q", "")[:200],
                           page=_int(q.get("page"), 0, 0, 10**9), per_page=_int(q.get("per_page"), 50, 1, 500))
        table = self.memo.value(("rows", loaded.name), loaded.signature, lambda: table_rows(loaded.trials))
        return _JSON(trials_page(table, query, loaded.direction))

    def compare(self, request: Request) -> _JSON:
        a, b = (self.load(request, request.query_params.get(k, "")) for k in ("a", "b"))
        return _JSON({"views": [v.to_json() for v in compare(a, b)]})

    def groups(self, request: Request) -> _JSON:
        return _JSON({"views": [seed_groups(self.folder.load_all()).to_json()]})  # NOTE: every run (cached)

    async def stream(self, request: Request) -> StreamingResponse:
        return StreamingResponse(_live(self.folder, request), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def _index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})


def _views_js(request: Request) -> Response:
    """The script the views' HTML fragments rely on (the report's one table sorter: fragments carry
    no script, the page includes it once)."""
    return Response(sorter_js(), media_type="text/javascript", headers={"cache-control": "no-store"})


def _plotly_js(request: Request) -> Response:
    """The same partial plotly.js the report embeds (1.3 MB, not the full 4.7 MB: a cold page parses a
    quarter of it), sent gzip-encoded as it is stored when the browser accepts that."""
    headers = {"cache-control": "max-age=86400", "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(bundle_gzipped(), media_type="text/javascript", headers={**headers, "content-encoding": "gzip"})
    return Response(bundle_javascript(), media_type="text/javascript", headers=headers)


REPLACED = {"history": "dash:history", "curves": "dash:curves", "timeline": "dash:timeline", "trials": "trials table"}
"""The report's views the dashboard draws itself, for large studies (report key → its own): the
report's history and every trial's curve are one trace per trial — 20 s and 3 MB for 10,000
trials —, its timeline 1.1 MB there, its trials table the best 1,000 (the dashboard's is paged on
the server over all). ``run_views`` does not even compute them."""


def shared_views(record: Any) -> list[Any]:
    """``knobs.report.run_views`` — every producer the report has, so a view added there appears
    here — less the ones ``REPLACED`` names. A key two producers share (the vault's paragraph and
    its log are both "vault") gets a suffix: the page keeps one card per key, and the second view
    replaced the first."""
    views, seen = [], set()
    for view in run_views(record, skip=REPLACED):
        key, n = view.key, 1
        while key in seen:
            n += 1
            key = f"{view.key}:{n}"
        seen.add(key)
        views.append(view if key == view.key else dataclasses.replace(view, key=key))
    return views


class _ReportViews:
    """``shared_views`` per run, recomputed when the run changed but at most every few seconds
    (``max(2 s, 3 × the last computation)``): the producers may be slow on a large study, and a
    working run changes many times a second. (Computed with the garbage collector paused, as every
    answer is: one full collection walking a 10,000-trial run's objects was 0.2 s of these views' 0.5 s.)"""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple, float, float, list]] = {}  # name → (signature, at, seconds, views)
        self._lock = threading.Lock()

    def get(self, loaded: LoadedRun) -> list[dict[str, Any]]:
        with self._lock:
            cached = self._cache.get(loaded.name)
            if cached is not None:
                signature, at, seconds, views = cached
                if signature == loaded.signature or time.time() - at < max(2.0, 3 * seconds):
                    return views
            started = time.perf_counter()
            with collector_paused():
                views = [view.to_json() for view in shared_views(loaded.record)]
            self._cache[loaded.name] = (loaded.signature, time.time(), time.perf_counter() - started, views)
            return views


class _Memo:
    """Values (and rendered JSON answers) per key while the run's signature is unchanged."""

    def __init__(self) -> None:
        self._store: dict[tuple, tuple[tuple, Any]] = {}
        self._lock = threading.Lock()

    def value(self, key: tuple, signature: tuple, make: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._store.get(key)
        if hit is not None and hit[0] == signature:
            return hit[1]
        with collector_paused():
            value = make()
        with self._lock:
            self._store[key] = (signature, value)
        return value

    def response(self, key: tuple, signature: tuple, make: Callable[[], Any]) -> Response:
        body = self.value(key, signature, lambda: _JSON(make()).body)
        return Response(body, media_type="application/json")


async def _live(folder: RunsFolder, request: Request) -> AsyncIterator[str]:
    """Server-Sent Events: ``runs`` when the list changed, ``epoch`` with the new epoch records of
    the watched run (``?run=``), ``change`` when its files changed, ``gone`` when it disappeared (a
    run not there yet, or back again, is simply watched when it appears)."""
    name = request.query_params.get("run") or None
    last_runs, last_signature, cursor, state = None, None, 0, None
    # NOTE: a run (or log) seen missing, then there, is new to the page: all its epochs are sent.
    # Starting at its end would lose those written before the first look, all of a short run's
    # on a busy machine (its epochs can take less time than one poll waits for the GIL).
    was_absent = False
    yield "retry: 1000\n\n"
    while True:
        runs = await asyncio.to_thread(_folder_signature, folder)
        if runs != last_runs:
            if last_runs is not None:
                yield _event("runs", {"names": [n for n, _ in runs]})
            last_runs = runs
        if name is not None:
            try:
                source = folder.run(name)
                events, _ = await asyncio.to_thread(source.events.read)
                if events is not state:  # first look, or the log was replaced
                    state, cursor = events, 0 if was_absent else len(events.records)
                new = events.records[cursor:]
                cursor = len(events.records)
                was_absent = not events.records
                epochs = [_epoch(r) for r in new if r.get("event") == "epoch"]
                if epochs:
                    yield _event("epoch", {"run": name, "epochs": epochs})
                signature = await asyncio.to_thread(source.signature)
                if signature != last_signature:
                    if last_signature is not None:
                        yield _event("change", {"run": name})
                    last_signature = signature
            except UnknownRun:
                if state is not None:
                    yield _event("gone", {"run": name})
                state, last_signature, was_absent = None, None, True
        else:
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_S)


def _folder_signature(folder: RunsFolder) -> list[tuple[str, tuple]]:
    out = []
    for name in folder.names():
        try:
            out.append((name, folder.run(name).signature()))
        except UnknownRun:
            continue
    return out


def _epoch(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("trial", "epoch", "fold", "time", *CURVE_KEYS)
    return {k: record.get(k) for k in keys if k in record}


def _event(kind: str, payload: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {dumps(payload).decode()}\n\n"


class _Gate:
    """Every request: a loopback ``Host`` when serving loopback, the token when one is set
    (query ``?token=``, ``Authorization: Bearer``, or the cookie set on its first use), and
    security headers on every answer."""

    def __init__(self, app: Callable, token: str | None, loopback: bool) -> None:
        self.app, self.token, self.loopback = app, token, loopback

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.loopback and _hostname(headers.get("host", "")) not in LOOPBACK_NAMES:
            await _plain(send, 403, "this dashboard answers only to 127.0.0.1 / localhost (use --host to serve "
                                    "others)")
            return
        from_query = None
        if self.token is not None:
            from_query = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]
            given = from_query or _bearer(headers.get("authorization", "")) or _cookie(headers.get("cookie", ""))
            if not given or not hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8")):
                await _plain(send, 401, "a token is required: open the address that knobs dashboard printed "
                                        "(…/?token=…)")
                return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                extra = list(_SECURITY_HEADERS)
                if from_query:
                    extra.append((b"set-cookie", f"{TOKEN_COOKIE}={from_query}; HttpOnly; SameSite=Strict; "
                                                 f"Path=/".encode("latin-1")))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain(send: Callable, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *_SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _bearer(value: str) -> str | None:
    scheme, _, credential = value.partition(" ")
    return credential.strip() or None if scheme.lower() == "bearer" else None


def _cookie(value: str) -> str | None:
    try:
        morsel = SimpleCookie(value).get(TOKEN_COOKIE)
    except Exception:  # noqa: BLE001 - a malformed cookie header is no token
        return None
    return morsel.value if morsel is not None else None


async def _unknown_run(request: Request, error: Exception) -> _JSON:
    return _error(404, f"no run named {str(error.args[0] if error.args else '')!r} in this runs folder "
                       "(deleted, or a name outside it)")


async def _failure(request: Request, error: Exception) -> _JSON:
    return _error(500, f"{type(error).__name__}: {error}")


def _error(status: int, message: str) -> _JSON:
    return _JSON({"error": message}, status_code=status)


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(text))) if text is not None else default
    except ValueError:
        return default


class _JSON(JSONResponse):
    """JSON through ``_json.dumps``: NaN and infinities as null (a diverged trial's loss is NaN)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


