"""The Ollama personality driven by the official ollama package (and raw HTTP for errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from modelops.sim.testing import RunningSimulator, running_simulator

MODEL = "llama3.1:8b"
MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with running_simulator("ollama", [MODEL], env={"OLLAMA_CONTEXT_LENGTH": "8192"}) as running:
        yield running


@pytest.fixture
def client(sim: RunningSimulator) -> Iterator[ollama.Client]:
    client = ollama.Client(host=sim.url)
    yield client
    client._client.close()


def test_root_and_version(sim: RunningSimulator) -> None:
    root = httpx.get(sim.url + "/")
    assert root.status_code == 200
    assert root.text == "Ollama is running"
    assert httpx.head(sim.url + "/").status_code == 200
    assert httpx.get(sim.url + "/api/version").json()["version"]


def test_chat(client: ollama.Client) -> None:
    response = client.chat(model=MODEL, messages=MESSAGES)
    assert response.message.role == "assistant"
    assert response.message.content
    assert response.done is True
    assert response.done_reason == "stop"
    assert response.eval_count
    assert response.prompt_eval_count
    assert response.total_duration
    assert response.eval_duration


def test_streaming_chat_matches_non_streaming(client: ollama.Client) -> None:
    parts = list(client.chat(model=MODEL, messages=MESSAGES, stream=True))
    assert [part.done for part in parts].count(True) == 1
    assert parts[-1].done
    assert parts[-1].done_reason == "stop"
    text = "".join(part.message.content or "" for part in parts)
    whole = client.chat(model=MODEL, messages=MESSAGES)
    assert text == whole.message.content
    assert parts[-1].eval_count == whole.eval_count == len(parts) - 1


def test_generate_with_num_predict_stops_for_length(client: ollama.Client) -> None:
    response = client.generate(model=MODEL, prompt="Tell me a story", options={"num_predict": 2})
    assert response.response
    assert response.done_reason == "length"
    assert response.eval_count == 2
    full = client.generate(model="llama3.1:8b", prompt="Tell me a story")
    assert full.done_reason == "stop"
    assert full.response.startswith(response.response)


def test_generate_json_format(client: ollama.Client) -> None:
    response = client.generate(model=MODEL, prompt="Give JSON", format="json")
    assert isinstance(json.loads(response.response), dict)


def test_embed(client: ollama.Client) -> None:
    response = client.embed(model=MODEL, input=["one", "two"])
    assert len(response.embeddings) == 2
    assert len(response.embeddings[0]) > 0
    legacy = client.embeddings(model=MODEL, prompt="one")
    assert legacy.embedding == pytest.approx(response.embeddings[0])


def test_list_show_ps(client: ollama.Client) -> None:
    assert [model.model for model in client.list().models] == [MODEL]
    shown = client.show(MODEL)
    assert shown.modelinfo is not None
    arch = shown.modelinfo["general.architecture"]
    assert shown.modelinfo[f"{arch}.context_length"] == 8192
    assert shown.details is not None
    assert shown.details.family == arch
    running = client.ps().models
    assert [model.model for model in running] == [MODEL]
    assert running[0].expires_at is not None
    assert running[0].context_length == 8192


def test_pull_streams_progress(client: ollama.Client) -> None:
    progress = list(client.pull(MODEL, stream=True))
    statuses = [step.status for step in progress]
    assert statuses[0] == "pulling manifest"
    assert statuses[-1] == "success"
    assert any(step.total and step.completed == step.total for step in progress)
    assert client.pull(MODEL).status == "success"


def test_unknown_model_is_404_with_ollama_error(
    sim: RunningSimulator, client: ollama.Client
) -> None:
    response = httpx.post(sim.url + "/api/chat", json={"model": "nope", "messages": MESSAGES})
    assert response.status_code == 404
    assert response.json() == {"error": "model 'nope' not found"}
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="nope", messages=MESSAGES)
    assert raised.value.status_code == 404


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate", "/api/show", "/api/embed"])
def test_malformed_json_is_400(sim: RunningSimulator, path: str) -> None:
    response = httpx.post(sim.url + path, content=b"{oops")
    assert response.status_code == 400
    assert "invalid character" in response.json()["error"]


def test_missing_model_is_400(sim: RunningSimulator) -> None:
    response = httpx.post(sim.url + "/api/generate", json={"prompt": "hi"})
    assert response.status_code == 400
    assert response.json() == {"error": "model is required"}


def test_empty_prompt_loads_the_model(sim: RunningSimulator) -> None:
    response = httpx.post(sim.url + "/api/generate", json={"model": MODEL})
    assert response.json()["done_reason"] == "load"


def test_openai_compatible_endpoints(sim: RunningSimulator) -> None:
    with openai.OpenAI(base_url=sim.url + "/v1", api_key="ollama", max_retries=0) as client:
        assert [model.id for model in client.models.list()] == [MODEL]
        response = client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        assert response.choices[0].message.content
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=MESSAGES)  # type: ignore[arg-type]
