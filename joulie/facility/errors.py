"""Why a fetch failed, as a small closed set (the ``reason`` label of the error metric)."""

from __future__ import annotations

from enum import Enum


class FailureKind(str, Enum):
    AUTH = "auth"
    """401/403: missing or wrong credentials (the Secret is re-read before the next try)."""
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    """Connection refused or reset, DNS, TLS handshake."""
    HTTP = "http"
    """Any other non-2xx status."""
    PAYLOAD = "payload"
    """Not JSON, or JSON without the value where the protocol puts it."""
    MISSING_SENSOR = "missing-sensor"
    """The service answers, but has no such sensor or model."""
    CONFIG = "config"
    """The template cannot be used for this node (endpoint placeholder without a value, missing Secret)."""


class FetchError(Exception):
    """A fetch that produced no value; the message never contains credentials."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.args[0]}"
