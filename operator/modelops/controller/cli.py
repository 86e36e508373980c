"""`modelops operator`: run the controller."""

from __future__ import annotations

import argparse
import os
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("operator", help="run the ModelDeployment operator (kopf)")
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)"
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="watch only this namespace (repeatable; globs allowed)",
    )
    scope.add_argument(
        "--all-namespaces", "-A", action="store_true", help="watch every namespace (default)"
    )
    parser.add_argument(
        "--router-config-namespace",
        default=os.environ.get("POD_NAMESPACE", "modelops-system"),
        help="namespace of the router's ConfigMap (default: the operator's own)",
    )
    parser.add_argument("--router-config-name", default="modelops-router-config")
    parser.add_argument(
        "--liveness", metavar="URL", help="serve a liveness probe, e.g. http://0.0.0.0:8081/healthz"
    )
    parser.add_argument(
        "--peering",
        metavar="NAME",
        help="kopf peering name for HA (default: standalone, one replica)",
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import kopf

    from modelops.controller.handlers import OperatorOptions
    from modelops.controller.handlers import register as register_handlers

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    registry = kopf.OperatorRegistry()
    register_handlers(
        registry,
        OperatorOptions(
            router_config_namespace=args.router_config_namespace,
            router_config_name=args.router_config_name,
            kubeconfig=args.kubeconfig,
        ),
    )
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.PLAIN)
    kopf.run(
        registry=registry,
        clusterwide=not args.namespaces,
        namespaces=args.namespaces or (),
        standalone=args.peering is None,
        peering_name=args.peering,
        liveness_endpoint=args.liveness,
    )
    return 0
