"""The informer's wire protocol, asserted on the query parameters the server received.

The emulator's own list ignores ``limit``/``continue`` and its watch ignores
``resourceVersion``, so the list pages and the watch streams here are scripted with
kmock's DSL: ``view[a:b]`` selects the a-th..b-th request the view matched (so
"the second watch" or "the first continue request" needs no state of our own), a
status and a dict make a JSON response, and a tuple of dicts is a JSON-lines stream
that the server closes after its last line, as an API server does when a watch's
``timeoutSeconds`` expire. Requests that no script matches fall through to the
emulator (its live watch keeps the informer quietly connected until ``stop``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kmock
import pytest

from joulie.core.store import ClusterStore
from joulie.kube.client import NODES_PATH
from joulie.kube.informer import Informer
from tests.builders import node
from tests.kube.conftest import KmockCluster, eventually

SELECTOR = "joulie.io/managed=true"


def obj(name: str, rv: str, **labels: str) -> dict[str, Any]:
    out = node(name, **labels)
    out["metadata"]["resourceVersion"] = rv
    return out


def page(rv: str, items: list[dict[str, Any]], token: str | None = None) -> dict[str, Any]:
    meta = {"resourceVersion": rv, **({"continue": token} if token else {})}
    return {"kind": "NodeList", "apiVersion": "v1", "metadata": meta, "items": items}


def status(code: int, reason: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": reason,
    }


def script(c: KmockCluster, build: Callable[[Any], None]) -> None:
    """Install reactions on the emulator from its own event loop. Among reactions of equal priority
    kmock tries them in the order they were installed; all of them win over the emulator's fallbacks."""

    async def install() -> None:
        build(c.emulator)

    c.run(install())


def lists(emu: Any) -> Any:
    return emu[kmock.action.LIST][kmock.path(NODES_PATH)]


def watches(emu: Any) -> Any:
    return emu[kmock.action.WATCH][kmock.path(NODES_PATH)]


def received(c: KmockCluster, watch: bool) -> list[dict[str, str]]:
    """Query parameters of the list (or watch) requests of the nodes, in arrival order."""
    return [dict(r.params) for r in c.requests("GET", NODES_PATH) if (r.params.get("watch") == "true") == watch]


class Recorder:
    """The store's replace handler, remembering what every *completed* replace left in the store."""

    def __init__(self, store: ClusterStore) -> None:
        self.store = store
        self.replaced: list[list[str]] = []

    def __call__(self, objs: Any) -> None:
        self.store.replace_nodes(objs)  # raises, leaving the store alone, if a later page fails
        self.replaced.append(sorted(self.store.snapshot().nodes))


def informer(c: KmockCluster, store: ClusterStore, on_replace: Any, **kw: Any) -> Informer:
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.1)
    return Informer(
        c.api(),
        NODES_PATH,
        on_replace,
        store.upsert_node,
        lambda o: store.delete_node(o["metadata"]["name"]),
        name="nodes",
        params={"labelSelector": SELECTOR},
        watch_timeout_seconds=7,
        **kw,
    )


@pytest.fixture
def c(kmock_cluster: KmockCluster) -> KmockCluster:
    return kmock_cluster


def test_paginated_list_is_one_replace_and_a_failed_page_applies_nothing(c: KmockCluster) -> None:
    def build(emu: Any) -> None:
        second = lists(emu)[kmock.params({"continue": "tok1"})]
        second[:1] << 500 << status(500, "InternalError")  # the first request for page 2 fails ...
        second << page("100", [obj("p-c", "99")])  # ... its retry succeeds
        lists(emu)[lambda r: "continue" not in r.params] << page(
            "100", [obj("p-a", "97"), obj("p-b", "98")], token="tok1"
        )

    script(c, build)
    store = ClusterStore()
    recorder = Recorder(store)
    inf = informer(c, store, recorder, page_size=2)
    inf.start()
    try:
        assert inf.wait_synced(5)
        eventually(lambda: received(c, watch=True), 5, 0.01, "the watch after the list")
    finally:
        inf.stop()

    # One replace with both pages; the failed attempt left nothing, not even page 1.
    assert recorder.replaced == [["p-a", "p-b", "p-c"]]
    assert inf.lists == 1 and inf.last_error is None

    # page 1, page 2 (500), then the whole list again from page 1 (never a resume from a half list).
    got = received(c, watch=False)
    assert [p.get("continue") for p in got] == [None, "tok1", None, "tok1"]
    assert all(p.get("limit") == "2" and p.get("labelSelector") == SELECTOR for p in got)
    assert all("resourceVersion" not in p and "watch" not in p for p in got)

    # The watch starts from the list's resourceVersion, with the same selector.
    w = received(c, watch=True)[0]
    assert w["resourceVersion"] == "100"
    assert w["labelSelector"] == SELECTOR and w["allowWatchBookmarks"] == "true"


def test_a_watch_closed_by_the_server_resumes_from_the_last_version_seen(c: KmockCluster) -> None:
    bookmark = {
        "type": "BOOKMARK",
        "object": {"kind": "Node", "apiVersion": "v1", "metadata": {"resourceVersion": "20"}},
    }
    expired = {"type": "ERROR", "object": status(410, "Expired")}

    def build(emu: Any) -> None:
        lists(emu)[:1] << page("10", [obj("r-a", "5")])
        lists(emu) << page("30", [obj("r-a", "12", extra="x"), obj("r-b", "11")])  # every relist
        # Each tuple is one watch response: streamed line by line, then closed by the server.
        watches(emu)[0:1] << (
            {"type": "ADDED", "object": obj("r-b", "11")},
            {"type": "MODIFIED", "object": obj("r-a", "12", extra="x")},
        )
        watches(emu)[1:2] << (bookmark,)
        watches(emu)[2:3] << (expired,)

    script(c, build)
    store = ClusterStore()
    recorder = Recorder(store)
    inf = informer(c, store, recorder)
    inf.start()
    try:
        assert inf.wait_synced(5)
        eventually(lambda: len(received(c, watch=True)) >= 4, 5, 0.01, "the watch after the relist")
        assert inf.last_error is None
    finally:
        inf.stop()

    ws = received(c, watch=True)
    # from the list; from MODIFIED's object; from the BOOKMARK; (410) from the relist
    assert [w.get("resourceVersion") for w in ws[:4]] == ["10", "12", "20", "30"]
    assert all(
        w["allowWatchBookmarks"] == "true" and w["timeoutSeconds"] == "7" and w["labelSelector"] == SELECTOR for w in ws
    )
    # Resuming after a clean end or a bookmark never relists; only the 410 did, once.
    ls = received(c, watch=False)
    assert len(ls) == 2 and inf.lists == 2
    assert all("resourceVersion" not in p and "continue" not in p for p in ls)
    assert recorder.replaced == [["r-a"], ["r-a", "r-b"]]
    assert store.node("r-a").labels.get("extra") == "x"
