"""`modelops dashboard`: the read-only web UI, run where the user is, with their kubeconfig."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_PORT = 3100


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard", help="read-only web UI: models, GPUs, rollouts, router (docs/dashboard.md)"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default $KUBECONFIG, ~/.kube)")
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="only ModelDeployments and pods of this namespace (repeatable; default: all)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="listen port")
    parser.add_argument(
        "--router-url",
        action="append",
        default=[],
        metavar="URL",
        help="a router's base URL (repeatable); default: find router pods and use the API "
        "server's pod proxy",
    )
    parser.add_argument(
        "--router-namespace", default="modelops-system", help="namespace of the router pods"
    )
    parser.add_argument(
        "--router-selector",
        default="app.kubernetes.io/component=router",
        help="label selector of the router pods (k=v,k=v)",
    )
    parser.add_argument("--router-port", default="8080", help="router pods' port (number or name)")
    parser.add_argument(
        "--interval", type=float, default=15.0, help="seconds between collection rounds"
    )
    parser.add_argument(
        "--history-minutes", type=float, default=30.0, help="how long charts remember"
    )
    parser.set_defaults(handler=_run)


def _selector(text: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    if any(len(p) != 2 or not p[0].strip() for p in pairs):
        raise ValueError(f"--router-selector {text!r}: expected k=v[,k=v]")
    return {k.strip(): v.strip() for k, v in pairs}


def _run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from modelops.dashboard.collector import Collector, RouterDiscovery
    from modelops.dashboard.server import create_app
    from modelops.k8s.client import async_client

    if args.interval <= 0 or args.history_minutes <= 0:
        print("modelops dashboard: --interval and --history-minutes must be > 0", file=sys.stderr)
        return 2
    try:
        selector = _selector(args.router_selector)
        client = async_client(args.kubeconfig)
    except Exception as error:  # a missing or broken kubeconfig: say so, no traceback
        print(f"modelops dashboard: {error}", file=sys.stderr)
        return 1
    port: int | str = int(args.router_port) if args.router_port.isdigit() else args.router_port
    collector = Collector(
        client,
        namespaces=args.namespace,
        router_urls=args.router_url,
        discovery=RouterDiscovery(args.router_namespace, selector, port),
        interval_seconds=args.interval,
        history_points=int(args.history_minutes * 60 / args.interval) + 1,
    )
    print(f"modelops dashboard on http://{args.host}:{args.port}/", flush=True)
    web.run_app(create_app(collector), host=args.host, port=args.port, print=None)
    return 0
