"""Errors every command turns into one clear line and exit status 2."""

from __future__ import annotations


class ConfigError(ValueError):
    """A flag, env var or file has a value we cannot use; the message names it."""
