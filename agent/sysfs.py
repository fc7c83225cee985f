"""Reading and writing sysfs attribute files under a configurable root.

The agent runs in a pod where the host's ``/sys`` is mounted somewhere else (and in
tests it is a temporary directory), so every path is relative to ``root``.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)


class SysfsError(OSError):
    """A sysfs attribute could not be read, parsed or written; the message names the file."""


class Sysfs:
    """Attribute I/O relative to ``root`` (``/sys`` on a real node)."""

    def __init__(self, root: str | Path = "/sys") -> None:
        self.root = Path(root)

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def read(self, rel: str) -> str:
        try:
            return self.path(rel).read_text().strip()
        except OSError as exc:
            raise SysfsError(exc.errno or errno.EIO, f"cannot read {self.path(rel)}: {exc.strerror or exc}") from None

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

    def writable(self, rel: str) -> bool:
        """Whether writing ``rel`` can succeed.

        sysfs (kernfs) refuses writes to attributes without a write bit even for root,
        and a read-only bind mount refuses them with EROFS; ``os.access`` sees the
        latter, the mode bits the former.
        """
        p = self.path(rel)
        try:
            mode = p.stat().st_mode
        except OSError:
            return False
        return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(p, os.W_OK)

    def write(self, rel: str, value: str) -> None:
        """Write one attribute in a single ``write(2)``, as sysfs expects."""
        p = self.path(rel)
        if not self.writable(rel):
            raise SysfsError(errno.EACCES, f"cannot write {p}: read-only attribute")
        try:
            # O_TRUNC is what `echo v > attr` does: a no-op on sysfs, needed on plain files.
            fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
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
