"""CRDs: generated from the pydantic models, structural, validating what the models validate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from joulie.api.crdgen import CRD_FILES, crd, render
from joulie.api.v1alpha1 import NodePowerProfile, TelemetryProfile

ROOT = Path(__file__).resolve().parents[1]
BASES = ROOT / "config" / "crd" / "bases"


@pytest.mark.parametrize("filename", sorted(CRD_FILES))
def test_committed_crd_equals_generated(filename):
    committed = (BASES / filename).read_text()
    assert committed == render(crd(CRD_FILES[filename])), f"run `joulie crds` to regenerate {filename}"


def _walk(schema, path="$"):
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("filename", sorted(CRD_FILES))
def test_schema_is_structural(filename):
    crd = yaml.safe_load((BASES / filename).read_text())
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["spec"]["scope"] == "Cluster"
    (version,) = crd["spec"]["versions"]
    if CRD_FILES[filename].status_model is not None:
        assert version["subresources"] == {"status": {}}
    else:  # a configuration object (PowerProfile): per-node results live in the NodePowerProfiles
        assert "subresources" not in version and "status" not in version["schema"]["openAPIV3Schema"]["properties"]
    assert version["additionalPrinterColumns"][-1]["name"] == "Age"
    for path, node in _walk(version["schema"]["openAPIV3Schema"]):
        assert "type" in node or node.get("x-kubernetes-int-or-string") is True, f"{path} has no type"
        for forbidden in ("$ref", "anyOf", "allOf", "oneOf", "const", "title", "$defs"):
            assert forbidden not in node, f"{path} uses {forbidden}"
        assert not ("properties" in node and "additionalProperties" in node), path


def test_short_names_and_columns():
    npp = yaml.safe_load((BASES / "joulie.io_nodepowerprofiles.yaml").read_text())
    tp = yaml.safe_load((BASES / "joulie.io_telemetryprofiles.yaml").read_text())
    assert npp["spec"]["names"]["shortNames"] == ["npp"]
    assert tp["spec"]["names"]["shortNames"] == ["tp"]
    cols = [c["name"] for c in npp["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert cols[:5] == ["Node", "Profile", "Cap", "Draining", "Applied"]
    spec = npp["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["nodeName", "profile"]
    assert spec["properties"]["profile"]["enum"] == ["performance", "eco"]
    assert spec["properties"]["cpu"]["properties"]["packagePowerCapWatts"]["minimum"] == 1


def test_models_validate_like_the_schema():
    ok = NodePowerProfile.model_validate(
        {
            "apiVersion": "joulie.io/v1alpha1",
            "kind": "NodePowerProfile",
            "metadata": {"name": "node-a"},
            "spec": {
                "nodeName": "a",
                "profile": "eco",
                "cpu": {"packagePowerCapWatts": 120},
                "gpu": {"powerCap": {"scope": "perGpu", "capPctOfMax": 60}},
            },
        }
    )
    assert ok.spec.cpu.package_power_cap_watts == 120
    for bad in (
        {"nodeName": "a", "profile": "turbo"},
        {"nodeName": "", "profile": "eco"},
        {"nodeName": "a", "profile": "eco", "cpu": {"packagePowerCapWatts": 0}},
        {"nodeName": "a", "profile": "eco", "cpuu": {}},
    ):
        with pytest.raises(ValidationError):
            NodePowerProfile.model_validate({"spec": bad})
    TelemetryProfile.model_validate(
        {
            "spec": {
                "target": {"scope": "node", "nodeName": "a"},
                "controls": {"cpu": {"type": "http", "endpoint": "http://x"}},
            }
        }
    )


def test_power_profile_crd_reuses_the_node_controls_shapes_and_limits_the_name():
    pp = yaml.safe_load((BASES / "joulie.io_powerprofiles.yaml").read_text())
    npp = yaml.safe_load((BASES / "joulie.io_nodepowerprofiles.yaml").read_text())
    (version,) = pp["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]["properties"]
    node_cpu = npp["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["cpu"]
    for name in ("frequency", "governor", "epp", "cstates"):
        assert spec[name] == node_cpu["properties"][name], f"{name} is the node controls' definition"
    assert spec["shared"] == {"default": False, "type": "boolean", "description": spec["shared"]["description"]}
    assert schema["x-kubernetes-validations"][0]["rule"] == "size(self.metadata.name) <= 63"
    assert pp["spec"]["names"]["shortNames"] == ["pwp"] and pp["spec"]["scope"] == "Cluster"
    assert [c["name"] for c in version["additionalPrinterColumns"]][:3] == ["Shared", "Governor", "EPP"]


def test_power_capping_policy_crd_and_the_sample():
    import jsonschema

    from joulie.api.v1alpha1 import PowerCappingPolicy

    pcp = yaml.safe_load((BASES / "joulie.io_powercappingpolicies.yaml").read_text())
    assert pcp["spec"]["scope"] == "Cluster" and pcp["spec"]["names"]["shortNames"] == ["pcp"]
    version = pcp["spec"]["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"]][:4] == ["Limit", "Measured", "Headroom", "State"]
    assert version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["properties"]["spec"]["required"] == ["powerCapLimit"]
    sample = yaml.safe_load((Path(__file__).parents[1] / "config/samples/powercappingpolicy.yaml").read_text())
    validator = jsonschema.Draft4Validator(schema)  # OpenAPI v3.0: boolean exclusiveMinimum, as in draft 4
    validator.validate(sample)  # the API server's view (structural schema)
    PowerCappingPolicy.model_validate(sample)  # and the labeller's
    for bad in (
        {"powerCapLimit": 0},
        {"rackConstraints": [{"rackId": "r"}]},
        {"powerCapLimit": 1, "marginPercent": 80},
        {"powerCapLimit": 1, "rackConstraints": [{"rackId": "r", "maxPower": -5}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate({**sample, "spec": bad})
