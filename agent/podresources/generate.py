"""Regenerate the PodResources stubs from ``api.proto`` (needs ``grpcio-tools``, in the ``test`` extra).

``python -m agent.podresources.generate [OUTPUT_ROOT]`` writes ``api_pb2.py``, ``api_pb2.pyi``
and ``api_pb2_grpc.py`` under ``OUTPUT_ROOT/agent/podresources/`` (default: the checkout).
The proto is compiled from the repository root so the generated modules import each other
as ``agent.podresources.api_pb2``; the wire names stay ``v1.PodResourcesLister``.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO = "agent/podresources/api.proto"
ROOT = Path(__file__).resolve().parents[2]


def generate(output_root: Path = ROOT) -> list[Path]:
    """Run protoc (grpc_tools) on the proto; returns the files written."""
    from grpc_tools import protoc  # the test extra; the agent itself needs only grpcio and protobuf

    output_root.mkdir(parents=True, exist_ok=True)
    import grpc_tools

    includes = Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"-I{includes}",
            f"--python_out={output_root}",
            f"--pyi_out={output_root}",
            f"--grpc_python_out={output_root}",
            str(ROOT / PROTO),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit {code})")
    base = output_root / "agent" / "podresources"
    return [base / "api_pb2.py", base / "api_pb2.pyi", base / "api_pb2_grpc.py"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    for path in generate(Path(args[0]) if args else ROOT):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
