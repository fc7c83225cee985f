"""Remote or simulated actuators and telemetry sources over HTTP.

Control body (upstream format): ``POST {node, action, capWatts, throttlePct,
capWattsPerGpu, ts}`` with ``action`` one of ``rapl.set_power_cap_watts``,
``dvfs.set_throttle_pct``, ``gpu.set_power_cap_watts``; any 2xx is success.
The stdlib client keeps the agent image small; these calls are rare and tiny.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

RAPL_ACTION = "rapl.set_power_cap_watts"
DVFS_ACTION = "dvfs.set_throttle_pct"
GPU_ACTION = "gpu.set_power_cap_watts"
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class HttpOutcome:
    ok: bool
    message: str


def control_body(
    node: str,
    action: str,
    cap_watts: float | None = None,
    throttle_pct: float | None = None,
    cap_watts_per_gpu: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    return {
        "node": node,
        "action": action,
        "capWatts": cap_watts,
        "throttlePct": throttle_pct,
        "capWattsPerGpu": cap_watts_per_gpu,
        "ts": int(now if now is not None else time.time()),
    }


def post_control(endpoint: str, body: dict[str, Any], timeout: float | None = None) -> HttpOutcome:
    """POST the control body; 2xx is applied, anything else (or no answer) failed."""
    req = urllib.request.Request(
        endpoint, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout or DEFAULT_TIMEOUT) as resp:
            return HttpOutcome(True, f"{endpoint} answered {resp.status}")
    except urllib.error.HTTPError as exc:
        return HttpOutcome(False, f"{endpoint} answered {exc.code} {exc.reason}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return HttpOutcome(False, f"{endpoint} unreachable: {reason}")


def fetch_numbers(endpoint: str, timeout: float | None = None) -> dict[str, float]:
    """GET a JSON telemetry document and flatten its numeric fields (``a.b`` for nested).

    Raises ``OSError`` or ``ValueError`` with a clear message when the source fails.
    """
    try:
        with urllib.request.urlopen(endpoint, timeout=timeout or DEFAULT_TIMEOUT) as resp:
            data = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise OSError(f"{endpoint} answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise OSError(f"{endpoint} unreachable: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{endpoint} did not return JSON: {exc}") from None
    out: dict[str, float] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, bool):
            return
        if isinstance(node, (int, float)):
            out[prefix] = float(node)
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)

    walk("", data)
    return out
