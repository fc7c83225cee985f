"""A list+watch cache feeder for one resource path, on raw JSON.

Why not the client's ``watch.Watch``: it deserialises every event into generated
models (far too slow and heavy at 150k pods) and leaves resume, relist and backoff
to the caller. This informer does what client-go's reflector does, in one thread:

1. list with pagination (``limit``/``continue``) and hand the items to ``on_replace``;
2. watch from the list's ``resourceVersion`` with bookmarks, feeding ``on_upsert``/
   ``on_delete``, and resume from the last version seen when the server ends the
   watch (``timeoutSeconds``) or the read times out;
3. relist at once on ``410 Gone`` (HTTP status or an ``ERROR`` event), and after any
   other error with capped exponential backoff and jitter, so a watch that broke
   while objects were deleted cannot leave ghosts in the cache.

The thread never dies from an error; it reports ``synced`` and ``last_error`` for
the readiness probe, and :meth:`Informer.stop` wakes it at once by shutting the
socket of the live watch.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import orjson
from kubernetes import client as k8s

from joulie import jsonutil
from joulie.kube.client import ApiError, RawResponse, open_request, request_json

log = logging.getLogger(__name__)

ReplaceHandler = Callable[[Iterable[dict[str, Any]]], None]
ObjectHandler = Callable[[dict[str, Any]], None]
ErrorCounter = Callable[[str], None]
"""Called with a stage name (``watch-pods``, ``handler-pods``, ...) on every failure, for metrics."""


def _no_count(_stage: str) -> None:
    pass


class Gone(Exception):
    """The resourceVersion we watch from is too old (410): relist."""


class WatchError(Exception):
    """The server sent an ERROR event other than 410."""


def _resource_version(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        rv = meta.get("resourceVersion")
        if isinstance(rv, str) and rv:
            return rv
    return None


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with jitter in [d/2, d]: replicas that lost the API together
    do not all come back in the same instant."""
    delay = min(cap, initial * (2 ** max(0, attempt)))
    return delay * (0.5 + (rng or random).random() / 2)


