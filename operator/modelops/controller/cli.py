"""`modelops operator`: run the controller."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path
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
        "--router-settings",
        metavar="FILE",
        help="YAML of router-wide settings (timeouts, retries, health checks, "
        "demotion window, auth) merged into the config the operator writes",
    )
    parser.add_argument(
        "--liveness", metavar="URL", help="serve a liveness probe, e.g. http://0.0.0.0:8081/healthz"
    )
    parser.add_argument(
        "--readiness",
        metavar="URL",
        help="serve a readiness probe, e.g. http://0.0.0.0:8082/readyz (200 once started)",
    )
    parser.add_argument(
        "--peering",
        metavar="NAME",
        help="kopf peering name for HA (default: standalone, one replica)",
    )
    parser.add_argument(
        "--priority",
        type=int,
        help="peering priority (default: random per process, so that replicas "
        "of one Deployment never tie; kopf pauses every replica on a tie)",
    )
    parser.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics on this port (default: off)"
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)"
    )
    parser.add_argument(
        "--router-namespace",
        help="namespace of the router pods the operator scrapes for the rollout analysis and "
        "the autoscaler (found by the labels app.kubernetes.io/component=router, "
        "app.kubernetes.io/part-of=modelops; default: --router-config-namespace)",
    )
    parser.add_argument(
        "--router-metrics-url",
        action="append",
        default=[],
        metavar="URL",
        help="also scrape this router /metrics URL (a local or standalone router; repeatable)",
    )
    parser.add_argument(
        "--telemetry-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often routers and vLLM pods are scraped (default 1)",
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import kopf

    from modelops.api.router_config import RouterConfigError, parse_router_config_yaml
    from modelops.controller.handlers import OperatorOptions
    from modelops.controller.handlers import register as register_handlers

    settings = None
    if args.router_settings:
        try:
            settings = parse_router_config_yaml(Path(args.router_settings).read_text())
        except (OSError, RouterConfigError) as error:
            print(f"modelops operator: --router-settings: {error}", file=sys.stderr)
            return 2
        if settings.models or settings.tasks:
            print(
                "modelops operator: --router-settings must not list models or tasks "
                "(they come from ModelDeployments)",
                file=sys.stderr,
            )
            return 2
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    registry = kopf.OperatorRegistry()
    register_handlers(
        registry,
        OperatorOptions(
            router_config_namespace=args.router_config_namespace,
            router_config_name=args.router_config_name,
            kubeconfig=args.kubeconfig,
            router_settings=settings,
            metrics_host=args.metrics_host,
            metrics_port=args.metrics_port,
            router_namespace=args.router_namespace,
            router_metrics_urls=tuple(args.router_metrics_url),
            telemetry_interval_seconds=args.telemetry_interval,
        ),
    )
    if args.readiness:
        from modelops.controller import readiness

        try:
            readiness.register(registry, args.readiness)
        except ValueError as error:
            print(f"modelops operator: {error}", file=sys.stderr)
            return 2
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.FULL)
    if not args.verbose:
        # Per-handler success lines cost CPU at scale and say nothing our own logs do not.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    kopf.run(
        registry=registry,
        clusterwide=not args.namespaces,
        namespaces=args.namespaces or (),
        standalone=args.peering is None,
        peering_name=args.peering,
        priority=args.priority if args.priority is not None else secrets.randbelow(1_000_000) + 1,
        liveness_endpoint=args.liveness,
    )
    return 0
