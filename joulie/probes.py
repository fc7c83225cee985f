"""``/healthz``, ``/readyz`` and ``/metrics`` (and other small GET routes) on the standard library.

``joulie labeller`` and ``joulie agent`` only need three GET endpoints, and ``joulie serve``
puts its probes (and, when asked, ``/plan``) on plain-HTTP ports beside its TLS extender
port, so a threading ``http.server`` is enough and adds no dependency (nor a framework in
the node pod). A client must send its request within :data:`READ_TIMEOUT_SECONDS`: a
thread per connection must not be held by connections that never speak.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]
READ_TIMEOUT_SECONDS = 10.0
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = TEXT
    headers: Mapping[str, str] = field(default_factory=dict)
    """Sent besides ``Content-Type`` and ``Content-Length``."""


Route = Callable[[Mapping[str, list[str]]], Reply]
"""A GET handler: the query parameters in, the reply out."""


@dataclass(frozen=True, slots=True)
class GetRequest:
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    """Request headers by lower-case name (a repeated header: its values joined by ``, ``)."""


RequestRoute = Callable[[GetRequest], Reply]
"""A GET handler that also reads the request headers (content negotiation on ``Accept``)."""


def _process_metrics() -> bytes:
    return generate_latest(REGISTRY)


def check_route(check: Check) -> Route:
    def route(_query: Mapping[str, list[str]]) -> Reply:
        try:
            ok, why = check()
        except Exception as exc:  # noqa: BLE001 - a probe must answer, not crash
            ok, why = False, f"check failed: {exc}"
        return Reply(200 if ok else 503, f"{why or 'ok'}\n".encode())

    return route


def probe_routes(
    healthy: Check, ready: Check, render_metrics: Callable[[], bytes] = _process_metrics
) -> dict[str, Route]:
    return {
        "/healthz": check_route(healthy),
        "/readyz": check_route(ready),
        "/metrics": lambda _query: Reply(200, render_metrics(), CONTENT_TYPE_LATEST),
    }


class GetServer:
    """A threading HTTP server answering GET ``routes`` and ``request_routes`` (404 for anything else)."""

    def __init__(
        self,
        port: int,
        routes: Mapping[str, Route],
        host: str = "0.0.0.0",
        name: str = "http",
        request_routes: Mapping[str, RequestRoute] | None = None,
    ) -> None:
        table: dict[str, RequestRoute] = {path: _query_only(route) for path, route in routes.items()}
        table.update(request_routes or {})

        class Handler(BaseHTTPRequestHandler):
            timeout = READ_TIMEOUT_SECONDS

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                route = table.get(path)
                if route is None:
                    self._send(Reply(404, b"not found\n"))
                    return
                headers: dict[str, str] = {}
                for key, value in self.headers.items():
                    key = key.lower()
                    headers[key] = f"{headers[key]}, {value}" if key in headers else value
                try:
                    reply = route(GetRequest(parse_qs(query), headers))
                except Exception:
                    log.exception("GET %s failed", path)
                    reply = Reply(500, b"internal error; see the joulie log\n")
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("%s %s", name, format % args)

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


def _query_only(route: Route) -> RequestRoute:
    return lambda request: route(request.query)


class ProbeServer(GetServer):
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
        super().__init__(port, probe_routes(healthy, ready, render_metrics), host, name)
