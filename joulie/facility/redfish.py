"""Redfish: a node's inlet temperature, and the predictor endpoint its BMC advertises.

Through DMTF's client library (``redfish``), with basic auth, no library retries (the
collector loop retries) and certificate verification on by default (the library
itself would skip it without a CA file).

**Inlet sensor discovery**, in this order, the first hit is remembered per endpoint
and re-discovered when it stops answering with a reading:

1. ``sensorPath`` from the template, when set;
2. the standard resources of every chassis (``/redfish/v1/Chassis`` members):
   ``Thermal`` -> ``Temperatures[]`` with ``PhysicalContext: Intake``, then the newer
   ``Sensors`` collection -> a member with ``ReadingType: Temperature`` and
   ``PhysicalContext: Intake``;
3. known vendor paths: Dell ``/redfish/v1/Chassis/System.Embedded.1/Sensors/SystemBoardInletTemp``,
   Lenovo ``/redfish/v1/Chassis/1/Sensors/128L0``, Supermicro ``/redfish/v1/Chassis/1/Thermal``.

A temperature without ``PhysicalContext`` whose name says "inlet" or "intake" also
counts (older firmware leaves the context out).

**Endpoint provider**: ``/redfish/v1/Systems/{id}/MachineLearningModel`` (WAO's MLMM)
answers ``{"powerConsumptionModel": {"name", "url", "type", "version"}}``; the
predictor is then ``{url}/v2/models/{name}/versions/{version}/infer``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import certifi
import orjson
import redfish
from redfish.rest.v1 import RetriesExhaustedError
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import SSLError as RequestsSSLError
from requests.exceptions import Timeout as RequestsTimeout
from urllib3.exceptions import InsecureRequestWarning

from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import BasicAuth, Tls, number
from joulie.facility.v2 import model_endpoint

log = logging.getLogger(__name__)

# The library logs every attempt at INFO and whole bodies at DEBUG: keep it quiet.
logging.getLogger("redfish").setLevel(logging.WARNING)

CHASSIS = "/redfish/v1/Chassis"
SYSTEMS = "/redfish/v1/Systems"
VENDOR_INLET_PATHS = (
    "/redfish/v1/Chassis/System.Embedded.1/Sensors/SystemBoardInletTemp",  # Dell iDRAC
    "/redfish/v1/Chassis/1/Sensors/128L0",  # Lenovo XClarity
    "/redfish/v1/Chassis/1/Thermal",  # Supermicro
)
MAX_CHASSIS = 16
MAX_SENSORS = 256
"""Bounds on discovery: a BMC with hundreds of sensors is read member by member only once."""
_INLET_WORDS = ("inlet", "intake")


@dataclass(frozen=True, slots=True)
class RedfishTarget:
    endpoint: str
    timeout: float
    auth: BasicAuth | None
    tls: Tls
    sensor_path: str | None = None


def _ca_file(tls: Tls) -> str | None:
    """What the library's ``cafile`` needs: a path (``None`` turns verification off)."""
    if tls.insecure_skip_verify:
        return None
    if not tls.ca_bundle:
        return certifi.where()
    digest = hashlib.sha256(tls.ca_bundle.encode()).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), f"joulie-ca-{digest}.pem")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=tempfile.gettempdir(), suffix=".pem")
        with os.fdopen(fd, "w") as f:
            f.write(tls.ca_bundle)
        os.replace(tmp, path)
    return path


