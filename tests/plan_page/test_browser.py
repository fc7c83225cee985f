"""The plan page in a real browser: Debian's headless Chromium driven through chromium-driver.

Loaded from a real ``joulie serve --example`` process (the extender port and the loopback plan
port), and from the real app serving test plans (power budgets and telemetry in the JSON;
5000 nodes). Screenshots and the measured render times land in ``test-artifacts/``.
Skipped, with the reason, where Chromium is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labeller.cli import example_snapshot_path
from tests.plan_page.harness import (
    ARTIFACTS,
    ROOT,
    Browser,
    PlanRuntime,
    chromium,
    cluster_plan,
    cluster_store,
    find_browser,
    fleet_telemetry,
    free_port,
    page_figures,
    row_names,
    rows_rendered,
    served,
    wait_for,
    with_telemetry,
)
from tests.security.serving import post, serve

FOUND = find_browser()
pytestmark = pytest.mark.skipif(not isinstance(FOUND, Browser), reason=str(FOUND))

EXAMPLE_NODES = ["gpu-01", "worker-01", "worker-02", "worker-03", "worker-04", "worker-05", "worker-06"]


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    assert isinstance(FOUND, Browser)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium(FOUND) as d:
        yield d


@pytest.fixture(scope="module")
def example() -> Iterator[int]:
    """``joulie serve --example`` as a user starts it; yields the extender port."""
    with serve() as (_proc, port):
        yield port


def open_page(driver: Any, url: str) -> None:
    """A new document at ``url`` (from one page of the same origin, ``get`` would only change the hash)."""
    driver.get("about:blank")
    driver.get_log("browser")  # what earlier pages logged is theirs
    driver.get(url)


def js(driver: Any, script: str) -> Any:
    return driver.execute_script(script)


def text(driver: Any, element_id: str) -> str:
    return str(js(driver, f"return document.getElementById('{element_id}').textContent"))


def hidden(driver: Any, element_id: str) -> bool:
    return bool(js(driver, f"return document.getElementById('{element_id}').hidden"))


def headers(driver: Any) -> list[str]:
    return list(js(driver, "return [...document.querySelectorAll('#node-head th')].map(th => th.textContent)"))


def click_header(driver: Any, key: str) -> None:
    driver.find_element("css selector", f"#node-head th[data-key='{key}'] button").click()


def sort_state(driver: Any, key: str) -> str:
    return str(
        js(driver, f"return document.querySelector(\"#node-head th[data-key='{key}']\").getAttribute('aria-sort')")
    )


def select(driver: Any, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)


def severe_console_messages(driver: Any) -> list[str]:
    """Errors the page logged: a script error, a CSP violation, a failed request."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def same_origin_only(driver: Any, origin: str) -> list[str]:
    urls = js(driver, "return performance.getEntriesByType('resource').map(e => e.name)")
    return [u for u in urls if not u.startswith(origin)]


def screenshot(driver: Any, name: str) -> Path:
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a rendered page, not an empty one
    return path


# ---------------------------------------------------------------- joulie serve --example


def test_the_page_shows_the_plan_of_joulie_serve(driver, example):
    origin = f"http://127.0.0.1:{example}"
    open_page(driver, origin + "/")
    rows_rendered(driver, 7)
    assert row_names(driver) == EXAMPLE_NODES  # by name, naturally ordered
    assert text(driver, "policy") == "queue_aware_v1"
    assert text(driver, "target") == "4 of 7 managed nodes performance"
    assert "clamped to [1, 7] = 4 performance" in text(driver, "policy-reason")
    assert text(driver, "demand") == "6 performance (1 pending) · 3 eco · 5 general pods"
    assert "batch/solver-3" in text(driver, "floor") and text(driver, "floor").startswith("at least 4 performance")
    unmanaged = text(driver, "unmanaged-list")
    assert "worker-07: reserved" in unmanaged and "worker-08: cordoned" in unmanaged
    cells = js(
        driver, "return [...document.querySelector('tr[data-node=\"worker-04\"]').cells].map(c => c.textContent)"
    )
    assert cells == [
        "worker-04",
        "eco",
        "no",
        "ActiveEco",
        "120",
        "epp=balance_power uncore=0- %",
        "0",
        "kept (rank 7/7, 0 performance pods)",
    ]
    # no budgets or telemetry in today's JSON: their section and columns are absent
    assert hidden(driver, "budgets") and hidden(driver, "measured-total-row")
    assert "Measured (W)" not in headers(driver)
    assert severe_console_messages(driver) == []  # the CSP let the inlined code run, and nothing broke
    assert same_origin_only(driver, origin) == []
    screenshot(driver, "plan-page-example.png")


