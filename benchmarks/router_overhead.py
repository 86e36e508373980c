"""What does a proxy in front of the runtime cost? Direct vs our router vs LiteLLM vs nginx.

One vLLM simulator is the backend of every target, on the same machine, in one run:
(a) direct calls, (b) `modelops router` (static endpoint), (c) LiteLLM's proxy from PyPI, in
its own virtualenv (never the project's: its pins conflict with ours), (d) nginx from Debian as
a plain keep-alive reverse proxy (one worker, like our single router process). A no-op ASGI
app under the router's uvicorn settings is measured too, as the reference ceiling of any
uvicorn-served proxy (it does not proxy; "added latency" means nothing for it), and the same
app under the router's hardened server protocol (`modelops.router.server`: head/body deadlines,
head limits, connection bound), so the cost of the hardening shows on its own.

For each: non-streaming chat latency at concurrency 1 (median, p99; "added" = minus direct),
requests/s at concurrency 32, and streaming time to first token. Ratios and the issue's targets
are printed at the end.

    PYTHONPATH=operator .venv/bin/python benchmarks/router_overhead.py
    PYTHONPATH=operator .venv/bin/python benchmarks/router_overhead.py --install-peers

`--install-peers` creates the LiteLLM virtualenv (~/.cache/modelops/bench-venvs/litellm) and
apt-installs nginx when missing. A peer that is not available is reported with the reason and
skipped. Bounded: fixed request counts per phase, a deadline per phase, every process stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelops.router.testing import free_port, running_router
from modelops.router.upstream import UpstreamClient, UpstreamResponse
from modelops.sim.testing import running_simulator

MODEL = "bench-model"
LITELLM_VENV = Path.home() / ".cache" / "modelops" / "bench-venvs" / "litellm"
PHASE_DEADLINE_SECONDS = 120.0
# LiteLLM refuses to start without a strong master key; the other targets ignore the header.
MASTER_KEY = "sk-" + secrets.token_hex(32)
EXTRA_HEADERS = f"Authorization: Bearer {MASTER_KEY}\r\n"
CHAT_PATH = "/v1/chat/completions"


def chat_body(stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


PLAIN_BODY = chat_body(stream=False)
STREAM_BODY = chat_body(stream=True)


@dataclass
class Figures:
    name: str
    median_ms: float = 0.0
    p99_ms: float = 0.0
    rps: float = 0.0
    ttft_median_ms: float = 0.0
    # CPU time the target's processes used per request in the throughput phase (for "direct":
    # the simulator's own cost). Unlike req/s it hardly depends on other load on the machine.
    cpu_us: float = 0.0
    errors: int = 0
    skipped: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (Linux /proc)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    cpu_per_request: list[float] = field(default_factory=list)
    errors: int = 0


class LoadGenerator:
    """Drives one target with the router's own upstream client (~3x aiohttp's request rate, so
    the generator is not what limits the fastest targets)."""

    def __init__(self, base_url: str, pid: int, samples: Samples) -> None:
        self.pid = pid
        parsed = urlsplit(base_url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.samples = samples
        self.client = UpstreamClient()

    async def _post(self, body: bytes) -> UpstreamResponse:
        return await self.client.request(
            self.host, self.port, "POST", CHAT_PATH, body, extra_headers=EXTRA_HEADERS
        )

    async def call(self) -> float:
        started = time.perf_counter()
        response = await self._post(PLAIN_BODY)
        await response.read()
        response.close()
        if response.status != 200:
            self.samples.errors += 1
        return time.perf_counter() - started

    async def first_token(self) -> float:
        started = time.perf_counter()
        response = await self._post(STREAM_BODY)
        elapsed = None
        while (chunk := await response.next_chunk()) is not None:
            if elapsed is None and b"content" in chunk:
                elapsed = time.perf_counter() - started
        response.close()
        if response.status != 200 or elapsed is None:
            self.samples.errors += 1
        return elapsed if elapsed is not None else time.perf_counter() - started

    async def round(self, args: argparse.Namespace, rounds: int) -> None:
        async with asyncio.timeout(PHASE_DEADLINE_SECONDS):
            for _ in range(args.latency_requests // rounds):
                self.samples.latencies.append(await self.call())
            remaining = args.throughput_requests // rounds
            done = 0
            stop_at = time.perf_counter() + args.throughput_seconds / rounds

            async def worker() -> None:
                nonlocal remaining, done
                while remaining > 0 and time.perf_counter() < stop_at:
                    remaining -= 1
                    await self.call()
                    done += 1

            cpu_before = process_tree_cpu_seconds(self.pid)
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            self.samples.rates.append(done / (time.perf_counter() - started))
            cpu_used = process_tree_cpu_seconds(self.pid) - cpu_before
            self.samples.cpu_per_request.append(cpu_used / max(1, done))
            for _ in range(args.stream_requests // rounds):
                self.samples.ttfts.append(await self.first_token())


async def _measure_all(
    targets: dict[str, tuple[str, int]], args: argparse.Namespace
) -> dict[str, Samples]:
    """Rounds interleave the targets so background load on the machine hits all of them alike."""
    samples = {name: Samples() for name in targets}
    generators = {
        name: LoadGenerator(url, pid, samples[name]) for name, (url, pid) in targets.items()
    }
    for name, generator in generators.items():
        async with asyncio.timeout(PHASE_DEADLINE_SECONDS):
            for _ in range(args.warmup):
                await generator.call()
        samples[name].errors = 0
    for index in range(args.rounds):
        for name, generator in generators.items():
            print(f"round {index + 1}/{args.rounds}: {name}", flush=True)
            await generator.round(args, args.rounds)
    for generator in generators.values():
        await generator.client.close()
    return samples


def _figures(name: str, samples: Samples) -> Figures:
    return Figures(
        name,
        median_ms=statistics.median(samples.latencies) * 1000,
        p99_ms=_percentile(samples.latencies, 0.99) * 1000,
        rps=statistics.median(samples.rates),
        ttft_median_ms=statistics.median(samples.ttfts) * 1000,
        errors=samples.errors,
        cpu_us=statistics.median(samples.cpu_per_request) * 1e6,
        extra={"rates": [round(rate) for rate in samples.rates]},
    )


def _wait_http(url: str, deadline_seconds: float, process: subprocess.Popen[bytes]) -> None:
    import http.client
    from urllib.parse import urlparse

    parsed = urlparse(url)
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with code {process.returncode}")
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=2)
        try:
            connection.request("GET", parsed.path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {deadline_seconds:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def litellm_proxy(backend_url: str, workdir: Path) -> Iterator[tuple[str, int]]:
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        raise FileNotFoundError(
            f"{binary} not found (run with --install-peers to create the LiteLLM virtualenv)"
        )
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": MODEL,
                        "litellm_params": {
                            "model": f"openai/{MODEL}",
                            "api_base": backend_url + "/v1",
                            "api_key": "sk-unused",
                        },
                    }
                ],
                "litellm_settings": {"telemetry": False, "set_verbose": False},
            }
        )
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "LITELLM_LOG": "ERROR",
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # never fetch the cost map from the internet
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    command = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    log = (workdir / "litellm.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            _wait_http(f"http://127.0.0.1:{port}/health/liveliness", 120, process)
        except (RuntimeError, TimeoutError) as error:
            tail = (workdir / "litellm.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"LiteLLM proxy did not start ({error}): {tail}") from None
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        _stop(process)
        log.close()


NOOP_ASGI = """
import sys, uvicorn
BODY = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            lifespan="off", access_log=False, log_level="warning", proxy_headers=False)
"""


HARDENED_NOOP_ASGI = (
    NOOP_ASGI.split("uvicorn.run(")[0]
    + """
