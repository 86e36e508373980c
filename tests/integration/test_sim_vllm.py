"""The vLLM personality driven by the official openai SDK (and raw HTTP for error shapes)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from modelops.sim.testing import RunningSimulator, running_simulator

MESSAGES = [{"role": "user", "content": "Say something about simulators."}]


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(
        "vllm", ["demo", "demo-alias"], env={"MODELOPS_SIM_MAX_MODEL_LEN": "256"}
    ) as running:
        yield running


@pytest.fixture
def client(sim: RunningSimulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_models_list_shows_every_served_name(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == ["demo", "demo-alias"]


def test_chat_answers_deterministically_with_usage(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    second = client.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    choice = first.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.message.content == second.choices[0].message.content
    assert choice.finish_reason == "stop"
    assert first.usage is not None
    assert first.usage.completion_tokens > 0
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert first.model == "demo"


def test_max_tokens_cuts_the_answer_with_finish_reason_length(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="demo",
        messages=MESSAGES,  # type: ignore[arg-type]
        max_tokens=3,
    )
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None
    assert response.usage.completion_tokens == 3


def test_streaming_chat_with_usage_matches_non_streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="demo",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    usage = chunks[-1].usage
    assert finish == ["stop"]
    assert usage is not None
    assert chunks[-1].choices == []
    whole = client.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    assert text == whole.choices[0].message.content
    assert whole.usage is not None
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_completions(client: openai.OpenAI) -> None:
    response = client.completions.create(
        model="demo-alias", prompt="Once upon a time", max_tokens=5
    )
    assert response.choices[0].text
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None
    assert response.usage.completion_tokens == 5


def test_completions_batch_of_prompts(client: openai.OpenAI) -> None:
    response = client.completions.create(model="demo", prompt=["one", "two"], max_tokens=3)
    assert [choice.index for choice in response.choices] == [0, 1]
    assert response.usage is not None
    assert response.usage.completion_tokens == 6


def test_streaming_completions_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(
            model="demo",
            prompt="Once upon",
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(chunk.choices[0].text for chunk in chunks if chunk.choices)
    whole = client.completions.create(model="demo", prompt="Once upon", max_tokens=4)
    assert text == whole.choices[0].text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4


def test_embeddings(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model="demo", input=["alpha", "beta"])
    assert [item.index for item in response.data] == [0, 1]
    vectors = [item.embedding for item in response.data]
    assert all(len(vector) == len(vectors[0]) > 0 for vector in vectors)
    assert vectors[0] != vectors[1]
    again = client.embeddings.create(model="demo", input="alpha", encoding_format="float")
    assert again.data[0].embedding == pytest.approx(vectors[0], rel=1e-6)


def test_json_object_response_format_is_valid_json(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="demo",
        messages=MESSAGES,  # type: ignore[arg-type]
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(response.choices[0].message.content or ""), dict)


def test_json_schema_response_format_satisfies_the_schema(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ok": {"type": "boolean"},
        },
        "required": ["name", "age", "tags", "ok"],
    }
    response = client.chat.completions.create(
        model="demo",
        messages=MESSAGES,  # type: ignore[arg-type]
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    )
    value = json.loads(response.choices[0].message.content or "")
    assert isinstance(value["name"], str)
    assert isinstance(value["age"], int)
    assert all(isinstance(tag, str) for tag in value["tags"])
    assert isinstance(value["ok"], bool)


def test_unknown_model_is_404_with_openai_error_body(sim: RunningSimulator) -> None:
    response = httpx.post(
        sim.url + "/v1/chat/completions", json={"model": "nope", "messages": MESSAGES}
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "NotFoundError"
    assert error["code"] == 404
    assert "nope" in error["message"]


def test_unknown_model_raises_not_found_in_the_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=MESSAGES)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"model": "demo"}', b""],
    ids=["malformed", "not-an-object", "missing-messages", "empty"],
)
def test_bad_request_bodies_are_400(sim: RunningSimulator, body: bytes) -> None:
    response = httpx.post(
        sim.url + "/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "BadRequestError"


def test_prompt_plus_max_tokens_beyond_max_model_len_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="maximum context length is 256"):
        client.chat.completions.create(
            model="demo",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=300,
        )


def test_health_version_and_metrics(sim: RunningSimulator, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    assert httpx.get(sim.url + "/health").status_code == 200
    assert httpx.get(sim.url + "/version").json()["version"]
    text = httpx.get(sim.url + "/metrics").text
    for name in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:request_success_total",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:e2e_request_latency_seconds_count",
    ):
        assert f'{name}{{model_name="demo"}}' in text or 'model_name="demo"' in text
        assert name in text
    success = [line for line in text.splitlines() if line.startswith("vllm:request_success_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in success) >= 1


def test_unknown_path_is_404(sim: RunningSimulator) -> None:
    assert httpx.get(sim.url + "/v2/nothing").status_code == 404