def test_the_page_is_also_what_a_browser_gets_at_plan(driver, example):
    for path in ("/plan", "/scheduler/plan", "/scheduler/"):
        open_page(driver, f"http://127.0.0.1:{example}{path}")
        rows_rendered(driver, 7)
        assert row_names(driver) == EXAMPLE_NODES
    # and the same URL still answers JSON to a script
    with urllib.request.urlopen(f"http://127.0.0.1:{example}/plan") as r:
        assert r.headers["Content-Type"] == "application/json" and json.load(r)["policy"] == "queue_aware_v1"


def test_sorting_by_a_column_and_back(driver, example):
    open_page(driver, f"http://127.0.0.1:{example}/")
    rows_rendered(driver, 7)
    assert sort_state(driver, "name") == "ascending"
    click_header(driver, "performancePods")
    wait_for(driver, lambda d: sort_state(d, "performancePods") == "ascending", what="sorted by performance pods")
    assert row_names(driver) == ["worker-04", "worker-05", "worker-06", "gpu-01", "worker-02", "worker-03", "worker-01"]
    click_header(driver, "performancePods")
    wait_for(driver, lambda d: sort_state(d, "performancePods") == "descending", what="reversed")
    assert row_names(driver)[0] == "worker-01"
    assert sort_state(driver, "name") == "none"
    click_header(driver, "name")
    click_header(driver, "name")
    wait_for(driver, lambda d: sort_state(d, "name") == "descending", what="by name, descending")
    assert row_names(driver) == EXAMPLE_NODES[::-1]
    assert "sort=name" not in driver.current_url and "desc=1" in driver.current_url  # kept in the link
    driver.refresh()  # a reload (or a shared link) keeps the view
    rows_rendered(driver, 7)
    assert row_names(driver) == EXAMPLE_NODES[::-1]


def test_filtering_by_name_profile_and_state(driver, example):
    open_page(driver, f"http://127.0.0.1:{example}/")
    rows_rendered(driver, 7)
    box = driver.find_element("id", "filter-name")
    box.send_keys("WORKER-0")  # case does not matter
    rows_rendered(driver, 6)
    assert "gpu-01" not in row_names(driver)
    select(driver, "filter-profile", "eco")
    rows_rendered(driver, 3)
    assert row_names(driver) == ["worker-04", "worker-05", "worker-06"]
    select(driver, "filter-state", "ActivePerformance")  # no eco node is in that state
    rows_rendered(driver, 0)
    assert text(driver, "shown") == "showing 0 of 7 nodes"
    select(driver, "filter-profile", "")
    rows_rendered(driver, 3)  # the workers in ActivePerformance, whatever their profile
    assert row_names(driver) == ["worker-01", "worker-02", "worker-03"]
    select(driver, "filter-state", "")
    box.clear()
    box.send_keys("gpu")
    rows_rendered(driver, 1)
    assert row_names(driver) == ["gpu-01"]


def _plan_time(driver: Any) -> str:
    return str(js(driver, "return document.body.dataset.generatedAt"))


def _refreshes(driver: Any) -> int:
    return int(js(driver, "return Number(document.body.dataset.refreshes || 0)"))


