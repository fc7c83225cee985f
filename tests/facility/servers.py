"""Real protocol servers for the facility tests, on 127.0.0.1 with free ports.

- Redfish: OpenStack's ``sushy-tools`` emulator (basic auth from a bcrypt htpasswd file),
  and ``sushy-static`` serving DMTF-layout mockup trees (the vendor path variants);
- V2 inference: MLServer with a tiny custom model, from its own virtualenv
  (``.venv-mlserver``, provisioned by ``.ci/run``: MLServer pins its own FastAPI);
- the differential pressure API: no server of it is published, so :class:`DeltaPServer`
  implements its published protocol (``GET /api/sensor/by_nodename/{node}``);
- :class:`SilentServer`: accepts connections and never answers (timeouts).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
MLSERVER_VENV = Path(os.environ.get("JOULIE_MLSERVER_VENV", ROOT / ".venv-mlserver"))
MODEL_DIR = Path(__file__).resolve().parent / "mlserver_model"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, path: str, proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    """Until the server answers ``path`` at all (any status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}: {out}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not answer {path} within {timeout:.0f}s")


def wait_tcp(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# ---------------------------------------------------------------- Redfish


class SushyEmulator:
    """``sushy-emulator`` with the fake driver, one chassis, and basic auth (user ``admin``)."""

    CHASSIS_UUID = "48295861-2522-3561-6729-621118518810"

    def __init__(self, tmp: Path, password: str = "s3cr3t-pa55") -> None:
        import bcrypt

        self.password = password
        self.port = free_port()
        htpasswd = tmp / "htpasswd"
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        htpasswd.write_text(f"admin:{hashed}\n")
        config = tmp / "sushy.conf"
        state = tmp / "state"
        state.mkdir()
        config.write_text(
            "\n".join(
                [
                    "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'",
                    f"SUSHY_EMULATOR_LISTEN_PORT = {self.port}",
                    "SUSHY_EMULATOR_FAKE_DRIVER = True",
                    f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}",
                    f"SUSHY_EMULATOR_STATE_DIR = {str(state)!r}",
                    "SUSHY_EMULATOR_CHASSIS = [{'Id': 'Chassis1', 'Name': 'Chassis 1', "
                    f"'UUID': {self.CHASSIS_UUID!r}}}]",
                ]
            )
            + "\n"
        )
        exe = shutil.which("sushy-emulator", path=str(BIN)) or "sushy-emulator"
        self.proc = subprocess.Popen(
            [exe, "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp
        )
        wait_http(self.port, "/redfish/v1/", self.proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        stop(self.proc)


def write_mockup(root: Path, resources: dict[str, Any]) -> Path:
    """A DMTF-layout mockup tree: ``{"/redfish/v1/Chassis": {...}}`` -> ``root/Chassis/index.json``.

    A ``str`` value is written as is (garbage payloads).
    """
    for path, body in resources.items():
        rel = path.removeprefix("/redfish/v1").strip("/")
        d = root / rel
        d.mkdir(parents=True, exist_ok=True)
        (d / "index.json").write_text(body if isinstance(body, str) else json.dumps(body))
    (root / "index.json").write_text(
        json.dumps({"@odata.id": "/redfish/v1/", "Chassis": {"@odata.id": "/redfish/v1/Chassis"}})
    )
    return root


class SushyStatic:
    """``sushy-static`` serving a mockup tree (no auth)."""

    def __init__(self, mockup: Path, cert: Path | None = None, key: Path | None = None) -> None:
        self.port = free_port()
        exe = shutil.which("sushy-static", path=str(BIN)) or "sushy-static"
        tls = ["-c", str(cert), "-k", str(key)] if cert and key else []
        self.proc = subprocess.Popen(
            [exe, "-i", "127.0.0.1", "-p", str(self.port), "-m", str(mockup), *tls],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if tls:
            wait_tcp(self.port, self.proc)
        else:
            wait_http(self.port, "/redfish/v1/", self.proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        stop(self.proc)


# ---------------------------------------------------------------- ΔP API


class DeltaPServer:
    """The differential pressure API's published protocol, with knobs for failure cases.

    ``pressures``: node -> pascals (a node missing answers ``{"sensor": []}``);
    ``auth``: (user, password) required as basic auth; ``delay``: seconds before answering;
    ``behaviour(n)``: for request number ``n`` (from 0) return ``"ok"``, ``"error"`` (HTTP 500)
    or ``"garbage"`` (a 200 that is not JSON).
    """

    def __init__(
        self,
        pressures: dict[str, float],
        auth: tuple[str, str] | None = None,
        delay: float = 0.0,
        behaviour: Callable[[int], str] = lambda n: "ok",
    ) -> None:
        self.pressures = pressures
        self.auth = auth
        self.delay = delay
        self.behaviour = behaviour
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                n = len(server.requests)
                server.requests.append((self.path, self.headers.get("Authorization")))
                if server.delay:
                    time.sleep(server.delay)
                if server.auth is not None:
                    want = "Basic " + base64.b64encode(f"{server.auth[0]}:{server.auth[1]}".encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self._send(401, b'{"error": "unauthorized"}')
                        return
                prefix = "/api/sensor/by_nodename/"
                if not self.path.startswith(prefix):
                    self._send(404, b'{"error": "not found"}')
                    return
                mode = server.behaviour(n)
                if mode == "error":
                    self._send(500, b"internal error")
                    return
                if mode == "garbage":
                    self._send(200, b"<html>maintenance</html>")
                    return
                node = unquote(self.path[len(prefix) :])
                sensors = [{"pressure": server.pressures[node], "nodename": node}] if node in server.pressures else []
                self._send(200, json.dumps({"sensor": sensors}).encode())

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SilentServer:
    """Accepts TCP connections and never answers: a hung BMC or predictor."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def closed_port_url() -> str:
    """A URL nothing listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


# ---------------------------------------------------------------- V2 inference


def mlserver_executable() -> Path:
    exe = MLSERVER_VENV / "bin" / "mlserver"
    if not exe.exists():
        pytest.skip(
            f"MLServer is not installed at {MLSERVER_VENV} (the V2 inference server of these tests): "
            "run .ci/run, or python3 -m venv .venv-mlserver && .venv-mlserver/bin/pip install "
            "mlserver==1.7.1 'uvloop<0.22'"
        )
    return exe


class MLServer:
    """``mlserver start`` on a copy of the tiny power model, one process, no worker pool."""

    def __init__(self, tmp: Path) -> None:
        exe = mlserver_executable()
        self.port = free_port()
        models = tmp / "models"
        shutil.copytree(MODEL_DIR, models / "power")
        (models / "settings.json").write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "http_port": self.port,
                    "grpc_port": free_port(),
                    "metrics_endpoint": None,
                    "parallel_workers": 0,
                    "debug": False,
                }
            )
        )
        env = {**os.environ, "PYTHONPATH": str(models / "power")}
        self.proc = subprocess.Popen(
            [str(exe), "start", str(models)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=models
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                wait_http(self.port, "/v2/models/power/ready", self.proc, timeout=max(1.0, deadline - time.monotonic()))
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/v2/models/power/ready")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("MLServer did not load the model within 60s")
            time.sleep(0.1)

    def infer_url(self, model: str = "power", version: str | None = "v0.1.0") -> str:
        return (
            f"http://127.0.0.1:{self.port}/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        )

    def close(self) -> None:
        stop(self.proc)
