"""Original values of everything the agent changed, persisted before the first write.

The file outlives the process on purpose: after a crash the node still carries our
settings, and the next agent (or ``joulie agent --restore``) must know what to put back.
A value is saved once, before the first write to it, and never overwritten by a
later (already changed) reading; it is forgotten only once restored.

Values are integers (caps in uW, frequencies in kHz, ``disable`` flags) or short strings
(governors, EPP names). Keys are sysfs paths relative to the root, or GPU UUIDs; a key that
could point outside the root (``..``, an absolute path, a directory the agent never writes)
is refused when the file is loaded, so a tampered file cannot make a restore write elsewhere.

One agent at a time: :class:`StateLock` holds an ``flock`` on the state directory for the
process's lifetime. Two agents sharing one directory would each save the other's values as
"originals" and restore the wrong ones.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from joulie.errors import ConfigError

log = logging.getLogger(__name__)

STATE_FILE = "agent-originals.json"
LOCK_FILE = "agent.lock"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

Value = int | str

SYSFS_PREFIXES = ("class/powercap/", "devices/system/cpu/")
"""The only trees the agent writes; a saved key elsewhere is not ours."""
_SYSFS_KEY = re.compile(r"^[A-Za-z0-9_:.,+-]+(/[A-Za-z0-9_:.,+-]+)*$")
_TEXT_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def key_problem(channel: str, key: str) -> str | None:
    """Why ``key`` cannot be a key of ``channel``, or None when it can."""
    if channel != "sysfs":
        return None if key and "/" not in key and len(key) <= 128 else "not a device identifier"
    if not _SYSFS_KEY.match(key) or any(p in (".", "..") for p in key.split("/")):
        return "not a plain relative path (absolute, '..' or unusual characters)"
    if not key.startswith(SYSFS_PREFIXES):
        return f"outside the trees the agent writes ({', '.join(SYSFS_PREFIXES)})"
    return None


def _value(raw: object) -> Value:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a saved value")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _TEXT_VALUE.match(raw):
        return raw
    raise ValueError(f"{raw!r} is not a saved value (an integer or a short name)")


class OriginalsStore:
    """``{channel: {key: original value}}``, in memory and (unless ``path`` is None) on disk."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._originals: dict[str, dict[str, Value]] = {}
        self.rejected: dict[str, str] = {}
        """``channel:key`` -> why it was refused when the file was loaded (reported by --restore)."""
        if path is not None:
            self._load()

    @classmethod
    def in_dir(cls, state_dir: str | Path) -> OriginalsStore:
        return cls(Path(state_dir) / STATE_FILE)

    def _load(self) -> None:
        assert self.path is not None
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return
        try:
            data = json.loads(raw)
            if data.get("version") not in READABLE_VERSIONS:
                raise ValueError(f"unknown version {data.get('version')!r}")
            loaded: dict[str, dict[str, Value]] = {}
            for ch, values in data["originals"].items():
                bucket = loaded.setdefault(str(ch), {})
                for k, v in values.items():
                    why = key_problem(str(ch), str(k))
                    if why is not None:
                        self.rejected[f"{ch}:{k}"] = f"refused: {why}"
                        continue
                    bucket[str(k)] = _value(v)
            self._originals = {ch: vals for ch, vals in loaded.items() if vals}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            log.error(
                "state file unreadable, moved aside; originals in it cannot be restored automatically",
                extra={"path": str(self.path), "moved_to": str(aside), "error": str(exc)},
            )
            return
        if self.rejected:
            log.error(
                "state file holds keys the agent never writes; they are ignored (was the file edited?)",
                extra={"path": str(self.path), "rejected": self.rejected},
            )

    def _persist(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"version": FORMAT_VERSION, "originals": self._originals}, indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".agent-originals-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(body + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def save(self, values: list[tuple[str, str, Value]]) -> None:
        """Record ``(channel, key, value)`` originals not recorded yet; durable before returning."""
        changed = False
        for channel, key, value in values:
            why = key_problem(channel, key)
            if why is not None:
                raise ValueError(f"refusing to save {channel} key {key!r}: {why}")
            bucket = self._originals.setdefault(channel, {})
            if key not in bucket:
                bucket[key] = value
                changed = True
        if changed:
            self._persist()

    def originals(self, channel: str) -> dict[str, Value]:
        return dict(self._originals.get(channel, {}))

    def original(self, channel: str, key: str) -> Value | None:
        return self._originals.get(channel, {}).get(key)

    def forget(self, channel: str, keys: list[str]) -> None:
        bucket = self._originals.get(channel, {})
        for key in keys:
            bucket.pop(key, None)
        if not bucket:
            self._originals.pop(channel, None)
        self._persist()

    def empty(self) -> bool:
        return not any(self._originals.values())


POD_CORES_FILE = "agent-pod-cores.json"


class HeldCores:
    """The CPUs under pod power profiles, persisted so a restarted agent does not hand them back blindly.

    After a restart the kubelet may be unreachable for a while (it restarts too, on upgrades);
    until it answers, these CPUs keep what the previous agent set instead of being reset to the
    shared pool's settings while their pods may still run.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._cpus: frozenset[int] = frozenset()
        if path is not None:
            self._cpus = self._load(path)

    @classmethod
    def in_dir(cls, state_dir: str | Path) -> HeldCores:
        return cls(Path(state_dir) / POD_CORES_FILE)

    @staticmethod
    def _load(path: Path) -> frozenset[int]:
        try:
            data = json.loads(path.read_text())
            cpus = data["cpus"]
            if not isinstance(cpus, list) or not all(isinstance(c, int) and 0 <= c <= 65535 for c in cpus):
                raise ValueError("cpus must be a list of CPU numbers")
            return frozenset(cpus)
        except FileNotFoundError:
            return frozenset()
        except (ValueError, KeyError, TypeError) as exc:
            log.error("pod cores file unreadable, ignored", extra={"path": str(path), "error": str(exc)})
            return frozenset()

    @property
    def cpus(self) -> frozenset[int]:
        return self._cpus

    def save(self, cpus: frozenset[int]) -> None:
        if cpus == self._cpus:
            return
        self._cpus = cpus
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".agent-pod-cores-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps({"cpus": sorted(cpus)}) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class StateLocked(ConfigError):
    """Another agent holds the state directory."""


class StateLock:
    """An exclusive ``flock`` on ``<state-dir>/agent.lock``, held while the agent runs.

    The kernel drops the lock when the process dies (SIGKILL included), so there is no stale
    lock to clean up; the file keeps the holder's pid for the error message.
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.pread(fd, 32, 0).decode().strip()
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise StateLocked(
                    f"another joulie agent{who} is using the state directory {self.path.parent}; "
                    "only one agent may manage a node's originals at a time (stop it first, "
                    "or give this one its own --state-dir on a machine it alone manages)"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @contextlib.contextmanager
    def held(self) -> Iterator[StateLock]:
        self.acquire()
        try:
            yield self
        finally:
            self.release()
