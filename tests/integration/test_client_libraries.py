"""Real client libraries through the router, each against a vLLM-backed and an Ollama-backed
model: the openai and ollama SDKs, LangChain (ChatOpenAI, ChatOllama with tools,
OllamaEmbeddings), litellm (from its own virtualenv, see the Makefile) and huggingface_hub's
InferenceClient. Plain answers, streaming, tool calls (whole and streamed) and embeddings.

The Ollama-backed model is served under another name than its backend tag, so every Ollama
request also crosses the rename (the same-API fast path keeps every field).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ollama
import openai
import pytest
from huggingface_hub import InferenceClient
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_ollama import ChatOllama, OllamaEmbeddings
from langchain_openai import ChatOpenAI

from modelops.router.testing import RunningRouter, running_router
from modelops.sim.testing import running_simulator

MODELS = ["qwen", "llama"]  # served by vLLM, by Ollama (backend tag llama3.1:8b)
LITELLM_PYTHON = Path(
    os.environ.get(
        "MODELOPS_LITELLM_PYTHON", Path.home() / ".cache/modelops/test-venvs/litellm/bin/python"
    )
)
QUESTION: Any = [{"role": "user", "content": "What is the weather in Oslo?"}]
WEATHER: Any = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture(scope="module")
def router() -> Iterator[RunningRouter]:
    with (
        running_simulator("vllm", ["qwen"], env={"MODELOPS_SIM_MAX_MODEL_LEN": "8192"}) as qwen,
        running_simulator("ollama", ["llama3.1:8b"]) as llama,
    ):
        config = {
            "models": {
                "qwen": {
                    "engine": "vllm",
                    "contextLength": 8192,
                    "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{qwen.port}"]}],
                },
                "llama": {
                    "engine": "ollama",
                    "backendModel": "llama3.1:8b",
                    "contextLength": 4096,
                    "tracks": [{"name": "stable", "endpoints": [f"127.0.0.1:{llama.port}"]}],
                },
            },
            "defaultModel": "qwen",
        }
        with running_router(config) as running:
            yield running


# ---------------------------------------------------------------- openai


@pytest.mark.parametrize("model", MODELS)
def test_openai_sdk(openai_client: openai.OpenAI, model: str) -> None:
    answer = openai_client.chat.completions.create(model=model, messages=QUESTION, max_tokens=6)
    assert answer.model == model
    assert answer.choices[0].message.content
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 6
    chunks = list(
        openai_client.chat.completions.create(
            model=model, messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert chunks[-1].usage is not None
    called = openai_client.chat.completions.create(model=model, messages=QUESTION, tools=WEATHER)
    choice = called.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "weather"  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments)["city"], str)  # type: ignore[union-attr]
    arguments = ""
    finish = None
    for chunk in openai_client.chat.completions.create(
        model=model, messages=QUESTION, tools=WEATHER, stream=True
    ):
        for streamed in chunk.choices:
            for delta in streamed.delta.tool_calls or []:
                arguments += (delta.function.arguments if delta.function else None) or ""
            finish = streamed.finish_reason or finish
    assert finish == "tool_calls"
    assert "city" in json.loads(arguments)
    # The tool's answer, linked by the call's id, gets a spoken reply.
    follow_up = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    spoken = openai_client.chat.completions.create(model=model, messages=follow_up, tools=WEATHER)
    assert spoken.choices[0].finish_reason == "stop"
    assert spoken.choices[0].message.content
    vectors = openai_client.embeddings.create(model=model, input=["a", "b"])
    assert len(vectors.data) == 2
    assert len(vectors.data[0].embedding) > 1
    retrieved = openai_client.models.retrieve(model)
    assert retrieved.id == model
    assert retrieved.model_extra is not None
    assert retrieved.model_extra["max_model_len"] > 0


# ---------------------------------------------------------------- ollama


@pytest.mark.parametrize("model", MODELS)
def test_ollama_sdk(ollama_client: ollama.Client, model: str) -> None:
    answer = ollama_client.chat(model=model, messages=QUESTION, options={"num_predict": 5})
    assert answer.model == model
    assert answer.message.content
    assert answer.eval_count == 5
    parts = list(ollama_client.chat(model=model, messages=QUESTION, stream=True))
    assert "".join(p.message.content or "" for p in parts).strip()
    assert parts[-1].done
    called = ollama_client.chat(model=model, messages=QUESTION, tools=WEATHER)
    assert called.message.tool_calls is not None
    assert called.message.tool_calls[0].function.name == "weather"
    assert "city" in called.message.tool_calls[0].function.arguments
    streamed = list(ollama_client.chat(model=model, messages=QUESTION, tools=WEATHER, stream=True))
    calls = [c for p in streamed for c in p.message.tool_calls or []]
    assert [c.function.name for c in calls] == ["weather"]
    follow_up = [
        *QUESTION,
        {"role": "assistant", "content": "", "tool_calls": [calls[0].model_dump()]},
        {"role": "tool", "tool_name": "weather", "content": "sunny"},
    ]
    spoken = ollama_client.chat(model=model, messages=follow_up, tools=WEATHER)
    assert spoken.message.content
    assert not spoken.message.tool_calls
    embedded = ollama_client.embed(model=model, input=["a", "b"])
    assert len(embedded.embeddings) == 2
    generated = ollama_client.generate(model=model, prompt="Hi", options={"num_predict": 4})
    assert generated.response
    assert generated.eval_count == 4
    shown = ollama_client.show(model)
    assert shown.modelinfo is not None
    assert any(key.endswith(".context_length") for key in shown.modelinfo)


# ---------------------------------------------------------------- LangChain


@pytest.mark.parametrize("model", MODELS)
def test_langchain_chat_openai(router: RunningRouter, model: str) -> None:
    chat = ChatOpenAI(
        model=model,
        base_url=router.url + "/v1",
        api_key="unused",
        max_retries=0,  # type: ignore[arg-type]
    )
    reply = chat.invoke("Hello")
    assert isinstance(reply.content, str)
    assert reply.content
    assert "".join(str(chunk.content) for chunk in chat.stream("Hello")).strip()
    with_tools = chat.bind_tools([weather])
    called = with_tools.invoke("What is the weather in Oslo?")
    assert isinstance(called, AIMessage)
    assert [c["name"] for c in called.tool_calls] == ["weather"]
    gathered: Any = None
    for chunk in with_tools.stream("What is the weather in Oslo?"):
        gathered = chunk if gathered is None else gathered + chunk
    assert [c["name"] for c in gathered.tool_calls] == ["weather"]


@pytest.mark.parametrize("model", MODELS)
def test_langchain_chat_ollama_with_tools_and_embeddings(router: RunningRouter, model: str) -> None:
    chat = ChatOllama(model=model, base_url=router.url)
    reply = chat.invoke("Hello")
    assert isinstance(reply.content, str)
    assert reply.content
    assert "".join(str(chunk.content) for chunk in chat.stream("Hello")).strip()
    with_tools = chat.bind_tools([weather])
    question = HumanMessage("What is the weather in Oslo?")
    called = with_tools.invoke([question])
    assert isinstance(called, AIMessage)
    assert [c["name"] for c in called.tool_calls] == ["weather"]
    gathered: Any = None
    for chunk in with_tools.stream([question]):
        gathered = chunk if gathered is None else gathered + chunk
    assert [c["name"] for c in gathered.tool_calls] == ["weather"]
    call = called.tool_calls[0]
    answer = with_tools.invoke(
        [question, called, ToolMessage("sunny", tool_call_id=call["id"] or "", name="weather")]
    )
    assert answer.content
    assert not answer.tool_calls
    embeddings = OllamaEmbeddings(model=model, base_url=router.url)
    vectors = embeddings.embed_documents(["a", "b"])
    assert len(vectors) == 2
    assert len(vectors[0]) > 1
    assert len(embeddings.embed_query("q")) == len(vectors[0])
    # LangChain never closes the ollama clients it creates; close them so no socket leaks.
    for owner in (chat, embeddings):
        owner._client._client.close()  # type: ignore[union-attr]


# ---------------------------------------------------------------- litellm


@pytest.mark.parametrize(("model", "provider"), [("qwen", "openai"), ("llama", "ollama_chat")])
def test_litellm(router: RunningRouter, model: str, provider: str) -> None:
    if not LITELLM_PYTHON.exists():
        pytest.fail(f"{LITELLM_PYTHON} is missing: run `make litellm-venv`")
    script = Path(__file__).with_name("litellm_matrix.py")
    done = subprocess.run(
        [str(LITELLM_PYTHON), str(script), router.url, model, provider],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["text"]
    assert report["streamed"].strip()
    assert [c["name"] for c in report["tool_calls"]] == ["weather"]
    assert "city" in report["tool_calls"][0]["arguments"]
    assert [c["name"] for c in report["streamed_tool_calls"]] == ["weather"]


# ---------------------------------------------------------------- huggingface_hub


@pytest.mark.parametrize("model", MODELS)
def test_huggingface_inference_client(router: RunningRouter, model: str) -> None:
    # base_url: the client posts TGI requests to POST / and chat to /v1/chat/completions.
    client = InferenceClient(base_url=router.url, headers={"X-Model": model})
    text = client.text_generation("Hello", max_new_tokens=5)
    assert isinstance(text, str)
    assert text
    detailed = client.text_generation("Hello", max_new_tokens=5, details=True)
    assert detailed.details is not None
    assert detailed.details.generated_tokens == 5
    assert detailed.details.finish_reason == "length"
    tokens = list(client.text_generation("Hello", max_new_tokens=5, stream=True))
    assert "".join(tokens) == text
    chat_client = InferenceClient(base_url=router.url + "/v1")
    reply = chat_client.chat_completion(messages=QUESTION, model=model, max_tokens=5)
    assert reply.choices[0].message.content
    called = chat_client.chat_completion(messages=QUESTION, model=model, tools=WEATHER)
    calls = called.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["weather"]
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in chat_client.chat_completion(messages=QUESTION, model=model, stream=True)
        if chunk.choices
    )
    assert streamed.strip()
