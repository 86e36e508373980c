"""API fidelity across translations: every field carried, or refused by name. Pure functions."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from modelops.router import translate_ollama as ol
from modelops.router import translate_ollama_answers as ola
from modelops.router import translate_ollama_streams as ols
from modelops.router import translate_tgi as tgi
from modelops.router.adapters import (
    CLIENT_KEY,
    Operation,
    StreamPlan,
    canonical_to_backend,
    canonical_to_client,
    client_to_canonical,
    with_model,
)
from modelops.router.context_fit import (
    ContextNeed,
    ContextTooLong,
    fitting_candidates,
    request_need,
)
from modelops.router.streams import dumps
from modelops.router.translate_common import TranslationError

CHAT_OLLAMA = Operation("ollama", "chat")
CHAT_OPENAI = Operation("openai", "chat")
USER = [{"role": "user", "content": "hi"}]


def _param_of(call: Any) -> str | None:
    with pytest.raises(TranslationError) as caught:
        call()
    return caught.value.param


# ---------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER, "options": {"num_predict": "5"}}, "options.num_predict"),
        ({"messages": USER, "options": {"temperature": "hot"}}, "options.temperature"),
        ({"messages": USER, "options": {"stop": "x"}}, "options.stop"),
        ({"messages": USER, "options": {"mirostat": 2}}, "options.mirostat"),
        ({"messages": USER, "stream": "yes"}, "stream"),
        ({"messages": USER, "think": 3}, "think"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "images": [1]}]}, "messages[0].images"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]},
            "messages[0].tool_calls[0].function.name",
        ),
    ],
)
def test_malformed_ollama_fields_are_named(body: dict[str, Any], param: str) -> None:
    assert _param_of(lambda: ol.ollama_chat_to_openai({"model": "m", **body})) == param


def test_ollama_request_fields_reach_an_openai_backend() -> None:
    png = base64.b64encode(b"\x89PNG....").decode()
    body = {
        "model": "served",
        "messages": [
            {"role": "user", "content": "look", "images": [png]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Oslo"}}}],
            },
            {"role": "tool", "tool_name": "weather", "content": "sunny"},
        ],
        "options": {"num_predict": 7.0, "repeat_penalty": 1.1, "min_p": 0.05, "num_ctx": 8192},
        "keep_alive": "5m",
        "think": True,
        "stream": False,
    }
    canonical = client_to_canonical(CHAT_OLLAMA, body)
    path, sent = canonical_to_backend(CHAT_OLLAMA, canonical, "openai", "backend")
    assert path == "/v1/chat/completions"
    assert CLIENT_KEY not in sent
    assert sent["max_tokens"] == 7
    assert (sent["repetition_penalty"], sent["min_p"]) == (1.1, 0.05)
    image = sent["messages"][0]["content"][1]["image_url"]["url"]
    assert image.startswith("data:image/png;base64,")
    call = sent["messages"][1]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo"}
    # The tool's answer is linked to the call that asked for it.
    assert sent["messages"][2]["tool_call_id"] == call["id"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{oops"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c1", "type": "custom", "custom": {"name": "f", "input": "x"}}
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].type",
        ),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{}]}]},
            "messages[0].tool_calls[0].function.name",
        ),
        ({"messages": USER, "n": 2}, "n"),
        ({"messages": USER, "logprobs": True}, "logprobs"),
        ({"messages": USER, "logit_bias": {"1": 5}}, "logit_bias"),
        ({"messages": USER, "tool_choice": "required", "tools": []}, "tool_choice"),
        (
            {"messages": USER, "response_format": {"type": "json_schema", "json_schema": "x"}},
            "response_format.json_schema",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content[0].type",
        ),
        ({"messages": USER, "temperature": "warm"}, "temperature"),
    ],
)
def test_openai_fields_an_ollama_backend_cannot_take_are_named(
    body: dict[str, Any], param: str
) -> None:
    canonical = client_to_canonical(CHAT_OPENAI, {"model": "m", **body})
    call = lambda: canonical_to_backend(CHAT_OPENAI, canonical, "ollama", "tag")  # noqa: E731
    assert _param_of(call) == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER, "stream_options": "yes"}, "stream_options"),
        ({"messages": USER, "stream": "true"}, "stream"),
        ({"messages": USER, "max_tokens": 1.5}, "max_tokens"),
        ({"messages": USER, "model": 3}, "model"),
    ],
)
def test_fields_the_router_reads_are_checked_first(body: dict[str, Any], param: str) -> None:
    assert _param_of(lambda: client_to_canonical(CHAT_OPENAI, {"model": "m", **body})) == param


def test_openai_tool_messages_keep_their_link_for_ollama() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c9", "content": "42"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "auto",
    }
    _, sent = canonical_to_backend(
        CHAT_OPENAI, client_to_canonical(CHAT_OPENAI, body), "ollama", "t"
    )
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][1]["tool_calls"] == [{"function": {"name": "f", "arguments": {}}}]
    assert sent["messages"][2]["tool_name"] == "f"
    assert sent["tools"] == body["tools"]


def test_same_api_rename_keeps_every_field() -> None:
    raw = json.dumps({"model": "served", "think": True, "keep_alive": -1, "raw": True}).encode()
    assert json.loads(with_model(raw, "tag:1b")) == {
        "model": "tag:1b",
        "think": True,
        "keep_alive": -1,
        "raw": True,
    }


def test_lone_surrogates_are_sent_as_escapes() -> None:
    assert dumps({"content": "\ud800x"}) == b'{"content":"\\ud800x"}'


# ---------------------------------------------------------------- answers


def test_base64_embeddings_are_encoded_by_the_router() -> None:
    op = Operation("openai", "embedding")
    answer = ola.ollama_embed_response_to_openai({"embeddings": [[0.5, -1.0]]}, "e")
    out = canonical_to_client(op, answer, "e", False, 0, {"encoding_format": "base64"})
    decoded = struct.unpack("<2f", base64.b64decode(out["data"][0]["embedding"]))
    assert decoded == (0.5, -1.0)


@pytest.mark.parametrize(
    ("think", "thinking", "content"),
    [(True, "hm", "42"), (False, None, "42"), (None, None, "<think>hm</think>42")],
)
def test_reasoning_goes_where_the_ollama_client_asked(
    think: Any, thinking: str | None, content: str
) -> None:
    body = {"choices": [{"message": {"content": "<think>hm</think>42"}, "finish_reason": "stop"}]}
    out = ola.openai_chat_response_to_ollama(body, "m", 10, think)
    assert out["message"].get("thinking") == thinking
    assert out["message"]["content"] == content


def test_streamed_openai_tool_calls_reach_ollama_clients_whole() -> None:
    stream = ols.OpenAIStreamToOllama("m", chat=True, started_ns=0)
    head = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}
    lines = []
    for delta, finish in [
        ({"role": "assistant", "tool_calls": [head]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": '}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}, None),
        ({}, "tool_calls"),
    ]:
        lines += stream.translate({"choices": [{"delta": delta, "finish_reason": finish}]})
    lines += stream.finish()
    calls = [line["message"]["tool_calls"] for line in lines if "tool_calls" in line["message"]]
    assert calls == [[{"function": {"name": "f", "arguments": {"a": 1}}}]]
    assert lines[-1]["done"] is True


def test_ollama_streamed_tool_calls_finish_as_tool_calls_for_openai() -> None:
    stream = ols.OllamaStreamToOpenAI("m", "chatcmpl-x", chat=True, include_usage=False)
    call = {"function": {"name": "f", "arguments": {"a": 1}}}
    first = stream.translate({"message": {"content": "", "tool_calls": [call]}, "done": False})
    last = stream.translate({"message": {"content": ""}, "done": True, "done_reason": "stop"})
    delta = first[0]["choices"][0]["delta"]
    assert delta["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a": 1}'}
    assert last[0]["choices"][0]["finish_reason"] == "tool_calls"


def test_think_true_streams_thinking_separately() -> None:
    plan = StreamPlan(
        CHAT_OLLAMA, "openai", "m", "id", False, True, request={CLIENT_KEY: {"think": True}}
    )
    chunks = [
        {"choices": [{"delta": {"content": "<think>a"}, "finish_reason": None}]},
        {"choices": [{"delta": {"content": "b</think>c"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 3}},
    ]
    data = b"".join(plan.feed(json.dumps(c).encode()) for c in chunks) + plan.finish()
    lines = [json.loads(line) for line in data.splitlines()]
    assert "".join(line["message"].get("thinking", "") for line in lines) == "ab"
    assert "".join(line["message"]["content"] for line in lines) == "c"


# ---------------------------------------------------------------- TGI


def test_tgi_wishes_are_honoured() -> None:
    op = Operation("tgi", "completion", tgi_compat=True)
    canonical = client_to_canonical(
        op,
        {
            "inputs": "Say",
            "parameters": {
                "return_full_text": True,
                "details": True,
                "seed": 3,
                "grammar": {"type": "regex", "value": "[a-z]+"},
            },
        },
    )
    assert canonical["guided_regex"] == "[a-z]+"
    assert _param_of(lambda: canonical_to_backend(op, canonical, "ollama", "t")) == (
        "parameters.grammar"
    )
    answer = {"choices": [{"text": " it", "finish_reason": "length"}], "usage": {}}
    out = canonical_to_client(op, answer, "m", False, 0, canonical)
    assert out == [
        {
            "generated_text": "Say it",
            "details": {
                "finish_reason": "length",
                "generated_tokens": 0,
                "seed": 3,
                "prefill": [],
                "tokens": [],
            },
        }
    ]


@pytest.mark.parametrize(
    ("parameters", "param"),
    [
        ({"best_of": 2}, "parameters.best_of"),
        ({"watermark": True}, "parameters.watermark"),
        ({"max_new_tokens": "9"}, "parameters.max_new_tokens"),
        ({"max_new_tokens": 0}, "parameters.max_new_tokens"),
        ({"stop": "x"}, "parameters.stop"),
        ({"grammar": {"type": "json", "value": "{nope"}}, "parameters.grammar.value"),
    ],
)
def test_tgi_parameters_that_cannot_be_served_are_named(
    parameters: dict[str, Any], param: str
) -> None:
    assert _param_of(
        lambda: tgi.tgi_to_openai({"inputs": "x", "parameters": parameters}, False)
    ) == (param)


# ---------------------------------------------------------------- context windows


@pytest.mark.parametrize(
    ("windows", "need", "expected"),
    [
        ({"small": 100, "big": 1000}, ContextNeed(150, 10), ["big"]),
        ({"small": 100, "big": 1000}, ContextNeed(50, 10), ["small", "big"]),
        ({"small": 100, "unknown": None}, ContextNeed(500, 10), ["unknown"]),
        ({"small": 100, "big": 1000}, ContextNeed(100, 0), ["small", "big"]),
    ],
)
def test_fitting_candidates(
    windows: dict[str, int | None], need: ContextNeed, expected: list[str]
) -> None:
    assert fitting_candidates(list(windows), windows, need) == expected


def test_no_candidate_fits_names_every_size() -> None:
    with pytest.raises(ContextTooLong, match=r"2010 tokens.*'small' \(100 tokens\).*'big' \(1000"):
        fitting_candidates(["small", "big"], {"small": 100, "big": 1000}, ContextNeed(2000, 10))


def test_request_need_reads_every_api_shape() -> None:
    chat = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 40}]}]}
    assert request_need("chat", chat | {"max_tokens": 5}) == ContextNeed(10, 5)
    assert request_need("completion", {"prompt": "y" * 8}) == ContextNeed(2, 16)
    assert request_need("embedding", {"input": ["a" * 4, "b" * 40]}) == ContextNeed(10, 0)
    assert request_need("chat", {"messages": "garbage", "max_tokens": "x"}).budget == 1
