"""The performance figure of performancePowerRatio, from a real Prometheus (Debian's package) and an
HTTP JSON document, through the poller the labeller runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from joulie.api.v1alpha1 import PerformanceSource
from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import JsonClient
from labeller.budgets.performance import PerformancePoller, fetch_figure
from labeller.budgets.source import PolicyCache
from tests.kube.conftest import _free_port, eventually


class Metrics:
    """A scrape target: ``app_requests_per_second`` and two series of ``app_queue_depth``."""

    def __init__(self) -> None:
        self.rate = 420.0
        self.document: object = {"service": {"throughput": [{"rps": 123.5}]}}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body = (
                        f"app_requests_per_second {outer.rate}\n"
                        'app_queue_depth{shard="a"} 3\napp_queue_depth{shard="b"} 4\n'
                    ).encode()
                    kind = "text/plain; version=0.0.4"
                else:
                    body = json.dumps(outer.document).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Metrics]:
    m = Metrics()
    yield m
    m.close()


@pytest.fixture
def prometheus(tmp_path: Path, target: Metrics) -> Iterator[str]:
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.skip("prometheus is not installed (Debian package `prometheus`; .ci/run installs it)")
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: app\n    static_configs: [{{targets: ['127.0.0.1:{target.port}']}}]\n"
    )
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def scraped() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/query?query=app_requests_per_second", timeout=2) as r:
                return bool(json.load(r)["data"]["result"])
        except OSError:
            return False

    try:
        eventually(scraped, 30, 0.2, "the first scrape")  # ready at once, first sample seconds later
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def source(**kw: object) -> PerformanceSource:
    return PerformanceSource.model_validate(kw)


def test_a_prometheus_instant_query_gives_the_figure(prometheus: str, target: Metrics) -> None:
    client = JsonClient()
    assert fetch_figure(client, source(type="prometheus", endpoint=prometheus, query="app_requests_per_second")) == 420
    # a scalar answer works too
    assert fetch_figure(client, source(type="prometheus", endpoint=prometheus, query="scalar(vector(7))")) == 7
    # more than one series is not one number: the operator is told, nothing is guessed
    with pytest.raises(FetchError) as info:
        fetch_figure(client, source(type="prometheus", endpoint=prometheus, query="app_queue_depth"))
    assert info.value.kind is FailureKind.PAYLOAD and "returned 2 series" in str(info.value)
    with pytest.raises(FetchError) as info:
        fetch_figure(client, source(type="prometheus", endpoint=prometheus, query="sum(rate(x[5m]"))
    assert info.value.kind is FailureKind.CONFIG and "failed: invalid parameter" in str(info.value)  # its own words
    with pytest.raises(FetchError) as info:
        fetch_figure(client, source(type="prometheus", endpoint=prometheus, query="absent_metric_xyz"))
    assert "returned 0 series" in str(info.value)


def test_the_poller_keeps_the_latest_figure_only_while_fresh(prometheus: str, target: Metrics) -> None:
    policies = PolicyCache()
    spec = {
        "powerCapLimit": 5000,
        "performancePowerRatio": {"targetRatio": 0.2},
        "performanceSource": {"type": "prometheus", "endpoint": prometheus, "query": "app_requests_per_second"},
        "telemetry": {"staleAfterSeconds": 60},
    }
    policies.replace([{"metadata": {"name": "web"}, "spec": spec}])
    clock = [time.time()]
    poller = PerformancePoller(policies, clock=lambda: clock[0])
    poller.poll_once()
    assert poller.figures(clock[0])["web"].value == 420
    target.rate = 840.0
    eventually(lambda: (poller.poll_once(), poller.figures(clock[0])["web"].value == 840)[1], 30, 0.3, "new rate")
    later = poller.figures(clock[0] + 61)["web"]
    assert later.value is None and "old" in (later.problem or "")
    # the endpoint goes away: no figure, and why
    spec["performanceSource"]["endpoint"] = "http://127.0.0.1:9"
    policies.replace([{"metadata": {"name": "web"}, "spec": spec}])
    poller.poll_once()
    gone = poller.figures(clock[0])["web"]
    assert gone.value is None and "cannot connect" in (gone.problem or "")
    policies.replace([])
    poller.poll_once()
    assert poller.figures(clock[0]) == {}


def test_an_http_json_document_gives_the_figure_at_its_field(target: Metrics) -> None:
    client = JsonClient()
    url = f"http://127.0.0.1:{target.port}/stats"
    assert fetch_figure(client, source(type="http", endpoint=url, field="service.throughput.0.rps")) == 123.5
    with pytest.raises(FetchError) as info:
        fetch_figure(client, source(type="http", endpoint=url, field="service.latency"))
    assert "no field 'service.latency'" in str(info.value)
    target.document = {"rps": "fast"}
    with pytest.raises(FetchError) as info:
        fetch_figure(client, source(type="http", endpoint=url, field="rps"))
    assert "is not a number" in str(info.value)
