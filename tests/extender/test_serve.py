"""`joulie serve` as a newcomer runs it: embedded snapshot, curl-able, clean shutdown on SIGTERM."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.extender.godecode import scheduler_filter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


@pytest.fixture
def served():
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "joulie",
            "serve",
            "--example",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--url-prefix",
            "/joulie",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if request(port, "GET", "/readyz")[0] == 200:
                break
        except OSError:
            pass
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "joulie serve did not become ready"
        time.sleep(0.1)
    yield port, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_serve_example_answers_the_captured_request_then_stops_cleanly(served, fixtures_dir):
    port, proc = served
    fx = json.loads((fixtures_dir / "filter-node-names.json").read_text())
    status, body = request(port, "POST", "/joulie/filter", json.dumps(fx["request_body"]).encode())
    assert scheduler_filter(True, ["node-a", "node-b"], status, body).feasible == ["node-a", "node-b"]
    status, body = request(port, "GET", "/plan?node=worker-01")
    assert status == 200 and json.loads(body)["nodes"][0]["name"] == "worker-01"
    for path in ("/", "/joulie/"):  # the plan page, for browsers
        status, body = request(port, "GET", path)
        assert status == 200 and body.startswith(b"<!doctype html>")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
    logs = proc.stderr.read().decode().splitlines()
    assert any('"msg":"stopped"' in line for line in logs)  # the runtime was stopped in order
    assert all(json.loads(line)["level"] for line in logs if line.startswith("{"))  # JSON logs
    assert not any('"POST /joulie/filter' in line for line in logs)  # access log off by default


def test_serve_refuses_a_bad_flag_with_a_clear_message():
    out = subprocess.run(
        [sys.executable, "-m", "joulie", "serve", "--example", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "--port must be 1..65535" in out.stderr
