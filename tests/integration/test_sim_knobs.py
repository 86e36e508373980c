"""Behaviour knobs: queueing beyond max concurrency, injected errors, health, startup delay."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from modelops.sim.testing import running_simulator

CHAT = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}


def gauge(metrics: str, name: str) -> float | None:
    match = re.search(rf'^{re.escape(name)}{{model_name="demo"}} (\S+)$', metrics, re.MULTILINE)
    return float(match.group(1)) if match else None


async def test_requests_beyond_max_concurrency_wait() -> None:
    env = {"MODELOPS_SIM_MAX_CONCURRENCY": "2", "MODELOPS_SIM_TTFT_MS": "5000"}
    with running_simulator("vllm", ["demo"], env=env) as sim:
        async with httpx.AsyncClient(base_url=sim.url, timeout=30) as client:
            in_flight = [
                asyncio.create_task(client.post("/v1/chat/completions", json=CHAT))
                for _ in range(6)
            ]
            try:
                seen: tuple[float | None, float | None] = (None, None)
                deadline = time.monotonic() + 4
                while time.monotonic() < deadline:
                    text = (await client.get("/metrics")).text
                    seen = (
                        gauge(text, "vllm:num_requests_running"),
                        gauge(text, "vllm:num_requests_waiting"),
                    )
                    if seen == (2, 4):
                        break
                    await asyncio.sleep(0.02)
                assert seen == (2, 4)
                assert not any(task.done() for task in in_flight)
            finally:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)


def test_error_rate_one_fails_every_inference_request() -> None:
    with running_simulator("vllm", ["demo"], env={"MODELOPS_SIM_ERROR_RATE": "1.0"}) as sim:
        for _ in range(5):
            response = httpx.post(sim.url + "/v1/chat/completions", json=CHAT)
            assert response.status_code == 500
            assert response.json()["error"]["code"] == 500
        assert httpx.get(sim.url + "/health").status_code == 200


def test_error_rate_flag_on_ollama() -> None:
    with running_simulator("ollama", ["m:1b"], extra_args=["--error-rate", "1"]) as sim:
        response = httpx.post(
            sim.url + "/api/generate", json={"model": "m:1b", "prompt": "x", "stream": False}
        )
        assert response.status_code == 500
        assert "error" in response.json()


@pytest.mark.parametrize(("engine", "path"), [("vllm", "/health"), ("ollama", "/")])
def test_unhealthy_fails_health(engine: str, path: str) -> None:
    env = {"MODELOPS_SIM_UNHEALTHY": "true"}
    with running_simulator(engine, ["demo"], env=env, wait_healthy=False) as sim:
        sim.wait_until(503)
        assert httpx.get(sim.url + path).status_code == 503


def test_startup_delay_fails_health_then_passes() -> None:
    env = {"MODELOPS_SIM_STARTUP_DELAY_SECONDS": "1.5"}
    with running_simulator("vllm", ["demo"], env=env, wait_healthy=False) as sim:
        started = time.monotonic()
        assert sim.health() is None  # nothing listens while the "model loads"
        sim.wait_until(200, timeout=15)
        assert time.monotonic() - started >= 1.0


def test_reasoning_prefix_and_seed() -> None:
    env = {"MODELOPS_SIM_REASONING": "1", "MODELOPS_SIM_SEED": "7"}
    with running_simulator("vllm", ["demo"], env=env) as sim:
        content = httpx.post(sim.url + "/v1/chat/completions", json=CHAT).json()
        text = content["choices"][0]["message"]["content"]
        assert text.startswith("<think>")
        assert "</think>" in text
        with running_simulator("vllm", ["demo"], extra_args=["--seed", "8"]) as other:
            other_text = httpx.post(other.url + "/v1/chat/completions", json=CHAT).json()
        assert other_text["choices"][0]["message"]["content"] != text


def test_ttft_and_token_rate_pace_streaming() -> None:
    env = {"MODELOPS_SIM_TTFT_MS": "300", "MODELOPS_SIM_TOKENS_PER_SECOND": "50"}
    with running_simulator("vllm", ["demo"], env=env) as sim:
        started = time.monotonic()
        body = CHAT | {"stream": True, "max_tokens": 6}
        with httpx.stream("POST", sim.url + "/v1/chat/completions", json=body) as response:
            arrivals = []
            for line in response.iter_lines():
                if '"content": "' in line and '"content": ""' not in line:
                    arrivals.append(time.monotonic() - started)
        # Tokens are never early: token i is due at ttft + i / rate after the start (a busy
        # machine can only make them later, so these lower bounds do not flake).
        assert len(arrivals) == 6
        assert arrivals[0] >= 0.29  # the simulator may run up to 1 ms ahead of schedule
        assert arrivals[-1] >= 0.29 + 5 / 50


def test_bad_knob_value_is_a_clear_error() -> None:
    import subprocess
    import sys

    from modelops.sim.testing import SOURCE_ROOT

    result = subprocess.run(
        [sys.executable, "-m", "modelops.sim", "--engine", "vllm", "--model", "m"],
        env={"PYTHONPATH": str(SOURCE_ROOT), "MODELOPS_SIM_ERROR_RATE": "lots"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "MODELOPS_SIM_ERROR_RATE" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_finishes_the_streams_in_flight_and_takes_no_new_connection() -> None:
    """Graceful shutdown, as uvicorn does for vLLM: a deleted pod cuts no stream."""
    import signal

    env = {"MODELOPS_SIM_TOKENS_PER_SECOND": "40"}
    with running_simulator("vllm", ["demo"], env=env) as sim:
        body = CHAT | {"stream": True, "max_tokens": 40}  # about a second of tokens
        with httpx.stream("POST", sim.url + "/v1/chat/completions", json=body) as response:
            lines = response.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            sim.process.send_signal(signal.SIGTERM)
            rest = list(lines)
        assert '"content"' in first
        assert rest[-1] == "data: [DONE]" or "data: [DONE]" in rest
        with pytest.raises(httpx.ConnectError):
            httpx.get(sim.url + "/health", timeout=2)
        assert sim.process.wait(timeout=10) == 0
