"""One apply/verify pass: plan every backend, apply all-or-nothing, build the status.

The engine owns no loop and no Kubernetes: :mod:`agent.run` calls :meth:`Engine.reconcile`
on every trigger (profile changed, interval elapsed) and :meth:`Engine.restore_all` on
shutdown or when the profile disappears. The same pass both applies a new profile and
verifies an old one: values already in place are not rewritten, values that went back
to something else are re-applied and counted as drift.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from agent import plan as planning
from agent.backends import http
from agent.backends.nvml import Nvml
from agent.controls import (
    ControlPlan,
    frequency_ceilings,
    plan_controls,
    plan_epp,
    plan_frequency,
)
from agent.cpuset import format_cpuset
from agent.inventory import CPU_DIR, POWERCAP, GpuDevice, Inventory, capabilities, discover
from agent.metrics import AgentMetrics
from agent.plan import CpuPlan, GpuPlan, Limits, Refusal
from agent.podprofiles import Offer, offers, plan_pod_controls
from agent.podresources.client import Snapshot
from agent.pods import CoreAssignment, PodCores, assign
from agent.state import POD_CORES_FILE, HeldCores, OriginalsStore, Value
from agent.sysfs import Sysfs
from agent.txn import ApplyResult, Channel, ChannelError, RestoreResult, SysfsChannel, apply_writes, restore
from joulie.api.v1alpha1 import (
    Condition,
    ControlResult,
    ControlStatus,
    ControlStatuses,
    CpuCap,
    CpuControl,
    CpuControlStatus,
    CpuStatus,
    CStates,
    ExclusiveCores,
    FrequencyRange,
    GpuControl,
    GpuStatus,
    NodePowerProfile,
    NodePowerProfileStatus,
    PackageStatus,
    PodCoresResult,
    PodProfileOffer,
    PodProfilesStatus,
    PowerProfileSpec,
    TelemetryControls,
    set_condition,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    node_name: str
    limits: Limits = field(default_factory=Limits)
    dry_run: bool = False
    reserved_cpus: frozenset[int] = frozenset()
    """kubelet --reserved-cpus: no per-core control ever writes them."""


@dataclass(frozen=True)
class PodCoresInput:
    """What pod power profiles need from outside the node: its pods, the PowerProfiles, the kubelet's answer."""

    pods: Sequence[Mapping[str, Any]] = ()
    """Pod objects (API JSON) bound to this node."""
    profiles: Mapping[str, PowerProfileSpec | str] = field(default_factory=dict)
    """PowerProfile name -> spec, or why the object is invalid."""
    kubelet: Snapshot = field(default_factory=Snapshot)


@dataclass(frozen=True)
class PodEvent:
    """An Event for a pod: its container's cores changed profile, or a request was refused."""

    namespace: str
    pod: str
    uid: str
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class PodProfilesOutcome:
    status: PodProfilesStatus | None
    capacity: dict[str, int] | None
    """Extended resource -> count for the node's status capacity; None: leave the node as it is."""
    events: list[PodEvent] = field(default_factory=list)


@dataclass(frozen=True)
class _PodView:
    assignment: CoreAssignment
    offers: list[Offer]
    kubelet: Snapshot


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
    pod_profiles: PodProfilesOutcome | None = None


_CPU_KEY = re.compile(r"^devices/system/cpu/cpu(\d+)/")


def _cpu_of(key: str) -> int | None:
    """The CPU a per-core sysfs key belongs to (``devices/system/cpu/cpu12/...``), else None."""
    m = _CPU_KEY.match(key)
    return int(m.group(1)) if m else None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _requested(name: str, value: Any) -> str:
    return value.describe() if isinstance(value, FrequencyRange | CStates) else str(value)


def controls_summary(controls: list[CpuControlStatus]) -> str:
    """The ``kubectl get npp -o wide`` line: each control's value when applied, else its result."""
    return " ".join(f"{c.name}={c.requested if c.result == 'applied' else c.result}" for c in controls)


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
        self.held = HeldCores(store.path.with_name(POD_CORES_FILE) if store.path is not None else None)
        self.nvml = nvml
        self.config = config
        self.metrics = metrics or AgentMetrics()
        self.clock = clock
        self.drift_total = 0
        self._targets: dict[str, Value] = {}  # key -> value we last made true
        self._conditions: list[Condition] = []
        self._last_status: NodePowerProfileStatus | None = None
        self._last_applied_time: datetime | None = None
        self._last_key: object = None
        self._last_control: dict[str, ControlStatus] = {}
        self._pod_results: dict[tuple[str, str], tuple[str, str | None]] = {}
        """(pod uid, container) -> (result, reason) last reported, for Events on transitions."""
        self._pod_resources_failures = 0

    # ------------------------------------------------------------------ planning

    def _cpu_plan(
        self, cpu: CpuCap | None, ctl: CpuControl, inv: Inventory, ceilings: dict[int, int]
    ) -> CpuPlan | Outcome | None:
        """A plan, an Outcome explaining why nothing can be planned, or None (nothing asked)."""
        if cpu is None or not cpu.has_cap:
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
            p = planning.plan_dvfs(cpu, inv, limits, ceilings)
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

    def _apply_host(self, channel: Channel, writes: list[planning.Write]) -> tuple[ApplyResult, int]:
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

    def _restore_keys(self, channel: Channel, keys: set[str]) -> int:
        """Put back originals nothing asks for any more (a backend switched, a control removed, a pod left);
        returns how many values were written back."""
        if not keys:
            return 0
        res = restore(channel, self.store, self.config.dry_run, keys)
        self.metrics.restores.inc(len(res.restored))
        for k in res.restored:
            self._targets.pop(k, None)
        if res.failed:
            log.error("restoring originals failed", extra={"failed": res.failed})
        return len(res.restored)

    def _apply_cpu(
        self, p: CpuPlan, ctl: CpuControl, inv: Inventory, cap: CpuCap, ceilings: dict[int, int]
    ) -> tuple[Outcome, int, int]:
        if p.backend == "http":
            return self._post_http(ctl.endpoint or "", ctl.timeout_seconds, "cpu", p), 0, 0
        result, drifted = self._apply_host(self.sysfs, p.writes)
        if not result.ok and p.backend == "rapl" and ctl.mode == "auto" and inv.cpus:
            log.warning("RAPL write failed; trying the DVFS fallback", extra={"error": result.error})
            rapl_error = result.error
            try:
                dvfs = planning.plan_dvfs(cap, inv, self.config.limits, ceilings)
            except Refusal as exc:
                return Outcome("rapl", "failed", f"{rapl_error}; DVFS fallback refused: {exc.message}"), 0, 0
            dvfs.notes.insert(0, f"RAPL write failed ({rapl_error}); using the DVFS fallback")
            p.backend, p.writes, p.max_freq_khz, p.max_targets, p.throttle_pct, p.notes = (
                "dvfs",
                dvfs.writes,
                dvfs.max_freq_khz,
                dvfs.max_targets,
                dvfs.throttle_pct,
                dvfs.notes + p.notes,
            )
            p.packages = []
            result, drifted = self._apply_host(self.sysfs, p.writes)
        if not result.ok:
            return Outcome(p.backend, "failed", f"nothing changed: {result.error}"), 0, 0
        observed: dict[str, str] = {}
        if p.backend == "rapl":
            for zone, _ in p.packages:
                key = f"{POWERCAP}/{zone}/constraint_0_power_limit_uw"
                value = result.observed.get(key)
                if isinstance(value, int):
                    observed[zone] = f"{value / 1e6:g} W"
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
        observed = {k: f"{v / 1000:g} W" for k, v in result.observed.items() if isinstance(v, int)}
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

    # ------------------------------------------------------------------ controls beyond the cap

    def _control_plans(self, wanted: dict[str, Any], inv: Inventory, dvfs_max: dict[int, int]) -> list[ControlPlan]:
        """Every requested control, planned in apply order (governor, epp, frequency, cstates, uncore)."""
        return plan_controls(wanted, inv, self.store.originals("sysfs"), dvfs_max)

    def _save_originals(self, cpu_plan: CpuPlan | Outcome | None, plans: list[ControlPlan]) -> None:
        """Persist the original of every value this pass may change, before its first write.

        Saving them all at once (not control by control) is what lets a crash between two
        controls' writes still restore both, and it catches a side effect: switching the
        governor makes intel_pstate change EPP, so EPP's original must be read first.
        """
        writes = [w for p in plans for w in p.writes]
        if isinstance(cpu_plan, CpuPlan) and cpu_plan.backend in ("rapl", "dvfs"):
            writes = cpu_plan.writes + writes
        governor_changes = False
        values: list[tuple[str, str, Value]] = []
        for w in writes:
            try:
                current = self.sysfs.read(w.key)
            except ChannelError:
                continue  # the control's own transaction reports it
            if not w.matches(current):
                values.append(("sysfs", w.key, current))
                governor_changes = governor_changes or w.key.endswith("/scaling_governor")
        if governor_changes:
            for p in plans:
                if p.name != "epp":
                    continue
                for key in sorted(p.owned):
                    try:
                        values.append(("sysfs", key, self.sysfs.read(key)))
                    except ChannelError:
                        continue
        self.store.save(values)

    @staticmethod
    def _cap_keys(cpu_plan: CpuPlan | Outcome | None, outcome: Outcome | None, inv: Inventory) -> set[str]:
        """Files the cap holds this pass: its backend's, or every cap file when it did not apply."""
        if cpu_plan is None:
            return set()
        powercap = {k for z in inv.packages for k in (z.limit_file, z.enabled_file)}
        cpufreq = {k for c in inv.cpus for k in (c.min_file, c.max_file)}
        if outcome is not None and outcome.result == "applied" and outcome.backend == "rapl":
            return powercap
        if outcome is not None and outcome.result == "applied" and outcome.backend == "dvfs":
            return cpufreq
        return powercap | cpufreq

    def _apply_controls(
        self, plans: list[ControlPlan], wanted: dict[str, Any], inv: Inventory
    ) -> tuple[list[CpuControlStatus], int, int]:
        """Apply each control in its own transaction; one failing leaves the others applied."""
        out: list[CpuControlStatus] = []
        wrote = drifted = 0
        governor_failed = False
        for p in plans:
            if p.name == "epp" and governor_failed:
                p = plan_epp(wanted["epp"], inv, {c.cpu: c.governor for c in inv.cpus}, True)
            if p.result is not None:
                out.append(self._control_status(p, p.result, p.message))
                governor_failed = governor_failed or p.name == "governor"
                continue
            result, d = self._apply_host(self.sysfs, p.writes)
            if not result.ok:
                out.append(self._control_status(p, "failed", f"nothing changed: {result.error}"))
                governor_failed = governor_failed or p.name == "governor"
                continue
            wrote, drifted = wrote + len(result.written), drifted + d
            verb = "would apply" if self.config.dry_run else None
            out.append(self._control_status(p, "applied", verb))
        return out, wrote, drifted

    @staticmethod
    def _control_status(p: ControlPlan, result: ControlResult, message: str | None) -> CpuControlStatus:
        parts = [m for m in (message, *p.notes) if m]
        return CpuControlStatus(
            name=p.name,
            requested=p.requested,
            applied=p.summary if result == "applied" else None,
            result=result,
            message="; ".join(parts) or None,
        )

    # ------------------------------------------------------------------ the pass

    def reconcile(
        self,
        profile: NodePowerProfile | None,
        controls: TelemetryControls | None = None,
        invalid: str | None = None,
        generation: int | None = None,
        pods: PodCoresInput | None = None,
    ) -> PassResult:
        """Apply (or verify) ``profile``; ``None`` means no profile: restore everything.

        ``pods`` turns on pod power profiles (cluster mode): without it every CPU but the reserved
        ones follows the node's settings.
        """
        if profile is None and invalid is None:
            self.restore_all()
            self._conditions, self._last_status, self._pod_results = [], None, {}
            withdrawn = PodProfilesOutcome(status=None, capacity={}) if pods is not None else None
            return PassResult(status=None, control=None, ok=True, pod_profiles=withdrawn)
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
            return self._apply(profile, controls or TelemetryControls(), generation, pods)
        except Refusal as exc:
            return self._refused(exc, generation, profile)

    def _apply(
        self,
        profile: NodePowerProfile,
        controls: TelemetryControls,
        generation: int | None,
        pods: PodCoresInput | None = None,
    ) -> PassResult:
        cpu_ctl, gpu_ctl = controls.cpu or CpuControl(), controls.gpu or GpuControl()
        inv = discover(self.fs)
        cpu = profile.spec.cpu
        wanted = cpu.controls() if cpu is not None else {}
        host_controls = cpu_ctl.type == "host"
        view = self._pod_view(pods, inv, cpu_ctl) if pods is not None else None
        applying = view.assignment.applying if view is not None and host_controls else ()
        tuned = frozenset(c for p in applying for c in p.cpus)
        held: frozenset[int] = frozenset()
        if view is not None and view.kubelet.allocations is None:
            held = self.held.cpus  # the kubelet has not answered since start: keep the last agent's pod cores
        elif view is not None and not self.config.dry_run:
            self.held.save(tuned)
        # The node's settings cover the shared pool (and exclusive cores without a profile); reserved
        # CPUs and cores under a pod profile are not theirs. The package cap still covers everything.
        excluded = self.config.reserved_cpus | tuned | held
        node_inv = inv.without(excluded) if excluded else inv
        ceilings: dict[int, int] = {}
        if host_controls:
            ceilings = frequency_ceilings(wanted.get("frequency"), node_inv)
            for p in applying:
                assert p.spec is not None
                ceilings.update(frequency_ceilings(p.spec.frequency, inv.only(p.cpus)))
        cpu_plan = self._cpu_plan(cpu, cpu_ctl, inv, ceilings)  # Refusal propagates: nothing written yet
        gpu_plan = self._gpu_plan(profile, gpu_ctl)
        wrote = drifted = 0
        outcomes: dict[str, Outcome | None] = {}
        cpu_status = gpu_status = None
        dvfs_max = cpu_plan.max_targets if isinstance(cpu_plan, CpuPlan) and cpu_plan.backend == "dvfs" else {}
        plans = self._control_plans(wanted, node_inv, dvfs_max) if host_controls else []
        pod_plans = self._pod_plans(applying, inv, dvfs_max)
        if not self.config.dry_run:
            self._save_originals(cpu_plan, plans + [p for ps in pod_plans.values() for p in ps])

        if isinstance(cpu_plan, CpuPlan):
            assert cpu is not None
            outcome, n, d = self._apply_cpu(cpu_plan, cpu_ctl, inv, cpu, ceilings)
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
        if not self.config.dry_run:
            in_use = self._cap_keys(cpu_plan, outcomes["cpu"], inv) | {k for p in plans for k in p.owned}
            in_use |= {k for ps in pod_plans.values() for p in ps for k in p.owned}
            in_use |= {k for k in self.store.originals(self.sysfs.name) if _cpu_of(k) in held}
            if self._restore_keys(self.sysfs, set(self.store.originals(self.sysfs.name)) - in_use) and host_controls:
                # Values went back (a pod left: its cores' governor is the node's again): plan the controls
                # on what the cores show now, or EPP would be judged against the governor just restored.
                inv = discover(self.fs)
                node_inv = inv.without(excluded) if excluded else inv
                plans = self._control_plans(wanted, node_inv, dvfs_max)
                pod_plans = self._pod_plans(applying, inv, dvfs_max)
                self._save_originals(None, plans + [p for ps in pod_plans.values() for p in ps])
        if isinstance(cpu_plan, CpuPlan) and cpu_plan.backend == "dvfs" and cpu_plan.max_targets != dvfs_max:
            plans = [  # the cap fell back to DVFS while applying: keep the frequency control below it
                plan_frequency(wanted["frequency"], node_inv, self.store.originals("sysfs"), cpu_plan.max_targets)
                if p.name == "frequency"
                else p
                for p in plans
            ]
            pod_plans = self._pod_plans(applying, inv, cpu_plan.max_targets)
        control_results, n, d = self._apply_controls(plans, wanted, node_inv)
        wrote, drifted = wrote + n, drifted + d
        pod_outcome: PodProfilesOutcome | None = None
        if view is not None:
            pod_outcome, n, d = self._apply_pod_profiles(view, pod_plans, inv, cpu_ctl, generation)
            wrote, drifted = wrote + n, drifted + d
        if not host_controls:
            control_results = [
                CpuControlStatus(
                    name=name,
                    requested=_requested(name, value),
                    result="skipped",
                    message=f"CPU controls beyond the cap need controls.cpu.type host; the TelemetryProfile "
                    f"sets {cpu_ctl.type}",
                )
                for name, value in wanted.items()
            ]
        if cpu_status is None:
            backend = outcomes["cpu"].backend if outcomes["cpu"] else "none"
            cpu_status = CpuStatus(backend=backend if backend in ("rapl", "dvfs", "http") else "none")
        if control_results:
            cpu_status = cpu_status.model_copy(
                update={"controls": control_results, "controls_summary": controls_summary(control_results)}
            )

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
        failed_controls = [c for c in control_results if c.result == "failed"]
        pod_entries = (pod_outcome.status.containers if pod_outcome and pod_outcome.status else None) or []
        pods_failed = any(c.result == "failed" for c in pod_entries)
        now = self.clock()
        changed = wrote or self._last_applied_time is None or self._last_key != (generation, profile.spec)
        if changed and not failures and not failed_controls:
            self._last_applied_time = now
        self._last_key = (generation, profile.spec)
        control_notes = [f"{c.name}: {c.result}" + (f" ({c.message})" if c.message else "") for c in control_results]
        summary = (
            "; ".join([*(o.message for o in outcomes.values() if o is not None), *control_notes])
            or "no cap or control requested"
        )
        if failures or failed_controls:
            reason = (
                "ApplyFailed"
                if failed_controls or any(o.result == "failed" for o in failures.values())
                else "Unsupported"
            )
            fail_parts = [f"{r}: {o.message}" for r, o in failures.items()]
            if failed_controls:
                names = ", ".join(c.name for c in failed_controls)
                fail_parts.append(
                    f"controls failed: {names} (" + "; ".join(f"{c.name}: {c.message}" for c in failed_controls) + ")"
                )
            fail_msg = "; ".join(fail_parts)
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
            capabilities=capabilities(inv),
            pod_profiles=pod_outcome.status if pod_outcome is not None else None,
            conditions=list(self._conditions),
        )
        self._last_status = status
        control = ControlStatuses(
            cpu=self._control("cpu", outcomes.get("cpu"), now), gpu=self._control("gpu", outcomes.get("gpu"), now)
        )
        ok = not failures and not failed_controls and not pods_failed
        if wrote or not ok or drifted:
            log.log(
                logging.INFO if ok else logging.WARNING,
                "profile applied" if ok else "profile not fully applied",
                extra={
                    "profile": profile.spec.profile,
                    "wrote": wrote,
                    "drifted": drifted,
                    "summary": summary,
                    "failures": {r: o.message for r, o in failures.items()}
                    | {c.name: c.message or "" for c in failed_controls},
                },
            )
        return PassResult(status=status, control=control, ok=ok, wrote=wrote, drifted=drifted, pod_profiles=pod_outcome)

    def gpu_devices(self) -> list[GpuDevice]:
        """The GPUs NVML drives now (none without NVML, or when it cannot say)."""
        try:
            return self.nvml.devices() if self.nvml.state == "nvml" else []
        except ChannelError:
            return []

    def _gpu_count(self) -> int:
        return len(self.gpu_devices())

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
            capabilities=prev.capabilities if prev else None,
            pod_profiles=prev.pod_profiles if prev else None,
            conditions=list(self._conditions),
        )
        return PassResult(status=status, control=None, ok=False)

    # ------------------------------------------------------------------ pod power profiles

    def _pod_view(self, pods: PodCoresInput, inv: Inventory, cpu_ctl: CpuControl) -> _PodView:
        """Which profiles this node honours, and which container's cores get which (pure, from the inputs)."""
        reserved = self.config.reserved_cpus
        if cpu_ctl.type != "host":
            why = f"per-core controls need controls.cpu.type host; the TelemetryProfile sets {cpu_ctl.type}"
            offered = [Offer(name, 0, why) for name in sorted(pods.profiles)]
        else:
            offered = offers(pods.profiles, inv, inv.cpu_ids - reserved)
        not_honoured = {o.name: o.problem for o in offered if o.problem is not None}
        allocations = pods.kubelet.allocations
        assignment = (
            assign(pods.pods, allocations, pods.profiles, not_honoured, reserved, inv.cpu_ids)
            if allocations is not None
            else CoreAssignment()
        )
        return _PodView(assignment, offered, pods.kubelet)

    def _pod_plans(
        self, applying: Sequence[PodCores], inv: Inventory, dvfs_max: Mapping[int, int]
    ) -> dict[str, list[ControlPlan]]:
        originals = self.store.originals("sysfs")
        out = {}
        for p in applying:
            assert p.spec is not None
            out[p.key] = plan_pod_controls(p.spec, inv.only(p.cpus), originals, dvfs_max)
        return out

    def _apply_pod_profiles(
        self,
        view: _PodView,
        pod_plans: dict[str, list[ControlPlan]],
        inv: Inventory,
        cpu_ctl: CpuControl,
        generation: int | None,
    ) -> tuple[PodProfilesOutcome, int, int]:
        """Apply each container's profile (each control its own transaction), then status, capacity, Events."""
        wrote = drifted = 0
        entries: list[ExclusiveCores] = []
        events: list[PodEvent] = []
        seen: set[tuple[str, str]] = set()
        for p in view.assignment.containers:
            result: PodCoresResult = "refused"
            reason, message = p.reason, p.message
            if p.spec is not None and p.key not in pod_plans:  # controls.cpu.type is not host
                reason = "ControlsNotHost"
                message = f"per-core controls need controls.cpu.type host; the TelemetryProfile sets {cpu_ctl.type}"
            elif p.spec is not None:
                statuses, n, d = self._apply_controls(pod_plans[p.key], p.spec.controls(), inv.only(p.cpus))
                wrote, drifted = wrote + n, drifted + d
                bad = [c for c in statuses if c.result in ("failed", "unsupported")]
                if bad:
                    result, reason = "failed", "ApplyFailed"
                    message = "; ".join(f"{c.name}: {c.message}" for c in bad)
                else:
                    result, reason = "applied", None
                    message = controls_summary(statuses) or "the profile sets nothing: the cores keep their values"
            entries.append(
                ExclusiveCores(
                    namespace=p.namespace,
                    pod=p.pod,
                    container=p.container,
                    profile=p.profile,
                    cpus=format_cpuset(p.cpus) or "-",
                    result=result,
                    reason=reason,
                    message=message,
                )
            )
            key = (p.uid or p.key, p.container)
            seen.add(key)
            if self._pod_results.get(key) != (result, reason):
                self._pod_results[key] = (result, reason)
                events.append(self._pod_event(p, result, reason, message or ""))
                if reason is not None:
                    self.metrics.pod_profile_refusals.labels(reason=reason).inc()
        for gone in set(self._pod_results) - seen:
            del self._pod_results[gone]
        per_profile = dict.fromkeys((o.name for o in view.offers), 0)
        for p, e in zip(view.assignment.containers, entries):
            if e.result == "applied":
                per_profile[p.profile] = per_profile.get(p.profile, 0) + len(p.cpus)
        for name, n in per_profile.items():
            self.metrics.pod_profile_cpus.labels(profile=name).set(n)
        if view.kubelet.error is not None and view.kubelet.failures != self._pod_resources_failures:
            self.metrics.pod_resources_errors.labels(reason=view.kubelet.error.reason).inc()
        self._pod_resources_failures = view.kubelet.failures
        status = self._pod_status(view, entries, inv)
        tuned = sum(len(p.cpus) for p, e in zip(view.assignment.containers, entries) if e.result == "applied")
        self._pod_condition(view, entries, tuned, generation)
        capacity = None
        if view.kubelet.allocations is not None:
            capacity = {o.resource: o.capacity for o in view.offers if o.advertised}
        return PodProfilesOutcome(status=status, capacity=capacity, events=events), wrote, drifted

    @staticmethod
    def _pod_event(p: PodCores, result: str, reason: str | None, message: str) -> PodEvent:
        cpus = format_cpuset(p.cpus) or "none"
        if result == "applied":
            text = f"container {p.container}: CPUs {cpus} run under PowerProfile {p.profile} ({message})"
            return PodEvent(p.namespace, p.pod, p.uid, "Normal", "PowerProfileApplied", text)
        if result == "failed":
            text = f"container {p.container}: PowerProfile {p.profile} on CPUs {cpus} failed, rolled back: {message}"
            return PodEvent(p.namespace, p.pod, p.uid, "Warning", "PowerProfileFailed", text)
        return PodEvent(p.namespace, p.pod, p.uid, "Warning", "PowerProfileRefused", f"{reason}: {message}")

    def _pod_status(self, view: _PodView, entries: list[ExclusiveCores], inv: Inventory) -> PodProfilesStatus:
        reserved = self.config.reserved_cpus
        exclusive = view.kubelet.allocations.exclusive if view.kubelet.allocations is not None else frozenset()
        applied = [e for e in entries if e.result == "applied"]
        summary = " ".join(f"{e.profile}={e.cpus}" for e in applied) or "none"
        refused = sum(1 for e in entries if e.result != "applied")
        if refused:
            summary += f" ({refused} not applied)"
        return PodProfilesStatus(
            reserved_cpus=format_cpuset(reserved) or None,
            shared_cpus=format_cpuset(inv.cpu_ids - reserved - exclusive) or None,
            containers=entries or None,
            profiles=[
                PodProfileOffer(
                    name=o.name,
                    resource=o.resource if o.advertised else None,
                    capacity=o.capacity if o.advertised else None,
                    message=o.problem,
                )
                for o in view.offers
            ]
            or None,
            summary=summary,
        )

    def _pod_condition(self, view: _PodView, entries: list[ExclusiveCores], tuned: int, generation: int | None) -> None:
        now = self.clock()
        failed = [e for e in entries if e.result == "failed"]
        error = view.kubelet.error
        reason: str
        if error is not None:
            if view.kubelet.allocations is not None:
                stale = "; the cores keep the last allocation the kubelet gave"
            elif self.held.cpus:
                stale = f"; CPUs {format_cpuset(self.held.cpus)} keep the profiles set before the agent restarted"
            else:
                stale = ""
            status, reason, message = False, error.reason, error.message + stale
        elif failed:
            names = ", ".join(f"{e.namespace}/{e.pod}/{e.container}" for e in failed)
            status, reason, message = False, "ApplyFailed", f"pod power profiles failed for {names}"
        else:
            applied = sum(1 for e in entries if e.result == "applied")
            status, reason = True, "Applied"
            message = (
                f"{applied} container(s) on {tuned} CPU(s) under pod power profiles; {len(entries) - applied} refused"
                if entries
                else "no container on this node asks for a pod power profile"
            )
        self._conditions = set_condition(
            self._conditions, "PodProfilesApplied", status, reason, message, generation, now
        )

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
        if not self.config.dry_run:
            self.held.save(frozenset())
        self.metrics.restores.inc(report.restored)
        self._targets.clear()
        if report.restored or report.failed:
            log.info("originals restored", extra={"restored": report.restored, "failed": report.failed})
        return report
