"""Context windows: reported as the runtimes report them, and used to pick the candidate a
prompt fits, through a real router and simulated vLLM and Ollama runtimes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelops.router.testing import RunningRouter, running_router
from modelops.sim.testing import running_simulator


@pytest.fixture(scope="module")
def router() -> Iterator[RunningRouter]:
    # A small vLLM model first in the chain, a larger Ollama model after it.
    with (
        running_simulator("vllm", ["small"], env={"MODELOPS_SIM_MAX_MODEL_LEN": "256"}) as small,
        running_simulator("ollama", ["big:8b"], env={"OLLAMA_CONTEXT_LENGTH": "4096"}) as big,
    ):
        config = {
            "models": {
                "small": {
                    "engine": "vllm",
                    "contextLength": 256,
                    "fallback": ["big"],
                    "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{small.port}"]}],
                },
                "big": {
                    "engine": "ollama",
                    "backendModel": "big:8b",
                    "contextLength": 4096,
                    "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{big.port}"]}],
                },
            },
            "tasks": {"chat": ["small", "big"]},
        }
        with running_router(config) as running:
            yield running


def _chat(router: RunningRouter, model: str, characters: int, api: str = "openai") -> Any:
    content = "word " * (characters // 5)
    if api == "openai":
        body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 8}
        return httpx.post(router.url + "/v1/chat/completions", json=body, timeout=30)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "options": {"num_predict": 8},
        "stream": False,
    }
    return httpx.post(router.url + "/api/chat", json=body, timeout=30)


@pytest.mark.parametrize("api", ["openai", "ollama"])
@pytest.mark.parametrize("target", ["task:chat", "small"])
def test_a_prompt_goes_to_the_first_candidate_it_fits(
    router: RunningRouter, api: str, target: str
) -> None:
    short = _chat(router, target, 200, api)
    assert short.status_code == 200
    assert short.headers["x-modelops-model"] == "small"
    # About 500 tokens: too long for small's 256, fits big's 4096 (the chain's next model).
    long = _chat(router, target, 2000, api)
    assert long.status_code == 200, long.text
    assert long.headers["x-modelops-model"] == "big"
    # About 5000 tokens: fits nothing; the answer names every size.
    huge = _chat(router, target, 20000, api)
    assert huge.status_code == 400
    error = huge.json()["error"]
    message = error["message"] if api == "openai" else error
    assert "'small' (256 tokens)" in message
    assert "'big' (4096 tokens)" in message
    if api == "openai":
        assert error["code"] == "context_length_exceeded"


def test_the_windows_are_reported_as_the_runtimes_do(router: RunningRouter) -> None:
    models = httpx.get(router.url + "/v1/models", timeout=5).json()["data"]
    assert {m["id"]: m["max_model_len"] for m in models} == {"small": 256, "big": 4096}
    one = httpx.get(router.url + "/v1/models/big", timeout=5).json()
    assert one["max_model_len"] == 4096
    show = httpx.post(router.url + "/api/show", json={"model": "big"}, timeout=5).json()
    architecture = show["model_info"]["general.architecture"]
    assert show["model_info"][f"{architecture}.context_length"] == 4096
    assert "num_ctx 4096" in show["parameters"]
    running = httpx.get(router.url + "/api/ps", timeout=5).json()["models"]
    assert {m["name"]: m["context_length"] for m in running} == {"small": 256, "big": 4096}
    info = httpx.get(router.url + "/info", headers={"X-Model": "small"}, timeout=5).json()
    assert (info["max_input_tokens"], info["max_total_tokens"]) == (255, 256)
