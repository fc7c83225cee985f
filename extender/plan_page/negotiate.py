"""Which representation of ``/plan`` a client asked for, from its ``Accept`` header.

JSON stays the answer for every client that does not clearly prefer HTML: no header (Python's
``urllib``), ``*/*`` (curl, ``fetch``, httpx, kubectl's proxy), ``application/json``, or a tie.
A browser navigating to the URL sends ``text/html,...,*/*;q=0.8`` and gets the page. Each media
type takes the quality of the most specific range that matches it (RFC 9110, section 12.5.1).
"""

from __future__ import annotations

from typing import Final

HTML_TYPES: Final = (("text", "html"), ("application", "xhtml+xml"))
JSON_TYPES: Final = (("application", "json"),)
MAX_RANGES: Final = 64
"""Ranges read from one header; browsers send about ten, the rest of a longer header is ignored."""


def _ranges(accept: str) -> list[tuple[str, str, float]]:
    out = []
    for item in accept.split(",")[:MAX_RANGES]:
        media, *params = (part.strip() for part in item.split(";"))
        kind, sep, sub = media.lower().partition("/")
        if not sep or not kind or not sub:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
        if 0.0 <= q <= 1.0:  # an invalid weight drops the range, as if it were not sent
            out.append((kind, sub, q))
    return out


def _quality(ranges: list[tuple[str, str, float]], wanted: tuple[tuple[str, str], ...]) -> float:
    best = 0.0
    for kind, sub in wanted:
        specificity, q = -1, 0.0
        for r_kind, r_sub, r_q in ranges:
            if (r_kind, r_sub) == (kind, sub):
                s = 2
            elif r_kind == kind and r_sub == "*":
                s = 1
            elif (r_kind, r_sub) == ("*", "*"):
                s = 0
            else:
                continue
            if s > specificity or (s == specificity and r_q > q):
                specificity, q = s, r_q
        best = max(best, q)
    return best


def prefers_html(accept: str | None) -> bool:
    """True when ``accept`` ranks HTML strictly above JSON."""
    if not accept:
        return False
    ranges = _ranges(accept)
    return _quality(ranges, HTML_TYPES) > _quality(ranges, JSON_TYPES)
