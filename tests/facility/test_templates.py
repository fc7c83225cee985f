"""FacilityTelemetryTemplate specs: validation, precedence, endpoint templates (joulie.facility.targets)."""

from __future__ import annotations

import pytest

from joulie.api.v1alpha1 import FacilityTelemetryTemplateSpec, duration_seconds
from joulie.facility.targets import FacilityNode, parse_spec, resolve

ADDRS = (("InternalIP", "10.0.3.17"), ("Hostname", "worker-17"))


def redfish(endpoint: str, **extra) -> dict:
    return {"metricsCollector": {"inletTemp": {"type": "Redfish", "endpoint": endpoint, **extra}}}


def test_wao_shaped_spec_parses_with_the_documented_defaults():
    spec = parse_spec(
        {
            "nodeName": "worker-0",
            "metricsCollector": {
                "inletTemp": {
                    "type": "Redfish",
                    "endpoint": "https://10.0.0.100",
                    "basicAuthSecret": {"name": "worker-0-redfish-basicauth"},
                    "fetchInterval": "10s",
                },
                "deltaP": {
                    "type": "DifferentialPressureAPI",
                    "endpoint": "http://10.0.0.1:5000",
                    "fetchInterval": "10s",
                },
            },
            "predictor": {
                "powerConsumption": {
                    "type": "V2InferenceProtocol",
                    "endpoint": "http://10.0.0.1:8080/v2/models/myModel/versions/v0.1.0/infer",
                }
            },
        }
    )
    inlet = spec.metrics_collector.inlet_temp
    assert (inlet.fetch_interval, inlet.timeout, inlet.ttl) == ("10s", "5s", "60s")
    assert spec.predictor.power_consumption.fetch_interval == "15s"
    assert duration_seconds("1m30s") == 90 and duration_seconds("500ms") == 0.5


@pytest.mark.parametrize(
    "raw, where",
    [
        ({"metricsCollector": {}}, "exactly one of nodeName and nodeSelector"),
        ({"nodeName": "a", "nodeSelector": {}}, "exactly one"),
        ({"nodeName": "a", **redfish("https://{nodeIP}")}, "unknown placeholder {nodeIP}"),
        ({"nodeName": "a", "metricsCollector": {"inletTemp": {"type": "Redfish"}}}, "needs an endpoint"),
        ({"nodeName": "a", **redfish("ftp://x")}, "http:// or https://"),
        ({"nodeName": "a", **redfish("https://x", fetchInterval="ten seconds")}, "fetchInterval"),
        ({"nodeName": "a", **redfish("https://x", basicAuthSecret={"name": "Bad_Name"})}, "basicAuthSecret.name"),
        ({"nodeName": "a", **redfish("https://x", fetchInterval="2m")}, "shorter than fetchInterval"),
        (
            {
                "nodeName": "a",
                "predictor": {"powerConsumption": {"type": "Parametric", "parametric": {"curveWatts": [1, 2]}}},
            },
            "curveWatts",
        ),
        ({"nodeName": "a", "metricsCollector": {"inletTmp": {}}}, "inletTmp"),
    ],
)
def test_invalid_specs_are_refused_with_the_field(raw, where):
    with pytest.raises(ValueError, match=where.replace("{", r"\{").replace("}", r"\}")):
        parse_spec(raw)


def test_endpoint_templates_derive_each_nodes_bmc():
    spec = {
        "nodeSelector": {"matchLabels": {"bmc": "redfish"}},
        **redfish("https://{nodeAddress}:8443/{nodeLabel:topology.kubernetes.io/zone}/{nodeName}"),
    }
    nodes = [
        FacilityNode("worker-17", {"bmc": "redfish", "topology.kubernetes.io/zone": "z1"}, ADDRS),
        FacilityNode("worker-18", {"bmc": "redfish"}, (("InternalIP", "fd00::18"),)),
        FacilityNode("worker-19", {"bmc": "none"}),
    ]
    res = resolve({"rack": spec}, nodes)
    assert res.targets["worker-17"].inlet.endpoint.url == "https://10.0.3.17:8443/z1/worker-17"
    assert (
        res.targets["worker-18"].error
        == "node worker-18 has no label topology.kubernetes.io/zone for {nodeLabel:topology.kubernetes.io/zone}"
    )
    assert "worker-19" not in res.targets
    assert (res.matched["rack"], res.broken["rack"]) == (2, 1)
    ipv6 = resolve({"r": {"nodeSelector": {}, **redfish("https://{nodeAddress}")}}, nodes[1:2])
    assert ipv6.targets["worker-18"].inlet.endpoint.url == "https://[fd00::18]"


def test_a_node_named_template_wins_then_selector_templates_by_name():
    nodes = [FacilityNode("a", {"pool": "x"}), FacilityNode("b", {"pool": "x"})]
    templates = {
        "z-all": {"nodeSelector": {}, **redfish("https://all")},
        "m-pool": {
            "nodeSelector": {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["x"]}]},
            **redfish("https://pool"),
        },
        "only-a": {"nodeName": "a", **redfish("https://a")},
    }
    res = resolve(templates, nodes)
    assert res.targets["a"].template == "only-a" and res.targets["b"].template == "m-pool"
    assert dict(res.matched) == {"only-a": 1, "m-pool": 1}
    assert dict(res.shadowed) == {"m-pool": 1, "z-all": 2}


def test_invalid_templates_are_reported_and_do_not_hide_valid_ones():
    res = resolve(
        {"bad": {"nodeSelector": {}, "metricsCollector": {"inletTemp": {"type": "Nope"}}}, "ok": {"nodeSelector": {}}},
        [FacilityNode("a")],
    )
    assert "bad" in res.invalid and res.targets["a"].template == "ok"
    # no predictor configured: the parametric default with the node's GPUs
    assert res.targets["a"].predictor.type == "Parametric"


def test_predictor_type_defaults():
    def kind(pred: dict) -> str | None:
        spec = FacilityTelemetryTemplateSpec.model_validate({"nodeName": "a", "predictor": pred})
        return resolve({"t": spec}, [FacilityNode("a")]).targets["a"].predictor.type

    assert kind({"powerConsumption": {"endpoint": "http://p/v2/models/m/infer"}}) == "V2InferenceProtocol"
    assert kind({"powerConsumption": {}}) == "Parametric"
    assert kind({"powerConsumptionEndpointProvider": {"type": "Redfish", "endpoint": "https://bmc"}}) is None


def test_node_addresses_from_the_api_object():
    n = FacilityNode.from_api(
        {
            "metadata": {"name": "w1", "labels": {"a": "b"}},
            "status": {
                "addresses": [{"type": "Hostname", "address": "w1"}, {"type": "InternalIP", "address": "10.1.1.1"}],
                "allocatable": {"nvidia.com/gpu": "8"},
            },
        }
    )
    assert (n.address(), n.hostname(), n.gpus) == ("10.1.1.1", "w1", 8)


def test_the_shipped_samples_are_valid_templates():
    import yaml

    from tests.install.chart import ROOT

    docs = list(yaml.safe_load_all((ROOT / "config/samples/facilitytelemetrytemplate.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["FacilityTelemetryTemplate"] * 2
    res = resolve(
        {d["metadata"]["name"]: d["spec"] for d in docs},
        [
            FacilityNode("w7", {"topology.example.com/rack": "07"}),
            FacilityNode("r1", {"node.kubernetes.io/instance-type": "r760-2s"}),
        ],
    )
    assert not res.invalid
    assert res.targets["w7"].inlet.endpoint.url == "https://w7-bmc.mgmt.example.com"
    assert res.targets["r1"].predictor.model.curve_watts[-1] == 680