from modelops.router.server import ServerLimits, serve
serve(app, "127.0.0.1", int(sys.argv[1]), "warning", ServerLimits())
"""
)


@contextmanager
def uvicorn_noop(hardened: bool = False) -> Iterator[tuple[str, int]]:
    """Reference only: an ASGI app that answers at once under the same uvicorn settings as the
    router, i.e. the ceiling of any uvicorn-served proxy on this machine; `hardened`: under the
    router's own server protocol instead of uvicorn's."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", HARDENED_NOOP_ASGI if hardened else NOOP_ASGI, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/", 20, process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        _stop(process)


NGINX_CONFIG = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream backend {{ server {backend}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


@contextmanager
def nginx_proxy(backend_address: str, workdir: Path) -> Iterator[tuple[str, int]]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise FileNotFoundError("nginx is not installed (run with --install-peers, or apt-get)")
    port = free_port()
    directory = workdir / "nginx"
    directory.mkdir()
    config = directory / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(dir=directory, backend=backend_address, port=port))
    command = [binary, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", 20, process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        _stop(process)


def install_peers() -> None:
    if not (LITELLM_VENV / "bin" / "litellm").exists():
        print(f"creating {LITELLM_VENV} and installing litellm[proxy] (its own virtualenv)")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(LITELLM_VENV)], check=True)
        pip = str(LITELLM_VENV / "bin" / "pip")
        subprocess.run([pip, "install", "-q", "litellm[proxy]"], check=True)
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        print("installing nginx from Debian")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "nginx-light"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )


