"""``/plan`` and ``/`` on both listeners that serve them: JSON exactly as before, the page for browsers.

The extender port (Starlette) and the loopback ``--plan-port`` (``joulie.probes.GetServer``)
are different HTTP stacks; both are asked the same questions here, over real HTTP for the
plan port.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from extender.app import create_app
from extender.plan_page import build_page, plan_page
from extender.service import ExtenderService
from extender.settings import ServeSettings
from joulie.serve import side_servers
from labeller.cli import example_snapshot_path
from labeller.config import PlannerConfig
from labeller.planner import Planner
from labeller.runtime import SnapshotRuntime
from labeller.snapshot import load_snapshot
from tests.plan_page.harness import free_port
from tests.plan_page.test_negotiate import CHROME

CURL = {"Accept": "*/*", "User-Agent": "curl/8.5.0"}
BROWSER = {"Accept": CHROME}
JSON_CLIENTS = [{}, CURL, {"Accept": "application/json"}, {"Accept": "application/json, text/html"}]


def example_runtime(start: bool = True) -> SnapshotRuntime:
    snap = load_snapshot(example_snapshot_path())
    rt = SnapshotRuntime(snap.store, snap.profiles, Planner(PlannerConfig()))
    if start:
        rt.start()
    return rt


@pytest.fixture
def runtime() -> SnapshotRuntime:
    return example_runtime()


@pytest.fixture
def service(runtime: SnapshotRuntime) -> ExtenderService:
    return ExtenderService(runtime)


@pytest.fixture
def client(runtime: SnapshotRuntime, service: ExtenderService) -> TestClient:
    return TestClient(create_app(runtime, service=service))


# ---------------------------------------------------------------- the extender port


@pytest.mark.parametrize("headers", JSON_CLIENTS, ids=["no-accept", "curl", "json", "tie"])
@pytest.mark.parametrize("query", ["", "?node=worker-01&node=cp-1&node=nope", "?node=nope"])
def test_json_clients_get_exactly_the_json_plan_view_answers(client, service, headers, query):
    nodes = [part.removeprefix("node=") for part in query.lstrip("?").split("&") if part]
    status, body = service.plan_view(nodes)
    for path in ("/plan", "/scheduler/plan"):
        r = client.get(path + query, headers=headers)
        assert (r.status_code, r.content) == (status, body)
        assert r.headers["content-type"] == "application/json"
        assert r.headers["vary"] == "Accept"  # caches must not hand the page to a JSON client


def test_before_the_first_plan_json_clients_still_get_the_503_and_browsers_the_page():
    rt = example_runtime(start=False)
    client = TestClient(create_app(rt))
    r = client.get("/plan", headers=CURL)
    assert r.status_code == 503 and r.json()["error"].startswith("no plan yet")
    r = client.get("/plan", headers=BROWSER)
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("path", ["/plan", "/scheduler/plan", "/plan?node=worker-01"])
def test_a_browser_gets_the_page_at_plan(client, path):
    r = client.get(path, headers=BROWSER)
    assert r.status_code == 200 and r.content == plan_page().body
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == plan_page().headers["Content-Security-Policy"]


@pytest.mark.parametrize("headers", [BROWSER, CURL, {}], ids=["browser", "curl", "no-accept"])
@pytest.mark.parametrize("path", ["/", "/scheduler/"])
def test_root_is_the_page_for_everyone(client, path, headers):
    r = client.get(path, headers=headers)
    assert r.status_code == 200 and r.content == plan_page().body
    assert r.headers["x-content-type-options"] == "nosniff"


def test_without_the_plan_route_neither_plan_nor_its_page_is_served(runtime):
    client = TestClient(create_app(runtime, plan_route=False))
    for path in ("/", "/plan", "/scheduler/", "/scheduler/plan"):
        for headers in (BROWSER, CURL):
            assert client.get(path, headers=headers).status_code == 404, (path, headers)
    assert client.get("/healthz").status_code == 200


# ---------------------------------------------------------------- the loopback plan port


@pytest.fixture
def plan_port(runtime: SnapshotRuntime, service: ExtenderService) -> Iterator[int]:
    settings = ServeSettings(plan_port=free_port(), plan_host="127.0.0.1")
    servers = side_servers(settings, runtime, service, CollectorRegistry(), lambda: True)
    assert len(servers) == 1
    servers[0].start()
    try:
        yield servers[0].port
    finally:
        servers[0].stop()


def get(port: int, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    r.body = r.read()  # type: ignore[attr-defined]
    conn.close()
    return r


@pytest.mark.parametrize("headers", JSON_CLIENTS, ids=["no-accept", "curl", "json", "tie"])
def test_the_plan_port_negotiates_the_same_way(plan_port, service, headers):
    for query, nodes in [("", []), ("?node=worker-01&node=nope", ["worker-01", "nope"]), ("?node=nope", ["nope"])]:
        r = get(plan_port, "/plan" + query, headers)
        assert (r.status, r.body) == service.plan_view(nodes)  # type: ignore[attr-defined]
        assert r.getheader("Content-Type") == "application/json" and r.getheader("Vary") == "Accept"
    page = plan_page()
    for path, h in [("/plan", BROWSER), ("/", BROWSER), ("/", headers)]:
        r = get(plan_port, path, h)
        assert r.status == 200 and r.body == page.body  # type: ignore[attr-defined]
        assert r.getheader("Content-Type") == page.media_type
        assert r.getheader("Content-Security-Policy") == page.headers["Content-Security-Policy"]
    assert get(plan_port, "/healthz", BROWSER).status == 404  # only /plan and its page live here
    assert get(plan_port, "/index.html", BROWSER).status == 404


# ---------------------------------------------------------------- the page itself


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.blocks: dict[str, list[str]] = {"script": [], "style": []}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href", "action", "srcset", "poster")]
        self._open = tag if tag in self.blocks else None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.blocks[self._open].append(data)

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_loads_nothing_from_anywhere_and_allows_only_its_own_code():
    page = plan_page()
    html = page.body.decode()
    parser = _Refs()
    parser.feed(html)
    assert all(v.startswith("data:") for _tag, _attr, v in parser.refs), parser.refs
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I)  # no CDN, no external host
    assert "@import" not in html and "url(" not in html
    (script,) = parser.blocks["script"]
    (style,) = parser.blocks["style"]
    csp = dict(p.strip().split(" ", 1) for p in page.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["connect-src"] == "'self'"
    assert csp["script-src"] == _sha256(script) and csp["style-src"] == _sha256(style)  # nothing else runs


def test_the_page_is_static_so_it_carries_no_cluster_data_and_no_credentials():
    first = TestClient(create_app(example_runtime())).get("/").content
    rt = example_runtime()
    rt.store.replace_nodes([])  # another cluster
    rt.start()
    assert TestClient(create_app(rt)).get("/").content == first == plan_page().body
    assert not re.search(rb"token|password|secret|bearer|BEGIN [A-Z ]*KEY", first, re.I)


def test_an_asset_that_would_close_its_block_is_refused():
    with pytest.raises(ValueError, match="closes its own element"):
        build_page("<style>/*@plan.css@*/</style><script>/*@plan.js@*/</script>", "", "x = '</script>';")
    with pytest.raises(ValueError, match="must hold"):
        build_page("<html></html>", "", "")


def test_every_asset_is_package_data():
    """A wheel (the image's ``pip install .``) ships exactly what pyproject's package-data lists."""
    import fnmatch
    import tomllib

    from tests.plan_page.harness import ROOT

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["extender"]
    assets = sorted(p.relative_to(ROOT / "extender").as_posix() for p in (ROOT / "extender/plan_page/assets").iterdir())
    assert assets == ["plan_page/assets/plan.css", "plan_page/assets/plan.html", "plan_page/assets/plan.js"]
    assert all(any(fnmatch.fnmatch(a, g) for g in globs) for a in assets), (assets, globs)
