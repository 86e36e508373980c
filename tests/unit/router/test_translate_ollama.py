"""OpenAI <-> Ollama translation tables."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.router import translate_ollama as ol
from modelops.router import translate_ollama_answers as ola
from modelops.router import translate_ollama_streams as ols
from modelops.router import translate_to_ollama as tol
from modelops.router.translate_ollama import TranslationError

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("ollama_request", "expected_subset"),
    [
        ({"options": {"temperature": 0.2}}, {"temperature": 0.2}),
        ({"options": {"top_p": 0.9, "top_k": 5}}, {"top_p": 0.9, "top_k": 5}),
        ({"options": {"num_predict": 12}}, {"max_tokens": 12}),
        ({"options": {"num_predict": -1}}, {}),
        ({"options": {"stop": ["\n"], "seed": 7}}, {"stop": ["\n"], "seed": 7}),
        ({"format": "json"}, {"response_format": {"type": "json_object"}}),
        (
            {"format": {"type": "object"}},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": {"type": "object"}},
                }
            },
        ),
        ({}, {"stream": True, "stream_options": {"include_usage": True}}),
        ({"stream": False}, {"stream": False}),
    ],
)
def test_ollama_chat_options_become_openai_fields(
    ollama_request: dict[str, Any], expected_subset: dict[str, Any]
) -> None:
    out = ol.ollama_chat_to_openai({"model": "m", "messages": USER, **ollama_request})
    assert out["messages"] == USER
    for key, value in expected_subset.items():
        assert out[key] == value
    if "num_predict" in str(ollama_request) and not expected_subset:
        assert "max_tokens" not in out


@pytest.mark.parametrize(
    ("openai_request", "expected_options", "expected_format"),
    [
        ({"max_tokens": 5}, {"num_predict": 5}, None),
        ({"max_completion_tokens": 6}, {"num_predict": 6}, None),
        ({"temperature": 0, "top_p": 1.0}, {"temperature": 0, "top_p": 1.0}, None),
        ({"stop": "END"}, {"stop": ["END"]}, None),
        ({"stop": ["a", "b"], "seed": 3}, {"stop": ["a", "b"], "seed": 3}, None),
        ({"response_format": {"type": "json_object"}}, None, "json"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"a": 1}}}},
            None,
            {"a": 1},
        ),
        ({"response_format": {"type": "text"}}, None, None),
    ],
)
def test_openai_chat_fields_become_ollama_options(
    openai_request: dict[str, Any], expected_options: Any, expected_format: Any
) -> None:
    out = tol.openai_chat_to_ollama({"model": "x", "messages": USER, **openai_request}, "tag:1b")
    assert out["model"] == "tag:1b"
    assert out["stream"] is False
    assert out.get("options") == expected_options
    assert out.get("format") == expected_format


def test_image_parts_become_ollama_images() -> None:
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
        ],
    }
    out = tol.openai_chat_to_ollama({"messages": [message]}, "m")
    assert out["messages"] == [{"role": "user", "content": "what is this", "images": ["QUJD"]}]
    message["content"][1]["image_url"]["url"] = "https://example.invalid/x.png"  # type: ignore[index]
    with pytest.raises(TranslationError, match="data: URLs"):
        tol.openai_chat_to_ollama({"messages": [message]}, "m")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": "hi"}, "'messages' must be a list"),
        ({"messages": [{"content": "no role"}]}, "role"),
        ({"messages": USER, "options": [1]}, "'options' must be an object"),
        ({"messages": USER, "format": "yaml"}, "'format'"),
    ],
)
def test_malformed_ollama_requests(body: dict[str, Any], message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        ol.ollama_chat_to_openai(body)


@pytest.mark.parametrize(
    ("done_reason", "finish_reason"),
    [("stop", "stop"), ("length", "length"), (None, "stop"), ("unload", "stop")],
)
def test_ollama_answer_to_openai(done_reason: str | None, finish_reason: str) -> None:
    body = {
        "model": "tag:1b",
        "message": {"role": "assistant", "content": "hello"},
        "done": True,
        "done_reason": done_reason,
        "prompt_eval_count": 3,
        "eval_count": 4,
    }
    out = ola.ollama_chat_response_to_openai(body, "served", "id-1")
    assert out["model"] == "served"
    # The OpenAI spec requires `refusal` in the message and `logprobs` in the choice.
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "hello",
        "refusal": None,
    }
    assert out["choices"][0]["logprobs"] is None
    assert out["choices"][0]["finish_reason"] == finish_reason
    assert out["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


@pytest.mark.parametrize(
    ("finish_reason", "done_reason"), [("stop", "stop"), ("length", "length"), (None, "stop")]
)
def test_openai_answer_to_ollama(finish_reason: str | None, done_reason: str) -> None:
    body = {
        "choices": [
            {"message": {"role": "assistant", "content": "hi"}, "finish_reason": finish_reason}
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 5},
    }
    out = ola.openai_chat_response_to_ollama(body, "served", 1000)
    assert out["message"] == {"role": "assistant", "content": "hi"}
    assert (out["done"], out["done_reason"]) == (True, done_reason)
    assert (out["prompt_eval_count"], out["eval_count"], out["total_duration"]) == (2, 5, 1000)


def test_openai_reasoning_content_is_inlined_for_ollama_clients() -> None:
    body = {"choices": [{"message": {"content": "42", "reasoning_content": "think"}}]}
    out = ola.openai_chat_response_to_ollama(body, "m", 0)
    assert out["message"]["content"] == "<think>think</think>42"


def test_embeddings_both_ways() -> None:
    assert ol.ollama_embed_to_openai({"model": "e", "input": ["a", "b"]}, legacy=False) == {
        "model": "e",
        "input": ["a", "b"],
    }
    assert ol.ollama_embed_to_openai({"model": "e", "prompt": "a"}, legacy=True)["input"] == "a"
    with pytest.raises(TranslationError):
        ol.ollama_embed_to_openai({"model": "e", "input": 3}, legacy=False)
    openai_answer = {"data": [{"embedding": [0.1, 0.2]}], "usage": {"prompt_tokens": 2}}
    assert ola.openai_embedding_response_to_ollama(openai_answer, "e", legacy=True) == {
        "embedding": [0.1, 0.2]
    }
    assert ola.openai_embedding_response_to_ollama(openai_answer, "e", legacy=False) == {
        "model": "e",
        "embeddings": [[0.1, 0.2]],
        "total_duration": 0,
        "load_duration": 0,
        "prompt_eval_count": 2,
    }
    back = ola.ollama_embed_response_to_openai({"embeddings": [[1.0]], "prompt_eval_count": 1}, "e")
    assert back["data"] == [{"object": "embedding", "index": 0, "embedding": [1.0]}]


def test_ollama_stream_to_openai_chunks() -> None:
    stream = ols.OllamaStreamToOpenAI("served", "id", chat=True, include_usage=True)
    first = stream.translate({"message": {"role": "assistant", "content": "He"}, "done": False})
    assert first[0]["choices"][0]["delta"] == {"role": "assistant", "content": "He"}
    last = stream.translate(
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "length",
            "prompt_eval_count": 1,
            "eval_count": 2,
        }
    )
    assert last[0]["choices"][0]["finish_reason"] == "length"
    assert last[1]["choices"] == []
    assert last[1]["usage"]["completion_tokens"] == 2
    with pytest.raises(ols.UpstreamStreamError, match="boom"):
        stream.translate({"error": "boom"})


def test_openai_stream_to_ollama_lines_with_reasoning() -> None:
    stream = ols.OpenAIStreamToOllama("served", chat=True, started_ns=0)
    lines = []
    for delta, finish in [
        ({"role": "assistant", "reasoning_content": "hmm"}, None),
        ({"content": "yes"}, None),
        ({"content": ""}, "stop"),
    ]:
        lines += stream.translate({"choices": [{"delta": delta, "finish_reason": finish}]})
    lines += stream.translate(
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    )
    assert [line["message"]["content"] for line in lines] == ["<think>hmm", "</think>yes", ""]
    assert lines[-1]["done"] is True
    assert lines[-1]["done_reason"] == "stop"
    assert lines[-1]["eval_count"] == 2
    assert stream.finish() == []