def report(results: list[Figures], args: argparse.Namespace) -> None:
    print(
        f"\nbackend: vLLM simulator, chat, max_tokens=8, {args.rounds} interleaved rounds; "
        f"latency over {args.latency_requests} "
        f"sequential requests, throughput up to {args.throughput_requests} requests or "
        f"{args.throughput_seconds:g} s per target at concurrency "
        f"{args.concurrency}, TTFT over {args.stream_requests} streams\n"
    )
    direct = next(f for f in results if f.name == "direct")
    header = f"{'target':10} {'median ms':>9} {'p99 ms':>8} {'added med':>9} {'added p99':>9}"
    print(
        header
        + f" {'req/s@' + str(args.concurrency):>10} {'TTFT ms':>8} {'+TTFT ms':>8}"
        + f" {'cpu us/req':>10} {'errors':>6}"
    )
    for figures in results:
        if figures.skipped:
            print(f"{figures.name:10} skipped: {figures.skipped}")
            continue
        print(
            f"{figures.name:10} {figures.median_ms:9.3f} {figures.p99_ms:8.3f} "
            f"{figures.median_ms - direct.median_ms:9.3f} {figures.p99_ms - direct.p99_ms:9.3f} "
            f"{figures.rps:10.0f} {figures.ttft_median_ms:8.3f} "
            f"{figures.ttft_median_ms - direct.ttft_median_ms:8.3f} {figures.cpu_us:10.1f} "
            f"{figures.errors:6d}"
        )
    by_name = {f.name: f for f in results if not f.skipped}
    ours = by_name.get("modelops")
    if ours is None:
        return
    added_ours = ours.median_ms - direct.median_ms
    print()
    print(f"modelops median added latency: {added_ours:.3f} ms (target <= 1 ms)")
    litellm = by_name.get("litellm")
    if litellm is not None:
        added_litellm = litellm.median_ms - direct.median_ms
        print(
            f"added latency modelops/litellm: {added_ours / added_litellm:.3f} "
            f"(target <= 0.2); throughput modelops/litellm: {ours.rps / litellm.rps:.2f}x "
            "(target >= 3x)"
        )
    nginx = by_name.get("nginx")
    if nginx is not None:
        print(f"throughput modelops/nginx: {ours.rps / nginx.rps:.2f} (target >= 0.5)")
        print(
            f"CPU per request modelops/nginx: {ours.cpu_us / nginx.cpu_us:.2f} "
            "(throughput on a machine with a core to spare scales with its inverse)"
        )
    if litellm is not None:
        print(f"CPU per request litellm/modelops: {litellm.cpu_us / ours.cpu_us:.1f}x")
    print(f"throughput modelops/direct: {ours.rps / direct.rps:.2f}")
    noop = by_name.get("uvicorn-noop")
    hardened = by_name.get("hardened-noop")
    if noop is not None and hardened is not None:
        print(
            f"server hardening: no-op app {hardened.rps:.0f} vs {noop.rps:.0f} req/s "
            f"({hardened.rps / noop.rps:.2f}), CPU {hardened.cpu_us:.1f} vs {noop.cpu_us:.1f} "
            "us/req"
        )
    if noop is not None:
        print(
            f"reference: a no-op ASGI app under uvicorn serves {noop.rps:.0f} req/s here "
            f"({noop.rps / nginx.rps if nginx else 0:.2f} of nginx): the ceiling for any "
            f"uvicorn-served proxy; modelops reaches {ours.rps / noop.rps:.2f} of it"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-requests", type=int, default=1500)
    parser.add_argument("--throughput-requests", type=int, default=15000)
    parser.add_argument(
        "--throughput-seconds", type=float, default=15.0, help="cap per target, all rounds"
    )
    parser.add_argument("--stream-requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["modelops", "litellm", "nginx", "uvicorn-noop", "hardened-noop"],
    )
    parser.add_argument("--install-peers", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.install_peers:
        install_peers()
    wanted = args.only or ["modelops", "litellm", "nginx", "uvicorn-noop", "hardened-noop"]
    results: list[Figures] = []
    skipped: list[Figures] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="router-bench-")))
        sim = stack.enter_context(running_simulator("vllm", [MODEL]))
        starters: list[tuple[str, Any]] = []
        if "modelops" in wanted:
            config = {
                "models": {
                    MODEL: {
                        "engine": "vllm",
                        "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{sim.port}"]}],
                    }
                }
            }
            starters.append(("modelops", lambda: _router_url(config)))
        if "litellm" in wanted:
            starters.append(("litellm", lambda: litellm_proxy(sim.url, workdir)))
        if "nginx" in wanted:
            starters.append(("nginx", lambda: nginx_proxy(f"127.0.0.1:{sim.port}", workdir)))
        if "uvicorn-noop" in wanted:
            starters.append(("uvicorn-noop", uvicorn_noop))
        if "hardened-noop" in wanted:
            starters.append(("hardened-noop", lambda: uvicorn_noop(hardened=True)))
        targets = {"direct": (sim.url, sim.process.pid)}
        for name, start in starters:
            print(f"starting {name} ...", flush=True)
            try:
                targets[name] = stack.enter_context(start())
            except (OSError, RuntimeError, TimeoutError) as error:
                skipped.append(Figures(name, skipped=str(error)))
        samples = asyncio.run(_measure_all(targets, args))
        results = [_figures(name, samples[name]) for name in targets] + skipped
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps([f.__dict__ for f in results], indent=2))
    return 0


@contextmanager
def _router_url(config: dict[str, Any]) -> Iterator[tuple[str, int]]:
    with running_router(config) as router:
        yield router.url, router.process.pid


if __name__ == "__main__":
    raise SystemExit(main())
