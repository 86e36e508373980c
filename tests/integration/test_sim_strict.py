"""The simulator is as strict as the runtimes where tests lean on it: stop sequences, `n`,
log probabilities, tool calls, `response_format` on completions, and the types vLLM and Ollama
refuse (400, in each runtime's own error shape)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import openai
import pytest

from modelops.sim.testing import RunningSimulator, running_simulator

MESSAGES: Any = [{"role": "user", "content": "Say something about simulators."}]
WEATHER: Any = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def vllm() -> Iterator[RunningSimulator]:
    with running_simulator("vllm", ["demo"]) as running:
        yield running


@pytest.fixture(scope="module")
def ollama_sim() -> Iterator[RunningSimulator]:
    with running_simulator("ollama", ["llama3:8b"], env={"MODELOPS_SIM_REASONING": "1"}) as sim:
        yield sim


@pytest.fixture
def client(vllm: RunningSimulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=vllm.url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_stop_sequences_cut_the_answer(client: openai.OpenAI) -> None:
    full = client.completions.create(model="demo", prompt="p", max_tokens=64).choices[0].text
    stop = full.split()[2]
    cut = client.completions.create(model="demo", prompt="p", max_tokens=64, stop=[stop])
    choice = cut.choices[0]
    assert choice.text == full[: full.index(stop)]
    assert choice.finish_reason == "stop"
    assert choice.model_extra is not None
    assert choice.model_extra["stop_reason"] == stop


def test_n_choices_and_logprobs(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="demo", messages=MESSAGES, n=3, logprobs=True, top_logprobs=2, max_tokens=4
    )
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert len({c.message.content for c in answer.choices}) > 1
    first = answer.choices[0]
    assert first.logprobs is not None
    assert first.logprobs.content is not None
    assert len(first.logprobs.content) == 4
    assert len(first.logprobs.content[0].top_logprobs) == 2
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 12
    legacy = client.completions.create(model="demo", prompt="p", max_tokens=3, logprobs=1)
    assert legacy.choices[0].logprobs is not None
    assert len(legacy.choices[0].logprobs.tokens or []) == 3


def test_response_format_on_completions(client: openai.OpenAI) -> None:
    answer = client.completions.create(
        model="demo",
        prompt="p",
        max_tokens=200,
        extra_body={"response_format": {"type": "json_object"}},
    )
    assert isinstance(json.loads(answer.choices[0].text), dict)


def test_tool_calls_whole_and_streamed(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="demo", messages=MESSAGES, tools=WEATHER)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "weather"  # type: ignore[union-attr]
    assert "city" in json.loads(call.function.arguments)  # type: ignore[union-attr]
    pieces = []
    finish = None
    for chunk in client.chat.completions.create(
        model="demo", messages=MESSAGES, tools=WEATHER, stream=True
    ):
        for streamed in chunk.choices:
            for delta in streamed.delta.tool_calls or []:
                pieces.append(delta.function.arguments if delta.function else "")
            finish = streamed.finish_reason or finish
    assert finish == "tool_calls"
    assert "city" in json.loads("".join(p or "" for p in pieces))
    # With the tool's answer in the conversation the model speaks again.
    after = [*MESSAGES, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    spoken = client.chat.completions.create(model="demo", messages=after, tools=WEATHER)
    assert spoken.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    "extra",
    [
        {"temperature": "hot"},
        {"n": "2"},
        {"stop": 5},
        {"top_p": 0},
        {"stream": "yes"},
        {"max_tokens": 1.5},
        {"messages": [{"role": "user", "content": 5}]},
        {"tools": [{"type": "function"}]},
    ],
)
def test_vllm_refuses_bad_types(vllm: RunningSimulator, extra: dict[str, Any]) -> None:
    body = {"model": "demo", "messages": MESSAGES, **extra}
    answer = httpx.post(vllm.url + "/v1/chat/completions", json=body, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"]


def test_ollama_stop_tools_think_and_types(ollama_sim: RunningSimulator) -> None:
    client = ollama.Client(host=ollama_sim.url)
    answer = client.chat(model="llama3:8b", messages=MESSAGES, think=True)
    assert answer.message.thinking
    assert "<think>" not in answer.message.content
    plain = client.chat(model="llama3:8b", messages=MESSAGES, think=False)
    assert not plain.message.thinking
    assert "<think>" not in plain.message.content
    called = client.chat(model="llama3:8b", messages=MESSAGES, tools=WEATHER)
    assert called.message.tool_calls is not None
    assert called.message.tool_calls[0].function.name == "weather"
    streamed = list(client.chat(model="llama3:8b", messages=MESSAGES, tools=WEATHER, stream=True))
    assert any(part.message.tool_calls for part in streamed)
    full = client.generate(model="llama3:8b", prompt="p", think=False).response
    stop = full.split()[3]
    cut = client.generate(model="llama3:8b", prompt="p", think=False, options={"stop": [stop]})
    assert cut.response == full[: full.index(stop)]
    client._client.close()
    for bad in ({"options": {"num_predict": "5"}}, {"stream": "no"}, {"messages": {}}):
        body = {"model": "llama3:8b", "messages": MESSAGES, **bad}
        answer_raw = httpx.post(ollama_sim.url + "/api/chat", json=body, timeout=5)
        assert answer_raw.status_code == 400
        assert isinstance(answer_raw.json()["error"], str)
