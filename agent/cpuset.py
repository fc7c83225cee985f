"""Linux cpuset lists (``0-3,8,10-11``): the kubelet's ``--reserved-cpus`` and what the status shows.

Pure parsing and formatting; the same notation as ``/sys/devices/system/cpu/online`` and
``cpuset.cpus``, so operators can paste values between them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_CPU_ID = 65535
"""No machine Linux runs on has more CPUs (NR_CPUS tops out at 8192); larger ids are typos."""

_PART = re.compile(r"^(\d+)(?:-(\d+))?$")


class CpusetError(ValueError):
    """A cpuset list that does not parse; the message says which part and why."""


def parse_cpuset(text: str) -> frozenset[int]:
    """``"0-3,8"`` -> ``{0, 1, 2, 3, 8}``; empty text is the empty set."""
    out: set[int] = set()
    for raw in text.replace(" ", "").split(","):
        if not raw:
            continue
        m = _PART.match(raw)
        if not m:
            raise CpusetError(f"{raw!r} is not a CPU number or range (expected e.g. 0-3,8)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise CpusetError(f"{raw!r}: the range ends before it starts")
        if hi > MAX_CPU_ID:
            raise CpusetError(f"{raw!r}: CPU ids stop at {MAX_CPU_ID}")
        out.update(range(lo, hi + 1))
    return frozenset(out)


def format_cpuset(cpus: Iterable[int]) -> str:
    """``{0, 1, 2, 3, 8}`` -> ``"0-3,8"`` (sorted, ranges merged)."""
    ids = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)
