"""GPU caps through the pynvml call layer, the HTTP control backend, telemetry."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.backends.nvml import Nvml
from agent.inventory import discover
from agent.metrics import AgentMetrics
from agent.sysfs import Sysfs
from agent.telemetry import Telemetry, energy_delta_uj
from joulie.api.v1alpha1 import TelemetryControls, TelemetrySources
from tests.agent.conftest import cond, make_engine, profile
from tests.agent.hw import FakeGpu, FakePynvml, intel_two_socket, read


def two_gpus() -> FakePynvml:
    return FakePynvml([FakeGpu("GPU-0a"), FakeGpu("GPU-1b")])


def test_gpu_cap_in_watts_and_percent_then_restore(sysroot, state_dir):
    nv = two_gpus()
    engine = make_engine(sysroot, state_dir, nvml=nv)
    r = engine.reconcile(profile(gpu={"capWattsPerGpu": 450}))
    assert [g.limit_mw for g in nv.gpus] == [450_000, 450_000]
    assert r.ok and r.status.gpu.backend == "nvml" and r.status.gpu.gpus == 2 and r.status.gpu.cap_watts_per_gpu == 450
    assert r.control.gpu.observed == {"GPU-0a": "450 W", "GPU-1b": "450 W"}
    engine.reconcile(profile(gpu={"capPctOfMax": 50}, generation=2))
    assert [g.limit_mw for g in nv.gpus] == [350_000, 350_000]
    nv.gpus[1].limit_mw = 700_000  # the driver reset one board
    r = engine.reconcile(profile(gpu={"capPctOfMax": 50}, generation=2))
    assert r.drifted == 1 and nv.gpus[1].limit_mw == 350_000
    engine.reconcile(None)
    assert [g.limit_mw for g in nv.gpus] == [700_000, 700_000]


def test_gpu_cap_below_minimum_is_refused(sysroot, state_dir):
    nv = two_gpus()
    r = make_engine(sysroot, state_dir, nvml=nv).reconcile(profile(gpu={"capWattsPerGpu": 100}))
    assert cond(r.status, "Degraded").reason == "CapBelowMinimum"
    assert "below the minimum 200 W of GPU 0" in cond(r.status, "Degraded").message
    assert nv.set_calls == []


def test_gpu_write_refused_by_driver_rolls_back(sysroot, state_dir):
    nv = two_gpus()
    nv.gpus[1].settable = False
    r = make_engine(sysroot, state_dir, nvml=nv).reconcile(profile(gpu={"capWattsPerGpu": 300}))
    assert [g.limit_mw for g in nv.gpus] == [700_000, 700_000]
    assert nv.set_calls == [("GPU-0a", 300_000), ("GPU-0a", 700_000)]
    assert cond(r.status, "Degraded").reason == "ApplyFailed"
    assert "Insufficient Permissions" in cond(r.status, "Degraded").message


@pytest.mark.parametrize("nvml", [FakePynvml([]), None])
def test_no_gpu_or_no_nvml_is_a_state_not_an_error(sysroot, state_dir, nvml):
    intel_two_socket(sysroot)
    engine = make_engine(sysroot, state_dir)
    engine.nvml = Nvml(nvml)  # None: the real pynvml, whose shared library is absent here
    r = engine.reconcile(profile(cpu={"packagePowerCapWatts": 120}, gpu={"capWattsPerGpu": 300}))
    assert r.ok and r.status.gpu.backend == "none"
    assert cond(r.status, "Degraded").status == "False"
    assert r.control.gpu.result == "skipped" and "no GPU control" in r.control.gpu.message


class _Actuator:
    """A tiny HTTP actuator on loopback that records what the agent posts."""

    def __init__(self, code: int = 200) -> None:
        self.bodies: list[dict] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                outer.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(code)
                self.end_headers()

            def do_GET(self):
                body = json.dumps({"packagePowerWatts": 88.5, "gpu": {"powerWatts": 301}, "ok": True}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/control"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def actuator():
    a = _Actuator()
    yield a
    a.close()


def test_http_control_backend_posts_the_upstream_body(sysroot, state_dir, actuator):
    intel_two_socket(sysroot)
    controls = TelemetryControls.model_validate(
        {"cpu": {"type": "http", "endpoint": actuator.url}, "gpu": {"type": "http", "endpoint": actuator.url}}
    )
    engine = make_engine(sysroot, state_dir)
    r = engine.reconcile(profile(cpu={"packagePowerCapWatts": 120}, gpu={"capWattsPerGpu": 250}), controls)
    assert r.ok and r.status.cpu.backend == "http" and r.status.gpu.backend == "http"
    (cpu, gpu) = actuator.bodies
    assert {k: cpu[k] for k in ("node", "action", "capWatts", "throttlePct", "capWattsPerGpu")} == {
        "node": "n1",
        "action": "rapl.set_power_cap_watts",
        "capWatts": 120,
        "throttlePct": None,
        "capWattsPerGpu": None,
    }
    assert gpu["action"] == "gpu.set_power_cap_watts" and gpu["capWattsPerGpu"] == 250 and isinstance(gpu["ts"], int)
    assert read(sysroot, "class/powercap/intel-rapl:0/constraint_0_power_limit_uw") == "150000000"
    dvfs = TelemetryControls.model_validate({"cpu": {"type": "http", "mode": "dvfs", "endpoint": actuator.url}})
    engine.reconcile(profile(cpu={"packagePowerCapPctOfMax": 60}, generation=2), dvfs)
    assert actuator.bodies[-1]["action"] == "dvfs.set_throttle_pct" and actuator.bodies[-1]["throttlePct"] == 40


def test_http_actuator_error_is_reported(sysroot, state_dir):
    bad = _Actuator(code=503)
    try:
        controls = TelemetryControls.model_validate({"cpu": {"type": "http", "endpoint": bad.url}})
        r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"packagePowerCapWatts": 120}), controls)
    finally:
        bad.close()
    assert not r.ok and r.control.cpu.result == "failed" and "answered 503" in r.control.cpu.message


def test_energy_wraparound():
    assert energy_delta_uj(1_000, 6_000, 262_143_328_850) == 5_000
    assert energy_delta_uj(262_143_328_000, 150, 262_143_328_850) == 1_000
    assert energy_delta_uj(10, 5, None) is None


def test_telemetry_package_power_frequencies_gpu_and_http_source(sysroot, actuator):
    intel_two_socket(sysroot)
    fs = Sysfs(sysroot)
    clock = iter([100.0, 110.0])
    nv = Nvml(two_gpus())
    nv.start()
    metrics = AgentMetrics()
    tel = Telemetry(fs, nv, metrics, clock=lambda: next(clock))
    inv = discover(fs)
    e1 = sysroot / "class/powercap/intel-rapl:1/energy_uj"
    e1.write_text("262143000000")  # close to max_energy_range_uj
    tel.sample(inv)
    e0 = sysroot / "class/powercap/intel-rapl:0/energy_uj"
    e0.write_text(str(1_000_000 + 850_000_000))  # 850 J in 10 s
    e1.write_text("100000000")  # wrapped: 328850 + 100000000 uJ in 10 s
    sources = TelemetrySources.model_validate({"cpu": {"type": "http", "endpoint": actuator.url}})
    s = tel.sample(inv, sources)
    assert s.package_watts["intel-rapl:0"] == pytest.approx(85.0)
    assert s.package_watts["intel-rapl:1"] == pytest.approx(10.032885)
    assert s.cpu_khz[3] == 2_103_000
    assert s.gpu_watts == {"GPU-0a": 312.5, "GPU-1b": 312.5}
    assert s.remote["cpu"] == {"packagePowerWatts": 88.5, "gpu.powerWatts": 301.0}
    text = metrics.render().decode()
    assert 'joulie_agent_package_power_watts{zone="intel-rapl:0"} 85.0' in text
    assert 'joulie_agent_remote_telemetry{field="packagePowerWatts",source="cpu"} 88.5' in text


def test_the_status_reports_what_the_node_draws_and_what_caps_can_do(sysroot):
    """The power budgets plan from this reading: measured watts, cap range, the floor idle leaves."""
    from datetime import UTC, datetime

    from agent.plan import Limits
    from agent.power_report import PowerReporter

    intel_two_socket(sysroot)
    fs = Sysfs(sysroot)
    nv = Nvml(two_gpus())
    nv.start()
    clock = iter([100.0, 110.0, 120.0])
    tel = Telemetry(fs, nv, AgentMetrics(), clock=lambda: next(clock))
    reporter = PowerReporter(Limits())
    inv = discover(fs)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    e0 = sysroot / "class/powercap/intel-rapl:0/energy_uj"
    e1 = sysroot / "class/powercap/intel-rapl:1/energy_uj"
    e0.write_text("0")
    e1.write_text("0")
    first = reporter.reading(tel.sample(inv), inv, nv.devices(), now)
    assert first is not None and first.package_watts is None  # RAPL needs two samples; the GPUs report at once
    e0.write_text("900000000")  # 90 W over 10 s
    e1.write_text("600000000")  # 60 W
    r = reporter.reading(tel.sample(inv), inv, nv.devices(), now)
    assert r.packages == 2 and r.package_watts == pytest.approx(150.0)
    assert r.package_cap_max_watts == pytest.approx(205.0) and r.package_cap_min_watts == pytest.approx(20.5)
    assert r.gpus == 2 and r.gpu_watts == pytest.approx(625.0)
    assert r.gpu_cap_min_watts == 200.0 and r.gpu_cap_max_watts == 700.0  # the two_gpus() A100-like boards
    e0.write_text("1300000000")  # 40 W
    e1.write_text("1300000000")  # 70 W
    r = reporter.reading(tel.sample(inv), inv, nv.devices(), now)
    assert r.package_floor_watts == pytest.approx(60.0)  # the least each package drew, the larger of the two
