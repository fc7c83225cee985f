"""``/healthz``, ``/readyz`` and ``/metrics`` on the standard library.

``joulie serve`` has its own web app; ``joulie labeller`` and ``joulie agent`` only
need three GET endpoints, so a threading ``http.server`` is enough and adds no
dependency (nor a framework in the node pod).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]


def _process_metrics() -> bytes:
    return generate_latest(REGISTRY)


class ProbeServer:
    """Serves ``healthy``/``ready`` (200 when ok, else 503, with the reason as body) and
    ``render_metrics()`` (default: the process-wide Prometheus registry)."""

    def __init__(
        self,
        port: int,
        healthy: Check,
        ready: Check,
        host: str = "0.0.0.0",
        render_metrics: Callable[[], bytes] = _process_metrics,
        name: str = "probes",
    ) -> None:
        checks = {"/healthz": healthy, "/readyz": ready}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, render_metrics(), CONTENT_TYPE_LATEST)
                    return
                check = checks.get(path)
                if check is None:
                    self._send(404, b"not found\n", "text/plain; charset=utf-8")
                    return
                try:
                    ok, why = check()
                except Exception as exc:  # noqa: BLE001 - a probe must answer, not crash
                    ok, why = False, f"check failed: {exc}"
                self._send(200 if ok else 503, f"{why or 'ok'}\n".encode(), "text/plain; charset=utf-8")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("probe %s", format % args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
