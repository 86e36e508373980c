"""`modelops router`: serve the router with uvicorn.

Standalone mode: a config file with static endpoints, re-read when it changes.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--config", required=True, type=Path, help="router config YAML file")
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
    parser.set_defaults(handler=run_router)


def run_router(args: argparse.Namespace) -> int:
    import logging

    from modelops.api.router_config import RouterConfigError, parse_router_config_yaml
    from modelops.router.app import create_app

    # Fail fast with a clear message when the initial config is unusable.
    try:
        parse_router_config_yaml(args.config.read_text())
    except OSError as error:
        print(f"modelops router: cannot read {args.config}: {error.strerror}", file=sys.stderr)
        return 2
    except RouterConfigError as error:
        print(f"modelops router: {args.config}: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(
        create_app(args.config, reload_seconds=args.reload_seconds),
        args.host,
        args.port,
        args.log_level,
    )
    return 0


def serve(app: Any, host: str, port: int, log_level: str = "info") -> None:
    """Serves a router app with the settings the benchmarks measured (also for the k8s mode)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        # The router is the edge: X-Forwarded-* rewriting is not wanted (and costs per request).
        proxy_headers=False,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )
