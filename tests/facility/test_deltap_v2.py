"""The ΔP API client against a server of its published protocol, the V2 predictor against MLServer."""

from __future__ import annotations

import time

import pytest

from joulie.facility.deltap import DeltaPRequest, fetch_delta_p
from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import NO_TLS, BasicAuth, JsonClient
from joulie.facility.v2 import V2Endpoint, V2Predictor
from tests.facility.servers import DeltaPServer, MLServer, SilentServer, closed_port_url


@pytest.fixture
def client():
    c = JsonClient()
    yield c
    c.close()


def dp(url: str, node: str = "worker-1", auth: BasicAuth | None = None, timeout: float = 2.0) -> DeltaPRequest:
    return DeltaPRequest(url, node, timeout, auth, NO_TLS)


def test_delta_p_of_a_node(client):
    server = DeltaPServer({"worker-1": 3.25, "rack/odd name": 1.5})
    try:
        assert fetch_delta_p(client, dp(server.url)) == (3.25, f"deltap:{server.url}/api/sensor/by_nodename/worker-1")
        assert fetch_delta_p(client, dp(server.url, "rack/odd name"))[0] == 1.5  # the name is escaped in the path
        with pytest.raises(FetchError) as info:
            fetch_delta_p(client, dp(server.url, "worker-9"))
        assert info.value.kind is FailureKind.MISSING_SENSOR
    finally:
        server.close()


def test_delta_p_basic_auth(client):
    server = DeltaPServer({"worker-1": 2.0}, auth=("facility", "p4ss"))
    try:
        with pytest.raises(FetchError) as info:
            fetch_delta_p(client, dp(server.url, auth=BasicAuth("facility", "nope")))
        assert info.value.kind is FailureKind.AUTH and "nope" not in str(info.value)
        assert fetch_delta_p(client, dp(server.url, auth=BasicAuth("facility", "p4ss")))[0] == 2.0
    finally:
        server.close()


def test_delta_p_garbage_errors_and_timeouts(client):
    server = DeltaPServer({"worker-1": 2.0}, behaviour=lambda n: ["garbage", "error"][n % 2])
    try:
        with pytest.raises(FetchError) as info:
            fetch_delta_p(client, dp(server.url))
        assert info.value.kind is FailureKind.PAYLOAD
        with pytest.raises(FetchError) as info:
            fetch_delta_p(client, dp(server.url))
        assert info.value.kind is FailureKind.HTTP and "500" in str(info.value)
    finally:
        server.close()
    hung = SilentServer()
    try:
        started = time.monotonic()
        with pytest.raises(FetchError) as info:
            fetch_delta_p(client, dp(hung.url, timeout=0.3))
        assert info.value.kind is FailureKind.TIMEOUT and time.monotonic() - started < 3
    finally:
        hung.close()
    with pytest.raises(FetchError) as info:
        fetch_delta_p(client, dp(closed_port_url()))
    assert info.value.kind is FailureKind.UNREACHABLE


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory):
    server = MLServer(tmp_path_factory.mktemp("mlserver"))
    yield server
    server.close()


def v2(url: str, timeout: float = 2.0) -> V2Endpoint:
    return V2Endpoint(url, timeout, None, NO_TLS)


def test_v2_prediction_and_its_cache(mlserver, client):
    predictor = V2Predictor(client, cache_ttl=60)
    ep = v2(mlserver.infer_url())
    calls = []
    assert predictor.predict(ep, 50.0, 22.5, 3.0, on_call=lambda: calls.append(1)) == pytest.approx(120 + 175 + 5 + 1.5)
    assert predictor.predict(ep, 50.0, 22.5, 3.0, on_call=lambda: calls.append(1)) == pytest.approx(301.5)
    assert predictor.predict(ep, 50.0, 22.54, 3.0, on_call=lambda: calls.append(1)) == pytest.approx(301.5)  # same 0.1
    assert (len(calls), predictor.hits, predictor.misses) == (1, 2, 1)
    assert predictor.predict(ep, 0.0, 20.0, 0.0) == pytest.approx(120)
    # without a version in the path too
    assert predictor.predict(v2(mlserver.infer_url(version=None)), 10.0, 20.0, 0.0) == pytest.approx(155)


def test_v2_unknown_model_garbage_output_and_timeout(mlserver, client):
    predictor = V2Predictor(client, cache_ttl=60)
    with pytest.raises(FetchError) as info:
        predictor.predict(v2(mlserver.infer_url("no-such-model")), 10, 20, 0)
    assert info.value.kind is FailureKind.MISSING_SENSOR
    with pytest.raises(FetchError) as info:
        predictor.predict(v2(mlserver.infer_url()), 10, -1, 0)  # the model answers a BYTES tensor
    assert info.value.kind is FailureKind.PAYLOAD
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        predictor.predict(v2(mlserver.infer_url(), timeout=0.5), 10, 95, 0)  # the model takes 3 s
    assert info.value.kind is FailureKind.TIMEOUT and time.monotonic() - started < 2.5
    assert predictor.misses == 3 and predictor.hits == 0  # failures are never cached
