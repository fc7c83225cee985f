"""What the plan page's tests and benchmark share: plans to serve, a server, and a real browser.

- :func:`cluster_plan`: a real plan (the real planner) of a synthetic cluster of any size;
- :func:`with_telemetry`: that plan with power budgets (:class:`TelemetryPlan`) and per-node
  telemetry (:class:`MeasuredDecision`) in its JSON, the keys the power-budget and telemetry
  work adds to ``/plan`` (a test runtime serves it: production code is not changed to fake them);
- :class:`PlanRuntime`: a labeller as the extender sees it, whose plan a test can swap;
- :func:`served`: :func:`extender.app.create_app` under uvicorn on a free loopback port;
- :func:`chromium`: Debian's Chromium through Debian's chromium-driver (Selenium), or the reason
  it cannot run here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulie.core.model import PodInfo
from joulie.core.plan import Plan
from joulie.core.selector import LabelSelector
from joulie.core.store import ClusterStore
from labeller.config import PlannerConfig
from labeller.memory import InMemoryCluster
from labeller.planner import Planner
from labeller.profiles import ProfileCache
from labeller.reconciler import Reconciler
from labeller.templates import ControlledDecision, decision_controls
from tests.builders import node, pod

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("JOULIE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
"""Screenshots and measured figures of the browser tests (git-ignored)."""

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


# ---------------------------------------------------------------- plans


def cluster_store(nodes: int, pods_per_node: int = 3) -> ClusterStore:
    """``nodes`` managed nodes (``node-00000``...), each running a few pods; every 4th node runs a
    performance pod, every 7th an eco pod, and a few performance pods wait for a node."""
    store = ClusterStore()
    store.replace_nodes([node(f"node-{i:05d}", cpu="64") for i in range(nodes)])
    pods: list[dict[str, Any]] = []
    for i in range(nodes):
        name = f"node-{i:05d}"
        for j in range(pods_per_node):
            demand = "performance" if j == 0 and i % 4 == 0 else "eco" if j == 0 and i % 7 == 0 else "general"
            pods.append(pod(f"p-{i}-{j}", name, demand, cpu="2"))
    pods += [pod(f"waiting-{k}", None, "performance", unschedulable=True) for k in range(3)]
    store.replace_pods(pods)
    return store


def cluster_plan(store: ClusterStore, config: PlannerConfig | None = None, now: float | None = None) -> Plan:
    profiles = ProfileCache()
    planner = Planner(config or PlannerConfig(policy="static_partition", policy_params={"hp_frac": 0.4}))
    reconciler = Reconciler(store, profiles, planner, InMemoryCluster(store, profiles), dry_run=True)
    return reconciler.compute_plan(time.time() if now is None else now)


@dataclass(frozen=True, slots=True)
class MeasuredDecision(ControlledDecision):
    """A node's decision whose JSON carries what the node draws (``/plan`` and ``/plan?node=`` alike)."""

    telemetry: Mapping[str, Any] = field(default_factory=dict)
    """{measuredWatts, budgetShareWatts, inletTempC, budget}, any of them."""

    def to_json(self) -> dict[str, Any]:
        return {**ControlledDecision.to_json(self), **self.telemetry}


@dataclass(frozen=True, slots=True)
class TelemetryPlan(Plan):
    """A plan whose JSON carries power budgets (the keys of docs/extender.md)."""

    budget_rows: tuple[Mapping[str, Any], ...] = ()
    """``budgets`` as ``/plan`` shows them (not named ``budgets``: a plan may have a field of that name)."""

    def to_json(self) -> dict[str, Any]:
        return {**Plan.to_json(self), "budgets": [dict(b) for b in self.budget_rows]}


def _init_fields(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}


def with_telemetry(
    plan: Plan, budgets: Sequence[Mapping[str, Any]], telemetry: Mapping[str, Mapping[str, Any]]
) -> TelemetryPlan:
    nodes = tuple(
        MeasuredDecision(**{"controls": decision_controls(d), **_init_fields(d)}, telemetry=telemetry.get(d.name, {}))
        for d in plan.nodes
    )
    return TelemetryPlan(**{**_init_fields(plan), "nodes": nodes}, budget_rows=tuple(budgets))


