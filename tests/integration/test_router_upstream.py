"""The upstream conformance table through the router, and the client's basics, against
scripted raw servers on loopback (the table itself: upstream_table.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import ollama
import openai
import pytest

from modelops.router.testing import RunningRouter, running_router
from modelops.router.upstream import UpstreamClient, UpstreamDisconnected
from tests.integration.upstream_table import (
    CASES,
    MAX_ANSWER_BYTES,
    PLAIN,
    Case,
    RawBackend,
    backend_thread,
    reply_for,
    wait_finished_sync,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


async def test_keep_alive_reuse_and_stale_connection_retry() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        if connections == 1:
            await read_request(reader)  # second request on the same connection
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok2")
            await writer.drain()
        writer.close()  # then the server drops the idle connection

    async with raw_server(handler) as port:
        client = UpstreamClient()
        for expected in (b"ok", b"ok2", b"ok"):
            response = await client.request("127.0.0.1", port, "POST", "/x", b"{}")
            assert (response.status, await response.read()) == (200, expected)
            response.close()
            await asyncio.sleep(0)
        await client.close()
    assert connections == 2


async def test_chunked_stream_arrives_piece_by_piece() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    async with raw_server(handler) as port:
        client = UpstreamClient()
        response = await client.request("127.0.0.1", port, "POST", "/s", b"{}")
        async with asyncio.timeout(5):
            assert await response.next_chunk() == b"first"  # before the rest was even sent
        release.set()
        async with asyncio.timeout(5):
            assert await response.next_chunk() == b"second"
            assert await response.next_chunk() is None
        response.close()
        await client.close()


async def test_disconnect_mid_body_is_an_error_not_a_short_answer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    async with raw_server(handler) as port:
        client = UpstreamClient()
        response = await client.request("127.0.0.1", port, "POST", "/x", b"{}")
        with pytest.raises(UpstreamDisconnected):
            await response.read()
        response.close()
        await client.close()


async def test_refused_connection_is_an_oserror() -> None:
    async with raw_server(read_request) as port:
        pass  # closed again: nothing listens on the port now
    client = UpstreamClient()
    with pytest.raises(ConnectionRefusedError):
        await client.request("127.0.0.1", port, "GET", "/health")
    await client.close()


async def test_cancelling_a_request_closes_its_connection() -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
        await writer.drain()
        await reader.read()  # returns when the client goes away
        closed.set()
        writer.close()

    async with raw_server(handler) as port:
        client = UpstreamClient()
        response = await client.request("127.0.0.1", port, "POST", "/s", b"{}")
        assert await response.next_chunk() == b"a"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await response.next_chunk()
        response.close()
        async with asyncio.timeout(5):
            await closed.wait()
        await client.close()


# --------------------------------------------------------------------------- through the router
#
# The same table, with the router between the SDKs and the scripted backend: one vLLM-engine
# and one Ollama-engine model on the same raw backend, each reached through the OpenAI SDK and
# the Ollama SDK, streaming and not. After each case the same SDK asks again and must get its
# own answer.

ROUTER_TIMEOUTS = {
    "interactiveSeconds": 1.5,
    "longSeconds": 1.5,
    "streamIdleSeconds": 0.8,
    "streamTotalSeconds": 2.5,
}
MODELS = {"vllm": "m-vllm", "ollama": "m-ollama"}
_nonces = itertools.count()


def router_config(port: int) -> dict[str, Any]:
    endpoint = [f"127.0.0.1:{port}"]
    return {
        "models": {
            name: {"engine": engine, "tracks": [{"name": "stable", "endpoints": endpoint}]}
            for engine, name in MODELS.items()
        },
        # Health restores quickly what a reset took out; bad answers never demote the model.
        "healthCheck": {
            "intervalSeconds": 0.3,
            "timeoutSeconds": 1,
            "passiveFailureThreshold": 1000,
        },
        "retries": {"maxAttempts": 1},
        "timeouts": ROUTER_TIMEOUTS,
        "limits": {"maxResponseBytes": MAX_ANSWER_BYTES},
    }


@dataclass
class Stack:
    backend: RawBackend
    router: RunningRouter


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with (
        backend_thread(RawBackend()) as backend,
        running_router(router_config(backend.port)) as router,
    ):
        yield Stack(backend, router)


def call_openai(url: str, model: str, nonce: str, stream: bool) -> tuple[str, str]:
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=15)
    messages: Any = [{"role": "user", "content": nonce}]
    try:
        if not stream:
            reply = client.chat.completions.create(model=model, messages=messages)
            return "ok", reply.choices[0].message.content or ""
        parts = []
        for piece in client.chat.completions.create(model=model, messages=messages, stream=True):
            if piece.choices and piece.choices[0].delta.content:
                parts.append(piece.choices[0].delta.content)
        return "ok", "".join(parts)
    except openai.APIStatusError as error:
        return str(error.status_code), error.message
    except openai.APIError as error:  # an error event in a stream that had started
        return "stream_error", error.message
    finally:
        client.close()


def call_ollama(url: str, model: str, nonce: str, stream: bool) -> tuple[str, str]:
    client = ollama.Client(host=url, timeout=15)
    messages = [{"role": "user", "content": nonce}]
    try:
        if not stream:
            reply = client.chat(model=model, messages=messages, stream=False)
            return "ok", reply.message.content or ""
        parts = []
        for piece in client.chat(model=model, messages=messages, stream=True):
            parts.append(piece.message.content or "")
        return "ok", "".join(parts)
    except ollama.ResponseError as error:
        return ("stream_error" if error.status_code == -1 else str(error.status_code)), error.error
    finally:
        client._client.close()  # the SDK has no close() of its own


SDKS = {"openai": call_openai, "ollama": call_ollama}


def through_router(stack: Stack, sdk: str, engine: str, stream: bool, case: Case) -> None:
    nonce = f"nonce-{next(_nonces)}r"
    stack.backend.cases[nonce] = case
    outcome, text = SDKS[sdk](stack.router.url, MODELS[engine], nonce, stream)
    expected = case.expected_router(stream)
    assert outcome in expected, (outcome, text)
    if outcome == "ok":
        assert text == reply_for(nonce)
    wait_finished_sync(stack.backend, nonce)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("sdk", list(SDKS))
@pytest.mark.parametrize("engine", list(MODELS))
@pytest.mark.parametrize("case", [c for c in CASES if not c.client_only], ids=lambda c: c.name)
def test_router_conformance(stack: Stack, case: Case, engine: str, sdk: str, stream: bool) -> None:
    through_router(stack, sdk, engine, stream, case)
    through_router(stack, sdk, engine, stream, PLAIN)  # its own answer, nobody else's
    if case.stale_next:
        through_router(stack, sdk, engine, stream, PLAIN)


def test_requests_ask_for_identity_encoding(stack: Stack) -> None:
    through_router(stack, "openai", "ollama", False, PLAIN)
    through_router(stack, "ollama", "vllm", True, PLAIN)
    posts = [seen for seen in stack.backend.seen if seen.method == b"POST"]
    assert posts
    assert all(seen.headers.get(b"accept-encoding") == b"identity" for seen in posts)


def test_ollama_health_answered_until_close_keeps_the_endpoint_healthy() -> None:
    """Ollama's `/` may answer HTTP/1.0 without a length: the close ends the body."""
    backend = RawBackend(
        health_answer=b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nOllama is running"
    )
    with backend_thread(backend), running_router(router_config(backend.port)) as router:
        deadline = time.monotonic() + 20
        while backend.health_requests < 6:  # a few rounds for each endpoint
            assert time.monotonic() < deadline, "no health checks arrived"
            time.sleep(0.05)
        endpoint = router.status()["models"]["m-ollama"]["tracks"][0]["endpoints"][0]
        assert endpoint["healthy"] is True, endpoint
        assert endpoint["lastError"] is None, endpoint
