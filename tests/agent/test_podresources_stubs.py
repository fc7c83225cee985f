"""The committed PodResources stubs are what grpcio-tools generates from agent/podresources/api.proto,
and they speak the published wire protocol (the service path and field numbers the kubelet serves)."""

from __future__ import annotations

import re

import pytest

from agent.podresources import api_pb2
from agent.podresources.generate import ROOT, generate

ROOT_FILES = ("api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py")
_VERSION_STAMPS = re.compile(
    r"^(# Protobuf Python Version: .*|GRPC_GENERATED_VERSION = .*|    \d+,)$", re.MULTILINE
)  # the generator's own version, which a newer grpcio-tools may change without changing the protocol


@pytest.mark.parametrize("name", ROOT_FILES)
def test_committed_stubs_are_generated_from_the_proto(tmp_path, name):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (test extra) regenerates the stubs")
    generate(tmp_path)
    fresh = (tmp_path / "agent" / "podresources" / name).read_text()
    committed = (ROOT / "agent" / "podresources" / name).read_text()
    assert _VERSION_STAMPS.sub("", committed) == _VERSION_STAMPS.sub("", fresh), (
        f"agent/podresources/{name} is stale: run `python -m agent.podresources.generate`"
    )


def test_wire_names_and_field_numbers_are_the_kubelets():
    svc = api_pb2.DESCRIPTOR.services_by_name["PodResourcesLister"]
    assert svc.full_name == "v1.PodResourcesLister"
    assert {m.name for m in svc.methods} >= {"List", "GetAllocatableResources"}
    fields = {
        (msg, f.name): f.number
        for msg in ("ListPodResourcesResponse", "PodResources", "ContainerResources", "ContainerDevices")
        for f in api_pb2.DESCRIPTOR.message_types_by_name[msg].fields
    }
    assert fields[("ListPodResourcesResponse", "pod_resources")] == 1
    assert (fields[("PodResources", "name")], fields[("PodResources", "namespace")]) == (1, 2)
    assert fields[("PodResources", "containers")] == 3
    assert fields[("ContainerResources", "cpu_ids")] == 3 and fields[("ContainerResources", "memory")] == 4
    assert fields[("ContainerDevices", "topology")] == 3
