"""`modelops sim ...` (run one simulator) and `modelops sim launcher ...` (run the simulated
pods' runtimes on the local cluster)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from modelops.sim.knobs import ConfigError, add_arguments, config_from_args


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sim",
        help="run a vLLM/Ollama inference simulator",
        description="Inference simulator speaking the vLLM or Ollama HTTP API. Every knob "
        "can also be set through the environment variable named in its help.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run_simulator)
    commands = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    launcher = commands.add_parser(
        "launcher",
        help="run one simulator per simulated pod of the local cluster",
        description="Watch pods on simulated nodes and run a simulator bound to each "
        "vLLM/Ollama pod's IP and port; also reports readiness to the pod status.",
    )
    launcher.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
    launcher.set_defaults(handler=run_launcher)


def run_simulator(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args, os.environ)
    except ConfigError as error:
        print(f"modelops sim: {error}", file=sys.stderr)
        return 2
    from modelops.sim.app import run

    return run(config)


def run_launcher(args: argparse.Namespace) -> int:
    from modelops.sim.launcher import main

    return main(args.kubeconfig)
