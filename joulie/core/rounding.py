"""Integer arithmetic shared by the policies and the score formula."""

from __future__ import annotations

import math


def round_half_away(x: float) -> int:
    """Round half away from zero, like Go's ``math.Round`` (Python's ``round`` is banker's)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))