def test_it_refreshes_itself_and_pausing_stops_it(driver, example):
    open_page(driver, f"http://127.0.0.1:{example}/#every=1")
    rows_rendered(driver, 7)
    first = _refreshes(driver)
    wait_for(driver, lambda d: _refreshes(d) >= first + 2, 10, "two refreshes a second apart")
    assert "refreshing every 1 s" in text(driver, "status")

    driver.find_element("id", "pause").click()
    wait_for(driver, lambda d: "paused" in text(d, "status"), what="the page to say it is paused")
    assert js(driver, "return document.getElementById('pause').getAttribute('aria-pressed')") == "true"
    before, paused_at = _plan_time(driver), _refreshes(driver)

    # the plan changes meanwhile: the pending performance pod is rejected by every node it is
    # offered, so the labeller reconciles and /plan carries a newer plan
    solver = next(
        o
        for o in yaml.safe_load(Path(example_snapshot_path()).read_text())["items"]
        if o["metadata"]["name"] == "solver-3"
    )
    body = json.dumps({"Pod": solver, "Nodes": None, "NodeNames": ["worker-04", "worker-05"]}).encode()
    assert post(example, "/scheduler/filter", body)[0] == 200
    deadline = time.monotonic() + 10
    while json.loads(urllib.request.urlopen(f"http://127.0.0.1:{example}/plan").read())["generatedAt"] == float(before):
        assert time.monotonic() < deadline, "the labeller did not reconcile after the rejected filter"
        time.sleep(0.1)
    time.sleep(2.5)  # over two refresh intervals
    assert _refreshes(driver) == paused_at and _plan_time(driver) == before  # paused: nothing fetched

    driver.find_element("id", "pause").click()
    wait_for(driver, lambda d: _plan_time(d) != before, 5, "the newer plan after resuming")
    assert "refreshing every 1 s" in text(driver, "status")
    assert float(_plan_time(driver)) > float(before)


def test_the_page_on_the_loopback_plan_port(driver):
    plan = free_port()
    with serve("--plan-port", str(plan)) as (_proc, port):
        origin = f"http://127.0.0.1:{plan}"
        for path in ("/", "/plan"):
            open_page(driver, origin + path)
            rows_rendered(driver, 7)
            assert row_names(driver) == EXAMPLE_NODES
        assert severe_console_messages(driver) == [] and same_origin_only(driver, origin) == []
        driver.get(f"http://127.0.0.1:{port}/")  # the extender port no longer serves it
        assert "Not Found" in driver.page_source
        assert js(driver, "return document.getElementById('node-table')") is None


# ---------------------------------------------------------------- budgets and telemetry


