"""The `modelops` command.

Each subsystem owns its subcommands in a small `cli` module exposing
`register(subparsers)`; heavy imports happen inside the handlers so that
`modelops --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBSYSTEMS = (
    "modelops.localcluster.cli",
    "modelops.sim.cli",
    "modelops.controller.cli",
    "modelops.controller.rollout_cli",
    "modelops.router.cli",
    "modelops.dashboard.cli",
    "modelops.api.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelops", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBSYSTEMS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
