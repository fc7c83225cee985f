"""A PodResources gRPC server on a Unix socket, built from the generated stubs, as the kubelet serves it.

It answers ``v1.PodResourcesLister/List`` and ``GetAllocatableResources`` from the allocations a
test sets (pods, containers, exclusive CPUs), and can be stopped and started again on the same
path (a kubelet restart) or made to send a reply that does not decode.
"""

from __future__ import annotations

import os
import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from agent.podresources import api_pb2, api_pb2_grpc


@dataclass
class PodAllocation:
    namespace: str
    name: str
    containers: dict[str, list[int]] = field(default_factory=dict)
    """container -> exclusive CPUs (empty list: the shared pool)."""


class Kubelet(api_pb2_grpc.PodResourcesListerServicer):
    def __init__(self, socket_path: Path, allocatable: list[int] | None = None) -> None:
        self.socket_path = socket_path
        self.pods: list[PodAllocation] = []
        self.allocatable = allocatable or []
        self.corrupt = False
        self.calls = 0
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None

    # ------------------------------------------------------------ the protocol

    def List(self, request: api_pb2.ListPodResourcesRequest, context: grpc.ServicerContext):
        with self._lock:
            self.calls += 1
            pods = list(self.pods)
        return api_pb2.ListPodResourcesResponse(
            pod_resources=[
                api_pb2.PodResources(
                    name=p.name,
                    namespace=p.namespace,
                    containers=[api_pb2.ContainerResources(name=c, cpu_ids=cpus) for c, cpus in p.containers.items()],
                )
                for p in pods
            ]
        )

    def GetAllocatableResources(self, request, context):
        return api_pb2.AllocatableResourcesResponse(cpu_ids=self.allocatable)

    # ------------------------------------------------------------ test controls

    def set(self, *pods: PodAllocation) -> None:
        with self._lock:
            self.pods = list(pods)

    def start(self) -> Kubelet:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        if self.corrupt:
            # A kubelet whose reply is not a ListPodResourcesResponse on the wire (bytes that do not decode).
            handler = grpc.method_handlers_generic_handler(
                "v1.PodResourcesLister",
                {
                    "List": grpc.unary_unary_rpc_method_handler(
                        lambda req, ctx: b"\x0a\xff\xff\xff\xff\x0f",
                        request_deserializer=api_pb2.ListPodResourcesRequest.FromString,
                        response_serializer=lambda raw: raw,
                    )
                },
            )
            server.add_generic_rpc_handlers((handler,))
        else:
            api_pb2_grpc.add_PodResourcesListerServicer_to_server(self, server)
        if server.add_insecure_port(f"unix://{self.socket_path}") == 0:
            raise RuntimeError(f"cannot listen on {self.socket_path}")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving and remove the socket, as a kubelet that exits does."""
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None
        if self.socket_path.exists() or self.socket_path.is_symlink():
            os.unlink(self.socket_path)

    def restart(self, corrupt: bool = False) -> None:
        self.stop()
        self.corrupt = corrupt
        self.start()
