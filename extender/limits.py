"""What one client may cost the extender: body size, read time, buffered bytes, slow headers.

The extender port is reachable by anything in the cluster. kube-scheduler sends one request
at a time and never dawdles, so generous bounds cost it nothing, while without them a few
slow or oversized clients hold the process's memory or its connections:

- a body over ``max_body_bytes`` is refused (413) before it is read, or as soon as the
  stream passes it;
- a body must arrive within ``body_timeout_seconds`` (408);
- all bodies being read at once may hold at most ``max_inflight_bytes`` (503 for the
  request that would pass it): eight half-sent 100 MB bodies cannot take a gigabyte;
- request headers must arrive within ``header_timeout_seconds`` of the first byte
  (:func:`guarded_protocol` closes connections that never finish them).

Everything here runs on the event loop thread, so the in-flight counter needs no lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from extender.wire import BadRequest


class BodyTooLarge(Exception):
    """HTTP 413."""


class BodyTimeout(Exception):
    """HTTP 408."""


class Busy(Exception):
    """HTTP 503: the in-flight byte budget is spent."""


@dataclass
class InflightBytes:
    """Bytes of request bodies being read right now, across all connections."""

    limit: int
    used: int = 0

    def take(self, n: int) -> None:
        if self.used + n > self.limit:
            raise Busy(
                f"{self.used} bytes of request bodies are already being read; the budget is {self.limit} "
                "(--max-inflight-bytes): retry"
            )
        self.used += n

    def give(self, n: int) -> None:
        self.used -= n


@dataclass(frozen=True)
class BodyLimits:
    max_body_bytes: int
    body_timeout_seconds: float
    inflight: InflightBytes


@asynccontextmanager
async def request_body(request: Request, limits: BodyLimits) -> AsyncIterator[bytes]:
    """The request body, within the size, time and in-flight limits (see the module docstring);
    its bytes count against the in-flight budget until the block ends (the request is answered)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest(f"invalid Content-Length {declared!r}") from None
        if size > limits.max_body_bytes:
            raise BodyTooLarge(
                f"body of {size} bytes exceeds the limit of {limits.max_body_bytes} bytes (--max-body-bytes)"
            )
    chunks: list[bytes] = []
    taken = 0
    try:
        try:
            async with asyncio.timeout(limits.body_timeout_seconds):
                async for chunk in request.stream():
                    if taken + len(chunk) > limits.max_body_bytes:
                        raise BodyTooLarge(
                            f"body exceeds the limit of {limits.max_body_bytes} bytes (--max-body-bytes)"
                        )
                    limits.inflight.take(len(chunk))
                    taken += len(chunk)
                    chunks.append(chunk)
        except TimeoutError:
            raise BodyTimeout(
                f"the body did not arrive within {limits.body_timeout_seconds:g} s (--body-timeout)"
            ) from None
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        yield body
    finally:
        limits.inflight.give(taken)


def guarded_protocol(header_timeout_seconds: float) -> type[Any] | None:
    """uvicorn's httptools protocol, closing connections whose request headers do not arrive
    within ``header_timeout_seconds`` (uvicorn itself waits forever for them); ``None`` when
    httptools is not installed (uvicorn's default protocol is used then)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout_seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol
