"""Only kube-scheduler may call the extender: TLS with client certificates, probes and /plan apart (item 4)."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys

import pytest

from tests.security.certs import make_pki
from tests.security.serving import ROOT, free_port, get, post, serve

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
BODY = json.dumps(
    {"Pod": {"metadata": {"name": "p", "namespace": "default"}}, "Nodes": None, "NodeNames": ["worker-01"]}
).encode()


def client_context(pki, cert=None, key=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def test_only_a_client_certificate_from_the_ca_reaches_the_extender(tmp_path):
    pki = make_pki(tmp_path)
    probe = free_port()
    flags = [
        "--tls-cert-file",
        str(pki.server_cert),
        "--tls-key-file",
        str(pki.server_key),
        "--tls-client-ca-file",
        str(pki.ca),
        "--probe-port",
        str(probe),
    ]
    with serve(*flags, ready_port=probe) as (_proc, port):
        scheduler = client_context(pki, pki.client_cert, pki.client_key)
        status, reply = post(port, "/scheduler/filter", BODY, scheduler)
        assert status == 200 and json.loads(reply)["Error"] == ""
        for anonymous in (client_context(pki), client_context(pki, pki.stranger_cert, pki.stranger_key)):
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                post(port, "/scheduler/filter", BODY, anonymous)
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
            post(port, "/scheduler/filter", BODY)  # plain HTTP to the TLS port
        # kubelet and Prometheus have no client certificate: probes and metrics are on the probe port
        assert get(probe, "/healthz")[0] == 200 and get(probe, "/readyz")[0] == 200
        assert b"joulie_extender_requests_total" in get(probe, "/metrics")[1]
        assert get(probe, "/plan")[0] == 404  # the probe port does not expose node names
        assert get(port, "/plan", scheduler)[0] == 200  # /plan rides with the extender's authentication
        # so does its page: only certificate holders see it, and never on the probe port
        for path, headers in (("/", None), ("/plan", BROWSER)):
            status, page = get(port, path, scheduler, headers=headers)
            assert status == 200 and page.startswith(b"<!doctype html>")
            assert get(probe, path, headers=headers)[0] == 404
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                get(port, path, client_context(pki), headers=headers)


def test_plan_can_move_to_its_own_loopback_port(tmp_path):
    plan = free_port()
    with serve("--plan-port", str(plan)) as (_proc, port):
        assert get(port, "/plan")[0] == 404
        # the page moves with /plan: off the extender port, onto the loopback plan port
        for path in ("/", "/scheduler/"):
            assert get(port, path, headers=BROWSER)[0] == 404
        assert get(port, "/plan", headers=BROWSER)[0] == 404
        for path in ("/", "/plan"):
            status, page = get(plan, path, headers=BROWSER)
            assert status == 200 and page.startswith(b"<!doctype html>")
        status, body = get(plan, "/plan?node=worker-01&node=nope")
        assert status == 200 and [n["name"] for n in json.loads(body)["nodes"]] == ["worker-01"]
        assert json.loads(body)["unknownNodes"] == ["nope"]
        assert post(port, "/scheduler/filter", BODY)[0] == 200


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--tls-cert-file", "x.crt"], "--tls-cert-file and --tls-key-file go together"),
        (["--tls-client-ca-file", "ca.crt"], "needs --tls-cert-file"),
        (["--tls-cert-file", "/nonexistent.crt", "--tls-key-file", "/nonexistent.key"], "cannot read it"),
        (["--probe-port", "8080"], "must differ"),
        (["--max-inflight-bytes", "2048", "--max-body-bytes", "4096"], "must be at least --max-body-bytes"),
    ],
)
def test_bad_tls_and_limit_flags_are_one_clear_line(flags, message):
    out = subprocess.run(
        [sys.executable, "-m", "joulie", "serve", "--example", "--port", "8080", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_client_certificates_without_a_probe_port_are_refused(tmp_path):
    pki = make_pki(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "joulie",
            "serve",
            "--example",
            "--tls-cert-file",
            str(pki.server_cert),
            "--tls-key-file",
            str(pki.server_key),
            "--tls-client-ca-file",
            str(pki.ca),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "needs --probe-port" in out.stderr