class Informer:
    def __init__(
        self,
        api: k8s.ApiClient,
        path: str,
        on_replace: ReplaceHandler,
        on_upsert: ObjectHandler,
        on_delete: ObjectHandler,
        *,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int = 500,
        watch_timeout_seconds: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        connect_timeout: float = 5.0,
        count_error: ErrorCounter = _no_count,
        absent_ok: bool = False,
        absent_recheck_seconds: float = 60.0,
    ) -> None:
        self.api = api
        self.path = path
        self.name = name or path.rsplit("/", 1)[-1]
        self.params = dict(params or {})
        self.on_replace = on_replace
        self.on_upsert = on_upsert
        self.on_delete = on_delete
        self.page_size = page_size
        self.watch_timeout_seconds = watch_timeout_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self.count_error = count_error
        self.absent_ok = absent_ok
        """A 404 on the list means the kind is not served (its CRD is not installed, e.g. after a
        ``helm upgrade``, which never adds CRDs): the cache is empty, not failing."""
        self.absent_recheck_seconds = absent_recheck_seconds
        self.absent = False
        self.resource_version: str | None = None
        self.lists = 0
        """Completed lists (the first one, then every relist)."""
        self.last_error: str | None = None
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response_lock = threading.Lock()
        self._response: RawResponse | None = None

    # ------------------------------------------------------------ state

    @property
    def synced(self) -> bool:
        """The first list completed (the cache has been complete at least once)."""
        return self._synced.is_set()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    @property
    def healthy(self) -> bool:
        """Synced, and the last list/watch attempt did not fail."""
        return self.synced and self.last_error is None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._response_lock:
            response = self._response
        if response is not None:
            _interrupt(response)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------ the loop

    def _run(self) -> None:
        need_list = True
        failures = 0
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                started = time.monotonic()
                events = self._watch()
                failures = 0
                if events == 0 and time.monotonic() - started < 1.0:
                    # A server that ends empty watches at once must not make us spin.
                    self._stop.wait(self.backoff_initial)
            except ApiError as exc:
                if not (self.absent_ok and need_list and exc.status == 404):
                    if self._stop.is_set():
                        break
                    failures = self._failed(exc, failures)
                    need_list = True
                    continue
                if not self.absent:
                    log.warning(
                        "%s is not served by the API server (its CRD is not installed): treated as empty, "
                        "checked again every %.0fs",
                        self.name,
                        self.absent_recheck_seconds,
                    )
                self.absent = True
                self.on_replace(())
                self.last_error = None
                self._synced.set()
                self._stop.wait(self.absent_recheck_seconds)
            except Gone:
                log.info("resourceVersion %s of %s expired (410); relisting", self.resource_version, self.name)
                self.count_error(f"watch-{self.name}-gone")
                need_list = True
                self.resource_version = None
            except Exception as exc:  # noqa: BLE001 - the informer must outlive any failure
                if self._stop.is_set():
                    break
                failures = self._failed(exc, failures)
                need_list = True

    def _failed(self, exc: BaseException, failures: int) -> int:
        """Record a failed list or watch and wait out the backoff; returns the new failure count."""
        self.last_error = f"{self.name}: {exc}"
        self.count_error(f"watch-{self.name}")
        delay = backoff_delay(failures, self.backoff_initial, self.backoff_max)
        log.warning("list/watch of %s failed (%s); retrying in %.1fs", self.name, exc, delay)
        self._stop.wait(delay)
        return failures + 1

    def _list(self) -> None:
        pages = _Pages(self)
        self.on_replace(pages)  # the handler consumes every page before it swaps its state
        if not pages.done:
            raise RuntimeError(f"the replace handler of {self.name} did not consume the whole list")
        self.resource_version = pages.resource_version
        self.lists += 1
        self.absent = False
        self.last_error = None
        self._synced.set()
        log.info("listed %s: %d objects at resourceVersion %s", self.name, pages.count, self.resource_version)

    def _watch(self) -> int:
        """Stream one watch; returns the number of events when it ends cleanly."""
        params = {
            **self.params,
            "watch": True,
            "allowWatchBookmarks": True,
            "timeoutSeconds": self.watch_timeout_seconds,
            "resourceVersion": self.resource_version,
        }
        try:
            response = open_request(
                self.api,
                "GET",
                self.path,
                params,
                timeout=(self.connect_timeout, self.watch_timeout_seconds + 15.0),
            )
        except ApiError as exc:
            if exc.status == 410:
                raise Gone() from None
            raise
        with self._response_lock:
            self._response = response
        self.last_error = None
        count = 0
        try:
            if self._stop.is_set():
                return count
            for line in response.raw:
                if self._stop.is_set():
                    break
                line = line.strip()
                if not line:
                    continue
                self._event(line)
                count += 1
        except Exception as exc:
            if self._stop.is_set() or _is_read_timeout(exc):
                return count  # a quiet watch outlived its read timeout: resume
            raise
        finally:
            with self._response_lock:
                self._response = None
            with contextlib.suppress(Exception):  # closing a broken socket may fail too
                response.close()
        return count

    def _event(self, line: bytes) -> None:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("ignoring undecodable watch line of %s: %.200r", self.name, line)
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise Gone()
            raise WatchError(f"watch error {code} {obj.get('reason')}: {obj.get('message')}")
        rv = _resource_version(obj)
        if kind in ("ADDED", "MODIFIED"):
            self._call(self.on_upsert, obj)
        elif kind == "DELETED":
            self._call(self.on_delete, obj)
        elif kind != "BOOKMARK":
            log.debug("ignoring watch event %r of %s", kind, self.name)
        if rv is not None:
            self.resource_version = rv

    def _call(self, handler: ObjectHandler, obj: dict[str, Any]) -> None:
        try:
            handler(obj)
        except Exception:
            self.count_error(f"handler-{self.name}")
            log.exception("handler of %s failed on %s", self.name, (obj.get("metadata") or {}).get("name"))


class _Pages:
    """The list, page by page, as one iterable: raw JSON of one page at a time is alive."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer
        self.resource_version: str | None = None
        self.count = 0
        self.done = False
        self._used = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._used:
            raise RuntimeError("a list can be iterated once")
        self._used = True
        inf = self.informer
        token: str | None = None
        while True:
            if inf._stop.is_set():
                raise RuntimeError("stopped while listing")
            params = {**inf.params, "limit": inf.page_size, "continue": token}
            page = request_json(inf.api, "GET", inf.path, params, timeout=(inf.connect_timeout, 60.0))
            if not isinstance(page, dict):
                raise ApiError(200, "BadResponse", f"GET {inf.path}: expected a list object")
            for obj in page.get("items") or ():
                if isinstance(obj, dict):
                    self.count += 1
                    yield obj
            meta = jsonutil.obj(page.get("metadata"))
            self.resource_version = meta.get("resourceVersion") or self.resource_version
            token = meta.get("continue") or None
            if not token:
                self.done = True
                return


def _interrupt(response: RawResponse) -> None:
    """Wake a thread blocked reading ``response`` (urllib3 >= 2.3 can shut the socket down)."""
    try:
        response.raw.shutdown()
    except Exception:  # noqa: BLE001 - older urllib3 or already released
        with contextlib.suppress(Exception):
            response.raw.close()


def _is_read_timeout(exc: BaseException) -> bool:
    from urllib3.exceptions import ReadTimeoutError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, (ReadTimeoutError, TimeoutError)):
            return True
        seen.add(id(current))
        current = (
            current.__cause__
            or current.__context__
            or (current.args[1] if len(current.args) > 1 and isinstance(current.args[1], BaseException) else None)
        )
    return False


__all__ = ["Gone", "Informer", "WatchError", "backoff_delay"]
