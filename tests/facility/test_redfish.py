"""Inlet temperatures and the predictor endpoint provider over Redfish, against real Redfish servers.

sushy-tools' emulator (standard Chassis -> Thermal, basic auth) and sushy-static mockup
trees for the newer Sensors collection, the vendor paths (Dell, Lenovo, Supermicro),
missing sensors and garbage answers.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import NO_TLS, BasicAuth, Tls
from joulie.facility.redfish import InletTemperatureReader, RedfishTarget, provided_endpoint
from tests.facility.servers import SilentServer, SushyEmulator, SushyStatic, closed_port_url, write_mockup


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    server = SushyEmulator(tmp_path_factory.mktemp("sushy"))
    yield server
    server.close()


@pytest.fixture
def static(tmp_path):
    servers = []

    def serve(resources: dict) -> SushyStatic:
        root = tmp_path / f"mockup{len(servers)}"
        server = SushyStatic(write_mockup(root, resources))
        servers.append(server)
        return server

    yield serve
    for s in servers:
        s.close()


def target(url: str, auth: BasicAuth | None = None, timeout: float = 3.0, **kw) -> RedfishTarget:
    return RedfishTarget(url, timeout, auth, NO_TLS, **kw)


def test_emulator_intake_temperature_is_discovered_through_chassis_thermal(emulator, caplog):
    caplog.set_level(logging.DEBUG)
    reader = InletTemperatureReader()
    auth = BasicAuth("admin", emulator.password)
    value, source = reader.read(target(emulator.url, auth))
    assert value == 25.0  # sushy-tools' "Chassis Intake Temp", PhysicalContext Intake
    assert source.startswith(f"redfish:/redfish/v1/Chassis/{SushyEmulator.CHASSIS_UUID}/Thermal#Temperatures/")
    assert reader.located(emulator.url) is not None
    # a steady read goes straight to the remembered sensor
    assert reader.read(target(emulator.url, auth)) == (value, source)
    assert emulator.password not in caplog.text


@pytest.mark.parametrize("auth", [None, BasicAuth("admin", "wrong")], ids=["no-credentials", "wrong-password"])
def test_auth_failure_is_reported_as_auth_without_the_password(emulator, auth):
    with pytest.raises(FetchError) as info:
        InletTemperatureReader().read(target(emulator.url, auth))
    assert info.value.kind is FailureKind.AUTH
    assert "wrong" not in str(info.value)
    assert "wrong" not in repr(BasicAuth("admin", "wrong"))


def test_unreachable_and_hung_bmcs():
    with pytest.raises(FetchError) as info:
        InletTemperatureReader().read(target(closed_port_url()))
    assert info.value.kind is FailureKind.UNREACHABLE
    hung = SilentServer()
    try:
        started = time.monotonic()
        with pytest.raises(FetchError) as info:
            InletTemperatureReader().read(target(hung.url, timeout=0.5))
        assert info.value.kind is FailureKind.TIMEOUT
        assert time.monotonic() - started < 5  # one attempt, no library retries
    finally:
        hung.close()


def _chassis(members: list[str]) -> dict:
    return {"Members": [{"@odata.id": m} for m in members]}


def test_newer_sensors_collection(static):
    server = static(
        {
            "/redfish/v1/Chassis": _chassis(["/redfish/v1/Chassis/1U"]),
            "/redfish/v1/Chassis/1U": {"Id": "1U", "Sensors": {"@odata.id": "/redfish/v1/Chassis/1U/Sensors"}},
            "/redfish/v1/Chassis/1U/Sensors": _chassis(
                ["/redfish/v1/Chassis/1U/Sensors/CPU1Temp", "/redfish/v1/Chassis/1U/Sensors/AmbientTemp"]
            ),
            "/redfish/v1/Chassis/1U/Sensors/CPU1Temp": {
                "Id": "CPU1Temp",
                "ReadingType": "Temperature",
                "ReadingUnits": "Cel",
                "Reading": 61.0,
                "PhysicalContext": "CPU",
            },
            "/redfish/v1/Chassis/1U/Sensors/AmbientTemp": {
                "Id": "AmbientTemp",
                "ReadingType": "Temperature",
                "ReadingUnits": "Cel",
                "Reading": 23.5,
                "PhysicalContext": "Intake",
            },
        }
    )
    value, source = InletTemperatureReader().read(target(server.url))
    assert (value, source) == (23.5, "redfish:/redfish/v1/Chassis/1U/Sensors/AmbientTemp")


@pytest.mark.parametrize(
    "vendor, resources, expected",
    [
        (
            "dell",
            {
                "/redfish/v1/Chassis": _chassis(["/redfish/v1/Chassis/System.Embedded.1"]),
                "/redfish/v1/Chassis/System.Embedded.1": {"Id": "System.Embedded.1"},
                "/redfish/v1/Chassis/System.Embedded.1/Sensors/SystemBoardInletTemp": {
                    "Id": "SystemBoardInletTemp",
                    "Name": "System Board Inlet Temp",
                    "ReadingType": "Temperature",
                    "Reading": 21.0,
                },
            },
            (21.0, "redfish:/redfish/v1/Chassis/System.Embedded.1/Sensors/SystemBoardInletTemp"),
        ),
        (
            "lenovo",
            {
                "/redfish/v1/Chassis": _chassis(["/redfish/v1/Chassis/1"]),
                "/redfish/v1/Chassis/1": {"Id": "1"},
                "/redfish/v1/Chassis/1/Sensors/128L0": {
                    "Id": "128L0",
                    "Name": "Ambient Temp",
                    "ReadingType": "Temperature",
                    "ReadingUnits": "Cel",
                    "Reading": 19.0,
                },
            },
            (19.0, "redfish:/redfish/v1/Chassis/1/Sensors/128L0"),
        ),
        (
            "supermicro",
            {
                "/redfish/v1/Chassis": _chassis([]),  # older firmware: nothing linked from the collection
                "/redfish/v1/Chassis/1/Thermal": {
                    "Temperatures": [
                        {"Name": "CPU1 Temp", "ReadingCelsius": 48},
                        {"Name": "Inlet Temp", "ReadingCelsius": 26},
                    ]
                },
            },
            (26.0, "redfish:/redfish/v1/Chassis/1/Thermal#Temperatures/1"),
        ),
    ],
)
def test_vendor_paths_are_the_fallback(static, vendor, resources, expected):
    assert InletTemperatureReader().read(target(static(resources).url)) == expected


def test_a_missing_sensor_is_reported_as_such(static):
    server = static(
        {
            "/redfish/v1/Chassis": _chassis(["/redfish/v1/Chassis/1"]),
            "/redfish/v1/Chassis/1": {"Thermal": {"@odata.id": "/redfish/v1/Chassis/1/Thermal"}},
            "/redfish/v1/Chassis/1/Thermal": {
                "Temperatures": [{"Name": "CPU1", "PhysicalContext": "CPU", "ReadingCelsius": 50}]
            },
        }
    )
    with pytest.raises(FetchError) as info:
        InletTemperatureReader().read(target(server.url))
    assert info.value.kind is FailureKind.MISSING_SENSOR
    assert "sensorPath" in str(info.value)


def test_garbage_answers_are_payload_errors_and_an_explicit_sensor_path_wins(static):
    server = static(
        {
            "/redfish/v1/Chassis": "<html>BMC is rebooting</html>",
            "/redfish/v1/Chassis/9/Sensors/Inlet": {"ReadingType": "Temperature", "Reading": "hot"},
            "/redfish/v1/Chassis/9/Sensors/Good": {"ReadingType": "Temperature", "Reading": 30.5},
        }
    )
    with pytest.raises(FetchError) as info:
        InletTemperatureReader().read(target(server.url))
    assert info.value.kind is FailureKind.MISSING_SENSOR  # nothing usable anywhere
    with pytest.raises(FetchError) as info:
        InletTemperatureReader().read(target(server.url, sensor_path="/redfish/v1/Chassis/9/Sensors/Inlet"))
    assert info.value.kind is FailureKind.MISSING_SENSOR
    assert InletTemperatureReader().read(target(server.url, sensor_path="/redfish/v1/Chassis/9/Sensors/Good")) == (
        30.5,
        "redfish:/redfish/v1/Chassis/9/Sensors/Good",
    )


def test_a_sensor_that_disappears_is_rediscovered(static, tmp_path):
    resources = {
        "/redfish/v1/Chassis": _chassis(["/redfish/v1/Chassis/A"]),
        "/redfish/v1/Chassis/A": {"Sensors": {"@odata.id": "/redfish/v1/Chassis/A/Sensors"}},
        "/redfish/v1/Chassis/A/Sensors": _chassis(["/redfish/v1/Chassis/A/Sensors/In1"]),
        "/redfish/v1/Chassis/A/Sensors/In1": {"ReadingType": "Temperature", "PhysicalContext": "Intake", "Reading": 22},
    }
    server = static(resources)
    reader = InletTemperatureReader()
    assert reader.read(target(server.url))[0] == 22
    root = Path(tmp_path / "mockup0")
    (root / "Chassis/A/Sensors/In1/index.json").unlink()  # firmware update renamed the sensor
    write_mockup(
        root,
        {
            "/redfish/v1/Chassis/A/Sensors": _chassis(["/redfish/v1/Chassis/A/Sensors/In2"]),
            "/redfish/v1/Chassis/A/Sensors/In2": {
                "ReadingType": "Temperature",
                "PhysicalContext": "Intake",
                "Reading": 24,
            },
        },
    )
    assert reader.read(target(server.url)) == (24.0, "redfish:/redfish/v1/Chassis/A/Sensors/In2")


def test_endpoint_provider_reads_the_machine_learning_model(static):
    server = static(
        {
            "/redfish/v1/Systems": _chassis(["/redfish/v1/Systems/1"]),
            "/redfish/v1/Systems/1/MachineLearningModel": {
                "powerConsumptionModel": {
                    "name": "PC-R650xs",
                    "url": "http://10.0.0.20:8080",
                    "type": "V2InferenceProtocol",
                    "version": "v0.1.0",
                }
            },
        }
    )
    url, kind = provided_endpoint(target(server.url))
    assert url == "http://10.0.0.20:8080/v2/models/PC-R650xs/versions/v0.1.0/infer"
    assert kind == "V2InferenceProtocol"


def test_endpoint_provider_without_the_property(emulator):
    with pytest.raises(FetchError) as info:
        provided_endpoint(target(emulator.url, BasicAuth("admin", emulator.password)))
    assert info.value.kind is FailureKind.MISSING_SENSOR


def test_tls_is_verified_by_default(static, tmp_path):
    """An https endpoint with a certificate no CA we trust signed is refused unless insecureSkipVerify."""
    from tests.facility.tlsutil import self_signed

    cert, key = self_signed(tmp_path)
    root = write_mockup(
        tmp_path / "tls",
        {
            "/redfish/v1/Chassis/1/Thermal": {"Temperatures": [{"PhysicalContext": "Intake", "ReadingCelsius": 20}]},
            "/redfish/v1/Chassis": _chassis([]),
        },
    )
    server = SushyStatic(root, cert=cert, key=key)
    try:
        url = f"https://127.0.0.1:{server.port}"
        with pytest.raises(FetchError) as info:
            InletTemperatureReader().read(target(url))
        assert info.value.kind is FailureKind.UNREACHABLE and "TLS" in str(info.value)
        insecure = RedfishTarget(url, 3.0, None, Tls(insecure_skip_verify=True))
        assert InletTemperatureReader().read(insecure)[0] == 20
        pinned = RedfishTarget(url, 3.0, None, Tls(ca_bundle=cert.read_text()))
        assert InletTemperatureReader().read(pinned)[0] == 20
    finally:
        server.close()
