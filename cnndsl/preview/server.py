"""``cnndsl preview FILE``: a local page with the diagram, the summary table and the
diagnostics, redrawn after each save of the file or its imports.

It listens on 127.0.0.1 only and answers only its own routes, computed from the file:

* ``/`` the page; ``/state.json`` networks, table rows and diagnostics; ``/events``
  server-sent events, one per change;
* ``/diagram.svg``, ``/diagram.png``, ``/diagram.pdf`` with ``network``, ``depth`` and
  ``theme`` parameters (``download=1`` asks the browser to save it).

No file is ever served from disk, so nothing outside the file and its imports is readable;
a request whose ``Host`` is not this address is refused (DNS rebinding).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..errors import CnnError, Diagnostic, Warnings
from ..text import human, size_text
from .page import PAGE
from .watch import changes, files_of, stamps

THEMES = ("light", "dark", "print")
FORMATS = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}


@dataclass
class State:
    """The checked file at one version."""

    version: int
    analyses: list[Any] = field(default_factory=list)
    diagnostics: list[dict[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    checked_at: float = 0.0
    drawings: dict[tuple[str, str, str, str], bytes] = field(default_factory=dict)


class Preview:
    """The file's state and the listeners waiting for the next version."""

    def __init__(self, path: Path):
        self.path = path.resolve()
        self.lock = threading.Condition()
        self.state = State(0)
        self.last_good: State | None = None
        self.stop = threading.Event()
        self.check()

    def check(self) -> None:
        from ..api import analyze

        source = ""
        try:
            source = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
        warnings = Warnings()
        state = State(self.state.version + 1, checked_at=time.time())
        files = files_of(self.path)
        self.stamps = stamps(files)
        state.files = sorted(str(f) for f in files)
        try:
            state.analyses = analyze(self.path, warnings=warnings)
        except CnnError as exc:
            state.diagnostics.append(_diag(exc.diagnostic, source, self.path.parent))
        except RecursionError:
            state.diagnostics.append({"severity": "error", "text": "nesting too deep to check"})
        state.diagnostics += [_diag(w, source, self.path.parent) for w in warnings.items]
        with self.lock:
            self.state = state
            if state.analyses:
                self.last_good = state
            self.lock.notify_all()

    def watch(self) -> None:
        for _ in changes(self.path, self.stop, since=self.stamps):
            self.check()

    def drawing(self, fmt: str, network: str, depth: str, theme: str) -> tuple[bytes, int]:
        """A diagram of the current (or last good) version, and that version."""
        from ..diagram import to_dot

        with self.lock:
            state = self.state if self.state.analyses else self.last_good
        if state is None:
            raise LookupError("no network to draw")
        key = (fmt, network, depth, theme)
        if key not in state.drawings:
            analyses = [a for a in state.analyses if a.network.name == network]
            analysis = (analyses or state.analyses)[0]
            d: int | str | None = "auto" if depth == "auto" else None
            if depth.isdigit():
                d = int(depth)
            diagram = to_dot(analysis, depth=d, theme=theme)
            state.drawings[key] = diagram.to_bytes(fmt)
        return state.drawings[key], state.version

    def snapshot(self, depth: int | None) -> dict[str, Any]:
        from ..tables import to_json

        with self.lock:
            state = self.state
        table = to_json(state.analyses, depth) if state.analyses else {"networks": []}
        for net in table["networks"]:
            for row in net["layers"]:
                row["output_text"] = size_text(row["output"])
                row["macs_text"] = human(row["macs"])
            net["macs_text"] = human(net["macs"])
        drawn = self.last_good.version if self.last_good else 0
        return {
            "version": state.version,
            "drawn_version": state.version if state.analyses else drawn,
            "file": str(self.path),
            "name": self.path.name,
            "files": state.files,
            "checked_at": state.checked_at,
            "diagnostics": state.diagnostics,
            "networks": table["networks"],
        }


def _diag(d: Diagnostic, source: str, folder: Path) -> dict[str, str]:
    """A diagnostic as the terminal shows it, with paths relative to the file's folder."""
    text = d.format(source).replace(str(folder) + "/", "")
    return {"severity": d.severity, "text": text}


class Handler(BaseHTTPRequestHandler):
    server: PreviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; connect-src 'self'",
        )
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _allowed_host(self) -> bool:
        host = (self.headers.get("Host") or "").lower()
        port = self.server.server_address[1]
        return host in (f"127.0.0.1:{port}", f"localhost:{port}")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._allowed_host():
            self._send(HTTPStatus.FORBIDDEN, b"forbidden host\n", "text/plain")
            return
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        preview = self.server.preview
        if url.path == "/":
            self._send(200, PAGE.encode("utf-8"), "text/html; charset=utf-8")
        elif url.path == "/state.json":
            depth = q.get("depth", "")
            data = preview.snapshot(int(depth) if depth.isdigit() else None)
            self._send(200, json.dumps(data).encode(), "application/json")
        elif url.path == "/events":
            self._events()
        elif url.path.startswith("/diagram.") and url.path[9:] in FORMATS:
            self._diagram(url.path[9:], q)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _diagram(self, fmt: str, q: dict[str, str]) -> None:
        depth = q.get("depth", "auto")
        theme = q.get("theme", "light")
        if theme not in THEMES or not (depth in ("auto", "all") or depth.isdigit()):
            self._send(HTTPStatus.BAD_REQUEST, b"bad depth or theme\n", "text/plain")
            return
        try:
            data, version = self.server.preview.drawing(fmt, q.get("network", ""), depth, theme)
        except LookupError:
            self._send(HTTPStatus.NOT_FOUND, b"no network to draw\n", "text/plain")
            return
        except CnnError as exc:
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc).encode(), "text/plain")
            return
        extra = {"X-Cnndsl-Version": str(version)}
        if q.get("download"):
            stem = Path(self.server.preview.path).stem
            extra["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
        self._send(200, data, FORMATS[fmt], extra)

    def _events(self) -> None:
        preview = self.server.preview
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seen = -1
        try:
            self.wfile.write(b"retry: 500\n\n")
            while not preview.stop.is_set():
                with preview.lock:
                    if preview.state.version == seen:
                        preview.lock.wait(timeout=10)
                    version = preview.state.version
                if version != seen:
                    seen = version
                    self.wfile.write(f"data: {json.dumps({'version': version})}\n\n".encode())
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, preview: Preview, port: int):
        self.preview = preview
        super().__init__(("127.0.0.1", port), Handler)


def serve(path: Path, port: int, ready: Any = None) -> None:
    """Serve until interrupted; ``ready(url)`` is called once the socket listens."""
    preview = Preview(path)
    httpd = PreviewServer(preview, port)
    watcher = threading.Thread(target=preview.watch, daemon=True)
    watcher.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    if ready is not None:
        ready(url)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        preview.stop.set()
        with preview.lock:
            preview.lock.notify_all()
        httpd.server_close()
