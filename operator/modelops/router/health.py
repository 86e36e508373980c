"""Active health checks: `/health` (vLLM) or `/` (Ollama) on every endpoint, every interval.

A failed check takes the endpoint out at once; a passing one puts it back (and clears the
passive failure count). After each round every model's panic routing (state.settle_panic) and
demotion clock are updated.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from modelops.router.state import HEALTH_PATHS, EndpointState, Snapshot, settle_panic
from modelops.router.upstream import UpstreamClient

log = logging.getLogger(__name__)


async def probe(client: UpstreamClient, endpoint: EndpointState, limit: float) -> str | None:
    """None when healthy, else the reason."""
    path = HEALTH_PATHS.get(endpoint.engine, "/")
    try:
        async with asyncio.timeout(limit):
            response = await client.request(endpoint.host, endpoint.port, "GET", path)
            try:
                await response.read()
            finally:
                response.close()
    except TimeoutError:
        return f"health check timed out after {limit:g} s"
    except OSError as error:
        return f"health check failed: {error or type(error).__name__}"
    if response.status == 200:
        return None
    return f"health check answered {response.status}"


def apply_probe(endpoint: EndpointState, failure: str | None) -> bool:
    """Records one result; True when the endpoint changed state."""
    was = endpoint.healthy
    endpoint.health_checked = True
    if failure is None:
        endpoint.healthy = True
        endpoint.consecutive_failures = 0
        endpoint.last_error = ""
    else:
        endpoint.healthy = False
        endpoint.last_error = failure
    return was != endpoint.healthy


async def check_once(client: UpstreamClient, snapshot: Snapshot) -> None:
    endpoints = snapshot.all_endpoints()
    limit = snapshot.config.health_check.timeout_seconds
    results = await asyncio.gather(*(probe(client, e, limit) for e in endpoints))
    for endpoint, failure in zip(endpoints, results, strict=True):
        if apply_probe(endpoint, failure):
            state = "back in" if endpoint.healthy else f"out ({failure})"
            log.warning(
                "endpoint %s of %s/%s %s", endpoint.address, endpoint.model, endpoint.track, state
            )
    now = time.monotonic()
    for model in snapshot.models.values():
        settle_panic(model)
        model.health.observe(model.has_usable, now)


async def run_health_checks(client: UpstreamClient, current: Callable[[], Snapshot | None]) -> None:
    """Forever (until cancelled); the interval is re-read from each round's config."""
    while True:
        snapshot = current()
        interval = 0.1  # no config yet: look again soon, so the first round is not 5 s late
        if snapshot is not None:
            interval = snapshot.config.health_check.interval_seconds
            try:
                await check_once(client, snapshot)
            except Exception:  # a bug here must not stop health checking for good
                log.exception("health check round failed")
        await asyncio.sleep(interval)
