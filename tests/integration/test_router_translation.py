"""Any client API to any backend engine, through a real router and real simulators.

OpenAI client -> Ollama backend, Ollama client -> vLLM backend (both streaming and not),
completions/generate, embeddings, TGI, and reasoning content handling.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import ollama
import openai
import pytest

from modelops.router.testing import RunningRouter, running_router
from modelops.sim.testing import running_simulator

OLLAMA_TAG = "llama3.1:8b"


@pytest.fixture(scope="module")
def router() -> Iterator[RunningRouter]:
    with (
        running_simulator("ollama", [OLLAMA_TAG]) as llama,
        running_simulator("vllm", ["qwen2.5-14b-instruct"]) as qwen,
        running_simulator(
            "vllm", ["mixtral-8x7b-instruct"], env={"MODELOPS_SIM_REASONING": "1"}
        ) as mixtral,
        running_simulator("ollama", ["deepseek-r1:7b"], env={"MODELOPS_SIM_REASONING": "1"}) as r1,
    ):
        config = {
            "models": {
                "llama3.1-8b-instruct": {
                    "engine": "ollama",
                    "backendModel": OLLAMA_TAG,
                    "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{llama.port}"]}],
                },
                "qwen2.5-14b-instruct": {
                    "engine": "vllm",
                    "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{qwen.port}"]}],
                },
                "mixtral-8x7b-instruct": {
                    "engine": "vllm",
                    "reasoning": True,
                    "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{mixtral.port}"]}],
                },
                "deepseek-r1": {
                    "engine": "ollama",
                    "backendModel": "deepseek-r1:7b",
                    "reasoning": True,
                    "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{r1.port}"]}],
                },
            },
            "defaultModel": "qwen2.5-14b-instruct",
        }
        with running_router(config) as running:
            yield running


MESSAGES: Any = [{"role": "user", "content": "Say something."}]


@pytest.mark.parametrize("model", ["llama3.1-8b-instruct", "qwen2.5-14b-instruct"])
def test_openai_client_chat_to_each_engine(openai_client: openai.OpenAI, model: str) -> None:
    answer = openai_client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=7, temperature=0.1, seed=3
    )
    assert answer.model == model
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 7


@pytest.mark.parametrize("model", ["llama3.1-8b-instruct", "qwen2.5-14b-instruct"])
def test_openai_client_streaming_to_each_engine(openai_client: openai.OpenAI, model: str) -> None:
    stream = openai_client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish = None
    usage = None
    for chunk in stream:
        assert chunk.model == model
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces).strip()
    assert finish == "length"
    assert usage is not None
    assert usage.completion_tokens == 6


@pytest.mark.parametrize("model", ["llama3.1-8b-instruct", "qwen2.5-14b-instruct"])
def test_ollama_client_chat_to_each_engine(ollama_client: ollama.Client, model: str) -> None:
    answer = ollama_client.chat(model=model, messages=MESSAGES, options={"num_predict": 5})
    assert answer.model == model
    assert answer.message.content
    assert answer.done
    assert answer.done_reason == "length"
    assert answer.eval_count == 5


@pytest.mark.parametrize("model", ["llama3.1-8b-instruct", "qwen2.5-14b-instruct"])
def test_ollama_client_streaming_to_each_engine(ollama_client: ollama.Client, model: str) -> None:
    parts = list(
        ollama_client.chat(model=model, messages=MESSAGES, options={"num_predict": 5}, stream=True)
    )
    assert len(parts) >= 2
    assert all(not part.done for part in parts[:-1])
    assert parts[-1].done
    assert parts[-1].eval_count == 5
    assert "".join(part.message.content or "" for part in parts).strip()


def test_completions_and_generate_cross_engine(
    openai_client: openai.OpenAI, ollama_client: ollama.Client
) -> None:
    completion = openai_client.completions.create(
        model="llama3.1-8b-instruct", prompt="Once", max_tokens=4
    )
    assert completion.choices[0].text
    assert completion.usage is not None
    generated = ollama_client.generate(
        model="qwen2.5-14b-instruct", prompt="Once", options={"num_predict": 4}
    )
    assert generated.response
    assert generated.eval_count == 4


def test_json_format_both_ways(openai_client: openai.OpenAI, ollama_client: ollama.Client) -> None:
    answer = openai_client.chat.completions.create(
        model="llama3.1-8b-instruct",
        messages=MESSAGES,
        max_tokens=20,
        response_format={"type": "json_object"},
    )
    assert answer.choices[0].message.content is not None
    reply = ollama_client.chat(
        model="qwen2.5-14b-instruct", messages=MESSAGES, format="json", options={"num_predict": 20}
    )
    assert reply.message.content is not None


def test_embeddings_cross_engine(
    openai_client: openai.OpenAI, ollama_client: ollama.Client
) -> None:
    vectors = openai_client.embeddings.create(model="llama3.1-8b-instruct", input=["a", "b"])
    assert len(vectors.data) == 2
    assert len(vectors.data[0].embedding) > 0
    embedded = ollama_client.embed(model="qwen2.5-14b-instruct", input="hello")
    assert len(embedded.embeddings) == 1
    assert len(embedded.embeddings[0]) > 0


def test_listing_endpoints(openai_client: openai.OpenAI, ollama_client: ollama.Client) -> None:
    names = sorted(model.id for model in openai_client.models.list())
    assert "llama3.1-8b-instruct" in names
    assert "qwen2.5-14b-instruct" in names
    tags = ollama_client.list()
    assert {m.model for m in tags.models} == set(names)
    shown = ollama_client.show("mixtral-8x7b-instruct")
    assert shown.capabilities is not None
    assert "thinking" in shown.capabilities


@pytest.mark.parametrize("model", ["mixtral-8x7b-instruct", "deepseek-r1"])
def test_reasoning_moves_to_reasoning_content_for_openai(
    openai_client: openai.OpenAI, model: str
) -> None:
    answer = openai_client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=60)
    message = answer.choices[0].message
    reasoning = getattr(message, "reasoning_content", None) or (message.model_extra or {}).get(
        "reasoning_content"
    )
    assert reasoning
    assert "<think>" not in (message.content or "")
    stream = openai_client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=60, stream=True
    )
    streamed_reasoning = ""
    streamed_content = ""
    for chunk in stream:
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            streamed_reasoning += extra.get("reasoning_content") or ""
            streamed_content += choice.delta.content or ""
    assert streamed_reasoning
    assert "<think>" not in streamed_content
    assert "</think>" not in streamed_content


@pytest.mark.parametrize("model", ["mixtral-8x7b-instruct", "deepseek-r1"])
def test_reasoning_kept_inline_for_ollama(ollama_client: ollama.Client, model: str) -> None:
    answer = ollama_client.chat(model=model, messages=MESSAGES, options={"num_predict": 60})
    assert "<think>" in (answer.message.content or "")
    streamed = "".join(
        part.message.content or ""
        for part in ollama_client.chat(
            model=model, messages=MESSAGES, options={"num_predict": 60}, stream=True
        )
    )
    assert "<think>" in streamed


def _post(router: RunningRouter, path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(
        router.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: bytes = response.read()
        return data


@pytest.mark.parametrize("model", ["llama3.1-8b-instruct", "qwen2.5-14b-instruct"])
def test_tgi_generate_and_stream(router: RunningRouter, model: str) -> None:
    body = {"inputs": "Hello", "parameters": {"max_new_tokens": 5, "details": True}}
    answer = json.loads(_post(router, "/generate", body, {"X-Model": model}))
    assert answer["generated_text"]
    assert answer["details"]["finish_reason"] == "length"
    assert answer["details"]["generated_tokens"] == 5
    events = [
        json.loads(line[5:])
        for line in _post(router, "/generate_stream", body, {"X-Model": model}).splitlines()
        if line.startswith(b"data:")
    ]
    assert events[-1]["generated_text"] == "".join(e["token"]["text"] for e in events)
    assert events[-1]["details"]["generated_tokens"] == 5
    assert events[-1]["details"]["input_length"] >= 1
    # Without `details: true` TGI answers the text alone.
    plain = {"inputs": "Hello", "parameters": {"max_new_tokens": 5}}
    assert "details" not in json.loads(_post(router, "/generate", plain, {"X-Model": model}))
    # No model named at all: the config's defaultModel serves TGI clients.
    assert json.loads(_post(router, "/generate", body, {}))["generated_text"]


def test_ollama_to_ollama_keeps_every_field_across_a_rename(ollama_client: ollama.Client) -> None:
    # deepseek-r1 is served under another name than its backend tag: still the fast path.
    answer = ollama_client.chat(
        model="deepseek-r1",
        messages=MESSAGES,
        think=True,
        keep_alive="5m",
        options={"num_ctx": 2048, "num_predict": 40},
    )
    assert answer.model == "deepseek-r1"
    assert answer.message.thinking
    assert "<think>" not in (answer.message.content or "")
    assert answer.prompt_eval_duration
    assert answer.eval_duration


@pytest.mark.parametrize("stream", [False, True])
def test_think_true_separates_reasoning_from_a_vllm_backend(
    ollama_client: ollama.Client, stream: bool
) -> None:
    if stream:
        parts = list(
            ollama_client.chat(
                model="mixtral-8x7b-instruct", messages=MESSAGES, think=True, stream=True
            )
        )
        thinking = "".join(p.message.thinking or "" for p in parts)
        content = "".join(p.message.content or "" for p in parts)
    else:
        answer = ollama_client.chat(model="mixtral-8x7b-instruct", messages=MESSAGES, think=True)
        thinking, content = answer.message.thinking or "", answer.message.content or ""
    assert thinking.strip()
    assert content.strip()
    assert "<think>" not in content
    assert "</think>" not in content