def test_budgets_racks_and_node_telemetry_appear_when_the_json_carries_them(driver):
    store = cluster_store(40)
    plain = cluster_plan(store)
    budgets, telemetry = fleet_telemetry(plain)
    runtime = PlanRuntime(store, with_telemetry(plain, budgets, telemetry))
    with served(runtime) as origin:
        open_page(driver, origin + "/#every=1")
        rows_rendered(driver, 40)
        assert not hidden(driver, "budgets")
        names = js(driver, "return [...document.querySelectorAll('#budget-list article')].map(a => a.dataset.budget)")
        assert names == ["facility-cap", "row-7"]
        card = text(driver, "budget-list")
        assert "WithinBudget" in card and "BudgetInsufficient" in card
        assert "measured 2150 W of 2000 W limit, headroom -150 W" in card
        assert "performance demand alone needs 2150 W" in card and "over 40 nodes" in card
        racks = js(
            driver,
            "return [...document.querySelectorAll('tr[data-rack]')].map(r => [...r.cells].map(c => c.textContent))",
        )
        total = sum(t["measuredWatts"] for t in telemetry.values())
        assert racks == [
            ["rack-a", str(round(total * 0.55)), "31.5", "0 (normal)"],
            ["rack-b", str(round(total * 0.45)), "38", "1 (no new eco/general work)"],
        ]
        assert headers(driver)[-4:] == ["Measured (W)", "Budget share (W)", "Inlet (°C)", "Reason"]
        assert text(driver, "measured-total") == f"{total / 1000:.1f} kW over 40 of 40 nodes"

        click_header(driver, "measuredWatts")
        click_header(driver, "measuredWatts")  # highest first
        wait_for(driver, lambda d: sort_state(d, "measuredWatts") == "descending", what="sorted by measured power")
        top = max(telemetry, key=lambda n: (telemetry[n]["measuredWatts"], [-ord(c) for c in n]))
        assert row_names(driver)[0] == top
        row = js(driver, f"return [...document.querySelector('tr[data-node=\"{top}\"]').cells].map(c => c.textContent)")
        t = telemetry[top]
        assert row[7:10] == [f"{t['measuredWatts']:g}", f"{t['budgetShareWatts']:g}", f"{t['inletTempC']:g}"]
        governed = next(n for n in sorted(telemetry) if "budget" in telemetry[n])
        reason = js(driver, f"return document.querySelector('tr[data-node=\"{governed}\"]').cells[10].textContent")
        assert reason.endswith(
            f"; budget facility-cap: {telemetry[governed]['budget']['reason']}"
        )  # what it did, and why
        screenshot(driver, "plan-page-budgets.png")

        # the next plan has no budgets and no telemetry: the page drops them on its next refresh
        runtime.plan = plain
        wait_for(driver, lambda d: hidden(d, "budgets"), 5, "the budgets section to go")
        assert "Measured (W)" not in headers(driver) and hidden(driver, "measured-total-row")
        assert severe_console_messages(driver) == []


def test_a_server_that_goes_away_leaves_the_last_plan_on_screen_with_a_warning(driver):
    store = cluster_store(12)
    runtime = PlanRuntime(store, cluster_plan(store))
    with served(runtime) as origin:
        open_page(driver, origin + "/#every=1")
        rows_rendered(driver, 12)
    wait_for(driver, lambda d: not hidden(d, "error"), 10, "the error banner")
    assert text(driver, "error").startswith("cannot reach /plan") and "showing the plan of" in text(driver, "error")
    assert js(driver, "return document.getElementById('node-table').dataset.rows") == "12"


# ---------------------------------------------------------------- scale


def test_five_thousand_nodes_render_sort_filter_and_scroll(driver):
    store = cluster_store(5000)
    plain = cluster_plan(store)
    budgets, telemetry = fleet_telemetry(plain)
    runtime = PlanRuntime(store, with_telemetry(plain, budgets, telemetry))
    figures: dict[str, Any] = {}
    with served(runtime) as origin:
        open_page(driver, origin + "/")
        rows_rendered(driver, 5000, timeout=60)
        figures["first"] = page_figures(driver)
        assert row_names(driver)[0] == "node-00000"
        assert len(row_names(driver)) < 200  # only the rows in view are in the DOM
        click_header(driver, "name")
        wait_for(driver, lambda d: sort_state(d, "name") == "descending", what="by name, descending")
        assert row_names(driver)[0] == "node-04999"
        figures["sort"] = page_figures(driver)["renderMs"]
        select(driver, "filter-profile", "performance")
        rows_rendered(driver, 2000)
        figures["filter"] = page_figures(driver)["renderMs"]
        js(driver, "const b = document.getElementById('node-scroll'); b.scrollTop = b.scrollHeight")
        wait_for(
            driver,
            lambda d: row_names(d)[-1:] == [min(n.name for n in plain.nodes if n.profile == "performance")],
            5,
            "the last row in view",
        )
        figures["profile"] = "performance"
    (ARTIFACTS / "plan-page-5000.json").write_text(json.dumps(figures, indent=2))
    print(f"\n5000 nodes: {json.dumps(figures)}")


def test_the_benchmark_runs_at_small_scale():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "plan_page_bench.py"), "--nodes", "300", "--repeat", "2"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "first render of 300 rows" in out.stdout
