"""Fallback, retries, health, demotion and upstream cancellation against real simulators."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest

from modelops.router.testing import RunningRouter, free_port, running_router
from modelops.sim.testing import SOURCE_ROOT, RunningSimulator, running_simulator, simulator_command

MESSAGES: Any = [{"role": "user", "content": "hello"}]


def _track(*sims: RunningSimulator | int) -> list[dict[str, Any]]:
    ports = [s if isinstance(s, int) else s.port for s in sims]
    return [{"name": "stable", "endpoints": [f"127.0.0.1:{p}" for p in ports]}]


@contextmanager
def simulator_on_port(
    engine: str, model: str, port: int, env: dict[str, str] | None = None
) -> Iterator[RunningSimulator]:
    """A simulator on a given port (to take an endpoint down and bring it back in place)."""
    child_env = {**os.environ, "PYTHONPATH": str(SOURCE_ROOT), **(env or {})}
    process = subprocess.Popen(
        simulator_command(engine, [model], "127.0.0.1", port),
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    simulator = RunningSimulator(engine, "127.0.0.1", port, process)
    try:
        simulator.wait_until(503 if env and env.get("MODELOPS_SIM_UNHEALTHY") else 200)
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def client_factory() -> Iterator[Any]:
    clients: list[openai.OpenAI] = []

    def make(router: RunningRouter) -> openai.OpenAI:
        client = openai.OpenAI(base_url=router.url + "/v1", api_key="unused", max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_task_routing_falls_back_along_the_chain(client_factory: Any) -> None:
    with (
        running_simulator("vllm", ["mixtral-8x7b-instruct"]) as mixtral,
        running_simulator("ollama", ["llama3.1:8b"]) as llama,
        running_simulator("vllm", ["qwen2.5-14b-instruct"]) as qwen,
        running_simulator("ollama", ["phi3:mini"]) as phi,
    ):
        config = {
            "models": {
                "mixtral-8x7b-instruct": {
                    "engine": "vllm",
                    "fallback": ["llama3.1-8b-instruct"],
                    "tracks": _track(mixtral),
                },
                "llama3.1-8b-instruct": {
                    "engine": "ollama",
                    "backendModel": "llama3.1:8b",
                    "tracks": _track(llama),
                },
                "qwen2.5-14b-instruct": {
                    "engine": "vllm",
                    "fallback": ["phi3-mini-4k"],
                    "tracks": _track(qwen),
                },
                "phi3-mini-4k": {
                    "engine": "ollama",
                    "backendModel": "phi3:mini",
                    "tracks": _track(phi),
                },
            },
            "tasks": {
                "reasoning": ["mixtral-8x7b-instruct", "llama3.1-8b-instruct"],
                "summarisation": ["qwen2.5-14b-instruct", "phi3-mini-4k"],
            },
            "healthCheck": {"intervalSeconds": 0.2},
        }
        with running_router(config) as router:
            client = client_factory(router)

            def served(task: str) -> str:
                answer = client.chat.completions.create(
                    model=f"task:{task}", messages=MESSAGES, max_tokens=3
                )
                return answer.model

            assert served("reasoning") == "mixtral-8x7b-instruct"
            assert served("summarisation") == "qwen2.5-14b-instruct"
            header_answer = client.chat.completions.create(
                model="", messages=MESSAGES, max_tokens=3, extra_headers={"X-Task": "summarisation"}
            )
            assert header_answer.model == "qwen2.5-14b-instruct"

            mixtral.stop()
            qwen.stop()
            # The very next requests already fall back (connect error -> next model).
            assert served("reasoning") == "llama3.1-8b-instruct"
            assert served("summarisation") == "phi3-mini-4k"
            direct = client.chat.completions.create(
                model="mixtral-8x7b-instruct", messages=MESSAGES, max_tokens=3
            )
            assert direct.model == "llama3.1-8b-instruct"
            status = router.wait_for(
                lambda s: s["tasks"]["reasoning"]["serving"] == "llama3.1-8b-instruct" and s,
                what="reasoning served by the fallback",
            )
            assert status["models"]["mixtral-8x7b-instruct"]["available"] is False
            assert (
                'modelops_router_fallbacks_total{requested="mixtral-8x7b-instruct"'
                in router.metrics()
            )


def test_endpoint_killed_mid_run_costs_no_failed_request(client_factory: Any) -> None:
    slow = {"MODELOPS_SIM_TTFT_MS": "20", "MODELOPS_SIM_TOKENS_PER_SECOND": "400"}
    with (
        running_simulator("vllm", ["m"], env=slow) as first,
        running_simulator("vllm", ["m"], env=slow) as second,
        running_simulator("vllm", ["m"], env=slow) as third,
    ):
        config = {
            "models": {"m": {"engine": "vllm", "tracks": _track(first, second, third)}},
            "healthCheck": {"intervalSeconds": 0.5},
        }
        with running_router(config) as router:
            client = client_factory(router)
            total = 120

            def one(index: int) -> str:
                if index == total // 3:
                    second.process.kill()  # SIGKILL: in-flight connections are reset
                answer = client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=8)
                return answer.choices[0].finish_reason

            with ThreadPoolExecutor(max_workers=6) as pool:
                results = list(pool.map(one, range(total)))
            assert results == ["length"] * total
            status = router.status()["models"]["m"]["tracks"][0]["endpoints"]
            by_address = {e["address"]: e for e in status}
            assert by_address[f"127.0.0.1:{second.port}"]["healthy"] is False
            assert all(e["outstanding"] == 0 for e in status)


def test_unhealthy_model_is_taken_out_demoted_and_recovers(client_factory: Any) -> None:
    port = free_port()
    with running_simulator("ollama", ["llama3.1:8b"]) as fallback:
        config = {
            "models": {
                "flaky": {"engine": "vllm", "fallback": ["steady"], "tracks": _track(port)},
                "steady": {
                    "engine": "ollama",
                    "backendModel": "llama3.1:8b",
                    "tracks": _track(fallback),
                },
            },
            "tasks": {"chat": ["flaky", "steady"]},
            "demotionWindowSeconds": 1.0,
            "healthCheck": {"intervalSeconds": 0.1, "timeoutSeconds": 1},
        }
        with running_router(config) as router:
            client = client_factory(router)

            def served(model: str) -> str:
                answer = client.chat.completions.create(
                    model=model, messages=MESSAGES, max_tokens=2
                )
                return answer.model

            with simulator_on_port("vllm", "flaky", port):
                router.wait_for(lambda s: s["models"]["flaky"]["available"], what="flaky in")
                assert served("flaky") == "flaky"

            with simulator_on_port("vllm", "flaky", port, env={"MODELOPS_SIM_UNHEALTHY": "1"}):
                status = router.wait_for(
                    lambda s: not s["models"]["flaky"]["available"] and s, what="flaky taken out"
                )
                assert status["models"]["flaky"]["demoted"] is False
                # Out at once: traffic goes to the fallback already, before demotion.
                assert served("flaky") == "steady"
                router.wait_for(lambda s: s["models"]["flaky"]["demoted"], what="demotion")
                assert 'modelops_router_model_demoted{model="flaky"} 1.0' in router.metrics()
                assert served("task:chat") == "steady"

            with simulator_on_port("vllm", "flaky", port):
                router.wait_for(
                    lambda s: (
                        s["models"]["flaky"]["available"] and not s["models"]["flaky"]["demoted"]
                    ),
                    what="recovery",
                )
                assert 'modelops_router_model_demoted{model="flaky"} 0.0' in router.metrics()
                assert served("task:chat") == "flaky"


def _running_on_sim(sim: RunningSimulator) -> float:
    text = httpx.get(sim.url + "/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("vllm:num_requests_running"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("simulator exposes no vllm:num_requests_running")


def test_client_disconnect_cancels_the_upstream_request() -> None:
    # The simulator's answers end on their own after a few dozen tokens: at 2 tokens/s the
    # generation outlasts the test by far, whatever the answer's natural length.
    slow = {"MODELOPS_SIM_TOKENS_PER_SECOND": "2"}
    with running_simulator("vllm", ["m"], env=slow) as sim:
        config = {"models": {"m": {"engine": "vllm", "tracks": _track(sim)}}}
        with running_router(config) as router, httpx.Client(timeout=10) as http:
            body = {"model": "m", "messages": MESSAGES, "max_tokens": 400, "stream": True}
            with http.stream("POST", router.url + "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                first = next(response.iter_bytes())
                assert first.startswith(b"data:")
                assert _running_on_sim(sim) == 1
            # The client closed the connection long before the generation would have ended.
            deadline = time.monotonic() + 5
            while _running_on_sim(sim) != 0:
                assert time.monotonic() < deadline, "upstream request still running"
                time.sleep(0.05)
            endpoint = router.status()["models"]["m"]["tracks"][0]["endpoints"][0]
            assert endpoint["outstanding"] == 0
