"""What does tracing cost the router? Tracing off vs on, sampled at 10 % and at 100 %.

One vLLM simulator behind three `modelops router` processes, measured in one run with the
load generator and rounds of `router_overhead.py` (interleaved, so background load hits all
alike): (a) tracing off, (b) `LLM_TRACE_EXPORTER=otlp` with `OTEL_TRACES_SAMPLER=traceidratio`
at 0.1, (c) the same at 1.0 (every request: one request span and one attempt span). Spans go
through the official OTLP/HTTP exporter (batch processor) to a receiver process on loopback
that accepts and drops them, so the export work is real and the sink costs the router nothing.

Printed: median and p99 latency at concurrency 1, requests/s at concurrency 32, streaming time
to first token, router CPU per request; and each traced router against the untraced one, as
ratios and added milliseconds.

    PYTHONPATH=operator .venv/bin/python benchmarks/router_tracing.py
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from modelops.router.testing import free_port, running_router
from modelops.sim.testing import running_simulator
from router_overhead import MODEL, Figures, _figures, _measure_all

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
"""


@contextmanager
def otlp_sink() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        yield f"http://127.0.0.1:{port}/v1/traces"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def router(config: dict[str, Any], env: dict[str, str]) -> Iterator[tuple[str, int]]:
    with running_router(config, env=env) as running:
        yield running.url, running.process.pid


def report(results: list[Figures]) -> None:
    print()
    columns = [("median ms", 11), ("p99 ms", 9), ("req/s @32", 11), ("TTFT ms", 9)]
    print(f"{'target':<16}" + "".join(f"{n:>{w}}" for n, w in columns) + f"{'CPU us/req':>12}")
    for f in results:
        print(
            f"{f.name:<16}{f.median_ms:>11.2f}{f.p99_ms:>9.2f}{f.rps:>11.0f}"
            f"{f.ttft_median_ms:>9.2f}{f.cpu_us:>12.0f}"
            f"   errors {f.errors}  rounds {f.extra['rates']}"
        )
    base = next(f for f in results if f.name == "tracing-off")
    print()
    for f in results:
        if f is base:
            continue
        print(
            f"{f.name}: latency +{f.median_ms - base.median_ms:.3f} ms median "
            f"({f.median_ms / base.median_ms:.2f}x), throughput {f.rps / base.rps:.2f}x of off, "
            f"TTFT {f.ttft_median_ms / base.ttft_median_ms:.2f}x, "
            f"CPU/request {f.cpu_us / max(base.cpu_us, 1e-9):.2f}x"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-requests", type=int, default=900)
    parser.add_argument("--throughput-requests", type=int, default=9000)
    parser.add_argument("--throughput-seconds", type=float, default=12.0)
    parser.add_argument("--stream-requests", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    with ExitStack() as stack:
        sim = stack.enter_context(running_simulator("vllm", [MODEL]))
        sink = stack.enter_context(otlp_sink())
        config = {
            "models": {
                MODEL: {
                    "engine": "vllm",
                    "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{sim.port}"]}],
                }
            }
        }
        traced = {
            "LLM_TRACE_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink,
            "OTEL_TRACES_SAMPLER": "traceidratio",
        }
        targets = {
            "tracing-off": stack.enter_context(router(config, {})),
            "tracing-10%": stack.enter_context(
                router(config, {**traced, "OTEL_TRACES_SAMPLER_ARG": "0.1"})
            ),
            "tracing-100%": stack.enter_context(
                router(config, {**traced, "OTEL_TRACES_SAMPLER_ARG": "1.0"})
            ),
        }
        samples = asyncio.run(_measure_all(targets, args))
        results = [_figures(name, samples[name]) for name in targets]
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
