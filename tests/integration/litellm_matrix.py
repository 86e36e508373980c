"""Run by test_client_libraries.py with the interpreter of LiteLLM's own virtualenv (its pins
conflict with the project's): drives the router through litellm and prints one JSON report.

    python litellm_matrix.py ROUTER_URL MODEL PROVIDER   (PROVIDER: openai or ollama_chat)
"""

from __future__ import annotations

import json
import sys

import litellm

TOOLS = [
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
MESSAGES = [{"role": "user", "content": "What is the weather in Oslo?"}]


def main() -> None:
    url, model, provider = sys.argv[1:4]
    base = url + "/v1" if provider == "openai" else url
    common = {"model": f"{provider}/{model}", "api_base": base, "api_key": "unused"}
    report: dict[str, object] = {}
    answer = litellm.completion(messages=MESSAGES, max_tokens=8, **common)
    report["text"] = answer.choices[0].message.content
    report["usage"] = answer.usage.completion_tokens
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in litellm.completion(messages=MESSAGES, max_tokens=8, stream=True, **common)
        if chunk.choices
    ]
    report["streamed"] = "".join(pieces)
    called = litellm.completion(messages=MESSAGES, tools=TOOLS, **common)
    calls = called.choices[0].message.tool_calls or []
    report["tool_calls"] = [
        {"name": c.function.name, "arguments": json.loads(c.function.arguments)} for c in calls
    ]
    streamed_calls: dict[int, dict[str, str]] = {}
    for chunk in litellm.completion(messages=MESSAGES, tools=TOOLS, stream=True, **common):
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = streamed_calls.setdefault(call.index or 0, {"name": "", "arguments": ""})
            entry["name"] += call.function.name or ""
            entry["arguments"] += call.function.arguments or ""
    report["streamed_tool_calls"] = [
        {"name": c["name"], "arguments": json.loads(c["arguments"] or "{}")}
        for c in streamed_calls.values()
    ]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
