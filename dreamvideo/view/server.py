"""``dreamvideo view``: a local HTTP server for the viewer page and the one file it shows.

Routes (GET and HEAD; anything else is a 404, whatever its encoding):

    /               the page (``page/index.html``; ``#yaw=..&pitch=..&fov=..`` sets the first view)
    /viewer.js      its script
    /info           JSON: how to show the file (``MediaInfo.to_dict``)
    /media/NAME     the file, with byte ranges (``Range: bytes=A-B``) so <video> can seek

It listens on 127.0.0.1 only and answers only requests addressed to that
host (or ``localhost``), so another web site cannot reach it by rebinding DNS.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import threading
import urllib.parse
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.io._util import check_input_file
from dreamvideo.view.kind import MediaInfo, describe_media

__all__ = ["HOST", "ViewServer", "serve"]

HOST = "127.0.0.1"
_CHUNK = 1 << 16
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _page(name: str) -> bytes:
    return (importlib.resources.files("dreamvideo.view") / "page" / name).read_bytes()


class ViewServer(ThreadingHTTPServer):
    """The viewer's server for one file; ``url`` is the page's address once bound.

    Raises:
        MediaError: the file is missing or cannot be shown; the port is taken.
    """

    daemon_threads = True
    allow_reuse_address = False  # a port in use is an error, not shared

    def __init__(self, info: MediaInfo, port: int = 0) -> None:
        if not 0 <= port <= 65535:
            raise ConfigError("--port must be in 0..65535 (0: any free port)")
        self.info = info
        self.media_url = "/media/" + urllib.parse.quote(info.path.name)
        self.routes: dict[str, tuple[str, Callable[[], bytes] | None]] = {
            "/": ("text/html; charset=utf-8", lambda: _page("index.html")),
            "/viewer.js": ("text/javascript; charset=utf-8", lambda: _page("viewer.js")),
            "/info": ("application/json", lambda: json.dumps(info.to_dict(self.media_url)).encode()),
            self.media_url: (info.mime, None),
        }
        try:
            super().__init__((HOST, port), _Handler)
        except OSError as exc:
            raise MediaError(f"cannot listen on {HOST}:{port}: {exc.strerror}", hint="try --port 0 (any free port)") from None
        self.port = self.server_address[1]
        self.url = f"http://{HOST}:{self.port}/"


class _Handler(BaseHTTPRequestHandler):
    server: ViewServer
    protocol_version = "HTTP/1.1"
    server_version = "dreamvideo-view"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server API
        pass  # quiet: the terminal shows only the address

    def do_HEAD(self) -> None:  # noqa: N802 - http.server API
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        try:
            if not self._host_ok():
                return self._error(HTTPStatus.FORBIDDEN, body)
            # Exact match on the request target as sent (http.server folds a leading "//" in self.path):
            # "..", "%2e%2e", "//" and the like are simply other paths.
            target = self.requestline.split(" ")[1] if self.requestline.count(" ") == 2 else ""
            route = self.server.routes.get(target.split("?", 1)[0])
            if route is None:
                return self._error(HTTPStatus.NOT_FOUND, body)
            mime, make = route
            if make is None:
                return self._send_file(mime, body)
            self._send_bytes(make(), mime, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser dropped a request it no longer needs (a <video> seeking does this)

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        port = self.server.port
        return host in (f"{HOST}:{port}", f"localhost:{port}") or (port == 80 and host in (HOST, "localhost"))

    def _headers(self, status: int, mime: str, length: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _send_bytes(self, data: bytes, mime: str, body: bool) -> None:
        self._headers(HTTPStatus.OK, mime, len(data))
        if body:
            self.wfile.write(data)

    def _error(self, status: HTTPStatus, body: bool) -> None:
        data = f"{status.value} {status.phrase}\n".encode()
        self._headers(status, "text/plain; charset=utf-8", len(data))
        if body:
            self.wfile.write(data)

    def _send_file(self, mime: str, body: bool) -> None:
        path = self.server.info.path
        try:
            f = open(path, "rb")
        except OSError:
            return self._error(HTTPStatus.NOT_FOUND, body)
        with f:
            size = os.fstat(f.fileno()).st_size
            span = _byte_range(self.headers.get("Range"), size)
            if span == "unsatisfiable":
                data = b"416 Range Not Satisfiable\n"
                self._headers(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, "text/plain; charset=utf-8", len(data),
                              {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"})
                if body:
                    self.wfile.write(data)
                return
            if span is None:
                start, end, status, extra = 0, size - 1, HTTPStatus.OK, {}
            else:
                start, end = span
                status, extra = HTTPStatus.PARTIAL_CONTENT, {"Content-Range": f"bytes {start}-{end}/{size}"}
            self._headers(status, mime, end - start + 1, {"Accept-Ranges": "bytes", **extra})
            if not body:
                return
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(first, last)`` inclusive for a single ``bytes=`` range, ``"unsatisfiable"``, or None (send it all).

    Several ranges or a malformed header get the whole file, as RFC 9110 allows.
    """
    if not header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if not m or (not m[1] and not m[2]):
        return None
    if not m[1]:  # the last N bytes
        n = int(m[2])
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    first = int(m[1])
    last = int(m[2]) if m[2] else size - 1
    if m[2] and last < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


def serve(
    path: str | os.PathLike,
    *,
    port: int = 0,
    projection: str | None = None,
    stereo: str | None = None,
    open_browser: bool = True,
    say: Callable[[str], None] | None = None,
    ready: threading.Event | None = None,
) -> None:
    """Serve the viewer for ``path`` on 127.0.0.1 until Ctrl-C (KeyboardInterrupt), then close cleanly.

    ``say`` gets one line with the page's address (default: printed and flushed); ``ready`` (if given) is set once listening.

    Raises:
        MediaError: the file is missing, cannot be shown, or the port is taken.
        ConfigError: a bad port, projection or stereo name.
    """
    check_input_file(path)
    info = describe_media(Path(path).resolve(), projection=projection, stereo=stereo)
    server = ViewServer(info, port)
    kind = info.kind
    layout = "" if kind.stereo == "none" else f" {kind.stereo}"
    (say or (lambda line: print(line, flush=True)))(
        f"viewing {info.path.name} ({info.media} {info.width}x{info.height}, {kind.projection}{layout}: "
        f"{kind.reason}) at {server.url}  (Ctrl-C stops)"
    )
    if ready is not None:
        ready.set()
    if open_browser:
        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
