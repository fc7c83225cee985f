"""The ``joulie`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from joulie import __version__
from joulie.errors import ConfigError

# Each module exposes ``register(subparsers)``; components not installed are skipped.
COMMAND_MODULES = ["labeller.cli", "joulie.serve", "agent.cli", "simulator.cli"]


def cmd_crds(args: argparse.Namespace) -> int:
    from joulie.api.crdgen import write_crds

    for path in write_crds(Path(args.output)):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="joulie", description="Kubernetes energy manager.")
    parser.add_argument("--version", action="version", version=f"joulie {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name.split(".")[0]) is None or importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).register(sub)
    p = sub.add_parser("crds", help="write the CRD manifests generated from the API models")
    p.add_argument("--output", default="config/crd/bases", help="directory (default %(default)s)")
    p.set_defaults(func=cmd_crds)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"joulie: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        # SnapshotError, SelectorError, PolicyConfigError and unreadable files land here.
        print(f"joulie: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
