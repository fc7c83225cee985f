"""The chart's security options: extender TLS (generated, cert-manager, own Secrets), NetworkPolicies,
admission policies, /plan exposure and the limits derived from the memory limit."""

from __future__ import annotations

import base64
import json
import ssl

import helm_python
import kubernetes_validate
import pytest
from cryptography import x509

from tests.install.chart import CHART_DIR, NAMESPACE, arg_value, container, render
from tests.security.serving import free_port, post, serve

HARDENED = {
    "serve": {"tls": {"enabled": True}, "plan": {"exposure": "loopback"}},
    "networkPolicy": {"enabled": True},
    "admissionPolicies": {"enabled": True},
}
ADDON_KINDS = {"Certificate", "Issuer", "ServiceMonitor"}


def test_the_hardened_values_lint_clean_and_validate_against_kubernetes_1_33():
    report = helm_python.lint(CHART_DIR, HARDENED, strict=True, namespace=NAMESPACE)
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == [], report
    for obj in render(HARDENED).objects:
        if obj["kind"] not in ADDON_KINDS:
            kubernetes_validate.validate(obj, "1.33", strict=True)


def test_tls_wires_the_scheduler_client_certificate_and_moves_the_probes():
    r = render(HARDENED)
    serve_c = container(r.get("Deployment", "joulie"), "serve")
    args = serve_c["args"]
    assert arg_value(args, "--tls-cert-file") == "/etc/joulie/tls/tls.crt"
    assert arg_value(args, "--tls-client-ca-file") == "/etc/joulie/tls/ca.crt"
    assert arg_value(args, "--probe-port") == "8081"
    assert all(serve_c[p]["httpGet"]["port"] == "probes" for p in ("startupProbe", "livenessProbe", "readinessProbe"))
    assert {p["name"] for p in r.get("Service", "joulie")["spec"]["ports"]} == {"http", "probes"}
    cfg = r.get("ConfigMap", "joulie-scheduler-config")["data"]["config.yaml"]
    assert "enableHTTPS: true" in cfg and 'serverName: "joulie.joulie-system.svc"' in cfg
    assert "https://joulie.joulie-system.svc:8080/scheduler" in cfg
    sched = r.get("Deployment", "joulie-scheduler")["spec"]["template"]["spec"]
    mount = next(m for m in sched["containers"][0]["volumeMounts"] if m["name"] == "extender-tls")
    assert mount["mountPath"] == "/etc/joulie-extender-tls" and mount["readOnly"]
    assert (
        next(v for v in sched["volumes"] if v["name"] == "extender-tls")["secret"]["secretName"]
        == "joulie-scheduler-client-tls"
    )
    assert sched["securityContext"]["fsGroup"] == 65532


def _secret_files(r, name, tmp_path):
    data = r.get("Secret", name)["data"]
    out = {}
    for key in ("tls.crt", "tls.key", "ca.crt"):
        path = tmp_path / f"{name}-{key}"
        path.write_bytes(base64.b64decode(data[key]))
        out[key] = path
    return out


def test_the_certificates_the_chart_generates_let_the_scheduler_in_and_nobody_else(tmp_path):
    """Render, take the generated Secrets, run `joulie serve` with the chart's TLS flags, connect
    as the scheduler would (client certificate, serverName from the stanza)."""
    r = render(HARDENED)
    server = _secret_files(r, "joulie-extender-tls", tmp_path)
    client = _secret_files(r, "joulie-scheduler-client-tls", tmp_path)
    cert = x509.load_pem_x509_certificate(server["tls.crt"].read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert "joulie.joulie-system.svc" in sans
    probe = free_port()
    flags = [
        "--tls-cert-file",
        str(server["tls.crt"]),
        "--tls-key-file",
        str(server["tls.key"]),
        "--tls-client-ca-file",
        str(server["ca.crt"]),
        "--probe-port",
        str(probe),
    ]
    with serve(*flags, ready_port=probe) as (_proc, port):
        ctx = ssl.create_default_context(cafile=str(client["ca.crt"]))
        ctx.load_cert_chain(str(client["tls.crt"]), str(client["tls.key"]))
        ctx.check_hostname = False  # we dial 127.0.0.1; verify the name the scheduler would send below
        body = json.dumps({"Pod": {"metadata": {"name": "p"}}, "Nodes": None, "NodeNames": ["worker-01"]}).encode()
        assert post(port, "/scheduler/filter", body, ctx)[0] == 200
        ssl.match_hostname = getattr(ssl, "match_hostname", None)  # (removed in 3.12; the SAN check above)
        anonymous = ssl.create_default_context(cafile=str(client["ca.crt"]))
        anonymous.check_hostname = False
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            post(port, "/scheduler/filter", body, anonymous)


def test_an_upgrade_keeps_no_stale_material_and_modes_render_their_own_objects():
    cm = render({"serve": {"tls": {"enabled": True, "mode": "certManager"}}})
    kinds = {(o["kind"], o["metadata"]["name"]) for o in cm.objects if o["apiVersion"].startswith("cert-manager")}
    assert ("Certificate", "joulie-extender-tls") in kinds and ("Certificate", "joulie-scheduler-client-tls") in kinds
    assert not cm.has("Secret", "joulie-extender-tls")  # cert-manager writes it
    own = render(
        {"serve": {"tls": {"enabled": True, "mode": "secrets", "serverSecret": "mine", "clientSecret": "theirs"}}}
    )
    assert not own.has("Secret", "mine") and not own.of_kind("Certificate")
    vol = next(v for v in own.get("Deployment", "joulie")["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert vol["secret"]["secretName"] == "mine"
    with pytest.raises(Exception, match="serverSecret is required"):
        render({"serve": {"tls": {"enabled": True, "mode": "secrets"}}})


def test_limits_follow_the_memory_limit_unless_set():
    def limits(values):
        args = container(render(values).get("Deployment", "joulie"), "serve")["args"]
        return int(arg_value(args, "--max-body-bytes")), int(arg_value(args, "--max-inflight-bytes"))

    assert limits(None) == (128 * 2**20, 256 * 2**20)  # 1Gi default limit: 1/8 and 1/4
    assert limits({"serve": {"resources": {"limits": {"memory": "512Mi"}}}}) == (64 * 2**20, 128 * 2**20)
    assert limits({"serve": {"resources": {"limits": {"memory": None}}}}) == (64 * 2**20, 128 * 2**20)
    assert limits({"serve": {"limits": {"maxBodyBytes": 4096, "maxInflightBytes": 8192}}}) == (4096, 8192)


def test_network_policies_let_only_the_scheduler_reach_the_extender():
    r = render(HARDENED)
    serve_np = r.get("NetworkPolicy", "joulie")
    extender_rule = next(rule for rule in serve_np["spec"]["ingress"] if rule["ports"][0]["port"] == "http")
    assert extender_rule["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "joulie",
                    "app.kubernetes.io/instance": "joulie",
                    "app.kubernetes.io/component": "scheduler",
                }
            }
        }
    ]
    agent_np = r.get("NetworkPolicy", "joulie-agent")
    assert [rule["ports"][0]["port"] for rule in agent_np["spec"]["ingress"]] == [9102]
    extra = {"ipBlock": {"cidr": "10.0.0.10/32"}}
    r2 = render({"scheduler": {"enabled": False}, "networkPolicy": {"enabled": True, "extenderFrom": [extra]}})
    rule = r2.get("NetworkPolicy", "joulie")["spec"]["ingress"][0]
    assert extra in rule["from"] and {"namespaceSelector": {}} in rule["from"]  # metrics share the port without TLS


def test_plan_on_loopback_is_not_on_the_service():
    args = container(render(HARDENED).get("Deployment", "joulie"), "serve")["args"]
    assert arg_value(args, "--plan-port") == "8082" and arg_value(args, "--plan-host") == "127.0.0.1"
    assert "port-forward deploy/joulie 8082:8082" in render(HARDENED).notes
