"""The kubelet's PodResources API (v1): which exclusive CPUs each container holds.

``api.proto`` holds the published message definitions; ``api_pb2*.py`` are generated from it
(:mod:`agent.podresources.generate`) and committed, so the agent needs only ``grpcio`` and
``protobuf`` at run time. :mod:`agent.podresources.client` is the agent's side of the socket.
"""
