"""All-or-nothing writes with saved originals, and restoring them.

A backend's writes are validated together (every target writable and readable),
originals are persisted, then values are written in order and read back. If any
write or read-back fails, the writes already done are undone in reverse order, which
passes back through the same valid states (so min <= max holds during a rollback too).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Protocol

from agent.plan import Write, ordered_min_max
from agent.state import OriginalsStore, Value
from agent.sysfs import Sysfs, SysfsError

log = logging.getLogger(__name__)


class ChannelError(Exception):
    """A value could not be read or written; the message says which and why."""


class Channel(Protocol):
    """Settings addressed by key (sysfs attributes, NVML power limits): integers or short names."""

    name: str

    def read(self, key: str) -> Value: ...

    def write(self, key: str, value: Value) -> None: ...

    def why_not_writable(self, key: str) -> str | None: ...

    def exists(self, key: str) -> bool: ...


_INT = re.compile(r"^-?\d+$")


class SysfsChannel:
    """sysfs attributes as values: integers where the text is one, else the text (a governor, an EPP name)."""

    name = "sysfs"

    def __init__(self, fs: Sysfs) -> None:
        self.fs = fs

    def read(self, key: str) -> Value:
        try:
            text = self.fs.read(key)
        except OSError as exc:
            raise ChannelError(str(exc.strerror or exc)) from None
        return int(text) if _INT.match(text) else text

    def write(self, key: str, value: Value) -> None:
        try:
            self.fs.write(key, str(value))
        except OSError as exc:
            raise ChannelError(str(exc.strerror or exc)) from None

    def why_not_writable(self, key: str) -> str | None:
        try:
            if not self.fs.exists(key):
                return f"{self.fs.path(key)} does not exist"
        except SysfsError as exc:
            return str(exc.strerror or exc)
        if not self.fs.writable(key):
            return f"{self.fs.path(key)} is read-only"
        return None

    def exists(self, key: str) -> bool:
        try:
            return self.fs.exists(key)
        except SysfsError as exc:
            raise ChannelError(str(exc.strerror or exc)) from None


@dataclass
class ApplyResult:
    written: list[Write] = field(default_factory=list)
    """Writes that changed a value (in dry-run: that would have)."""
    in_place: list[Write] = field(default_factory=list)
    """Writes skipped because the value already matched."""
    error: str | None = None
    observed: dict[str, Value] = field(default_factory=dict)
    """Value of every planned key after the pass (read back)."""

    @property
    def ok(self) -> bool:
        return self.error is None


def apply_writes(
    channel: Channel, writes: list[Write], store: OriginalsStore | None, dry_run: bool = False
) -> ApplyResult:
    """Make every write true, or none of them; originals are saved to ``store`` first."""
    result = ApplyResult()
    pending: list[tuple[Write, Value]] = []
    for w in writes:  # validate everything before touching anything
        try:
            current = channel.read(w.key)
        except ChannelError as exc:
            result.error = f"cannot read {w.key}: {exc}"
            return result
        result.observed[w.key] = current
        if w.matches(current):
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
    done: list[tuple[Write, Value]] = []
    for w, current in pending:
        try:
            channel.write(w.key, w.value)
            done.append((w, current))
            back = channel.read(w.key)
            if not w.matches(back):
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


def _rollback(channel: Channel, done: list[tuple[Write, Value]]) -> int:
    undone = 0
    for w, previous in reversed(done):
        try:
            channel.write(w.key, previous)
            undone += 1
        except ChannelError as exc:
            log.error("rollback write failed", extra={"key": w.key, "value": previous, "error": str(exc)})
    return undone


MIN_MAX_PAIRS = {
    "scaling_min_freq": ("scaling_min_freq", "scaling_max_freq"),
    "scaling_max_freq": ("scaling_min_freq", "scaling_max_freq"),
    "min_freq_khz": ("min_freq_khz", "max_freq_khz"),
    "max_freq_khz": ("min_freq_khz", "max_freq_khz"),
}
"""Attributes that come in (min, max) pairs the kernel keeps ordered."""

_RESTORE_RANK = {"scaling_governor": 0, "energy_performance_preference": 1}


def _rank(key: str) -> int:
    """Restore order: governor before EPP (intel_pstate refuses EPP under performance), then the rest."""
    return _RESTORE_RANK.get(PurePosixPath(key).name, 2)


def restore_writes(channel: Channel, originals: dict[str, Value]) -> list[Write]:
    """Writes putting ``originals`` back: governors first, then EPP, then everything else, with
    (min, max) frequency pairs ordered to keep min <= max after every write."""
    writes: list[Write] = []
    pairs: dict[tuple[str, str, str], dict[str, Value]] = {}
    for key, value in sorted(originals.items(), key=lambda kv: (_rank(kv[0]), kv[0])):
        p = PurePosixPath(key)
        pair = MIN_MAX_PAIRS.get(p.name)
        if pair is not None and isinstance(value, int):
            pairs.setdefault((str(p.parent), *pair), {})[p.name] = value
        else:
            writes.append(Write(channel.name, key, value))  # type: ignore[arg-type]
    for (d, min_name, max_name), vals in sorted(pairs.items()):
        min_key, max_key = f"{d}/{min_name}", f"{d}/{max_name}"
        cur_min: Value | None
        cur_max: Value | None
        try:
            cur_min, cur_max = channel.read(min_key), channel.read(max_key)
        except ChannelError:
            cur_min = cur_max = None
        if not isinstance(cur_min, int) or not isinstance(cur_max, int):
            writes += [Write("sysfs", f"{d}/{name}", v) for name, v in vals.items()]
            continue
        new_min, new_max = vals.get(min_name, cur_min), vals.get(max_name, cur_max)
        assert isinstance(new_min, int) and isinstance(new_max, int)
        writes += ordered_min_max(min_key, max_key, cur_min, cur_max, new_min, new_max)
    return writes


@dataclass
class RestoreResult:
    restored: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def restore(
    channel: Channel, store: OriginalsStore, dry_run: bool = False, keys: Collection[str] | None = None
) -> RestoreResult:
    """Put saved originals of ``channel`` (all, or only ``keys``) back; forget those restored or gone.

    Best effort per value: one CPU going offline must not keep the others capped.
    Values that failed stay saved for the next attempt.
    """
    originals = {k: v for k, v in store.originals(channel.name).items() if keys is None or k in keys}
    out = RestoreResult()
    writes = restore_writes(channel, originals)
    planned = {w.key for w in writes}
    for w in writes:
        try:
            present = channel.exists(w.key)
        except ChannelError as exc:
            out.failed[w.key] = str(exc)
            continue
        if not present:
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
