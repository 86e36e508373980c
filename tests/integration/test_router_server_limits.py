"""The router's own HTTP server under abuse: slowloris, oversized heads, too many connections,
and a client that leaves before its answer (its upstream request must stop at once)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelops.router.testing import RunningRouter, running_router
from modelops.sim.testing import running_simulator
from tests.integration.upstream_table import (
    CASE_BY_NAME,
    RawBackend,
    backend_thread,
    request_body,
)

MODEL = "limits-model"
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
IDLE_TIMEOUT = 2.0
LIMIT_ARGS = [
    "--header-timeout", str(HEADER_TIMEOUT),
    "--body-timeout", str(BODY_TIMEOUT),
    "--idle-timeout", str(IDLE_TIMEOUT),
    "--max-header-bytes", "8192",
    "--max-headers", "50",
]  # fmt: skip
# Far past every deadline above: a connection still open by then was not closed by one.
GRACE_SECONDS = 15.0


def config(endpoint: str, **timeouts: float) -> dict[str, Any]:
    route: dict[str, Any] = {
        "engine": "vllm",
        "tracks": [{"name": "stable", "endpoints": [endpoint]}],
    }
    if timeouts:
        route["timeouts"] = timeouts
    return {"models": {MODEL: route}}


@pytest.fixture(scope="module")
def router() -> Iterator[RunningRouter]:
    with (
        running_simulator("vllm", [MODEL]) as sim,
        running_router(config(f"127.0.0.1:{sim.port}"), args=LIMIT_ARGS) as running,
    ):
        yield running


CHAT = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
).encode()


def chat_request(port: int, extra: bytes = b"") -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
        + extra
        + b"Content-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(CHAT)}\r\n\r\n".encode()
        + CHAT
    )


async def exchange(port: int, data: bytes) -> bytes:
    """Sends `data` on a new connection; everything the router answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(30):
            return await reader.read()
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


async def test_slowloris_is_closed_by_the_deadlines_while_requests_are_served(
    router: RunningRouter,
) -> None:
    port = router.port
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(500)]
    head = chat_request(port)[: -len(CHAT)]
    trickling = []
    for _ in range(50):  # each sends its first byte at once, so each has begun a request
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head[:1])
        trickling.append((reader, writer))

    async def trickle(writer: asyncio.StreamWriter) -> None:
        for index in range(1, len(head)):  # a byte every 0.2 s: ~40 s for the head, if allowed
            if writer.is_closing():
                return
            writer.write(head[index : index + 1])
            try:
                await writer.drain()
            except ConnectionError:
                return
            await asyncio.sleep(0.2)

    async def closed(reader: asyncio.StreamReader) -> bytes:
        try:
            return await reader.read()
        except ConnectionError:
            return b""

    tricklers = [asyncio.create_task(trickle(writer)) for _, writer in trickling]
    closing = [asyncio.create_task(closed(reader)) for reader, _ in idle + trickling]
    served = []
    async with asyncio.timeout(HEADER_TIMEOUT + GRACE_SECONDS):
        while not all(task.done() for task in closing):
            served.append(status_of(await exchange(port, chat_request(port))))
            await asyncio.sleep(0.05)
        results = [await task for task in closing]
    for task in tricklers:
        task.cancel()
    for _, writer in idle + trickling:
        writer.close()
    # Normal requests went on being answered all along.
    assert len(served) >= 3, served
    assert set(served) == {200}, served
    # Never-sending connections are closed without a word; tricklers get a 408.
    assert all(data == b"" for data in results[:500])
    assert all(status_of(data) == 408 for data in results[500:]), results[500][:200]
    # The router is still fine afterwards.
    assert status_of(await exchange(port, chat_request(port))) == 200


async def test_head_limits_answer_431(router: RunningRouter) -> None:
    big = b"X-Big: " + b"b" * 10_000 + b"\r\n"
    answer = await exchange(router.port, chat_request(router.port, big))
    assert status_of(answer) == 431
    assert b'"error"' in answer  # in the OpenAI API's error shape (the path is /v1/...)
    many = b"".join(f"X-H{i}: v\r\n".encode() for i in range(60))
    assert status_of(await exchange(router.port, chat_request(router.port, many))) == 431
    # Within the limits: served.
    fine = b"".join(f"X-H{i}: v\r\n".encode() for i in range(30))
    assert status_of(await exchange(router.port, chat_request(router.port, fine))) == 200


async def test_a_body_that_never_ends_is_cut_off(router: RunningRouter) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    head = chat_request(router.port)[: -len(CHAT)]
    writer.write(head + CHAT[:5])  # then nothing more
    await writer.drain()
    async with asyncio.timeout(BODY_TIMEOUT + GRACE_SECONDS):
        rest = await reader.read()
    writer.close()
    assert status_of(rest) in (0, 408), rest[:200]  # closed, never a 200 for half a body


async def test_a_kept_alive_connection_is_closed_when_idle(router: RunningRouter) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(chat_request(router.port).replace(b"Connection: close\r\n", b""))
    await writer.drain()
    async with asyncio.timeout(IDLE_TIMEOUT + GRACE_SECONDS):
        answer = await reader.read()  # the answer, then the close at the idle deadline
    writer.close()
    assert status_of(answer) == 200


async def test_connection_bound_evicts_idle_then_answers_503() -> None:
    with (
        running_simulator("vllm", [MODEL]) as sim,
        running_router(
            config(f"127.0.0.1:{sim.port}"),
            args=["--max-connections", "20", "--body-timeout", "30", "--header-timeout", "30"],
        ) as router,
    ):
        port = router.port
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        # At the bound, all idle: a request still gets through (the oldest idle one goes).
        assert status_of(await exchange(port, chat_request(port))) == 200
        for _, writer in idle:
            writer.close()
        # 20 connections in the middle of a request (head sent, body pending) are not idle;
        # the router's "100 Continue" says it has read the head and waits for the body.
        busy = []
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(chat_request(port, b"Expect: 100-continue\r\n")[: -len(CHAT)])
            await writer.drain()
            async with asyncio.timeout(20):
                assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
            busy.append((reader, writer))
        answer = await exchange(port, chat_request(port))
        assert status_of(answer) == 503, answer[:300]
        assert b"retry-after: 1" in answer.lower()
        assert b"connections open" in answer
        for _, writer in busy:
            writer.close()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_client_leaving_cancels_its_upstream_request(stream: bool) -> None:
    """The upstream call stops when the client goes, not at the timeout (60 s here)."""
    backend = RawBackend()
    with backend_thread(backend):
        endpoint = f"127.0.0.1:{backend.port}"
        with running_router(config(endpoint, interactiveSeconds=60)) as router:
            nonce = f"nonce-leaving{int(stream)}"
            backend.cases[nonce] = CASE_BY_NAME["silent_server"]
            body = request_body(nonce, stream=stream, model=MODEL)

            async def leave_early() -> None:
                _, writer = await asyncio.open_connection("127.0.0.1", router.port)
                writer.write(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                async with asyncio.timeout(20):
                    while not any(seen.nonce == nonce for seen in backend.seen):  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                writer.close()  # the client goes away, its answer not started

            asyncio.run(leave_early())
            deadline = time.monotonic() + 20  # < 60 s: only the cancellation can end it
            while nonce not in backend.finished:  # the backend saw its connection close
                assert time.monotonic() < deadline, "the upstream request kept running"
                time.sleep(0.02)
            assert "Traceback" not in router.log()
            if stream:  # the app heard of it itself and counted it
                assert 'client_requests_total{api="openai",code="499"} 1.0' in router.metrics()
