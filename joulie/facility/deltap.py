"""The differential pressure API (WAO's): ``GET {endpoint}/api/sensor/by_nodename/{node}``.

The answer is ``{"sensor": [{"pressure": <float>, ...}, ...]}``; the first sensor's
pressure is the node's ΔP in pascals. An empty ``sensor`` list or a 404 means the
API does not know the node (a missing sensor, not a broken API).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import BasicAuth, JsonClient, Tls, number


@dataclass(frozen=True, slots=True)
class DeltaPRequest:
    endpoint: str
    sensor_node_name: str
    timeout: float
    auth: BasicAuth | None
    tls: Tls

    @property
    def url(self) -> str:
        return f"{self.endpoint.rstrip('/')}/api/sensor/by_nodename/{quote(self.sensor_node_name, safe='')}"


def fetch_delta_p(client: JsonClient, req: DeltaPRequest) -> tuple[float, str]:
    """(pascals, where it came from) or :class:`FetchError`."""
    body = client.json(
        "GET", req.url, timeout=req.timeout, auth=req.auth, tls=req.tls, not_found=FailureKind.MISSING_SENSOR
    )
    sensors = body.get("sensor") if isinstance(body, dict) else None
    if not isinstance(sensors, list):
        raise FetchError(FailureKind.PAYLOAD, f"GET {req.url}: no 'sensor' list in the answer")
    if not sensors:
        raise FetchError(FailureKind.MISSING_SENSOR, f"GET {req.url}: no sensor for node {req.sensor_node_name!r}")
    first = sensors[0]
    value = number(first.get("pressure")) if isinstance(first, dict) else None
    if value is None:
        raise FetchError(FailureKind.PAYLOAD, f"GET {req.url}: sensor[0].pressure is not a number")
    return value, f"deltap:{req.url}"
