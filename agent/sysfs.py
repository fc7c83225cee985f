"""Reading and writing sysfs attribute files under a configurable root, and never outside it.

The agent runs in a pod where the host's ``/sys`` is mounted somewhere else (and in
tests it is a temporary directory), so every path is relative to ``root``. Real sysfs is
full of symlinks that stay inside it (``cpuN/cpufreq -> ../cpufreq/policyN``,
``class/powercap/intel-rapl:0 -> ../../devices/virtual/powercap/...``), so paths are
resolved and then checked: a relative path with ``..``, or one whose resolution leaves
the root (a planted symlink, a tampered state file), is refused before any I/O.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

_RESOLVED_DIRS_MAX = 65536


class SysfsError(OSError):
    """A sysfs attribute could not be read, parsed or written; the message names the file."""


class OutsideRoot(SysfsError):
    """A path that is not, or does not resolve to, a file under the sysfs root."""


def check_relative(rel: str) -> str:
    """``rel`` without leading slashes; refuses ``..`` components and NUL bytes (no I/O)."""
    clean = rel.lstrip("/")
    if "\x00" in clean or any(part == ".." for part in clean.split("/")):
        raise OutsideRoot(errno.EACCES, f"refusing {rel!r}: paths under the sysfs root may not contain '..'")
    return clean


class Sysfs:
    """Attribute I/O relative to ``root`` (``/sys`` on a real node)."""

    def __init__(self, root: str | Path = "/sys") -> None:
        self.root = Path(root)
        self._real_root = os.path.realpath(self.root)
        self._dirs: dict[str, str] = {}

    def path(self, rel: str) -> Path:
        """The unresolved path of ``rel`` (for messages and directory listings)."""
        return self.root / check_relative(rel)

    def _inside(self, real: str) -> bool:
        return real == self._real_root or real.startswith(self._real_root.rstrip("/") + "/")

    def resolve(self, rel: str) -> str:
        """The real path of ``rel``, after checking it stays under the root.

        Directories are resolved once and cached (sysfs directories do not move); the last
        component is resolved on every call, so a symlinked attribute is checked each time.
        """
        clean = check_relative(rel)
        parent, _, name = clean.rpartition("/")
        real_parent = self._dirs.get(parent)
        if real_parent is None:
            real_parent = os.path.realpath(self.root / parent)
            if not self._inside(real_parent):
                raise OutsideRoot(
                    errno.EACCES, f"refusing {self.root / clean}: it resolves to {real_parent}, outside {self.root}"
                )
            if len(self._dirs) >= _RESOLVED_DIRS_MAX:
                self._dirs.clear()
            self._dirs[parent] = real_parent
        full = os.path.join(real_parent, name) if name else real_parent
        if os.path.islink(full):
            target = os.path.realpath(full)
            if not self._inside(target):
                raise OutsideRoot(
                    errno.EACCES, f"refusing {self.root / clean}: it is a symlink to {target}, outside {self.root}"
                )
            return target
        return full

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` exists (a path refused by :meth:`resolve` raises :class:`OutsideRoot`)."""
        return os.path.exists(self.resolve(rel))

    def is_dir(self, rel: str) -> bool:
        try:
            return os.path.isdir(self.resolve(rel))
        except OutsideRoot:
            return False

    def listdir(self, rel: str) -> list[str]:
        """Entries of a directory under the root; empty when it is missing or leaves the root."""
        try:
            return os.listdir(self.resolve(rel))
        except (OutsideRoot, FileNotFoundError, NotADirectoryError):
            return []

    def real_dir(self, rel: str) -> str | None:
        """Resolved path of a directory (to find CPUs sharing one cpufreq policy)."""
        try:
            real = self.resolve(rel)
        except OutsideRoot:
            return None
        return real if os.path.isdir(real) else None

    def read(self, rel: str) -> str:
        real = self.resolve(rel)
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise SysfsError(exc.errno or errno.EIO, f"cannot read {self.path(rel)}: {exc.strerror or exc}") from None
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
                if sum(map(len, chunks)) > 1 << 20:
                    raise SysfsError(errno.EFBIG, f"{self.path(rel)} is larger than 1 MiB: not a sysfs attribute")
        except OSError as exc:
            if isinstance(exc, SysfsError):
                raise
            raise SysfsError(exc.errno or errno.EIO, f"cannot read {self.path(rel)}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        try:
            return b"".join(chunks).decode().strip()
        except UnicodeDecodeError:
            raise SysfsError(errno.EINVAL, f"{self.path(rel)} is not text") from None

    def read_int(self, rel: str) -> int:
        text = self.read(rel)
        try:
            return int(text)
        except ValueError:
            raise SysfsError(errno.EINVAL, f"{self.path(rel)} holds {text[:40]!r}, not an integer") from None

    def read_ints(self, rel: str) -> list[int]:
        """A whitespace-separated list of integers (``scaling_available_frequencies``)."""
        text = self.read(rel)
        try:
            return [int(tok) for tok in text.split()]
        except ValueError:
            raise SysfsError(errno.EINVAL, f"{self.path(rel)} holds {text[:40]!r}, not a list of integers") from None

    def read_words(self, rel: str) -> list[str]:
        """A whitespace-separated list of names (``scaling_available_governors``)."""
        return self.read(rel).split()

    def writable(self, rel: str) -> bool:
        """Whether writing ``rel`` can succeed.

        sysfs (kernfs) refuses writes to attributes without a write bit even for root,
        and a read-only bind mount refuses them with EROFS; ``os.access`` sees the
        latter, the mode bits the former. A path outside the root is never writable.
        """
        try:
            real = self.resolve(rel)
            mode = os.stat(real).st_mode
        except OSError:
            return False
        return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(real, os.W_OK)

    def write(self, rel: str, value: str) -> None:
        """Write one attribute in a single ``write(2)``, as sysfs expects."""
        p = self.path(rel)
        real = self.resolve(rel)
        if not self.writable(rel):
            raise SysfsError(errno.EACCES, f"cannot write {p}: read-only attribute")
        try:
            # O_TRUNC is what `echo v > attr` does: a no-op on sysfs, needed on plain files.
            # O_NOFOLLOW: the path was resolved above; a symlink swapped in since is refused.
            fd = os.open(real, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
        except OSError as exc:
            raise SysfsError(exc.errno or errno.EIO, f"cannot write {p}: {exc.strerror or exc}") from None
        try:
            data = value.encode()
            written = os.write(fd, data)
            if written != len(data):
                raise SysfsError(errno.EIO, f"short write to {p}: {written} of {len(data)} bytes")
        except OSError as exc:
            if isinstance(exc, SysfsError):
                raise
            raise SysfsError(exc.errno or errno.EIO, f"cannot write {value!r} to {p}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        log.debug("wrote sysfs attribute", extra={"path": str(p), "value": value})
