"""All-or-nothing writes with saved originals, and restoring them.

A backend's writes are validated together (every target writable and readable),
originals are persisted, then values are written in order and read back. If any
write or read-back fails, the writes already done are undone in reverse order, which
passes back through the same valid states (so min <= max holds during a rollback too).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Protocol

from agent.plan import Write, ordered_min_max
from agent.state import OriginalsStore
from agent.sysfs import Sysfs

log = logging.getLogger(__name__)


class ChannelError(Exception):
    """A value could not be read or written; the message says which and why."""


class Channel(Protocol):
    """Integer-valued settings addressed by key (sysfs attributes, NVML power limits)."""

    name: str

    def read(self, key: str) -> int: ...

    def write(self, key: str, value: int) -> None: ...

    def why_not_writable(self, key: str) -> str | None: ...

    def exists(self, key: str) -> bool: ...


class SysfsChannel:
    name = "sysfs"

    def __init__(self, fs: Sysfs) -> None:
        self.fs = fs

    def read(self, key: str) -> int:
        try:
            return self.fs.read_int(key)
        except OSError as exc:
            raise ChannelError(str(exc.strerror or exc)) from None

    def write(self, key: str, value: int) -> None:
        try:
            self.fs.write(key, str(value))
        except OSError as exc:
            raise ChannelError(str(exc.strerror or exc)) from None

    def why_not_writable(self, key: str) -> str | None:
        if not self.fs.exists(key):
            return f"{self.fs.path(key)} does not exist"
        if not self.fs.writable(key):
            return f"{self.fs.path(key)} is read-only"
        return None

    def exists(self, key: str) -> bool:
        return self.fs.exists(key)


@dataclass
class ApplyResult:
    written: list[Write] = field(default_factory=list)
    """Writes that changed a value (in dry-run: that would have)."""
    in_place: list[Write] = field(default_factory=list)
    """Writes skipped because the value already matched."""
    error: str | None = None
    observed: dict[str, int] = field(default_factory=dict)
    """Value of every planned key after the pass (read back)."""

    @property
    def ok(self) -> bool:
        return self.error is None


def _matches(current: int, write: Write) -> bool:
    return abs(current - write.value) <= write.tolerance


def apply_writes(
    channel: Channel, writes: list[Write], store: OriginalsStore | None, dry_run: bool = False
) -> ApplyResult:
    """Make every write true, or none of them; originals are saved to ``store`` first."""
    result = ApplyResult()
    pending: list[tuple[Write, int]] = []
    for w in writes:  # validate everything before touching anything
        try:
            current = channel.read(w.key)
        except ChannelError as exc:
            result.error = f"cannot read {w.key}: {exc}"
            return result
        result.observed[w.key] = current
        if _matches(current, w):
            result.in_place.append(w)
            continue
        why = channel.why_not_writable(w.key)
        if why:
            result.error = why
            return result
        pending.append((w, current))
    if dry_run:
        for w, current in pending:
            log.info(
                "dry-run: would write", extra={"channel": channel.name, "key": w.key, "from": current, "to": w.value}
            )
        result.written = [w for w, _ in pending]
        return result
    if not pending:
        return result
    if store is not None:
        store.save([(channel.name, w.key, current) for w, current in pending])
    done: list[tuple[Write, int]] = []
    for w, current in pending:
        try:
            channel.write(w.key, w.value)
            done.append((w, current))
            back = channel.read(w.key)
            if not _matches(back, w):
                raise ChannelError(f"wrote {w.value} to {w.key} but read back {back}")
            result.observed[w.key] = back
        except ChannelError as exc:
            undone = _rollback(channel, done)
            result.error = f"{exc}; rolled back {undone} of {len(done)} earlier writes"
            for key_w, cur in done:
                result.observed[key_w.key] = cur
            return result
        result.written.append(w)
    return result


def _rollback(channel: Channel, done: list[tuple[Write, int]]) -> int:
    undone = 0
    for w, previous in reversed(done):
        try:
            channel.write(w.key, previous)
            undone += 1
        except ChannelError as exc:
            log.error("rollback write failed", extra={"key": w.key, "value": previous, "error": str(exc)})
    return undone


def restore_writes(channel: Channel, originals: dict[str, int]) -> list[Write]:
    """Writes putting ``originals`` back, cpufreq min/max pairs ordered to keep min <= max."""
    writes: list[Write] = []
    pairs: dict[str, dict[str, int]] = {}
    for key, value in sorted(originals.items()):
        p = PurePosixPath(key)
        if p.name in ("scaling_min_freq", "scaling_max_freq"):
            pairs.setdefault(str(p.parent), {})[p.name] = value
        else:
            writes.append(Write(channel.name, key, value))  # type: ignore[arg-type]
    for d, vals in sorted(pairs.items()):
        min_key, max_key = f"{d}/scaling_min_freq", f"{d}/scaling_max_freq"
        try:
            cur_min, cur_max = channel.read(min_key), channel.read(max_key)
        except ChannelError:
            writes += [Write("sysfs", f"{d}/{name}", v) for name, v in vals.items()]
            continue
        writes += ordered_min_max(
            min_key,
            max_key,
            cur_min,
            cur_max,
            vals.get("scaling_min_freq", cur_min),
            vals.get("scaling_max_freq", cur_max),
        )
    return writes


@dataclass
class RestoreResult:
    restored: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def restore(channel: Channel, store: OriginalsStore, dry_run: bool = False, prefix: str = "") -> RestoreResult:
    """Put saved originals of ``channel`` (keys starting with ``prefix``) back; forget those restored or gone.

    Best effort per value: one CPU going offline must not keep the others capped.
    Values that failed stay saved for the next attempt.
    """
    originals = {k: v for k, v in store.originals(channel.name).items() if k.startswith(prefix)}
    out = RestoreResult()
    writes = restore_writes(channel, originals)
    planned = {w.key for w in writes}
    for w in writes:
        if not channel.exists(w.key):
            out.gone.append(w.key)
            continue
        if dry_run:
            log.info("dry-run: would restore", extra={"channel": channel.name, "key": w.key, "to": w.value})
            continue
        try:
            channel.write(w.key, w.value)
            out.restored.append(w.key)
        except ChannelError as exc:
            out.failed[w.key] = str(exc)
    untouched = [k for k in originals if k not in planned]  # already at their original value
    if not dry_run:
        store.forget(channel.name, out.restored + out.gone + untouched)
    return out
