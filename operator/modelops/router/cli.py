"""`modelops router`: serve the router with uvicorn.

Standalone mode (`--config FILE`): a config file with static endpoints, re-read when it changes.
Kubernetes mode (`--kubernetes`): the operator's ConfigMap, endpoints from Pods.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "router",
        help="run the OpenAI/Ollama/TGI router in front of vLLM and Ollama runtimes",
        description="Run the modelops router. The config file is re-read when it changes; "
        "a bad config is rejected and the last good one kept. See docs/router.md.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--config", type=Path, help="standalone: router config YAML file")
    mode.add_argument(
        "--kubernetes",
        action="store_true",
        help="read the operator's ConfigMap and watch Pods for endpoints",
    )
    parser.add_argument("--kubeconfig", help="kubernetes mode: kubeconfig (default in-cluster)")
    parser.add_argument(
        "--config-namespace",
        default=os.environ.get("POD_NAMESPACE", "modelops-system"),
        help="kubernetes mode: namespace of the ConfigMap (default: own namespace)",
    )
    parser.add_argument(
        "--config-name", default="modelops-router-config", help="kubernetes mode: ConfigMap name"
    )
    parser.add_argument(
        "--api-keys-file",
        type=Path,
        help="require API keys from this YAML file (overrides the config's auth)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    parser.add_argument(
        "--reload-seconds",
        type=float,
        default=2.0,
        help="how often to check the config file for changes (default 2)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    limits = parser.add_argument_group("server limits (see docs/router.md)")
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds to receive a request head, else 408 and close (default 10)",
    )
    limits.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        help="seconds to receive a request body after its head, else close (default 60)",
    )
    limits.add_argument(
        "--idle-timeout",
        type=float,
        default=5.0,
        help="seconds a kept-alive connection may wait for its next request (default 5)",
    )
    limits.add_argument(
        "--max-header-bytes",
        type=int,
        default=32 * 1024,
        help="largest request head, else 431 (default 32768)",
    )
    limits.add_argument(
        "--max-headers", type=int, default=100, help="most request headers, else 431 (default 100)"
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=2048,
        help="open connections; past it idle ones are closed, else 503 (default 2048)",
    )
    parser.set_defaults(handler=run_router)


def run_router(args: argparse.Namespace) -> int:
    import logging

    from modelops.api.router_config import RouterConfigError, parse_router_config_yaml
    from modelops.router.app import create_app
    from modelops.router.sources import ApiKeysFileOverride, ConfigSource, FileConfigSource

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.api_keys_file is not None and not args.api_keys_file.is_file():
        print(
            f"modelops router: --api-keys-file {args.api_keys_file} does not exist", file=sys.stderr
        )
        return 2
    if args.kubernetes:
        from modelops.k8s.router_sources import KubernetesConfigSource, KubernetesEndpointSource

        source: ConfigSource = KubernetesConfigSource(
            args.config_namespace, args.config_name, args.kubeconfig
        )
        if args.api_keys_file is not None:
            source = ApiKeysFileOverride(source, args.api_keys_file)
        endpoints = KubernetesEndpointSource(args.kubeconfig)
        serve(create_app(source, endpoints), args.host, args.port, args.log_level, _limits(args))
        return 0
    # Fail fast with a clear message when the initial config is unusable.
    try:
        parse_router_config_yaml(args.config.read_text())
    except OSError as error:
        print(f"modelops router: cannot read {args.config}: {error.strerror}", file=sys.stderr)
        return 2
    except RouterConfigError as error:
        print(f"modelops router: {args.config}: {error}", file=sys.stderr)
        return 2
    file_source: ConfigSource = FileConfigSource(args.config, args.reload_seconds)
    if args.api_keys_file is not None:
        file_source = ApiKeysFileOverride(file_source, args.api_keys_file)
    serve(create_app(file_source), args.host, args.port, args.log_level, _limits(args))
    return 0


def _limits(args: argparse.Namespace) -> Any:
    from modelops.router.server import ServerLimits

    return ServerLimits(
        header_timeout_seconds=args.header_timeout,
        body_timeout_seconds=args.body_timeout,
        idle_timeout_seconds=args.idle_timeout,
        max_header_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
        max_connections=args.max_connections,
    )


def serve(app: Any, host: str, port: int, log_level: str = "info", limits: Any = None) -> None:
    """Serves a router app with the settings the benchmarks measured (also for the k8s mode):
    uvicorn's httptools protocol with the limits of `modelops.router.server`."""
    from modelops.router.server import ServerLimits
    from modelops.router.server import serve as serve_hardened

    serve_hardened(app, host, port, log_level, limits if limits is not None else ServerLimits())
