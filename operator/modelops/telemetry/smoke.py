"""The rollout's smoke test: one short chat request sent straight to a new pod.

The request goes to the engine's OpenAI-compatible chat endpoint (vLLM and Ollama both serve
one), bypassing the router, so a pod is judged before any user can reach it. A well-formed,
non-empty answer passes; with `expect`, the answer must also contain that text.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import aiohttp

MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    message: str  # what the pod answered, or why it failed


def judge_answer(status: int, body: bytes, expect: str | None) -> SmokeResult:
    """Pure: is this HTTP answer a well-formed, non-empty chat completion?"""
    if status != 200:
        return SmokeResult(False, f"answered HTTP {status}: {body[:200].decode(errors='replace')}")
    try:
        data = json.loads(body)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return SmokeResult(False, "answered something that is not a chat completion")
    if not isinstance(content, str) or not content.strip():
        return SmokeResult(False, "answered an empty message")
    if expect is not None and expect.lower() not in content.lower():
        return SmokeResult(False, f"answered {content[:120]!r}, which lacks {expect!r}")
    return SmokeResult(True, f"answered {content[:60]!r}")


async def smoke_test(
    session: aiohttp.ClientSession,
    url: str,
    *,
    model: str,
    prompt: str,
    max_tokens: int,
    timeout_seconds: float,
    expect: str | None,
) -> SmokeResult:
    payload = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": False,
    }
    try:
        async with asyncio.timeout(timeout_seconds):
            async with session.post(url, json=payload) as response:
                body = await response.content.read(MAX_ANSWER_BYTES)
                return judge_answer(response.status, body, expect)
    except TimeoutError:
        return SmokeResult(False, f"did not answer within {timeout_seconds:g}s")
    except aiohttp.ClientError as error:
        return SmokeResult(False, f"could not be reached: {error}")
