"""A thread-safe cache of observed API objects by name, fed by a watch or a snapshot."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class NamedCache(Generic[T]):
    """Objects parsed by ``parse`` and kept by name; ``version`` bumps on every change."""

    def __init__(self, parse: Callable[[Mapping[str, Any]], T]) -> None:
        self._parse = parse
        self._lock = threading.Lock()
        self._items: dict[str, T] = {}
        self.version = 0

    def upsert(self, obj: Mapping[str, Any]) -> None:
        self.put(self._parse(obj))

    def put(self, item: T) -> None:
        with self._lock:
            self._items[item.name] = item
            self.version += 1

    def delete(self, name: str) -> None:
        with self._lock:
            if self._items.pop(name, None) is not None:
                self.version += 1

    def replace(self, objs: Iterable[Mapping[str, Any]]) -> None:
        fresh = {item.name: item for item in map(self._parse, objs)}
        with self._lock:
            self._items = fresh
            self.version += 1

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def items(self) -> list[T]:
        with self._lock:
            return list(self._items.values())