class RedfishSession:
    """One endpoint's client: JSON GETs with errors mapped to :class:`FailureKind`."""

    def __init__(self, target: RedfishTarget) -> None:
        self.target = target
        self.base = target.endpoint.rstrip("/")
        self._client = redfish.redfish_client(
            base_url=self.base,
            cafile=_ca_file(target.tls),
            timeout=target.timeout,
            max_retry=0,
            check_connectivity=False,
        )
        if target.auth is not None:
            # Basic auth on every request; the library's login() would first GET the service root
            # and look for a session service that many BMCs (and sushy-tools) do not offer.
            self._client.set_authorization_key(target.auth.header())

    def get(self, path: str) -> dict[str, Any]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureRequestWarning)
                resp = self._client.get(path)
        except RetriesExhaustedError as exc:
            cause = exc.__cause__
            if isinstance(cause, RequestsTimeout):
                raise FetchError(
                    FailureKind.TIMEOUT, f"GET {self.base}{path}: no answer within {self.target.timeout:g}s"
                ) from None
            if isinstance(cause, RequestsSSLError):
                raise FetchError(FailureKind.UNREACHABLE, f"GET {self.base}{path}: TLS failed: {cause}") from None
            if isinstance(cause, RequestsConnectionError):
                raise FetchError(FailureKind.UNREACHABLE, f"GET {self.base}{path}: {cause}") from None
            raise FetchError(FailureKind.UNREACHABLE, f"GET {self.base}{path}: {cause or exc}") from None
        status = resp.status
        if status in (401, 403):
            raise FetchError(FailureKind.AUTH, f"GET {self.base}{path}: HTTP {status} (check basicAuthSecret)")
        if status == 404:
            raise FetchError(FailureKind.MISSING_SENSOR, f"GET {self.base}{path}: HTTP 404")
        if not 200 <= status < 300:
            raise FetchError(FailureKind.HTTP, f"GET {self.base}{path}: HTTP {status}")
        raw = resp.read or b""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise FetchError(FailureKind.PAYLOAD, f"GET {self.base}{path}: not JSON") from None
        if not isinstance(body, dict):
            raise FetchError(FailureKind.PAYLOAD, f"GET {self.base}{path}: not a Redfish resource")
        return body

    def close(self) -> None:
        # Basic auth opens no Redfish session to log out of; only the HTTP connection pool is released
        # (the library exposes no other way to close it).
        self._client._session.close()


def _link(resource: dict[str, Any], key: str) -> str | None:
    value = resource.get(key)
    ref = value.get("@odata.id") if isinstance(value, dict) else None
    return ref if isinstance(ref, str) and ref.startswith("/") else None


def _members(resource: dict[str, Any], limit: int) -> list[str]:
    members = resource.get("Members")
    out = []
    for m in members if isinstance(members, list) else []:
        ref = m.get("@odata.id") if isinstance(m, dict) else None
        if isinstance(ref, str) and ref.startswith("/"):
            out.append(ref)
        if len(out) >= limit:
            break
    return out


def _says_inlet(entry: dict[str, Any]) -> bool:
    text = f"{entry.get('Name', '')} {entry.get('Id', '')} {entry.get('MemberId', '')}".lower()
    return any(w in text for w in _INLET_WORDS)


def thermal_inlet(thermal: dict[str, Any]) -> tuple[float, int] | None:
    """(°C, index) of the intake temperature in a ``Thermal`` resource."""
    temps = thermal.get("Temperatures")
    entries = [t for t in temps if isinstance(t, dict)] if isinstance(temps, list) else []
    by_context = [(i, t) for i, t in enumerate(entries) if t.get("PhysicalContext") == "Intake"]
    by_name = [(i, t) for i, t in enumerate(entries) if t.get("PhysicalContext") in (None, "") and _says_inlet(t)]
    for i, t in by_context + by_name:
        value = number(t.get("ReadingCelsius"))
        if value is not None:
            return value, i
    return None


def sensor_temperature(sensor: dict[str, Any], require_inlet: bool) -> float | None:
    """°C of a ``Sensor`` resource if it is a temperature (an inlet one when ``require_inlet``)."""
    if sensor.get("ReadingType") != "Temperature":
        return None
    units = sensor.get("ReadingUnits")
    if units not in (None, "Cel"):
        return None
    if require_inlet and sensor.get("PhysicalContext") != "Intake" and not _says_inlet(sensor):
        return None
    return number(sensor.get("Reading"))


def read_inlet_at(session: RedfishSession, path: str, require_inlet: bool) -> tuple[float, str] | None:
    """The inlet temperature at ``path`` (a Thermal or a Sensor resource), or ``None`` if it holds none."""
    body = session.get(path)
    if isinstance(body.get("Temperatures"), list):
        hit = thermal_inlet(body)
        return (hit[0], f"{path}#Temperatures/{hit[1]}") if hit else None
    value = sensor_temperature(body, require_inlet)
    return (value, path) if value is not None else None


