"""Running `joulie serve --example` as a user would, for the tests that attack it over the network."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(
    port: int,
    path: str,
    context: ssl.SSLContext | None = None,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    conn_cls = http.client.HTTPSConnection if context is not None else http.client.HTTPConnection
    kwargs = {"context": context} if context is not None else {}
    conn = conn_cls("127.0.0.1", port, timeout=timeout, **kwargs)  # type: ignore[arg-type]
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def post(
    port: int, path: str, body: bytes, context: ssl.SSLContext | None = None, timeout: float = 30.0
) -> tuple[int, bytes]:
    conn_cls = http.client.HTTPSConnection if context is not None else http.client.HTTPConnection
    kwargs = {"context": context} if context is not None else {}
    conn = conn_cls("127.0.0.1", port, timeout=timeout, **kwargs)  # type: ignore[arg-type]
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@contextlib.contextmanager
def serve(
    *flags: str, ready_port: int | None = None, context: ssl.SSLContext | None = None
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`joulie serve --example` on a free port; yields (process, port) once /readyz answers."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "joulie", "serve", "--example", "--host", "127.0.0.1", "--port", str(port), *flags],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    probe = ready_port or port
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get(probe, "/readyz", context if ready_port is None else None)[0] == 200:
                    break
            except (OSError, ssl.SSLError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"joulie serve did not become ready: {proc.communicate(timeout=5)}")
            time.sleep(0.1)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.communicate(timeout=5)
