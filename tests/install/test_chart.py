"""charts/joulie rendered by the real Helm engine: lint, schema validity, RBAC, wiring.

Two value sets throughout: the defaults, and the non-default set from the issue (scheduler
off, two serve replicas, ServiceMonitor and dashboard on).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from urllib.parse import urlparse

import helm_python
import kubernetes_validate
import pytest
import yaml

from joulie.api.v1alpha1 import CRDS
from tests.install.chart import CHART_DIR, NAMESPACE, ROOT, arg_value, container, render

# The chart's floor (kubeVersion >=1.25: KubeSchedulerConfiguration v1) and a current release.
KUBE_VERSIONS = ("1.25", "1.33")

NON_DEFAULT = {
    "scheduler": {"enabled": False},
    "serve": {"replicas": 2},
    "metrics": {"serviceMonitor": {"enabled": True}, "grafanaDashboard": {"enabled": True}},
}
VALUE_SETS = {"defaults": None, "scheduler-off-2-replicas-monitoring": NON_DEFAULT}

# Kinds served by add-ons, not by Kubernetes itself: no OpenAPI schema ships for them.
ADDON_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def _rules(role: dict) -> list[dict]:
    """Rules as comparable dicts (order of rules is irrelevant, order of verbs is not relied on)."""
    out = []
    for rule in role["rules"]:
        out.append({k: sorted(v) for k, v in rule.items()})
    return sorted(out, key=lambda r: json.dumps(r, sort_keys=True))


def _rule(groups, resources, verbs, names=None) -> dict:
    r = {"apiGroups": sorted(groups), "resources": sorted(resources), "verbs": sorted(verbs)}
    if names:
        r["resourceNames"] = sorted(names)
    return r


# ---------------------------------------------------------------------------- lint, schema


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_strict_reports_no_errors_or_warnings(values):
    report = helm_python.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_is_valid_against_the_kubernetes_openapi_schema(values, kube_version):
    rendered = render(values)
    checked = set()
    for obj in rendered.objects:
        if (obj["apiVersion"], obj["kind"]) in ADDON_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{obj['kind']}/{obj['metadata'].get('name')} invalid for {kube_version}: "
                f"{exc.message} at {list(exc.absolute_path)}"
            )
        checked.add(obj["kind"])
    assert {
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "PodDisruptionBudget",
        "DaemonSet",
        "ConfigMap",
    } <= checked


def test_the_validator_catches_a_misspelt_field():
    """Guards the test above: strict validation really rejects what the API server would."""
    ds = copy.deepcopy(render().get("DaemonSet", "joulie-agent"))
    container(ds, "agent")["securityContext"]["runAsUsr"] = 0
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, KUBE_VERSIONS[-1], strict=True)


def test_every_object_lands_in_the_release_namespace_or_is_cluster_scoped():
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"}
    for values in VALUE_SETS.values():
        for obj in render(values).objects:
            ns = obj["metadata"].get("namespace")
            if obj["kind"] in cluster_scoped:
                assert ns is None, obj["metadata"]
            else:
                assert ns == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']} in {ns!r}"


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"policy": {"name": "greedy"}}, "/policy/name"),
        ({"caps": {"ecoWatts": 0}}, "/caps/ecoWatts"),
        ({"caps": {"ecoPct": 150}}, "/caps/ecoPct"),
        ({"serve": {"replica": 2}}, "replica"),
        ({"managedNodeSelector": {"joulie.io/managed": True}}, "/managedNodeSelector"),
        ({"scheduler": {"extender": {"httpTimeout": "2 seconds"}}}, "/scheduler/extender/httpTimeout"),
        ({"scheduler": {"extender": {"weight": 0}}}, "/scheduler/extender/weight"),
        ({"agent": {"gpu": "on"}}, "/agent/gpu"),
        ({"planner": {"performanceWaitTargetSeconds": -1}}, "/planner/performanceWaitTargetSeconds"),
        ({"agent": {"podProfiles": {"reservedCpus": "0-1;4"}}}, "/agent/podProfiles/reservedCpus"),
        ({"agent": {"podProfiles": {"podResourcesPath": "var/lib/kubelet"}}}, "/agent/podProfiles/podResourcesPath"),
    ],
)
def test_values_schema_rejects_mistakes_before_anything_renders(bad, where):
    with pytest.raises(helm_python.HelmValuesError) as info:
        render(bad)
    assert where in str(info.value)


def test_values_schema_documents_every_default_value():
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())

    def walk(node: dict, sch: dict, path: str) -> None:
        for key, value in node.items():
            props = sch.get("properties", {})
            assert key in props, f"{path}{key} is in values.yaml but not in values.schema.json"
            if isinstance(value, dict) and props[key].get("properties"):
                walk(value, props[key], f"{path}{key}.")

    walk(defaults, schema, "")


# ---------------------------------------------------------------------------- CRDs


def test_chart_crds_are_byte_for_byte_the_generated_ones():
    bases = ROOT / "config" / "crd" / "bases"
    expected = {p.name: p.read_bytes() for p in sorted(bases.glob("*.yaml"))}
    actual = {p.name: p.read_bytes() for p in sorted((CHART_DIR / "crds").glob("*.yaml"))}
    assert expected, "config/crd/bases is empty"
    assert actual == expected, (
        "charts/joulie/crds differs from config/crd/bases: cp config/crd/bases/*.yaml charts/joulie/crds/"
    )


def test_helm_loads_the_crds_and_they_are_valid_crds():
    with helm_python.Chart.load(CHART_DIR) as chart:
        crds = chart.crds
    names = set()
    for crd in crds:
        obj = yaml.safe_load(crd["data"])
        kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)
        names.add(obj["metadata"]["name"])
    assert names == {f"{c.plural}.joulie.io" for c in CRDS}


# ---------------------------------------------------------------------------- RBAC


LABELLER_RULES = sorted(
    [
        _rule([""], ["nodes"], ["get", "list", "watch", "patch"]),
        _rule([""], ["pods"], ["get", "list", "watch"]),
        _rule([""], ["events"], ["create", "patch"]),
        _rule(["events.k8s.io"], ["events"], ["create", "patch"]),
        _rule(["joulie.io"], ["nodepowerprofiles"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
        _rule(["joulie.io"], ["telemetryprofiles"], ["get", "list", "watch"]),
        _rule(["joulie.io"], ["powercappingpolicies"], ["get", "list", "watch"]),
        _rule(["joulie.io"], ["powercappingpolicies/status"], ["patch"]),
        _rule(["joulie.io"], ["facilitytelemetrytemplates"], ["get", "list", "watch"]),
        _rule(["joulie.io"], ["facilitytelemetrytemplates/status"], ["patch"]),
    ],
    key=lambda r: json.dumps(r, sort_keys=True),
)

LABELLER_LEASE_RULES = sorted(
    [
        _rule(["coordination.k8s.io"], ["leases"], ["create"]),
        # labeller/kube/leader.py renews and releases by merge patch (with a resourceVersion
        # precondition), so patch joins get/update, still limited to its own lease.
        _rule(["coordination.k8s.io"], ["leases"], ["get", "update", "patch"], names=["joulie-labeller"]),
    ],
    key=lambda r: json.dumps(r, sort_keys=True),
)

AGENT_BASE_RULES = [
    _rule(["joulie.io"], ["nodepowerprofiles", "telemetryprofiles"], ["get", "list", "watch"]),
    _rule(["joulie.io"], ["nodepowerprofiles/status", "telemetryprofiles/status"], ["patch"]),
]
AGENT_RULES = sorted(  # with pod power profiles (the default)
    [
        *AGENT_BASE_RULES,
        _rule(["joulie.io"], ["powerprofiles"], ["get", "list", "watch"]),
        _rule([""], ["pods", "nodes"], ["get", "list", "watch"]),
        _rule([""], ["nodes/status"], ["patch"]),
        _rule([""], ["events"], ["create"]),
    ],
    key=lambda r: json.dumps(r, sort_keys=True),
)

SCHEDULER_LEASE_RULES = [_rule(["coordination.k8s.io"], ["leases"], ["get", "update"], names=["joulie-scheduler"])]


def test_labeller_rbac_is_exactly_the_least_privilege_set():
    r = render()
    assert _rules(r.get("ClusterRole", "joulie-labeller")) == LABELLER_RULES
    role = r.get("Role", "joulie-leader-election")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert _rules(role) == LABELLER_LEASE_RULES


def test_agent_rbac_reads_profiles_and_patches_only_their_status():
    assert _rules(render().get("ClusterRole", "joulie-agent")) == AGENT_RULES
    off = render({"agent": {"podProfiles": {"enabled": False}}}).get("ClusterRole", "joulie-agent")
    assert _rules(off) == sorted(AGENT_BASE_RULES, key=lambda r: json.dumps(r, sort_keys=True))


def test_scheduler_rbac_binds_the_builtin_scheduler_roles_and_its_own_lease():
    r = render()
    bound = {
        b["roleRef"]["name"]: b["subjects"]
        for b in r.of_kind("ClusterRoleBinding")
        if b["metadata"]["name"].startswith("joulie-scheduler-")
    }
    assert set(bound) == {"system:kube-scheduler", "system:volume-scheduler"}
    for subjects in bound.values():
        assert subjects == [{"kind": "ServiceAccount", "name": "joulie-scheduler", "namespace": NAMESPACE}]
    assert _rules(r.get("Role", "joulie-scheduler-leader-election")) == SCHEDULER_LEASE_RULES


WITH_SECRETS = {"serve": {"facilityTelemetry": {"secretNames": ["rack-1-bmc", "dp-api"]}}}


@pytest.mark.parametrize("values", [*VALUE_SETS.values(), WITH_SECRETS], ids=[*VALUE_SETS.keys(), "facility-secrets"])
def test_no_role_grants_wildcards_and_secrets_only_by_name_in_the_release_namespace(values):
    for role in [o for o in render(values).objects if o["kind"] in ("Role", "ClusterRole")]:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
            if "secrets" in rule["resources"]:
                assert role["kind"] == "Role" and role["metadata"]["namespace"] == NAMESPACE, role["metadata"]
                assert rule["verbs"] == ["get"] and rule["resourceNames"], rule


def test_facility_secrets_role_grants_get_on_exactly_the_listed_secrets():
    assert not render().has("Role", "joulie-facility-secrets")  # nothing listed: no access to Secrets at all
    r = render(WITH_SECRETS)
    role = r.get("Role", "joulie-facility-secrets")
    assert _rules(role) == [_rule([""], ["secrets"], ["get"], names=["rack-1-bmc", "dp-api"])]
    binding = r.get("RoleBinding", "joulie-facility-secrets")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "joulie", "namespace": NAMESPACE}]
    off = render({"serve": {"facilityTelemetry": {"enabled": False, "secretNames": ["x"]}}})
    assert not off.has("Role", "joulie-facility-secrets")
    assert _rules(off.get("ClusterRole", "joulie-labeller")) == [
        r for r in LABELLER_RULES if "facilitytelemetrytemplates" not in r["resources"][0]
    ]
    assert "--facility-telemetry" not in container(off.get("Deployment", "joulie"), "serve")["args"]


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_each_component_runs_under_its_own_service_account_bound_to_its_own_roles(values):
    r = render(values)
    workloads = [o for o in r.objects if o["kind"] in ("Deployment", "DaemonSet")]
    accounts = {w["metadata"]["name"]: w["spec"]["template"]["spec"]["serviceAccountName"] for w in workloads}
    assert len(set(accounts.values())) == len(accounts), accounts
    for sa in accounts.values():
        assert r.has("ServiceAccount", sa)
    for binding in r.of_kind("ClusterRoleBinding") + r.of_kind("RoleBinding"):
        for subject in binding["subjects"]:
            assert subject["name"] in accounts.values() and subject["namespace"] == NAMESPACE
        if not binding["roleRef"]["name"].startswith("system:"):
            assert r.has(binding["roleRef"]["kind"], binding["roleRef"]["name"])


# ---------------------------------------------------------------------------- serve


def _serve(values=None):
    return container(render(values).get("Deployment", "joulie"), "serve")


def test_serve_runs_non_root_with_a_read_only_root_filesystem_and_probes():
    dep = render().get("Deployment", "joulie")
    pod = dep["spec"]["template"]["spec"]
    c = container(dep, "serve")
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert c["args"][0] == "serve"


def test_leader_election_is_off_for_one_replica_and_on_for_two():
    one = _serve()["args"]
    assert "--leader-elect" not in one
    two_dep = render(NON_DEFAULT).get("Deployment", "joulie")
    two = container(two_dep, "serve")["args"]
    assert two_dep["spec"]["replicas"] == 2
    assert "--leader-elect" in two
    assert arg_value(two, "--lease-name") == "joulie-labeller"
    assert arg_value(two, "--lease-namespace") == NAMESPACE


def test_pdb_lets_a_single_replica_drain_and_keeps_one_of_two_answering():
    for values, _replicas in ((None, 1), (NON_DEFAULT, 2)):
        r = render(values)
        pdb = r.get("PodDisruptionBudget", "joulie")
        assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
        assert (
            pdb["spec"]["selector"]["matchLabels"].items()
            <= r.get("Deployment", "joulie")["spec"]["template"]["metadata"]["labels"].items()
        )


def test_policy_and_cap_values_reach_the_labeller_flags():
    args = _serve(
        {
            "policy": {"name": "static_partition", "params": {"hp_frac": 0.3}},
            "caps": {"performanceWatts": 400, "ecoPct": 60, "ecoGpuPct": 50},
            "planner": {"dwellSeconds": 300, "dryRun": True, "performanceWaitTargetSeconds": 45.5},
            "managedNodeSelector": {"joulie.io/managed": "true", "pool": "batch"},
        }
    )["args"]
    assert arg_value(args, "--policy") == "static_partition"
    assert arg_value(args, "--policy-param") == "hp_frac=0.3"
    assert arg_value(args, "--performance-cap-watts") == "400"
    assert arg_value(args, "--eco-cap-pct") == "60"
    assert arg_value(args, "--eco-cap-watts") is None  # the percentage replaces the watt cap
    assert arg_value(args, "--eco-gpu-cap-pct") == "50"
    assert arg_value(args, "--dwell-seconds") == "300"
    assert arg_value(args, "--performance-wait-target-seconds") == "45.5"
    assert "--dry-run" in args
    assert arg_value(args, "--node-selector") == "joulie.io/managed=true,pool=batch"


def test_the_real_joulie_cli_accepts_the_chart_args_and_builds_the_configured_planner():
    from joulie.cli import build_parser
    from labeller.cli import planner_config

    values = {
        "policy": {"name": "queue_aware_v1", "params": {"base_frac": 0.5, "hp_max": 1000000, "hp_min": 2}},
        "caps": {"ecoWatts": 95.5, "performanceGpuWatts": 300},
        "planner": {"feedbackPodsPerNode": 5, "performanceWaitTargetSeconds": 0},
        "serve": {"replicas": 3},
    }
    args = build_parser().parse_args(_serve(values)["args"])
    config = planner_config(args)
    assert config.policy == "queue_aware_v1"
    assert config.policy_params == {"base_frac": 0.5, "hp_max": 1000000, "hp_min": 2}
    assert isinstance(config.policy_params["hp_max"], int)  # not 1e+06
    assert config.eco_caps.cpu_watts == 95.5 and config.performance_caps.gpu_watts == 300
    assert config.feedback_pods_per_node == 5
    assert config.performance_wait_target_seconds == 0  # off, as upstream
    assert args.leader_elect and args.lease_namespace == NAMESPACE
    assert (args.port, args.url_prefix) == (8080, "/scheduler")


def test_power_aware_scoring_and_facility_values_reach_the_real_cli():
    from extender.cli import serve_settings
    from joulie.cli import build_parser
    from joulie.facility.settings import facility_settings
    from labeller.cli import planner_config  # noqa: F401 - the same parser builds every setting

    default_args = build_parser().parse_args(_serve()["args"])
    assert serve_settings(default_args).power.enabled is False  # off by default: the packing score
    facility = facility_settings(default_args)
    assert facility.enabled and facility.namespace == NAMESPACE and facility.workers == 16
    curve = [100, 150, 190, 225, 260, 295, 330, 370, 410, 450, 500]
    values = {
        "serve": {
            "powerAwareScoring": {"enabled": True, "assumptionFactor": 0.25, "curveWatts": curve, "gpuBusyWatts": 600}
        }
    }
    power = serve_settings(build_parser().parse_args(_serve(values)["args"])).power
    assert _rule(["metrics.k8s.io"], ["nodes"], ["get", "list"]) in _rules(
        render(values).get("ClusterRole", "joulie-labeller")
    )
    assert _rule(["metrics.k8s.io"], ["nodes"], ["get", "list"]) not in _rules(
        render().get("ClusterRole", "joulie-labeller")
    )
    assert power.enabled and power.assumption_factor == 0.25
    assert power.curve_watts == tuple(curve) and power.gpu_busy_watts == 600 and power.gpu_idle_watts == 55


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"serve": {"powerAwareScoring": {"assumptionFactor": 2}}}, "/serve/powerAwareScoring/assumptionFactor"),
        ({"serve": {"powerAwareScoring": {"curveWatts": [1, 2, 3]}}}, "/serve/powerAwareScoring/curveWatts"),
        ({"serve": {"facilityTelemetry": {"secretNames": ["Not_A_Name"]}}}, "/serve/facilityTelemetry/secretNames"),
    ],
)
def test_values_schema_rejects_bad_power_and_facility_values(bad, where):
    with pytest.raises(helm_python.HelmValuesError) as info:
        render(bad)
    assert where in str(info.value)


def test_the_real_joulie_cli_accepts_the_agent_args():
    from joulie.cli import build_parser

    ds = render({"agent": {"gpu": "off", "intervalSeconds": 15}}).get("DaemonSet", "joulie-agent")
    args = build_parser().parse_args(container(ds, "agent")["args"])
    assert args.sysfs_root == "/host/sys" and args.state_dir == "/var/lib/joulie"
    assert (args.gpu, args.interval, args.metrics_port) == ("off", 15, 9102)
    assert args.pod_resources_socket == "/var/lib/kubelet/pod-resources/kubelet.sock"
    ds = render({"agent": {"podProfiles": {"reservedCpus": "0-1,32-33"}}}).get("DaemonSet", "joulie-agent")
    from agent.cli import agent_settings

    settings = agent_settings(build_parser().parse_args([*container(ds, "agent")["args"], "--node-name", "n1"]))
    assert settings.reserved_cpus == frozenset({0, 1, 32, 33})
    ds = render({"agent": {"podProfiles": {"enabled": False}}}).get("DaemonSet", "joulie-agent")
    assert build_parser().parse_args(container(ds, "agent")["args"]).pod_resources_socket == ""


def test_agent_mounts_the_kubelet_pod_resources_socket_read_only():
    ds = render().get("DaemonSet", "joulie-agent")
    pod = ds["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container(ds, "agent")["volumeMounts"]}
    assert volumes["pod-resources"]["hostPath"] == {"path": "/var/lib/kubelet/pod-resources", "type": "Directory"}
    assert mounts["pod-resources"] == {
        "name": "pod-resources",
        "mountPath": "/var/lib/kubelet/pod-resources",
        "readOnly": True,
    }
    off = render({"agent": {"podProfiles": {"enabled": False}}}).get("DaemonSet", "joulie-agent")
    assert "pod-resources" not in {v["name"] for v in off["spec"]["template"]["spec"]["volumes"]}


# ---------------------------------------------------------------------------- agent


def test_agent_mounts_host_sysfs_elsewhere_and_gets_only_what_sysfs_writes_need():
    ds = render().get("DaemonSet", "joulie-agent")
    pod = ds["spec"]["template"]["spec"]
    c = container(ds, "agent")
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert volumes["host-sys"]["hostPath"] == {"path": "/sys", "type": "Directory"}
    assert mounts["host-sys"]["mountPath"] == "/host/sys" and not mounts["host-sys"].get("readOnly")
    assert arg_value(c["args"], "--sysfs-root") == "/host/sys"
    assert volumes["state"]["hostPath"]["type"] == "DirectoryOrCreate"
    assert arg_value(c["args"], "--state-dir") == mounts["state"]["mountPath"]
    sc = c["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["runAsUser"] == 0 and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert not pod.get("hostNetwork") and not pod.get("hostPID")
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert pod["nodeSelector"] == {"joulie.io/managed": "true"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_agent_privileged_gpu_and_toleration_values():
    ds = render(
        {
            "agent": {
                "privileged": True,
                "runtimeClassName": "nvidia",
                "nvidiaVisibleDevices": "all",
                "tolerations": [{"operator": "Exists"}],
            }
        }
    ).get("DaemonSet", "joulie-agent")
    pod = ds["spec"]["template"]["spec"]
    c = container(ds, "agent")
    assert c["securityContext"]["privileged"] is True
    assert "allowPrivilegeEscalation" not in c["securityContext"]  # the API rejects false + privileged
    assert pod["runtimeClassName"] == "nvidia" and pod["tolerations"] == [{"operator": "Exists"}]
    assert {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"} in c["env"]
    caps = container(render({"agent": {"extraCapabilities": ["SYS_ADMIN"]}}).get("DaemonSet", "joulie-agent"), "agent")[
        "securityContext"
    ]["capabilities"]
    assert caps == {"drop": ["ALL"], "add": ["SYS_ADMIN"]}


def test_labeller_and_agent_share_one_managed_node_selector():
    # Helm merges maps: null removes the default key.
    r = render({"managedNodeSelector": {"joulie.io/managed": None, "energy.example.com/pool": "managed"}})
    assert r.get("DaemonSet", "joulie-agent")["spec"]["template"]["spec"]["nodeSelector"] == {
        "energy.example.com/pool": "managed"
    }
    assert (
        arg_value(container(r.get("Deployment", "joulie"), "serve")["args"], "--node-selector")
        == "energy.example.com/pool=managed"
    )


def test_agent_can_be_left_out():
    r = render({"agent": {"enabled": False}})
    assert not r.of_kind("DaemonSet")
    assert not r.has("ClusterRole", "joulie-agent") and not r.has("ServiceAccount", "joulie-agent")


# ---------------------------------------------------------------------------- scheduler


def _scheduler_config(values=None) -> dict:
    cm = render(values).get("ConfigMap", "joulie-scheduler-config")
    return yaml.safe_load(cm["data"]["config.yaml"])


EXPECTED_EXTENDER = {
    "urlPrefix": f"http://joulie.{NAMESPACE}.svc:8080/scheduler",
    "filterVerb": "filter",
    "prioritizeVerb": "prioritize",
    "weight": 2,
    "enableHTTPS": False,
    "nodeCacheCapable": True,
    "ignorable": True,
    "httpTimeout": "2s",
}


def test_scheduler_config_is_a_v1_profile_named_joulie_scheduler_with_its_own_lease():
    cfg = _scheduler_config()
    assert cfg["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert cfg["kind"] == "KubeSchedulerConfiguration"
    assert cfg["profiles"] == [{"schedulerName": "joulie-scheduler"}]
    assert cfg["percentageOfNodesToScore"] == 100
    assert cfg["leaderElection"] == {
        "leaderElect": True,
        "resourceLock": "leases",
        "resourceName": "joulie-scheduler",
        "resourceNamespace": NAMESPACE,
    }
    assert cfg["extenders"] == [EXPECTED_EXTENDER]
    assert "managedResources" not in cfg["extenders"][0]


def test_extender_url_points_at_the_serve_service_port_and_url_prefix():
    r = render()
    url = urlparse(_scheduler_config()["extenders"][0]["urlPrefix"])
    name, ns, _svc = url.hostname.split(".")
    svc = r.get("Service", name)
    assert ns == NAMESPACE
    port = next(p for p in svc["spec"]["ports"] if p["port"] == url.port)
    serve = container(r.get("Deployment", name), "serve")
    container_port = next(p for p in serve["ports"] if p["name"] == port["targetPort"])
    assert (
        svc["spec"]["selector"].items() <= r.get("Deployment", name)["spec"]["template"]["metadata"]["labels"].items()
    )
    assert arg_value(serve["args"], "--port") == str(container_port["containerPort"])
    assert arg_value(serve["args"], "--url-prefix") == url.path


def test_the_extender_answers_filter_and_prioritize_at_the_urls_the_scheduler_calls():
    """Build the real `joulie serve` app from the chart's own args (on the bundled example
    snapshot instead of a cluster) and call it exactly where kube-scheduler would."""
    from starlette.testclient import TestClient

    from extender.app import create_app
    from joulie.cli import build_parser
    from joulie.serve import runtime_from_args
    from labeller.metrics import LabellerMetrics

    values = {"serve": {"urlPrefix": "/joulie/ext"}}
    ext = _scheduler_config(values)["extenders"][0]
    args = build_parser().parse_args(_serve(values)["args"] + ["--example"])
    runtime = runtime_from_args(args, LabellerMetrics())
    runtime.start()
    try:
        client = TestClient(create_app(runtime, url_prefix=args.url_prefix))
        nodes = [n["name"] for n in client.get("/plan").json()["nodes"]]
        eco_pod = {
            "metadata": {"name": "p", "namespace": "default", "uid": "u-1"},
            "spec": {"nodeSelector": {"joulie.io/power-profile": "eco"}},
        }
        body = {"Pod": eco_pod, "Nodes": None, "NodeNames": nodes}  # nodeCacheCapable: names only
        path = urlparse(ext["urlPrefix"]).path
        filtered = client.post(f"{path}/{ext['filterVerb']}", json=body)
        assert filtered.status_code == 200
        reply = filtered.json()
        assert reply["Error"] == "" and reply["NodeNames"] and set(reply["NodeNames"]) < set(nodes)
        scored = client.post(f"{path}/{ext['prioritizeVerb']}", json=body)
        assert scored.status_code == 200
        assert {h["Host"] for h in scored.json()} == set(nodes)
        assert all(isinstance(h["Score"], int) and 0 <= h["Score"] <= 10 for h in scored.json())
    finally:
        runtime.stop()


def test_scheduler_deployment_runs_upstream_kube_scheduler_with_the_config():
    r = render({"scheduler": {"image": {"tag": "v1.31.4"}}})
    dep = r.get("Deployment", "joulie-scheduler")
    c = container(dep, "kube-scheduler")
    assert c["image"] == "registry.k8s.io/kube-scheduler:v1.31.4"
    config_arg = next(a for a in c["command"] if a.startswith("--config="))
    mount = next(m for m in c["volumeMounts"] if config_arg.split("=", 1)[1].startswith(m["mountPath"] + "/"))
    volume = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    cm = r.get("ConfigMap", volume["configMap"]["name"])
    assert Path(config_arg.split("=", 1)[1]).name in cm["data"]
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "joulie-scheduler"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"


def test_scheduler_config_change_rolls_the_scheduler():
    a = render().get("Deployment", "joulie-scheduler")["spec"]["template"]["metadata"]["annotations"]
    b = render({"scheduler": {"extender": {"weight": 5}}}).get("Deployment", "joulie-scheduler")
    assert a["checksum/config"] != b["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_scheduler_off_renders_no_scheduler_and_notes_print_the_extender_stanza():
    r = render(NON_DEFAULT)
    assert not r.has("Deployment", "joulie-scheduler") and not r.has("ConfigMap", "joulie-scheduler-config")
    assert not [b for b in r.of_kind("ClusterRoleBinding") if b["roleRef"]["name"].startswith("system:")]
    stanza_text = r.notes[r.notes.index("extenders:") :].split("\n\n")[0]
    assert yaml.safe_load(stanza_text) == {"extenders": [EXPECTED_EXTENDER]}
    assert "percentageOfNodesToScore: 100" in r.notes


def test_url_override_reaches_config_and_notes():
    url = "http://10.96.12.34:8080/scheduler"
    assert _scheduler_config({"scheduler": {"extender": {"urlOverride": url}}})["extenders"][0]["urlPrefix"] == url
    notes = render({"scheduler": {"enabled": False, "extender": {"urlOverride": url}}}).notes
    assert f'urlPrefix: "{url}"' in notes


# ---------------------------------------------------------------------------- monitoring


def test_service_monitors_select_the_services_and_name_their_ports():
    r = render(NON_DEFAULT)
    monitors = r.of_kind("ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {"joulie", "joulie-agent"}
    for sm in monitors:
        selector = sm["spec"]["selector"]["matchLabels"]
        services = [s for s in r.of_kind("Service") if selector.items() <= s["metadata"]["labels"].items()]
        assert len(services) == 1, (sm["metadata"]["name"], [s["metadata"]["name"] for s in services])
        port_names = {p["name"] for p in services[0]["spec"]["ports"]}
        assert {e["port"] for e in sm["spec"]["endpoints"]} <= port_names
        assert all(e["path"] == "/metrics" for e in sm["spec"]["endpoints"])
        assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert not render().of_kind("ServiceMonitor")


def _exported_metric_names() -> set[str]:
    """Every series name the Joulie processes export: the process-wide registry (labeller,
    extender: `joulie serve`) and the agent's own registry (`joulie agent`)."""
    from agent.metrics import AgentMetrics
    from extender.metrics import ExtenderMetrics
    from labeller.metrics import LabellerMetrics

    names = set()
    for registry in (LabellerMetrics().registry, ExtenderMetrics().registry, AgentMetrics().registry):
        for family in registry.collect():
            names.add(family.name)
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "histogram":
                names.update({family.name + suffix for suffix in ("_bucket", "_sum", "_count")})
    return names


