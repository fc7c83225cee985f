"""One line from a pydantic ``ValidationError``, for error messages and statuses."""

from __future__ import annotations

from pydantic import ValidationError


def validation_details(exc: ValidationError, root: str = "") -> str:
    """``field.path: message; ...``; ``root`` stands for the path of an error about the whole value."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or root}: {e['msg']}" for e in exc.errors())
