"""No request can take the extender down: slow clients, huge bodies, memory (items 5 and 6)."""

from __future__ import annotations

import json
import socket
import threading
import time

from tests.security.serving import get, post, rss_mb, serve


def _open(port: int, payload: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(payload)
    return s


def _closed(s: socket.socket, within: float) -> bool:
    s.settimeout(within)
    try:
        return s.recv(1024) == b""  # the server closed it (EOF) without answering
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_connections_that_never_finish_their_headers_are_closed():
    with serve("--header-timeout", "1", "--max-connections", "500") as (_proc, port):
        slow = [_open(port, b"POST /scheduler/filter HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(200)]
        silent = [_open(port, b"") for _ in range(50)]
        assert get(port, "/healthz")[0] == 200  # the server keeps answering meanwhile
        started = time.monotonic()
        assert all(_closed(s, 5) for s in slow + silent)
        assert time.monotonic() - started < 6
        for s in slow + silent:
            s.close()


def test_a_body_that_does_not_arrive_in_time_is_a_408():
    with serve("--body-timeout", "1") as (_proc, port):
        s = _open(
            port,
            b"POST /scheduler/filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"Pod":',
        )
        s.settimeout(5)
        reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
        s.close()


def test_partial_bodies_cannot_take_more_than_the_inflight_budget():
    mib = 1024 * 1024
    with serve("--max-body-bytes", str(2 * mib), "--max-inflight-bytes", str(3 * mib), "--body-timeout", "20") as (
        proc,
        port,
    ):
        before = rss_mb(proc.pid)
        head = (
            b"POST /scheduler/filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (2 * mib)
        )
        held = []
        answers: list[bytes] = []
        for _ in range(8):
            s = _open(port, head + b" " * (1 * mib + 512 * 1024))  # 1.5 MiB of a declared 2 MiB
            held.append(s)
        time.sleep(1.0)
        for s in held:
            s.settimeout(0.5)
            try:
                answers.append(s.recv(200))
            except TimeoutError:
                answers.append(b"")
        busy = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        assert len(busy) >= 6, answers  # two 1.5 MiB bodies fit a 3 MiB budget, the rest are refused
        assert rss_mb(proc.pid) - before < 64
        for s in held:
            s.close()


def test_a_huge_forged_names_list_is_refused_without_eating_memory():
    with serve() as (proc, port):
        before = rss_mb(proc.pid)
        names = [f"node-{i:012d}" for i in range(450_000)]  # about 9 MB
        body = json.dumps({"Pod": {"metadata": {"name": "p"}}, "Nodes": None, "NodeNames": names}).encode()
        healthz: list[float] = []

        def probe() -> None:
            started = time.monotonic()
            get(port, "/healthz")
            healthz.append(time.monotonic() - started)

        t = threading.Thread(target=probe)
        t.start()
        status, reply = post(port, "/scheduler/prioritize", body)
        t.join()
        assert status == 400 and b"candidate nodes" in reply
        assert healthz and healthz[0] < 2.0
        assert rss_mb(proc.pid) - before < 150