def fleet_telemetry(plan: Plan) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Budgets and per-node figures for ``plan``'s nodes: performance nodes draw more, two racks;
    every third node says what the budget did to it."""
    telemetry: dict[str, dict[str, Any]] = {}
    for i, d in enumerate(plan.nodes):
        watts = (410.0 if d.profile == "performance" else 180.0) + (i % 10) * 3.5
        telemetry[d.name] = {"measuredWatts": watts, "budgetShareWatts": watts + 40.0, "inletTempC": 22.0 + (i % 5)}
        if i % 3 == 0:
            reason = f"share {watts + 40:g} W of facility-cap"
            telemetry[d.name]["budget"] = {"policy": "facility-cap", "shareWatts": watts + 40, "reason": reason}
    total = sum(t["measuredWatts"] for t in telemetry.values())
    budgets = [
        {
            "name": "facility-cap",
            "limitWatts": round(total * 1.1),
            "measuredWatts": total,
            "headroomWatts": round(total * 1.1) - total,
            "state": "WithinBudget",
            "nodes": len(plan.nodes),
            "racks": [
                {"rackId": "rack-a", "powerWatts": round(total * 0.55), "temperature": 31.5, "stage": 0},
                {"rackId": "rack-b", "powerWatts": round(total * 0.45), "temperature": 38.0, "stage": 1},
            ],
        },
        {
            "name": "row-7",
            "limitWatts": 2000,
            "measuredWatts": 2150,
            "headroomWatts": -150,
            "state": "BudgetInsufficient",
            "message": "performance demand alone needs 2150 W",
            "racks": [],
        },
    ]
    return budgets, telemetry


class PlanRuntime:
    """A labeller as the extender sees it (:class:`extender.service.LabellerView`), serving ``plan``."""

    def __init__(self, store: ClusterStore, plan: Plan, selector: LabelSelector | None = None) -> None:
        self.store = store
        self.plan = plan
        self.selector = selector or PlannerConfig().selector()

    def latest_plan(self) -> Plan | None:
        return self.plan

    def unplaceable(self, pod: PodInfo) -> None:
        raise AssertionError(f"the page tests never filter pods ({pod.key})")

    def ready(self) -> tuple[bool, str]:
        return True, "test runtime"

    def healthy(self) -> tuple[bool, str]:
        return True, "test runtime"


# ---------------------------------------------------------------- serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(runtime: PlanRuntime) -> Iterator[str]:
    """The real app (``extender.app.create_app``) for ``runtime`` on loopback; yields its base URL."""
    import uvicorn

    from extender.app import create_app

    port = free_port()
    app = create_app(runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="plan-page-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the test app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# ---------------------------------------------------------------- the browser


@dataclass(frozen=True, slots=True)
class Browser:
    chromium: str
    chromedriver: str


def find_browser() -> Browser | str:
    """Debian's Chromium and chromium-driver, or why the browser tests cannot run here."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        return (
            "no Chromium here: the plan page's browser tests need Debian's chromium and chromium-driver "
            "(`apt-get install -y --no-install-recommends chromium chromium-driver`; .ci/run installs them)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return Browser(chromium, chromedriver)


@contextlib.contextmanager
def chromium(browser: Browser) -> Iterator[Any]:
    """A headless Chromium with a fresh profile, driven through chromedriver; console logs kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="joulie-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser.chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=browser.chromedriver))
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(driver: Any, check: Any, timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``check(driver)`` until it returns something truthy."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(check)
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout}s waiting for {what or check}") from None


def rows_rendered(driver: Any, count: int, timeout: float = 15.0) -> None:
    wait_for(
        driver,
        lambda d: d.execute_script("return document.getElementById('node-table').dataset.rows") == str(count),
        timeout,
        f"{count} rendered rows",
    )


def row_names(driver: Any) -> list[str]:
    return list(
        driver.execute_script("return [...document.querySelectorAll('#node-rows tr')].map(r => r.dataset.node)")
    )


def page_figures(driver: Any) -> dict[str, float]:
    """The page's own measurements: table render, whole render, navigation to the first full page."""
    return dict(
        driver.execute_script(
            """
            const m = performance.getEntriesByName('joulie-first-render')[0];
            return {
              renderMs: Number(document.body.dataset.renderMs),
              fullRenderMs: Number(document.body.dataset.fullRenderMs),
              firstRenderSinceNavigationMs: m ? m.startTime : NaN,
            };
            """
        )
    )
