"""``knobs dashboard``: serve the app with uvicorn on a socket bound here.

Why bind the socket ourselves: a port already taken becomes one ``KnobsError`` naming it (not a
server log line and exit 1), ``--port 0`` picks a free port whose number we can print, and tests
start the same server on a free port in a thread.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import webbrowser
from pathlib import Path
from typing import Callable, Sequence

import uvicorn

from knobs.dashboard._app import create_app
from knobs.errors import ConfigError

__all__ = ["serve", "Server", "bind", "DEFAULT_HOST", "DEFAULT_PORT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); ``ConfigError`` if it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ConfigError(f"--host {host!r} is not an address this machine knows ({e.strerror}); give an IP "
                          "address such as 0.0.0.0 or a host name") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port "
                          "(0 picks a free one)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class Server:
    """The dashboard on a bound socket: ``url`` (with the token, if any), ``run()`` in the
    foreground, or ``start()`` / ``stop()`` in a thread (tests, notebooks)."""

    def __init__(self, runs_dir: str | Path, *, host: str | None = None, port: int = DEFAULT_PORT,
                 storage: Sequence[str] = ()) -> None:
        root = Path(runs_dir)
        if not root.is_dir():
            raise ConfigError(f"runs folder {str(root)!r} does not exist or is not a folder; give the folder your "
                              "runs are in (knobs run writes them to runs/ by default)")
        self.host = host or DEFAULT_HOST
        # NOTE: any --host, loopback included, asks for a token: whoever chose an address chose who may reach it
        self.token = None if host is None else secrets.token_urlsafe(24)
        self.socket = bind(self.host, port)
        self.port = self.socket.getsockname()[1]
        self._app = app = create_app(root, token=self.token, loopback=host is None, storage=storage)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1,
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C). The runs are read once in the background meanwhile, so
        the first look at a large study finds it read."""
        threading.Thread(target=self._preload, name="knobs-dashboard-preload", daemon=True).start()
        self._server.run(sockets=[self.socket])

    def _preload(self) -> None:
        with contextlib.suppress(Exception):  # NOTE: a run that cannot be read says so when it is asked for
            self._app.state.folder.load_all()

    def start(self) -> "Server":
        self._thread = threading.Thread(target=self.run, name="knobs-dashboard", daemon=True)
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                break
            threading.Event().wait(0.025)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.socket.close()


def serve(runs_dir: str | Path, *, host: str | None = None, port: int = DEFAULT_PORT, open_browser: bool = True,
          say: Callable[[str], None] = print, storage: Sequence[str] = ()) -> None:
    """Serve the dashboard over ``runs_dir`` until interrupted; print its address once. ``storage``:
    the database URLs runs keep their studies in (``--storage``)."""
    server = Server(runs_dir, host=host, port=port, storage=storage)
    say(f"knobs dashboard: {server.url}")
    if server.token:
        say("anyone with this address (and its token) can read these runs; the token changes at every start")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(server.url,)).start()
    server.run()
