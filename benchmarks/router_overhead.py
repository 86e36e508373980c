"""What does a proxy in front of the runtime cost? Direct vs our router vs LiteLLM vs nginx.

One vLLM simulator is the backend of every target, on the same machine, in one run:
(a) direct calls, (b) `modelops router` (static endpoint), (c) LiteLLM's proxy from PyPI, in
its own virtualenv (never the project's: its pins conflict with ours), (d) nginx from Debian as
a plain keep-alive reverse proxy (one worker, like our single router process).

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

import aiohttp

from modelops.router.testing import free_port, running_router
from modelops.sim.testing import running_simulator

MODEL = "bench-model"
LITELLM_VENV = Path.home() / ".cache" / "modelops" / "bench-venvs" / "litellm"
PHASE_DEADLINE_SECONDS = 120.0
# LiteLLM refuses to start without a strong master key; the other targets ignore the header.
MASTER_KEY = "sk-" + secrets.token_hex(32)
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {MASTER_KEY}"}


def chat_body(stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


@dataclass
class Figures:
    name: str
    median_ms: float = 0.0
    p99_ms: float = 0.0
    rps: float = 0.0
    ttft_median_ms: float = 0.0
    errors: int = 0
    skipped: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _measure(name: str, base_url: str, args: argparse.Namespace) -> Figures:
    figures = Figures(name)
    url = base_url + "/v1/chat/completions"
    plain, streaming = chat_body(False), chat_body(True)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call() -> float:
            started = time.perf_counter()
            async with session.post(url, data=plain, headers=HEADERS) as response:
                await response.read()
                if response.status != 200:
                    figures.errors += 1
            return time.perf_counter() - started

        async def first_token() -> float:
            started = time.perf_counter()
            async with session.post(url, data=streaming, headers=HEADERS) as response:
                elapsed = None
                async for line in response.content:
                    if elapsed is None and line.startswith(b"data:") and b"content" in line:
                        elapsed = time.perf_counter() - started
                if response.status != 200 or elapsed is None:
                    figures.errors += 1
                return elapsed if elapsed is not None else time.perf_counter() - started

        async with asyncio.timeout(PHASE_DEADLINE_SECONDS):
            for _ in range(args.warmup):
                await call()
            samples = [await call() for _ in range(args.latency_requests)]
        figures.median_ms = statistics.median(samples) * 1000
        figures.p99_ms = _percentile(samples, 0.99) * 1000

        remaining = args.throughput_requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await call()

        async with asyncio.timeout(PHASE_DEADLINE_SECONDS):
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            figures.rps = args.throughput_requests / (time.perf_counter() - started)

        async with asyncio.timeout(PHASE_DEADLINE_SECONDS):
            ttfts = [await first_token() for _ in range(args.stream_requests)]
        figures.ttft_median_ms = statistics.median(ttfts) * 1000
    return figures


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
def litellm_proxy(backend_url: str, workdir: Path) -> Iterator[str]:
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
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
        log.close()


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
def nginx_proxy(backend_address: str, workdir: Path) -> Iterator[str]:
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
        yield f"http://127.0.0.1:{port}"
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
        f"\nbackend: vLLM simulator, chat, max_tokens=8; latency over {args.latency_requests} "
        f"sequential requests, throughput {args.throughput_requests} requests at concurrency "
        f"{args.concurrency}, TTFT over {args.stream_requests} streams\n"
    )
    direct = next(f for f in results if f.name == "direct")
    header = f"{'target':10} {'median ms':>9} {'p99 ms':>8} {'added med':>9} {'added p99':>9}"
    print(
        header
        + f" {'req/s@' + str(args.concurrency):>10} {'TTFT ms':>8} {'+TTFT ms':>8} {'errors':>6}"
    )
    for figures in results:
        if figures.skipped:
            print(f"{figures.name:10} skipped: {figures.skipped}")
            continue
        print(
            f"{figures.name:10} {figures.median_ms:9.3f} {figures.p99_ms:8.3f} "
            f"{figures.median_ms - direct.median_ms:9.3f} {figures.p99_ms - direct.p99_ms:9.3f} "
            f"{figures.rps:10.0f} {figures.ttft_median_ms:8.3f} "
            f"{figures.ttft_median_ms - direct.ttft_median_ms:8.3f} {figures.errors:6d}"
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
    print(f"throughput modelops/direct: {ours.rps / direct.rps:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-requests", type=int, default=1000)
    parser.add_argument("--throughput-requests", type=int, default=4000)
    parser.add_argument("--stream-requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--only", nargs="*", choices=["modelops", "litellm", "nginx"])
    parser.add_argument("--install-peers", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.install_peers:
        install_peers()
    wanted = args.only or ["modelops", "litellm", "nginx"]
    results: list[Figures] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="router-bench-")))
        sim = stack.enter_context(running_simulator("vllm", [MODEL]))
        targets: list[tuple[str, Any]] = [("direct", lambda: _nullcontext(sim.url))]
        if "modelops" in wanted:
            config = {
                "models": {
                    MODEL: {
                        "engine": "vllm",
                        "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{sim.port}"]}],
                    }
                }
            }
            targets.append(("modelops", lambda: _router_url(config)))
        if "litellm" in wanted:
            targets.append(("litellm", lambda: litellm_proxy(sim.url, workdir)))
        if "nginx" in wanted:
            targets.append(("nginx", lambda: nginx_proxy(f"127.0.0.1:{sim.port}", workdir)))
        for name, start in targets:
            print(f"measuring {name} ...", flush=True)
            try:
                with start() as url:
                    results.append(asyncio.run(_measure(name, url, args)))
            except (OSError, RuntimeError, TimeoutError) as error:
                results.append(Figures(name, skipped=str(error)))
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps([f.__dict__ for f in results], indent=2))
    return 0


@contextmanager
def _nullcontext(url: str) -> Iterator[str]:
    yield url


@contextmanager
def _router_url(config: dict[str, Any]) -> Iterator[str]:
    with running_router(config) as router:
        yield router.url


if __name__ == "__main__":
    raise SystemExit(main())
