"""``/metrics``, ``/healthz`` and ``/readyz`` on the stdlib HTTP server (no framework in the node pod)."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

Probe = Callable[[], tuple[bool, str]]


def serve(port: int, render_metrics: Callable[[], bytes], healthy: Probe, ready: Probe,
          host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Start serving in a daemon thread; returns the server (``.server_address``, ``.shutdown()``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, render_metrics(), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok, why = (healthy if path == "/healthz" else ready)()
                self._send(200 if ok else 503, (why or "ok").encode() + b"\n", "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: object) -> None:
            log.debug("http " + fmt % args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="agent-http", daemon=True).start()
    return server
