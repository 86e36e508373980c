"""The operator's readiness endpoint (`--readiness URL`).

kopf's own endpoint (`--liveness`) answers as soon as the process runs, and a failing probe
handler there would get the pod restarted. Readiness is another question: has this operator
started (logged in to the API, resolved its resources, run its startup handlers)? A rolling
update of the operator's Deployment waits on it before stopping the old pod. 503 before the
startup handlers have run and from the moment the operator begins to stop.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

import aiohttp.web
import kopf


def register(registry: kopf.OperatorRegistry, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.port:
        raise ValueError(f"--readiness must be http://HOST:PORT/PATH, got {url!r}")
    ready = asyncio.Event()
    runners: list[aiohttp.web.AppRunner] = []

    async def answer(_: aiohttp.web.Request) -> aiohttp.web.Response:
        if ready.is_set():
            return aiohttp.web.json_response({"ready": True})
        return aiohttp.web.json_response({"ready": False}, status=503)

    # Registered after every other startup handler, so it runs (and says ready) last.
    @kopf.on.startup(registry=registry)
    async def serve_readiness(**_: Any) -> None:
        app = aiohttp.web.Application()
        app.add_routes([aiohttp.web.get(parts.path or "/", answer)])
        runner = aiohttp.web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        await aiohttp.web.TCPSite(runner, parts.hostname or "127.0.0.1", parts.port).start()
        runners.append(runner)
        ready.set()

    @kopf.on.cleanup(registry=registry)
    async def stop_readiness(**_: Any) -> None:
        ready.clear()
        for runner in runners:
            await runner.cleanup()
