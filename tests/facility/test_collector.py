"""The fetch loop against real servers: flapping and dead endpoints, staleness, concurrency, metrics, no secrets leaked."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from joulie.core.facility import Quantity, fresh_curve
from joulie.facility.collector import FacilityCollector
from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import BasicAuth
from joulie.facility.metrics import FacilityMetrics
from joulie.facility.targets import FacilityNode, resolve
from tests.facility.servers import DeltaPServer, MLServer, SilentServer, SushyEmulator
from tests.kube.conftest import eventually


class DictSecrets:
    """Secrets as the Kubernetes reader returns them (the API-server path is tested in test_facility_kube)."""

    def __init__(self, secrets: dict[str, BasicAuth]) -> None:
        self.secrets = secrets
        self.invalidated: list[str] = []

    def basic_auth(self, name: str) -> BasicAuth:
        if name not in self.secrets:
            raise FetchError(FailureKind.CONFIG, f"Secret {name} not found")
        return self.secrets[name]

    def invalidate(self, name: str) -> None:
        self.invalidated.append(name)


def collector_of(
    templates: dict, nodes: list[str], secrets=None, workers: int = 4
) -> tuple[FacilityCollector, CollectorRegistry]:
    registry = CollectorRegistry()
    c = FacilityCollector(secrets, FacilityMetrics(registry), workers=workers)
    c.set_targets(resolve(templates, [FacilityNode(n) for n in nodes]))
    c.start()
    return c, registry


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return value or 0.0


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    s = SushyEmulator(tmp_path_factory.mktemp("sushy"))
    yield s
    s.close()


def test_redfish_through_the_loop_with_credentials_from_a_secret(emulator, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = DictSecrets({"bmc": BasicAuth("admin", emulator.password)})
    spec = {
        "nodeSelector": {},
        "metricsCollector": {
            "inletTemp": {
                "type": "Redfish",
                "endpoint": emulator.url,
                "basicAuthSecret": {"name": "bmc"},
                "fetchInterval": "200ms",
            }
        },
    }
    c, registry = collector_of({"rack-1": spec}, ["n1", "n2"], secrets)
    try:
        eventually(lambda: all(c.inlet_temperature(n, time.time()) for n in ("n1", "n2")), 15, what="both inlets read")
        r = c.inlet_temperature("n1", time.time())
        assert r.value == 25.0 and r.source.startswith("redfish:")
        eventually(lambda: metric(registry, "joulie_facility_fetches_total", source="inletTemp") >= 4, 10)
        text = generate_latest(registry).decode()
        assert 'joulie_facility_nodes{source="inletTemp",state="fresh"} 2.0' in text
        assert "joulie_facility_fetch_duration_seconds_count" in text
    finally:
        c.stop()
    assert emulator.password not in caplog.text


def test_auth_failure_is_counted_reported_and_the_secret_re_read(emulator, caplog):
    secrets = DictSecrets({"bmc": BasicAuth("admin", "not-the-password")})
    spec = {
        "nodeName": "n1",
        "metricsCollector": {
            "inletTemp": {
                "type": "Redfish",
                "endpoint": emulator.url,
                "basicAuthSecret": {"name": "bmc"},
                "fetchInterval": "100ms",
            }
        },
    }
    c, registry = collector_of({"t": spec}, ["n1"], secrets)
    try:
        eventually(
            lambda: metric(registry, "joulie_facility_fetch_errors_total", source="inletTemp", reason="auth") >= 1, 10
        )
        assert c.inlet_temperature("n1", time.time()) is None
        assert "bmc" in secrets.invalidated
        problems = c.problems()
        assert [(p.node, p.source) for p in problems] == [("n1", "inletTemp")] and "auth" in problems[0].message
        secrets.secrets["bmc"] = BasicAuth("admin", emulator.password)  # the Secret was fixed
        eventually(lambda: c.inlet_temperature("n1", time.time()), 15, what="recovered after the Secret changed")
        assert c.problems() == []
    finally:
        c.stop()
    assert "not-the-password" not in caplog.text


def test_a_flapping_endpoint_keeps_its_last_value_and_a_dead_one_goes_stale():
    server = DeltaPServer({"n1": 4.0}, behaviour=lambda n: "ok" if n % 2 == 0 else "error")
    spec = {
        "nodeName": "n1",
        "metricsCollector": {
            "deltaP": {"type": "DifferentialPressureAPI", "endpoint": server.url, "fetchInterval": "100ms", "ttl": "1s"}
        },
    }
    c, registry = collector_of({"t": spec}, ["n1"])
    try:
        eventually(lambda: len(server.requests) >= 6, 15, what="several fetches")
        reading = c.node("n1").delta_p
        assert reading is not None and reading.value == 4.0 and reading.fresh(time.time())
        assert metric(registry, "joulie_facility_fetch_errors_total", source="deltaP", reason="http") >= 2
        assert metric(registry, "joulie_facility_fetches_total", source="deltaP") >= 2
        server.close()  # the API goes away for good
        eventually(lambda: not c.node("n1").delta_p.fresh(time.time()), 10, what="the value to go stale")
        assert c.node("n1").delta_p.value == 4.0  # the last value is kept, marked stale
        assert 'joulie_facility_nodes{source="deltaP",state="stale"} 1.0' in generate_latest(registry).decode()
        assert metric(registry, "joulie_facility_fetch_errors_total", source="deltaP", reason="unreachable") >= 1
    finally:
        c.stop()


def test_fetches_are_bounded_and_a_hung_endpoint_blocks_nobody():
    hung = SilentServer()
    good = DeltaPServer({f"n{i}": float(i) for i in range(8)})
    templates = {
        "a-hung": {
            "nodeSelector": {"matchLabels": {"rack": "hung"}},
            "metricsCollector": {
                "deltaP": {
                    "type": "DifferentialPressureAPI",
                    "endpoint": hung.url,
                    "timeout": "2s",
                    "fetchInterval": "100ms",
                }
            },
        },
        "b-good": {
            "nodeSelector": {},
            "metricsCollector": {
                "deltaP": {"type": "DifferentialPressureAPI", "endpoint": good.url, "fetchInterval": "100ms"}
            },
        },
    }
    nodes = [FacilityNode(f"h{i}", {"rack": "hung"}) for i in range(6)] + [FacilityNode(f"n{i}") for i in range(8)]
    registry = CollectorRegistry()
    c = FacilityCollector(None, FacilityMetrics(registry), workers=3)
    c.set_targets(resolve(templates, nodes))
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], c._in_flight)
            time.sleep(0.005)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    c.start()
    try:
        # 6 hung nodes but only 3 workers: the good nodes are still read (workers free up after each timeout)
        eventually(lambda: all(c.node(f"n{i}").delta_p for i in range(8)), 20, what="every good node read")
        assert peak[0] <= 3
        started = time.monotonic()
        assert c.node("n3").delta_p.value == 3.0  # reading the view never waits for a fetch
        assert time.monotonic() - started < 0.01
    finally:
        stop.set()
        c.stop()
        hung.close()
        good.close()


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory):
    s = MLServer(tmp_path_factory.mktemp("mlserver"))
    yield s
    s.close()


def test_v2_curves_from_fresh_inputs_cached_across_nodes_and_stale_with_them(mlserver):
    dp = DeltaPServer({"n1": 2.0, "n2": 2.0})
    spec = {
        "nodeSelector": {},
        "metricsCollector": {
            "inletTemp": {"type": "Fake", "value": 30, "fetchInterval": "100ms"},
            "deltaP": {"type": "DifferentialPressureAPI", "endpoint": dp.url, "fetchInterval": "100ms", "ttl": "1s"},
        },
        "predictor": {
            "powerConsumption": {
                "type": "V2InferenceProtocol",
                "endpoint": mlserver.infer_url(),
                "fetchInterval": "100ms",
                "ttl": "5s",
            }
        },
    }
    c, registry = collector_of({"t": spec}, ["n1", "n2"])
    try:
        eventually(lambda: all(fresh_curve(c.node(n), time.time()) for n in ("n1", "n2")), 20, what="both curves")
        curve = fresh_curve(c.node("n1"), time.time())
        # watts = 120 + 3.5 cpu% + 2 (30 - 20) + 0.5 * 2 at 0 %, 10 %, ..., 100 %
        assert curve.watts == pytest.approx(tuple(141 + 35 * i for i in range(11)))
        assert c.node("n1").power.inputs == (Quantity.INLET_TEMP, Quantity.DELTA_P)
        time.sleep(0.5)  # several refreshes of both nodes
        # both nodes share inputs: 11 predictions in all, the rest from the cache
        assert metric(registry, "joulie_facility_predictor_requests_total") == 11
        assert metric(registry, "joulie_facility_predictor_cache_total", result="hit") >= 11
        dp.close()  # ΔP goes stale: the curve predicted from it no longer counts
        eventually(lambda: fresh_curve(c.node("n1"), time.time()) is None, 10, what="curve unusable with stale ΔP")
        assert c.node("n1").power.fresh(time.time())  # the curve itself is within its TTL
    finally:
        c.stop()


def test_predictor_endpoint_from_the_fake_provider(mlserver):
    spec = {
        "nodeName": "n1",
        "predictor": {
            "powerConsumption": {"fetchInterval": "100ms"},
            "powerConsumptionEndpointProvider": {"type": "Fake", "endpoint": mlserver.infer_url()},
        },
    }
    c, _ = collector_of({"t": spec}, ["n1"])
    try:
        eventually(lambda: fresh_curve(c.node("n1"), time.time()), 20, what="a curve from the provided endpoint")
        assert fresh_curve(c.node("n1"), time.time()).watts[0] == pytest.approx(120)  # inputs 0: not configured
        assert c.node("n1").power.source == f"v2:{mlserver.infer_url()}"
    finally:
        c.stop()


def test_parametric_and_fake_need_no_service():
    spec_p = {
        "nodeName": "n1",
        "predictor": {
            "powerConsumption": {"type": "Parametric", "parametric": {"curveWatts": [100 + 10 * i for i in range(11)]}}
        },
    }
    spec_f = {"nodeName": "n2", "predictor": {"powerConsumption": {"type": "Fake", "value": 250}}}
    c, _ = collector_of({"p": spec_p, "f": spec_f}, ["n1", "n2", "n3"])
    try:
        eventually(lambda: c.node("n1").power and c.node("n2").power, 5)
        assert c.node("n1").power.curve.watts == tuple(100 + 10 * i for i in range(11))
        assert c.node("n2").power.curve.watts == (250.0,) * 11
        assert c.node("n3") is None  # no template: not configured (the extender uses its default model)
    finally:
        c.stop()


def test_changing_templates_forgets_removed_nodes_and_keeps_unchanged_ones():
    spec = {
        "nodeSelector": {},
        "metricsCollector": {"inletTemp": {"type": "Fake", "value": 21, "fetchInterval": "1h", "ttl": "2h"}},
    }
    c, _ = collector_of({"t": spec}, ["n1", "n2"])
    try:
        eventually(lambda: c.node("n1").inlet_temp and c.node("n2").inlet_temp, 5)
        first = c.node("n1").inlet_temp
        c.set_targets(resolve({"t": spec}, [FacilityNode("n1")]))
        assert c.node("n2") is None
        assert c.node("n1").inlet_temp is first  # same target: the reading (and its schedule) are kept
    finally:
        c.stop()
