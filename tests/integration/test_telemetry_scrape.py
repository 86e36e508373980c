"""Scraping real HTTP servers on loopback: every way a source can fail is reported, not zeroed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from modelops.sim.testing import free_port
from modelops.telemetry.scrape import fetch_all
from modelops.telemetry.service import Telemetry
from modelops.telemetry.types import Source, Sources

ROUTER_TEXT = (
    "# TYPE modelops_router_start_time_seconds gauge\n"
    "modelops_router_start_time_seconds 1.7e9\n"
    'modelops_router_model_in_flight_requests{model="m",track="stable",revision="r"} 2.0\n'
    'modelops_router_model_holding_requests{model="m"} 1.0\n'
)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), timeout=10)  # bounded even if never released
        return web.Response(text=ROUTER_TEXT)

    def answer(body: str, status: int = 200) -> Any:
        async def handler(_: web.Request) -> web.Response:
            return web.Response(text=body, status=status)

        return handler

    app = web.Application()
    app.router.add_get("/ok", answer(ROUTER_TEXT))
    app.router.add_get("/slow", slow)
    app.router.add_get("/fail", answer("down", status=500))
    app.router.add_get("/big", answer("x" * 5000))
    app.router.add_get("/garbage", answer("<html>not metrics</html>"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        release.set()
        await runner.cleanup()


async def test_fetch_reports_each_failure(server: str) -> None:
    sources = [Source(name, f"{server}/{name}") for name in ("ok", "slow", "fail", "big")] + [
        Source("refused", f"http://127.0.0.1:{free_port()}/metrics"),
        Source("bad", "nope://x"),
    ]
    async with aiohttp.ClientSession() as session:
        fetched = await fetch_all(session, sources, timeout_seconds=0.5, max_bytes=1000)
    by_id = {f.source.id: f for f in fetched}
    assert by_id["ok"].text == ROUTER_TEXT
    assert by_id["slow"].error == "no answer within 0.5s"
    assert by_id["fail"].error == "answered HTTP 500"
    assert by_id["big"].error == "answered more than 1000 bytes"
    assert (by_id["refused"].error or "").startswith("unreachable")
    assert by_id["bad"].text is None
    assert [f.source for f in fetched] == sources  # in the order given


async def test_a_round_reads_what_it_can_and_names_the_rest(server: str) -> None:
    telemetry = Telemetry(timeout_seconds=0.5)
    try:
        routers = [Source(name, f"{server}/{name}") for name in ("ok", "slow", "garbage")]
        await telemetry.refresh(Sources(routers=routers))
        assert set(telemetry.unreadable_routers) == {"slow", "garbage"}
        assert "is this a modelops router" in telemetry.unreadable_routers["garbage"]
        load = telemetry.model_load("m")
        assert (load.in_flight, load.holding, load.routers_read) == (2, 1, 1)
        assert not load.complete  # two routers said nothing: a lower bound, not the load
        with pytest.raises(ValueError, match="listed twice"):
            await telemetry.refresh(Sources(routers=[routers[0], routers[0]]))
    finally:
        await telemetry.close()
