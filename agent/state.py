"""Original values of everything the agent changed, persisted before the first write.

The file outlives the process on purpose: after a crash the node still carries our
caps, and the next agent (or ``joulie agent --restore``) must know what to put back.
A value is saved once, before the first write to it, and never overwritten by a
later (already capped) reading; it is forgotten only once restored.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = "agent-originals.json"
FORMAT_VERSION = 1


class OriginalsStore:
    """``{channel: {key: original value}}``, in memory and (unless ``path`` is None) on disk."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._originals: dict[str, dict[str, int]] = {}
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
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            self._originals = {
                str(ch): {str(k): int(v) for k, v in values.items()} for ch, values in data["originals"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            log.error(
                "state file unreadable, moved aside; originals in it cannot be restored automatically",
                extra={"path": str(self.path), "moved_to": str(aside), "error": str(exc)},
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

    def save(self, values: list[tuple[str, str, int]]) -> None:
        """Record ``(channel, key, value)`` originals not recorded yet; durable before returning."""
        changed = False
        for channel, key, value in values:
            bucket = self._originals.setdefault(channel, {})
            if key not in bucket:
                bucket[key] = value
                changed = True
        if changed:
            self._persist()

    def originals(self, channel: str) -> dict[str, int]:
        return dict(self._originals.get(channel, {}))

    def forget(self, channel: str, keys: list[str]) -> None:
        bucket = self._originals.get(channel, {})
        for key in keys:
            bucket.pop(key, None)
        if not bucket:
            self._originals.pop(channel, None)
        self._persist()

    def empty(self) -> bool:
        return not any(self._originals.values())
