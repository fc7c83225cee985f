"""Flag helpers shared by the subcommands: every flag also reads a ``JOULIE_*`` env var.

Component flags live with their component (``labeller.cli``, ``agent.cli``, ...); this
module holds only what every command needs and imports no component.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

from joulie.errors import ConfigError

__all__ = ["ConfigError", "add_kube_flags", "add_logging_flags", "env", "env_bool", "parse_params", "scalar"]


def env(name: str, default: Any = None, cast: Callable[[str], Any] = str) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not a valid {cast.__name__}") from None


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def scalar(text: str) -> Any:
    """A flag value as JSON when it parses (numbers, booleans), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(items: list[str], flag: str = "--policy-param") -> dict[str, Any]:
    """``KEY=VALUE`` items of ``flag`` as a dict (values through :func:`scalar`)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        params[key.strip()] = scalar(value.strip())
    return params


def add_logging_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log-level", default=env("JOULIE_LOG_LEVEL", "info"), choices=["debug", "info", "warning", "error"]
    )
    p.add_argument("--log-format", default=env("JOULIE_LOG_FORMAT", "json"), choices=["json", "text"])


def add_kube_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kubeconfig",
        default=env("KUBECONFIG", None),
        help="kubeconfig file (default: in-cluster config, then ~/.kube/config)",
    )
    p.add_argument("--context", default=env("JOULIE_KUBE_CONTEXT", None), help="kubeconfig context")
