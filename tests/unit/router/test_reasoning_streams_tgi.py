"""Reasoning splitting, stream framing and the TGI adapter."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.router import translate_tgi as tgi
from modelops.router.reasoning import ThinkSplitter, join_think, split_think
from modelops.router.streams import ChunkReasoningSplitter, NdjsonDecoder, SseDecoder


@pytest.mark.parametrize(
    ("text", "reasoning", "content"),
    [
        ("plain", None, "plain"),
        ("<think>why</think>answer", "why", "answer"),
        ("<think>why</think>\n\nanswer", "why", "answer"),
        ("<think>unfinished", "unfinished", ""),
        ("a < b", None, "a < b"),
    ],
)
def test_split_think(text: str, reasoning: str | None, content: str) -> None:
    assert split_think(text) == (reasoning, content)


@pytest.mark.parametrize(
    "pieces",
    [
        ["<think>ab</think>cd"],
        ["<thi", "nk>ab</th", "ink>cd"],
        ["<", "t", "h", "i", "n", "k", ">", "ab", "<", "/think>", "c", "d"],
    ],
)
def test_think_splitter_handles_tags_cut_across_chunks(pieces: list[str]) -> None:
    splitter = ThinkSplitter()
    reasoning = content = ""
    for piece in pieces:
        r, c = splitter.feed(piece)
        reasoning += r
        content += c
    r, c = splitter.flush()
    assert (reasoning + r, content + c) == ("ab", "cd")


def test_join_think() -> None:
    assert join_think("r", "c") == "<think>r</think>c"
    assert join_think(None, "c") == "c"


def test_chunk_reasoning_splitter() -> None:
    splitter = ChunkReasoningSplitter()
    deltas = []
    for text, finish in [("<think>x", None), ("y</think>", None), ("z", "stop")]:
        chunk: dict[str, Any] = {"choices": [{"delta": {"content": text}, "finish_reason": finish}]}
        deltas.append(splitter.apply(chunk)["choices"][0]["delta"])
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "xy"
    assert "".join(d["content"] for d in deltas) == "z"


def test_sse_decoder_reassembles_events_split_anywhere() -> None:
    decoder = SseDecoder()
    stream = b'data: {"a":1}\n\ndata: {"b":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n'
    payloads = []
    for index in range(0, len(stream), 3):
        payloads += decoder.feed(stream[index : index + 3])
    assert payloads == [b'{"a":1}', b'{"b":2}', b"[DONE]"]


def test_ndjson_decoder() -> None:
    decoder = NdjsonDecoder()
    assert decoder.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert decoder.feed(b":2}\n\n") == [b'{"b":2}']
    assert decoder.feed(b'{"c":3}') == []
    assert decoder.flush() == [b'{"c":3}']


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"max_new_tokens": 9}, {"max_tokens": 9}),
        (
            {"temperature": 0.5, "top_p": 0.9, "seed": 1},
            {"temperature": 0.5, "top_p": 0.9, "seed": 1},
        ),
        ({"do_sample": False}, {"temperature": 0.0}),
        ({"stop": ["\n"]}, {"stop": ["\n"]}),
        (
            {"grammar": {"type": "json", "value": {"type": "object"}}},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": {"type": "object"}},
                }
            },
        ),
    ],
)
def test_tgi_parameters(parameters: dict[str, Any], expected: dict[str, Any]) -> None:
    out = tgi.tgi_to_openai({"inputs": "hi", "parameters": parameters}, stream=False)
    assert out["prompt"] == "hi"
    for key, value in expected.items():
        assert out[key] == value


@pytest.mark.parametrize(
    ("finish", "stop", "tgi_finish"),
    [("stop", None, "eos_token"), ("length", None, "length"), ("stop", ["x"], "stop_sequence")],
)
def test_tgi_answer(finish: str, stop: Any, tgi_finish: str) -> None:
    # vLLM names the stop string that matched in `stop_reason`; only then is it a stop_sequence.
    body = {
        "choices": [{"text": "out", "finish_reason": finish, "stop_reason": stop and stop[0]}],
        "usage": {"completion_tokens": 3},
    }
    assert "details" not in tgi.openai_completion_to_tgi(body, {})
    out = tgi.openai_completion_to_tgi(body, {"details": True})
    assert out["generated_text"] == "out"
    assert out["details"]["finish_reason"] == tgi_finish
    assert out["details"]["generated_tokens"] == 3


def test_tgi_stream_ends_with_whole_text() -> None:
    stream = tgi.OpenAIStreamToTgi({"details": True})
    events = stream.translate({"choices": [{"text": "a", "finish_reason": None}]})
    events += stream.translate({"choices": [{"text": "b", "finish_reason": "length"}]})
    events += stream.translate(
        {"choices": [], "usage": {"completion_tokens": 2, "prompt_tokens": 4}}
    )
    assert [e["token"]["text"] for e in events] == ["a", "b", ""]
    assert events[-1]["generated_text"] == "ab"
    assert events[-1]["details"]["finish_reason"] == "length"
    assert events[-1]["details"]["input_length"] == 4
    with pytest.raises(ValueError, match="inputs"):
        tgi.tgi_to_openai({"inputs": 3}, stream=False)