def test_grafana_dashboard_is_valid_json_and_queries_metrics_joulie_exports():
    import re

    r = render(NON_DEFAULT)
    cm = r.get("ConfigMap", "joulie-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["joulie.json"])
    titles = {p["title"] for p in dashboard["panels"]}
    for wanted in ("nodes per state", "demand", "reconcile latency", "extender latency", "caps", "package power"):
        assert any(wanted in t.lower() for t in titles), (wanted, titles)
    known = _exported_metric_names()
    used = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"\bjoulie_[a-z_]+\b", t["expr"])}
    assert used and used <= known, f"dashboard queries metrics nobody exports: {sorted(used - known)}"


def test_profile_cpu_controls_reach_the_labeller_in_the_api_shape():
    from joulie.cli import build_parser
    from labeller.cli import planner_config
    from labeller.templates import DEFAULT_ECO_CONTROLS

    default_args = _serve(None)["args"]
    assert not any(a.startswith(("--eco-cpu-controls", "--performance-cpu-controls")) for a in default_args)
    assert planner_config(build_parser().parse_args(default_args)).cpu_controls.eco == DEFAULT_ECO_CONTROLS
    eco = {
        "governor": "powersave",
        "epp": 192,
        "frequency": {"maxPct": 70},
        "cstates": {"names": {"C6": True}, "maxLatencyUs": 200},
        "uncore": {"minMHz": 800, "maxMHz": 1800},
    }
    args = _serve({"profiles": {"eco": {"cpu": eco}, "performance": {"cpu": {}}}})["args"]
    assert json.loads(arg_value(args, "--eco-cpu-controls")) == eco
    config = planner_config(build_parser().parse_args(args))
    assert config.cpu_controls.eco.to_api() == {**eco, "frequency": {"maxPct": 70.0}}
    assert config.cpu_controls.performance.empty


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"profiles": {"eco": {"cpu": {"governer": "powersave"}}}}, "/profiles/eco/cpu"),
        ({"profiles": {"eco": {"cpu": {"frequency": {"maxPct": 120}}}}}, "/profiles/eco/cpu/frequency/maxPct"),
        (
            {"profiles": {"performance": {"cpu": {"cstates": {"names": {"C6": "yes"}}}}}},
            "/profiles/performance/cpu/cstates/names/C6",
        ),
    ],
)
def test_values_schema_rejects_bad_profile_controls(bad, where):
    with pytest.raises(helm_python.HelmValuesError) as info:
        render(bad)
    assert where in str(info.value)


def test_budget_policies_render_as_valid_power_capping_policies():
    import jsonschema

    assert not render().of_kind("PowerCappingPolicy")
    spec = {"powerCapLimit": 40000, "rackConstraints": [{"rackId": "rack-a", "maxPower": 8000, "maxTemperature": 32}]}
    r = render({"budgets": {"policies": [{"name": "cluster-budget", "spec": spec}]}})
    pcp = r.get("PowerCappingPolicy", "cluster-budget")
    assert pcp["spec"] == spec and "namespace" not in pcp["metadata"]  # cluster-scoped
    crd = yaml.safe_load((ROOT / "config/crd/bases/joulie.io_powercappingpolicies.yaml").read_text())
    jsonschema.Draft4Validator(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]).validate(pcp)
