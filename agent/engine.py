"""One apply/verify pass: plan every backend, apply all-or-nothing, build the status.

The engine owns no loop and no Kubernetes: :mod:`agent.run` calls :meth:`Engine.reconcile`
on every trigger (profile changed, interval elapsed) and :meth:`Engine.restore_all` on
shutdown or when the profile disappears. The same pass both applies a new profile and
verifies an old one: values already in place are not rewritten, values that went back
to something else are re-applied and counted as drift.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent import plan as planning
from agent.backends import http
from agent.backends.nvml import Nvml
from agent.inventory import CPU_DIR, POWERCAP, Inventory, discover
from agent.metrics import AgentMetrics
from agent.plan import CpuPlan, GpuPlan, Limits, Refusal
from agent.state import OriginalsStore
from agent.sysfs import Sysfs
from agent.txn import ApplyResult, ChannelError, RestoreResult, SysfsChannel, apply_writes, restore
from joulie.api.v1alpha1 import (
    Condition,
    ControlStatus,
    ControlStatuses,
    CpuCap,
    CpuControl,
    CpuStatus,
    GpuControl,
    GpuStatus,
    NodePowerProfile,
    NodePowerProfileStatus,
    PackageStatus,
    TelemetryControls,
    set_condition,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    node_name: str
    limits: Limits = field(default_factory=Limits)
    dry_run: bool = False


@dataclass
class Outcome:
    """What one resource (cpu or gpu) ended up with in this pass."""

    backend: str
    result: str  # applied | failed | unsupported | skipped
    message: str
    observed: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.result in ("failed", "unsupported")


@dataclass(frozen=True)
class RestoreReport:
    """What putting the originals back did, per channel (``sysfs``, ``nvml``)."""

    channels: dict[str, RestoreResult]

    @property
    def restored(self) -> int:
        return sum(len(r.restored) for r in self.channels.values())

    @property
    def failed(self) -> dict[str, str]:
        return {k: v for r in self.channels.values() for k, v in r.failed.items()}


@dataclass
class PassResult:
    status: NodePowerProfileStatus | None
    control: ControlStatuses | None
    ok: bool
    wrote: int = 0
    drifted: int = 0


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Engine:
    def __init__(
        self,
        fs: Sysfs,
        store: OriginalsStore,
        nvml: Nvml,
        config: EngineConfig,
        metrics: AgentMetrics | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.fs = fs
        self.sysfs = SysfsChannel(fs)
        self.store = store
        self.nvml = nvml
        self.config = config
        self.metrics = metrics or AgentMetrics()
        self.clock = clock
        self.drift_total = 0
        self._targets: dict[str, int] = {}  # key -> value we last made true
        self._conditions: list[Condition] = []
        self._last_status: NodePowerProfileStatus | None = None
        self._last_applied_time: datetime | None = None
        self._last_key: object = None
        self._last_control: dict[str, ControlStatus] = {}

    # ------------------------------------------------------------------ planning

    def _cpu_plan(self, cpu: CpuCap | None, ctl: CpuControl, inv: Inventory) -> CpuPlan | Outcome | None:
        """A plan, an Outcome explaining why nothing can be planned, or None (nothing asked)."""
        if cpu is None or (cpu.package_power_cap_watts is None and cpu.package_power_cap_pct_of_max is None):
            return None
        limits = self.config.limits
        planning.check_cpu_request(cpu)
        if ctl.type == "none":
            return Outcome("none", "skipped", "CPU control disabled by the TelemetryProfile (controls.cpu.type none)")
        if ctl.type == "http":
            return self._http_cpu_plan(cpu, ctl, inv)
        if ctl.mode == "rapl" or (ctl.mode == "auto" and inv.rapl_writable):
            if not inv.packages:
                if inv.rapl_problems:
                    raise Refusal("HardwareUnreadable", "; ".join(inv.rapl_problems))
                return Outcome("rapl", "unsupported", f"no RAPL package zone under {self.fs.path(POWERCAP)}")
            return planning.plan_rapl(cpu, inv, limits)
        if inv.cpus or inv.cpu_problems:
            p = planning.plan_dvfs(cpu, inv, limits)
            if ctl.mode == "auto":
                p.notes.insert(0, self._why_no_rapl(inv))
            return p
        return Outcome(
            "none",
            "unsupported",
            f"no writable RAPL package zone under {self.fs.path(POWERCAP)} and no cpufreq "
            f"under {self.fs.path(CPU_DIR)}: the CPU cap cannot be enforced on this node",
        )

    @staticmethod
    def _why_no_rapl(inv: Inventory) -> str:
        if inv.packages:
            ro = [z.zone for z in inv.packages if not z.limit_writable]
            return f"RAPL limits are read-only ({', '.join(ro)}); using the DVFS fallback"
        return "no RAPL package zone; using the DVFS fallback"

    def _http_cpu_plan(self, cpu: CpuCap, ctl: CpuControl, inv: Inventory) -> CpuPlan:
        if not ctl.endpoint:
            raise Refusal("InvalidTelemetryProfile", "controls.cpu.type is http but controls.cpu.endpoint is empty")
        p = CpuPlan(backend="http")
        if ctl.mode != "dvfs" and cpu.package_power_cap_watts is not None:
            p.cap_watts = cpu.package_power_cap_watts
            return p
        reference = inv.package_max_watts() or self.config.limits.package_max_watts
        frac = planning.cap_fraction(cpu, reference, self.config.limits, p.notes)
        p.throttle_pct = round((1 - frac) * 100, 1)
        return p

    def _gpu_plan(self, prof: NodePowerProfile, ctl: GpuControl) -> GpuPlan | Outcome | None:
        gpu = prof.spec.gpu
        cap = gpu.power_cap if gpu else None
        if cap is None or (cap.cap_watts_per_gpu is None and cap.cap_pct_of_max is None):
            return None
        if ctl.type == "none":
            return Outcome("none", "skipped", "GPU control disabled by the TelemetryProfile (controls.gpu.type none)")
        if ctl.mode == "clocks":
            return Outcome("none", "unsupported", "controls.gpu.mode clocks is not supported; use powercap or auto")
        if ctl.type == "http":
            if not ctl.endpoint:
                raise Refusal("InvalidTelemetryProfile", "controls.gpu.type is http but controls.gpu.endpoint is empty")
            if cap.cap_watts_per_gpu is None:
                raise Refusal(
                    "InvalidCap",
                    "capPctOfMax needs the GPU's maximum, which an HTTP actuator does not report; use capWattsPerGpu",
                )
            if cap.cap_watts_per_gpu <= 0:
                raise Refusal("InvalidCap", f"capWattsPerGpu must be positive, got {cap.cap_watts_per_gpu:g}")
            return GpuPlan(backend="http", cap_watts_per_gpu=cap.cap_watts_per_gpu)
        if self.nvml.state != "nvml":
            self.nvml.start()
        if self.nvml.state != "nvml":
            return Outcome("none", "skipped", f"no GPU control: {self.nvml.reason}")
        try:
            devices = self.nvml.devices()
        except ChannelError as exc:
            return Outcome("nvml", "failed", str(exc))
        return planning.plan_gpu(cap, devices, self.config.limits)

    # ------------------------------------------------------------------ applying

    def _apply_host(self, channel, writes: list[planning.Write]) -> tuple[ApplyResult, int]:
        result = apply_writes(channel, writes, None if self.config.dry_run else self.store, self.config.dry_run)
        drifted = 0
        if result.ok and not self.config.dry_run:
            for w in result.written:
                if self._targets.get(w.key) == w.value:
                    drifted += 1
            for w in writes:
                self._targets[w.key] = w.value
            self.metrics.writes.labels(channel=channel.name).inc(len(result.written))
        return result, drifted

    def _restore_prefix(self, channel, prefix: str) -> None:
        """Undo another backend's writes (e.g. DVFS after RAPL became writable)."""
        if any(k.startswith(prefix) for k in self.store.originals(channel.name)):
            res = restore(channel, self.store, self.config.dry_run, prefix)
            self.metrics.restores.inc(len(res.restored))
            for k in res.restored:
                self._targets.pop(k, None)

    def _apply_cpu(self, p: CpuPlan, ctl: CpuControl, inv: Inventory, cap: CpuCap) -> tuple[Outcome, int, int]:
        if p.backend == "http":
            return self._post_http(ctl.endpoint or "", ctl.timeout_seconds, "cpu", p), 0, 0
        result, drifted = self._apply_host(self.sysfs, p.writes)
        if not result.ok and p.backend == "rapl" and ctl.mode == "auto" and inv.cpus:
            log.warning("RAPL write failed; trying the DVFS fallback", extra={"error": result.error})
            rapl_error = result.error
            try:
                dvfs = planning.plan_dvfs(cap, inv, self.config.limits)
            except Refusal as exc:
                return Outcome("rapl", "failed", f"{rapl_error}; DVFS fallback refused: {exc.message}"), 0, 0
            dvfs.notes.insert(0, f"RAPL write failed ({rapl_error}); using the DVFS fallback")
            p.backend, p.writes, p.max_freq_khz, p.throttle_pct, p.notes = (
                "dvfs",
                dvfs.writes,
                dvfs.max_freq_khz,
                dvfs.throttle_pct,
                dvfs.notes + p.notes,
            )
            p.packages = []
            result, drifted = self._apply_host(self.sysfs, p.writes)
        if not result.ok:
            return Outcome(p.backend, "failed", f"nothing changed: {result.error}"), 0, 0
        if not self.config.dry_run:
            self._restore_prefix(self.sysfs, CPU_DIR if p.backend == "rapl" else POWERCAP)
        observed: dict[str, str] = {}
        if p.backend == "rapl":
            for zone, _ in p.packages:
                key = f"{POWERCAP}/{zone}/constraint_0_power_limit_uw"
                if key in result.observed:
                    observed[zone] = f"{result.observed[key] / 1e6:g} W"
            summary = ", ".join(f"{z} {w:g} W" for z, w in p.packages)
        else:
            freqs = sorted({v for k, v in result.observed.items() if k.endswith("scaling_max_freq")})
            observed["scalingMaxFreqKHz"] = ",".join(str(f) for f in freqs) or str(p.max_freq_khz)
            observed["cpus"] = str(len(inv.cpus))
            summary = f"scaling_max_freq {p.max_freq_khz} kHz on {len(inv.cpus)} CPUs (throttle {p.throttle_pct:g} %)"
        verb = "would apply" if self.config.dry_run else "applied"
        msg = "; ".join([f"{p.backend}: {verb} {summary}", *p.notes])
        return Outcome(p.backend, "applied", msg, observed), len(result.written), drifted

    def _apply_gpu(self, p: GpuPlan, ctl: GpuControl) -> tuple[Outcome, int, int]:
        if p.backend == "http":
            return self._post_http(ctl.endpoint or "", ctl.timeout_seconds, "gpu", p), 0, 0
        result, drifted = self._apply_host(self.nvml, p.writes)
        if not result.ok:
            return Outcome("nvml", "failed", f"nothing changed: {result.error}"), 0, 0
        observed = {k: f"{v / 1000:g} W" for k, v in result.observed.items()}
        verb = "would apply" if self.config.dry_run else "applied"
        msg = "; ".join([f"nvml: {verb} {p.cap_watts_per_gpu:g} W on {p.gpus} GPU(s)", *p.notes])
        return Outcome("nvml", "applied", msg, observed), len(result.written), drifted

    def _post_http(self, endpoint: str, timeout: float | None, resource: str, p: CpuPlan | GpuPlan) -> Outcome:
        node = self.config.node_name
        if isinstance(p, GpuPlan):
            body = http.control_body(node, http.GPU_ACTION, cap_watts_per_gpu=p.cap_watts_per_gpu)
        elif p.cap_watts is not None:
            body = http.control_body(node, http.RAPL_ACTION, cap_watts=p.cap_watts)
        else:
            body = http.control_body(node, http.DVFS_ACTION, throttle_pct=p.throttle_pct)
        observed = {k: str(v) for k, v in body.items() if v is not None and k not in ("ts", "node")}
        if self.config.dry_run:
            log.info("dry-run: would POST", extra={"endpoint": endpoint, "body": body})
            return Outcome("http", "applied", f"http: would POST {body['action']} to {endpoint}", observed)
        out = http.post_control(endpoint, body, timeout)
        if not out.ok:
            return Outcome("http", "failed", f"{body['action']}: {out.message}")
        return Outcome("http", "applied", f"http: {body['action']} accepted ({out.message})", observed)

    # ------------------------------------------------------------------ the pass

    def reconcile(
        self,
        profile: NodePowerProfile | None,
        controls: TelemetryControls | None = None,
        invalid: str | None = None,
        generation: int | None = None,
    ) -> PassResult:
        """Apply (or verify) ``profile``; ``None`` means no profile: restore everything."""
        if profile is None and invalid is None:
            self.restore_all()
            self._conditions, self._last_status = [], None
            return PassResult(status=None, control=None, ok=True)
        if generation is None and profile is not None:
            generation = profile.metadata.get("generation")
        try:
            if invalid is not None:
                raise Refusal("InvalidProfile", invalid)
            assert profile is not None
            if profile.spec.node_name != self.config.node_name:
                raise Refusal(
                    "WrongNode",
                    f"spec.nodeName is {profile.spec.node_name!r} but this agent runs on {self.config.node_name!r}",
                )
            return self._apply(profile, controls or TelemetryControls(), generation)
        except Refusal as exc:
            return self._refused(exc, generation, profile)

    def _apply(self, profile: NodePowerProfile, controls: TelemetryControls, generation: int | None) -> PassResult:
        cpu_ctl, gpu_ctl = controls.cpu or CpuControl(), controls.gpu or GpuControl()
        inv = discover(self.fs)
        cpu_plan = self._cpu_plan(profile.spec.cpu, cpu_ctl, inv)  # Refusal propagates: nothing written yet
        gpu_plan = self._gpu_plan(profile, gpu_ctl)
        wrote = drifted = 0
        outcomes: dict[str, Outcome | None] = {}
        cpu_status = gpu_status = None

        if isinstance(cpu_plan, CpuPlan):
            assert profile.spec.cpu is not None
            outcome, n, d = self._apply_cpu(cpu_plan, cpu_ctl, inv, profile.spec.cpu)
            wrote, drifted = wrote + n, drifted + d
            outcomes["cpu"] = outcome
            if not outcome.failed:
                cpu_status = CpuStatus(
                    backend=cpu_plan.backend,
                    package_power_cap_watts=cpu_plan.cap_watts,
                    packages=[PackageStatus(zone=z, cap_watts=w) for z, w in cpu_plan.packages] or None,
                    max_freq_k_hz=cpu_plan.max_freq_khz,
                    throttle_pct=cpu_plan.throttle_pct,
                )
        else:
            outcomes["cpu"] = cpu_plan
            if cpu_plan is None and not self.config.dry_run:
                self._restore_prefix(self.sysfs, "")  # no CPU cap asked: hardware defaults
        if cpu_status is None:
            backend = outcomes["cpu"].backend if outcomes["cpu"] else "none"
            cpu_status = CpuStatus(backend=backend if backend in ("rapl", "dvfs", "http") else "none")

        if isinstance(gpu_plan, GpuPlan):
            outcome, n, d = self._apply_gpu(gpu_plan, gpu_ctl)
            wrote, drifted = wrote + n, drifted + d
            outcomes["gpu"] = outcome
            if not outcome.failed:
                gpu_status = GpuStatus(
                    backend=gpu_plan.backend,
                    cap_watts_per_gpu=gpu_plan.cap_watts_per_gpu,
                    gpus=gpu_plan.gpus if gpu_plan.backend == "nvml" else None,
                )
        else:
            outcomes["gpu"] = gpu_plan
            if (
                gpu_plan is None
                and not self.config.dry_run
                and self.store.originals("nvml")
                and (self.nvml.state == "nvml" or self.nvml.start())
            ):
                restore(self.nvml, self.store)
        if gpu_status is None:
            out = outcomes["gpu"]
            gpu_status = GpuStatus(backend="nvml" if out and out.backend == "nvml" else "none", gpus=self._gpu_count())

        self.drift_total += drifted
        if drifted:
            self.metrics.drift.inc(drifted)
            log.warning("caps found reverted and re-applied", extra={"values": drifted, "total": self.drift_total})
        failures = {r: o for r, o in outcomes.items() if o is not None and o.failed}
        now = self.clock()
        changed = wrote or self._last_applied_time is None or self._last_key != (generation, profile.spec)
        if changed and not failures:
            self._last_applied_time = now
        self._last_key = (generation, profile.spec)
        summary = "; ".join(o.message for o in outcomes.values() if o is not None) or "no cap requested"
        if failures:
            reason = "ApplyFailed" if any(o.result == "failed" for o in failures.values()) else "Unsupported"
            fail_msg = "; ".join(f"{r}: {o.message}" for r, o in failures.items())
            self._conditions = set_condition(self._conditions, "Applied", False, reason, fail_msg, generation, now)
            self._conditions = set_condition(self._conditions, "Degraded", True, reason, fail_msg, generation, now)
        else:
            self._conditions = set_condition(self._conditions, "Applied", True, "Applied", summary, generation, now)
            self._conditions = set_condition(self._conditions, "Degraded", False, "AsExpected", "", generation, now)
        for resource, maybe in outcomes.items():
            self.metrics.applies.labels(resource=resource, result=maybe.result if maybe else "skipped").inc()
            self.metrics.set_backend(resource, maybe.backend if maybe and not maybe.failed else "none")
        if cpu_status.package_power_cap_watts is not None:
            self.metrics.cap_watts.labels(resource="cpu", unit="package").set(cpu_status.package_power_cap_watts)
        if cpu_status.max_freq_k_hz is not None:
            self.metrics.max_freq_khz.set(cpu_status.max_freq_k_hz)
        if gpu_status.cap_watts_per_gpu is not None:
            self.metrics.cap_watts.labels(resource="gpu", unit="gpu").set(gpu_status.cap_watts_per_gpu)

        status = NodePowerProfileStatus(
            observed_generation=generation,
            profile=profile.spec.profile,
            cpu=cpu_status,
            gpu=gpu_status,
            last_applied_time=self._last_applied_time,
            drift_corrections=self.drift_total,
            conditions=list(self._conditions),
        )
        self._last_status = status
        control = ControlStatuses(
            cpu=self._control("cpu", outcomes.get("cpu"), now), gpu=self._control("gpu", outcomes.get("gpu"), now)
        )
        level = logging.WARNING if failures else logging.INFO
        if wrote or failures or drifted:
            log.log(
                level,
                "profile applied" if not failures else "profile not fully applied",
                extra={
                    "profile": profile.spec.profile,
                    "wrote": wrote,
                    "drifted": drifted,
                    "summary": summary,
                    "failures": {r: o.message for r, o in failures.items()},
                },
            )
        return PassResult(status=status, control=control, ok=not failures, wrote=wrote, drifted=drifted)

    def _gpu_count(self) -> int:
        try:
            return len(self.nvml.devices()) if self.nvml.state == "nvml" else 0
        except ChannelError:
            return 0

    def _control(self, resource: str, outcome: Outcome | None, now: datetime) -> ControlStatus | None:
        """TelemetryProfile status.control entry; ``updatedAt`` moves only when it changes."""
        if outcome is None:
            return None
        prev = self._last_control.get(resource)
        new = ControlStatus(
            backend=outcome.backend,
            result=outcome.result,
            message=outcome.message,
            observed=outcome.observed or None,
            updated_at=now,
        )
        if prev is not None and prev.model_copy(update={"updated_at": None}) == new.model_copy(
            update={"updated_at": None}
        ):
            new = prev
        self._last_control[resource] = new
        return new

    def _refused(self, exc: Refusal, generation: int | None, profile: NodePowerProfile | None) -> PassResult:
        """Bad input: write nothing, keep what was applied before, say why."""
        now = self.clock()
        self.metrics.refusals.labels(reason=exc.reason).inc()
        log.error("profile refused; nothing written", extra={"reason": exc.reason, "error": exc.message})
        self._conditions = set_condition(self._conditions, "Applied", False, exc.reason, exc.message, generation, now)
        self._conditions = set_condition(self._conditions, "Degraded", True, exc.reason, exc.message, generation, now)
        prev = self._last_status
        status = NodePowerProfileStatus(
            observed_generation=generation,
            profile=prev.profile if prev else None,
            cpu=prev.cpu if prev else None,
            gpu=prev.gpu if prev else None,
            last_applied_time=self._last_applied_time,
            drift_corrections=self.drift_total,
            conditions=list(self._conditions),
        )
        return PassResult(status=status, control=None, ok=False)

    # ------------------------------------------------------------------ restore

    def restore_all(self) -> RestoreReport:
        """Write every saved original back (sysfs and NVML); returns what happened."""
        channels = {"sysfs": restore(self.sysfs, self.store, self.config.dry_run)}
        if self.store.originals("nvml"):
            if self.nvml.state == "nvml" or self.nvml.start():
                channels["nvml"] = restore(self.nvml, self.store, self.config.dry_run)
            else:
                log.error("saved GPU limits cannot be restored", extra={"reason": self.nvml.reason})
        report = RestoreReport(channels)
        self.metrics.restores.inc(report.restored)
        self._targets.clear()
        if report.restored or report.failed:
            log.info("originals restored", extra={"restored": report.restored, "failed": report.failed})
        return report
