"""Prometheus metrics of one agent, in their own registry.

A private registry keeps these apart from the labeller's process-wide metrics (tests
and ``joulie serve`` may import both) and lets each agent instance start clean.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class AgentMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.backend = Gauge(
            "joulie_agent_backend", "Active control backend (1) per resource.", ["resource", "backend"], registry=r
        )
        self.cap_watts = Gauge(
            "joulie_agent_applied_cap_watts",
            "Cap applied, in watts, per resource and unit.",
            ["resource", "unit"],
            registry=r,
        )
        self.max_freq_khz = Gauge(
            "joulie_agent_dvfs_max_freq_khz", "scaling_max_freq applied by the DVFS fallback.", registry=r
        )
        self.applies = Counter(
            "joulie_agent_apply_total", "Apply passes per resource and result.", ["resource", "result"], registry=r
        )
        self.writes = Counter(
            "joulie_agent_writes_total", "Values written to the hardware, per channel.", ["channel"], registry=r
        )
        self.drift = Counter(
            "joulie_agent_drift_corrections_total",
            "Values found reverted (by firmware or another tool) and re-applied.",
            registry=r,
        )
        self.restores = Counter("joulie_agent_restores_total", "Original values written back.", registry=r)
        self.refusals = Counter("joulie_agent_refusals_total", "Profiles refused, by reason.", ["reason"], registry=r)
        self.package_power = Gauge(
            "joulie_agent_package_power_watts", "CPU package power from RAPL energy counters.", ["zone"], registry=r
        )
        self.package_energy = Gauge(
            "joulie_agent_package_energy_joules",
            "Energy counted since the agent started, per package (wraparound handled).",
            ["zone"],
            registry=r,
        )
        self.cpu_freq = Gauge(
            "joulie_agent_cpu_frequency_khz", "Current frequency per CPU (scaling_cur_freq).", ["cpu"], registry=r
        )
        self.gpu_power = Gauge("joulie_agent_gpu_power_watts", "GPU board power from NVML.", ["gpu"], registry=r)
        self.remote = Gauge(
            "joulie_agent_remote_telemetry",
            "Numeric fields of HTTP telemetry sources.",
            ["source", "field"],
            registry=r,
        )
        self.pod_profile_cpus = Gauge(
            "joulie_agent_pod_profile_cpus",
            "Exclusive CPUs tuned under each pod power profile (PowerProfile) on this node.",
            ["profile"],
            registry=r,
        )
        self.pod_profile_refusals = Counter(
            "joulie_agent_pod_profile_refusals_total",
            "Containers whose pod power profile request was refused or failed, by reason (counted once per transition).",
            ["reason"],
            registry=r,
        )
        self.pod_resources_errors = Counter(
            "joulie_agent_pod_resources_errors_total",
            "Failed kubelet PodResources List calls, by reason.",
            ["reason"],
            registry=r,
        )
        self.telemetry_errors = Counter(
            "joulie_agent_telemetry_errors_total", "Failed telemetry reads per source.", ["source"], registry=r
        )

    def set_backend(self, resource: str, backend: str) -> None:
        for b in ("rapl", "dvfs", "nvml", "http", "none"):
            self.backend.labels(resource=resource, backend=b).set(1 if b == backend else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
