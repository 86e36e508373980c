"""Request shaping and stream plans for every client API x backend API pair."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelops.router.adapters import (
    Operation,
    StreamPlan,
    canonical_to_backend,
    client_to_canonical,
    upstream_error_message,
)

CHAT_OPENAI = Operation("openai", "chat")
CHAT_OLLAMA = Operation("ollama", "chat")
TGI_STREAM = Operation("tgi", "completion", tgi_stream=True)

OPENAI_BACKEND_STREAM = [
    b'{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}],"model":"b"}',
    b'{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"length"}],"model":"b"}',
    b'{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4},"model":"b"}',
    b"[DONE]",
]
OLLAMA_BACKEND_STREAM = [
    b'{"model":"b","message":{"role":"assistant","content":"Hel"},"done":false}',
    b'{"model":"b","message":{"role":"assistant","content":"lo"},"done":false}',
    b'{"model":"b","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","prompt_eval_count":2,"eval_count":2}',
]


def _decode(client_api: str, data: bytes) -> list[Any]:
    if client_api == "ollama":
        return [json.loads(line) for line in data.splitlines() if line]
    events = [line[6:] for line in data.split(b"\n\n") if line.startswith(b"data: ")]
    return [e.decode() if e == b"[DONE]" else json.loads(e) for e in events]


def _text(client_api: str, events: list[Any]) -> str:
    if client_api == "ollama":
        return "".join(e["message"]["content"] for e in events)
    if client_api == "tgi":
        return "".join(e["token"]["text"] for e in events)
    return "".join(
        c["delta"].get("content") or "" for e in events if isinstance(e, dict) for c in e["choices"]
    )


@pytest.mark.parametrize("op", [CHAT_OPENAI, CHAT_OLLAMA, TGI_STREAM])
@pytest.mark.parametrize("backend_api", ["openai", "ollama"])
def test_stream_plans_produce_the_client_format(op: Operation, backend_api: str) -> None:
    if op.kind == "completion" and backend_api == "openai":
        payloads = [
            p.replace(b'"delta":{"role":"assistant","content":"Hel"}', b'"text":"Hel"').replace(
                b'"delta":{"content":"lo"}', b'"text":"lo"'
            )
            for p in OPENAI_BACKEND_STREAM
        ]
    elif op.kind == "completion":
        payloads = [
            json.dumps({**json.loads(p), "response": json.loads(p)["message"]["content"]}).encode()
            for p in OLLAMA_BACKEND_STREAM
        ]
    else:
        payloads = OPENAI_BACKEND_STREAM if backend_api == "openai" else OLLAMA_BACKEND_STREAM
    wishes = {"_client": {"details": True}}
    plan = StreamPlan(op, backend_api, "served", "id-1", False, include_usage=True, request=wishes)
    data = b"".join(plan.feed(p) for p in payloads) + plan.finish()
    events = _decode(op.client_api, data)
    assert _text(op.client_api, events) == "Hello"
    assert plan.usage["completion_tokens"] == 2
    if op.client_api == "openai":
        assert events[-1] == "[DONE]"
        assert all(e["model"] == "served" for e in events[:-1])
    elif op.client_api == "ollama":
        assert events[-1]["done"] is True
        assert events[-1]["done_reason"] == "length"
        assert events[-1]["eval_count"] == 2
        assert all(e["model"] == "served" for e in events)
    else:
        assert events[-1]["generated_text"] == "Hello"
        assert events[-1]["details"]["finish_reason"] == "length"


def test_openai_client_gets_reasoning_split_from_inline_think() -> None:
    plan = StreamPlan(CHAT_OPENAI, "ollama", "served", "id", True, include_usage=False)
    lines = [
        b'{"message":{"content":"<think>hm"},"done":false}',
        b'{"message":{"content":"m</think>ok"},"done":false}',
        b'{"message":{"content":""},"done":true,"done_reason":"stop"}',
    ]
    events = _decode("openai", b"".join(plan.feed(line) for line in lines))
    deltas = [c["delta"] for e in events if isinstance(e, dict) for c in e["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "hmm"
    assert "".join(d.get("content") or "" for d in deltas) == "ok"


@pytest.mark.parametrize(
    ("op", "body", "backend_api", "path", "expected_subset"),
    [
        (CHAT_OPENAI, {"model": "m", "messages": [{"role": "user"}], "max_tokens": 3}, "ollama",
         "/api/chat", {"model": "tag:1", "options": {"num_predict": 3}, "stream": False}),
        (CHAT_OLLAMA, {"model": "m", "messages": [], "options": {"num_predict": 3}}, "openai",
         "/v1/chat/completions", {"model": "tag:1", "max_tokens": 3, "stream": True}),
        (Operation("ollama", "embedding", legacy_embedding=True), {"model": "m", "prompt": "x"},
         "openai", "/v1/embeddings", {"model": "tag:1", "input": "x"}),
        (Operation("tgi", "completion"), {"inputs": "x", "parameters": {"max_new_tokens": 2}},
         "ollama", "/api/generate", {"prompt": "x", "options": {"num_predict": 2}}),
    ],
)  # fmt: skip
def test_requests_reach_the_backend_in_its_shape(
    op: Operation,
    body: dict[str, Any],
    backend_api: str,
    path: str,
    expected_subset: dict[str, Any],
) -> None:
    got_path, got = canonical_to_backend(op, client_to_canonical(op, body), backend_api, "tag:1")
    assert got_path == path
    for key, value in expected_subset.items():
        assert got[key] == value


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error":{"message":"model gone"}}', "model gone"),
        (b'{"object":"error","message":"bad prompt"}', "bad prompt"),
        (b'{"error":"ollama says no"}', "ollama says no"),
        (b"plain text failure", "plain text failure"),
    ],
)
def test_upstream_error_messages(body: bytes, message: str) -> None:
    assert upstream_error_message(body) == message


@pytest.mark.parametrize(
    ("data", "usage"),
    [
        (b'{"id":"x","usage":{"prompt_tokens":1}}', {"prompt_tokens": 1}),
        (b'{"usage": {"completion_tokens": 3}, "x": 1}', {"completion_tokens": 3}),
        (b'{"usage":null,"choices":[{"message":{}}]}', None),
        (b'{"choices":[]}', None),
        (b'{"usage":{"broken"', None),
    ],
)  # fmt: skip
def test_usage_is_read_from_raw_answers(data: bytes, usage: Any) -> None:
    from modelops.router.proxy import _usage_in_raw_json

    assert _usage_in_raw_json(data) == usage
