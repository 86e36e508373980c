"""How many small non-streaming chat completions one simulator serves on one core, and how much
memory one simulator process takes.

The simulator is pinned to one CPU and this load generator to another (when the machine has two),
so the figure is the simulator's own single-core capacity. Load is bounded both in request count
and in time, and only ever goes to the loopback simulator this script started.

    PYTHONPATH=operator .venv/bin/python benchmarks/sim_throughput.py [--requests N] [--seconds T]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "operator"))

from modelops.sim.testing import running_simulator

PAYLOAD = {
    "model": "bench",
    "messages": [{"role": "user", "content": "Say hello."}],
    "max_tokens": 8,
}


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (so the figure survives a busy, shared machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cpu: int) -> bool:
    try:
        os.sched_setaffinity(pid, {cpu})
        return True
    except OSError:
        return False


async def drive(url: str, requests: int, seconds: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal sent, errors
            while sent < requests and time.monotonic() < deadline:
                sent += 1
                started = time.perf_counter()
                async with session.post(url, json=PAYLOAD) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30000, help="upper bound on requests")
    parser.add_argument("--seconds", type=float, default=10.0, help="upper bound on duration")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--engine", choices=("vllm", "ollama"), default="vllm")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    path = "/v1/chat/completions"
    with running_simulator(args.engine, ["bench"]) as sim:
        pinned = len(cpus) >= 2 and pin(sim.process.pid, cpus[0]) and pin(0, cpus[1])
        idle_kib = rss_kib(sim.process.pid)
        url = sim.url + path
        asyncio.run(drive(url, 500, 5.0, args.concurrency))  # warm up
        cpu_before = cpu_seconds(sim.process.pid)
        result = asyncio.run(drive(url, args.requests, args.seconds, args.concurrency))
        cpu_used = cpu_seconds(sim.process.pid) - cpu_before
        loaded_kib = rss_kib(sim.process.pid)
        peak_kib = rss_kib(sim.process.pid, "VmHWM")
    print(f"simulator ({args.engine}) pinned to one core: {'yes' if pinned else 'NO'}")
    print(
        f"non-streaming chat completions: {result['rps']:.0f} requests/s "
        f"({result['requests']:.0f} requests in {result['seconds']:.1f}s, "
        f"concurrency {args.concurrency}, errors {result['errors']:.0f}, "
        f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms)"
    )
    print(
        f"simulator CPU: {cpu_used:.2f}s for {result['requests']:.0f} requests = "
        f"{result['requests'] / max(cpu_used, 1e-9):.0f} requests per CPU-second "
        "(the capacity of one dedicated core)"
    )
    print(
        f"simulator RSS: idle {idle_kib / 1024:.1f} MiB, after load {loaded_kib / 1024:.1f} MiB, "
        f"peak {peak_kib / 1024:.1f} MiB"
    )
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
