"""Scale from zero through a real router process (standalone mode, config file reloads).

A model marked `scaleToZero` with no endpoint: first requests are held (counted in the holding
gauge), the model stays listed, and all of them are answered once an endpoint appears (here a
simulator listed in the reloaded config, as the pod watcher would report a Ready pod). A hold
that runs out answers 503 with Retry-After in the client's API shape.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from modelops.router.holding import RETRY_AFTER_SECONDS
from modelops.router.testing import RunningRouter, running_router
from modelops.sim.testing import running_simulator
from tests.conftest import wait_until

CLIENTS = 20


def config(endpoints: list[str], hold_seconds: float) -> dict[str, Any]:
    return {
        "holdSeconds": hold_seconds,
        "models": {
            "sleepy": {
                "engine": "vllm",
                "scaleToZero": True,
                "tracks": [{"name": "stable", "endpoints": endpoints}],
            }
        },
    }


def samples(router: RunningRouter, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(router.metrics())
        for sample in family.samples
        if sample.name == name
    }


def holding(router: RunningRouter) -> float:
    found = samples(router, "modelops_router_model_holding_requests")
    return found.get(frozenset({("model", "sleepy")}), 0.0)


def ask(client: httpx.Client, url: str, index: int) -> tuple[int, Any]:
    response = client.post(
        url + "/v1/chat/completions",
        json={"model": "sleepy", "messages": [{"role": "user", "content": f"hello {index}"}]},
    )
    return response.status_code, response.json()


def test_first_requests_wait_for_the_endpoint_and_all_get_answers() -> None:
    with (
        running_router(config([], hold_seconds=120)) as router,
        httpx.Client(timeout=90) as client,
        ThreadPoolExecutor(CLIENTS) as pool,
    ):
        futures = [pool.submit(ask, client, router.url, i) for i in range(CLIENTS)]
        wait_until(lambda: holding(router) == CLIENTS, timeout=30, what="20 held requests")
        assert not any(f.done() for f in futures)
        listed = client.get(router.url + "/v1/models").json()
        assert [m["id"] for m in listed["data"]] == ["sleepy"]
        tags = client.get(router.url + "/api/tags").json()
        assert [m["name"] for m in tags["models"]] == ["sleepy"]

        with running_simulator("vllm", ["sleepy"]) as sim:
            router.write_config(config([f"127.0.0.1:{sim.port}"], hold_seconds=120))
            results = [f.result(timeout=90) for f in futures]

        assert [status for status, _ in results] == [200] * CLIENTS
        assert all(body["choices"][0]["message"]["content"] for _, body in results)
        assert holding(router) == 0
        served = samples(router, "modelops_router_model_hold_duration_seconds_count")
        assert served[frozenset({("model", "sleepy"), ("outcome", "served")})] == CLIENTS


def test_a_hold_that_runs_out_answers_503_with_retry_after() -> None:
    with running_router(config([], hold_seconds=0.5)) as router, httpx.Client(timeout=30) as client:
        openai_answer = client.post(
            router.url + "/v1/chat/completions",
            json={"model": "sleepy", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert openai_answer.status_code == 503
        assert openai_answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        error = openai_answer.json()["error"]
        assert error["type"] == "api_error"
        assert "scaled to zero" in error["message"]

        ollama_answer = client.post(
            router.url + "/api/generate", json={"model": "sleepy", "prompt": "hi"}
        )
        assert ollama_answer.status_code == 503
        assert ollama_answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert "scaled to zero" in ollama_answer.json()["error"]

        expired = samples(router, "modelops_router_model_hold_duration_seconds_count")
        assert expired[frozenset({("model", "sleepy"), ("outcome", "expired")})] == 2
        assert holding(router) == 0