def _candidates(session: RedfishSession) -> Iterator[tuple[str, bool]]:
    """(path, require_inlet) to try, standard resources first, then the vendor paths."""
    try:
        chassis = _members(session.get(CHASSIS), MAX_CHASSIS)
    except FetchError as exc:
        if exc.kind in (FailureKind.AUTH, FailureKind.TIMEOUT, FailureKind.UNREACHABLE):
            raise
        chassis = []
    for ref in chassis:
        try:
            resource = session.get(ref)
        except FetchError as exc:
            if exc.kind in (FailureKind.AUTH, FailureKind.TIMEOUT, FailureKind.UNREACHABLE):
                raise
            continue
        thermal = _link(resource, "Thermal")
        if thermal:
            yield thermal, True
        sensors = _link(resource, "Sensors")
        if sensors:
            try:
                members = _members(session.get(sensors), MAX_SENSORS)
            except FetchError as exc:
                if exc.kind in (FailureKind.AUTH, FailureKind.TIMEOUT, FailureKind.UNREACHABLE):
                    raise
                members = []
            for m in members:
                yield m, True
    for path in VENDOR_INLET_PATHS:
        yield path, False


class InletTemperatureReader:
    """Reads inlet temperatures; remembers each endpoint's sensor so a steady read is one GET."""

    def __init__(self) -> None:
        self._located: dict[str, tuple[str, bool]] = {}
        self._lock = threading.Lock()

    def located(self, endpoint: str) -> str | None:
        hit = self._located.get(endpoint.rstrip("/"))
        return hit[0] if hit else None

    def read(self, target: RedfishTarget) -> tuple[float, str]:
        """(°C, source) or :class:`FetchError`."""
        session = RedfishSession(target)
        try:
            if target.sensor_path:
                hit = read_inlet_at(session, target.sensor_path, require_inlet=False)
                if hit is None:
                    raise FetchError(
                        FailureKind.MISSING_SENSOR, f"{session.base}{target.sensor_path} holds no temperature reading"
                    )
                return hit[0], f"redfish:{hit[1]}"
            known = self._located.get(session.base)
            if known is not None:
                try:
                    hit = read_inlet_at(session, *known)
                except FetchError as exc:
                    if exc.kind in (FailureKind.AUTH, FailureKind.TIMEOUT, FailureKind.UNREACHABLE):
                        raise
                    hit = None
                if hit is not None:
                    return hit[0], f"redfish:{hit[1]}"
                with self._lock:
                    self._located.pop(session.base, None)
            return self._discover(session)
        finally:
            session.close()

    def _discover(self, session: RedfishSession) -> tuple[float, str]:
        tried = 0
        for path, require_inlet in _candidates(session):
            tried += 1
            try:
                hit = read_inlet_at(session, path, require_inlet)
            except FetchError as exc:
                if exc.kind in (FailureKind.AUTH, FailureKind.TIMEOUT, FailureKind.UNREACHABLE):
                    raise
                continue
            if hit is not None:
                with self._lock:
                    self._located[session.base] = (path, require_inlet)
                log.info("redfish inlet sensor found", extra={"endpoint": session.base, "path": hit[1]})
                return hit[0], f"redfish:{hit[1]}"
        raise FetchError(
            FailureKind.MISSING_SENSOR,
            f"{session.base}: no inlet temperature in Chassis Thermal or Sensors, nor at the vendor paths "
            f"({tried} resources tried); set inletTemp.sensorPath",
        )


def provided_endpoint(target: RedfishTarget) -> tuple[str, str]:
    """(infer URL, predictor type) from the first system's ``MachineLearningModel``."""
    session = RedfishSession(target)
    try:
        systems = _members(session.get(SYSTEMS), 8)
        if not systems:
            raise FetchError(FailureKind.MISSING_SENSOR, f"{session.base}{SYSTEMS}: no systems")
        body = session.get(systems[0].rstrip("/") + "/MachineLearningModel")
    finally:
        session.close()
    model = body.get("powerConsumptionModel") or body.get("PowerConsumptionModel")
    if not isinstance(model, dict):
        raise FetchError(FailureKind.PAYLOAD, f"{session.base}: MachineLearningModel has no powerConsumptionModel")
    url, name, version = model.get("url"), model.get("name"), model.get("version")
    kind = model.get("type") or "V2InferenceProtocol"
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(name, str) or not name:
        raise FetchError(FailureKind.PAYLOAD, f"{session.base}: powerConsumptionModel needs a url and a name")
    if kind != "V2InferenceProtocol":
        raise FetchError(FailureKind.PAYLOAD, f"{session.base}: predictor type {kind!r} is not supported")
    return model_endpoint(url, name, version if isinstance(version, str) and version else None), kind
