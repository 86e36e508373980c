"""Run one simulator process: wait out the startup delay, listen, serve until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

from modelops.sim.engine import Engine
from modelops.sim.knobs import SimConfig
from modelops.sim.routing import make_handler
from modelops.sim.server import (
    JSON,
    TEXT,
    Handler,
    InFlight,
    Request,
    Response,
    StreamResponse,
    serve,
)

READY_MARKER = "modelops-sim ready"
# Within the launcher's 5 s between SIGTERM and SIGKILL (sim.launcher.STOP_GRACE_SECONDS).
DRAIN_SECONDS = 4.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_handler(engine: Engine) -> Handler:
    if engine.config.engine == "vllm":
        from modelops.sim.vllm_api import vllm_routes

        return make_handler(
            vllm_routes(engine),
            Response(404, b'{"detail":"Not Found"}', JSON),
            Response(405, b'{"detail":"Method Not Allowed"}', JSON),
        )
    from modelops.sim.ollama_api import ollama_routes

    return make_handler(
        ollama_routes(engine),
        Response(404, b"404 page not found", TEXT),
        Response(405, b"405 method not allowed", TEXT),
    )


def _logging_traceparent(handler: Handler) -> Handler:
    """Prints each request's W3C traceparent to stderr: tests see what the router passed on."""

    async def logged(request: Request) -> Response | StreamResponse:
        traceparent = request.headers.get("traceparent")
        if traceparent:
            print(f"modelops-sim traceparent={traceparent} path={request.path}", file=sys.stderr)
        return await handler(request)

    return logged


async def serve_until_stopped(config: SimConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if config.startup_delay_seconds > 0:
        # A real runtime does not listen while it loads the model: connection refused.
        try:
            await asyncio.wait_for(stop.wait(), config.startup_delay_seconds)
            return 0
        except TimeoutError:
            pass
    engine = Engine(config)
    handler = build_handler(engine)
    if os.environ.get("MODELOPS_SIM_LOG_TRACEPARENT"):
        handler = _logging_traceparent(handler)
    in_flight = InFlight()
    try:
        server = await serve(handler, config.host, config.port, in_flight)
    except OSError as error:
        address = f"{config.host}:{config.port}"
        print(f"modelops sim: cannot listen on {address}: {error}", file=sys.stderr)
        return 1
    print(
        f"{READY_MARKER} engine={config.engine} address={config.host}:{config.port} "
        f"models={','.join(config.models)}",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    # Graceful shutdown: take no new connection, finish the requests in flight (a stream the
    # router is relaying ends normally), then go; the launcher (the kubelet) kills after 5 s.
    server.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            await in_flight.idle()
    return 0


def run(config: SimConfig) -> int:
    if not is_loopback(config.host):
        print(
            f"modelops sim: refusing to bind {config.host}: the simulator only serves on "
            "loopback addresses (127.0.0.0/8, ::1)",
            file=sys.stderr,
        )
        return 2
    try:
        import uvloop

        return uvloop.run(serve_until_stopped(config))
    except ImportError:
        return asyncio.run(serve_until_stopped(config))
