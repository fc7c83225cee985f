"""Which container's exclusive cores get which pod power profile: pure, from the pods and the kubelet.

A container asks with the extended resource ``power.joulie.io/<profile>: N``. It gets the
profile on exactly the CPUs the kubelet lists for it (PodResources ``cpu_ids``) when

- the pod is Guaranteed (``status.qosClass``) and the kubelet gave the container exclusive
  CPUs (static CPU manager policy, integer CPU request);
- N equals the number of those CPUs (the request is how the scheduler counted them);
- the profile exists, is valid, is not a shared profile, and this node can honour it;
- it asks for one profile, and none of its CPUs is reserved (``--reserved-cpus``) or offline.

Anything else is *refused*: the cores keep the shared pool's settings and the refusal carries
a reason (an Event on the pod) and a message saying what to change. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from agent.cpuset import format_cpuset
from agent.podresources.client import Allocations, by_pod
from joulie.api.v1alpha1 import PowerProfileSpec, pod_profile_of, pod_profile_resource
from joulie.core.model import TERMINAL_PHASES, parse_quantity
from joulie.jsonutil import obj


@dataclass(frozen=True)
class ProfileRequest:
    """One container's ask: ``power.joulie.io/<profile>: count`` (count None: not a whole number)."""

    container: str
    profiles: tuple[str, ...]
    count: int | None


@dataclass(frozen=True)
class PodCores:
    """The verdict on one container that asked for a pod power profile."""

    namespace: str
    pod: str
    uid: str
    container: str
    profile: str
    cpus: frozenset[int]
    spec: PowerProfileSpec | None = None
    """The settings to apply; ``None`` when refused."""
    reason: str | None = None
    message: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.pod}/{self.container}"


@dataclass(frozen=True)
class CoreAssignment:
    containers: tuple[PodCores, ...] = ()

    @property
    def applying(self) -> tuple[PodCores, ...]:
        return tuple(c for c in self.containers if c.spec is not None)

    @property
    def tuned_cpus(self) -> frozenset[int]:
        """CPUs that follow a pod profile this pass (not the node's settings)."""
        return frozenset(cpu for c in self.applying for cpu in c.cpus)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _containers(spec: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for key in ("initContainers", "containers"):  # restartable init containers (sidecars) can hold CPUs too
        items = spec.get(key)
        for c in items if isinstance(items, list) else ():
            if isinstance(c, dict):
                yield c


def _count(quantity: Any) -> int | None:
    try:
        value = parse_quantity(quantity)
    except ValueError:
        return None
    return int(value) if value == value.to_integral_value() and value >= Decimal(0) else None


def profile_requests(pod: Mapping[str, Any]) -> list[ProfileRequest]:
    """Every container of ``pod`` that asks for a pod power profile (extended resources: limits, else requests)."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return []
    out = []
    for c in _containers(spec):
        resources = obj(c.get("resources"))
        asked: dict[str, Any] = {}
        for part in ("requests", "limits"):  # limits win: for extended resources the two must be equal
            for name, q in obj(resources.get(part)).items():
                profile = pod_profile_of(str(name))
                if profile is not None:
                    asked[profile] = q
        if asked:
            profiles = tuple(sorted(asked))
            out.append(ProfileRequest(_text(c.get("name")), profiles, _count(asked[profiles[0]])))
    return out


def assign(
    pods: Iterable[Mapping[str, Any]],
    allocations: Allocations,
    profiles: Mapping[str, PowerProfileSpec | str],
    not_honoured: Mapping[str, str],
    reserved: frozenset[int],
    online: frozenset[int],
) -> CoreAssignment:
    """The verdict on every container the kubelet lists that asked for a pod power profile.

    ``profiles`` maps a PowerProfile's name to its spec, or to why it is invalid;
    ``not_honoured`` maps a profile this node cannot honour to why.
    """
    cores = by_pod(allocations)
    out: list[PodCores] = []
    for pod in pods:
        meta, status = obj(pod.get("metadata")), obj(pod.get("status"))
        ns, name = _text(meta.get("namespace")) or "default", _text(meta.get("name"))
        held = cores.get((ns, name))
        if held is None or status.get("phase") in TERMINAL_PHASES:
            continue  # the kubelet does not (or no longer) run it: its cores are not its own
        for req in profile_requests(pod):
            cpus = held.get(req.container, frozenset())
            verdict = _verdict(req, cpus, status.get("qosClass"), profiles, not_honoured, reserved, online)
            base = PodCores(ns, name, _text(meta.get("uid")), req.container, req.profiles[0], cpus)
            if isinstance(verdict, PowerProfileSpec):
                out.append(replace(base, spec=verdict))
            else:
                out.append(replace(base, reason=verdict[0], message=verdict[1]))
    out.sort(key=lambda c: (c.namespace, c.pod, c.container))
    return CoreAssignment(tuple(out))


def _verdict(
    req: ProfileRequest,
    cpus: frozenset[int],
    qos: Any,
    profiles: Mapping[str, PowerProfileSpec | str],
    not_honoured: Mapping[str, str],
    reserved: frozenset[int],
    online: frozenset[int],
) -> PowerProfileSpec | tuple[str, str]:
    profile = req.profiles[0]
    resource = pod_profile_resource(profile)
    keep = "its cores keep the shared pool's settings"
    if len(req.profiles) > 1:
        asked = ", ".join(pod_profile_resource(p) for p in req.profiles)
        return "MultipleProfiles", f"container {req.container} asks for {asked}: one pod power profile per container"
    spec = profiles.get(profile)
    if spec is None:
        return "UnknownProfile", f"there is no PowerProfile named {profile!r} ({resource}); {keep}"
    if isinstance(spec, str):
        return "InvalidProfile", f"PowerProfile {profile!r} is invalid: {spec}; {keep}"
    if spec.shared:
        return (
            "SharedProfile",
            f"PowerProfile {profile!r} is shared: true (it describes a shared pool, which follows the node's "
            f"NodePowerProfile) and cannot be requested; {keep}",
        )
    if profile in not_honoured:
        return "ProfileNotHonoured", f"this node cannot honour PowerProfile {profile!r}: {not_honoured[profile]}"
    if req.count is None or req.count < 1:
        return "InvalidRequest", f"container {req.container}: {resource} must be a whole number of CPUs; {keep}"
    if qos is not None and qos != "Guaranteed":
        return (
            "NotGuaranteed",
            f"pod power profiles need a Guaranteed pod (requests equal limits for CPU and memory in every "
            f"container); this pod is {qos}; {keep}",
        )
    if not cpus:
        return (
            "NoExclusiveCpus",
            f"the kubelet gave container {req.container} no exclusive CPUs: it needs an integer CPU request equal "
            f"to its limit in a Guaranteed pod, and the kubelet's static CPU manager policy; {keep}",
        )
    shown = format_cpuset(cpus)
    if req.count != len(cpus):
        return (
            "RequestMismatch",
            f"container {req.container} requests {resource}: {req.count} but holds {len(cpus)} exclusive CPUs "
            f"({shown}); make the two equal; {keep}",
        )
    if cpus & reserved:
        return (
            "ReservedCpus",
            f"CPUs {format_cpuset(cpus & reserved)} of container {req.container} are reserved (--reserved-cpus "
            f"{format_cpuset(reserved)}) and never tuned; check that --reserved-cpus matches the kubelet's",
        )
    if not cpus <= online:
        return "OfflineCpus", f"CPUs {format_cpuset(cpus - online)} of container {req.container} are not online here"
    return spec
