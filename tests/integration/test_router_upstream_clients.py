"""The conformance table against HTTP clients directly: ours, and aiohttp's for comparison.

Issue 11's rule: use whichever client passes the table and is faster. Each case runs for both
clients, vLLM- and Ollama-shaped answers, streaming and whole reads; after each case the same
client asks again and must get exactly its own answer (a mixed-up connection would hand it the
previous request's leftovers). aiohttp's known failures are strict xfails, so the comparison
stays true: if aiohttp changes, this test says so.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from tests.integration.upstream_table import (
    CASES,
    CLIENTS,
    PATHS,
    PLAIN,
    Case,
    Outcome,
    RawBackend,
    expected_body,
    request_body,
    wait_finished,
)

CLIENT_DEADLINE = 1.5  # what the caller allows for one answer (the router's timeouts do this)
_counter = itertools.count()

# Cases aiohttp does not pass (with the router's policy on top), found by this very table.
# (A policy wrapper could fix some of them, never the desync: that needs the connection itself.)
_LEFTOVER = "bytes after the answer stay on the pooled connection: the next request on it fails"
AIOHTTP_FAILS: dict[str, str] = {
    "switching_protocols_101": "a 101 is returned as the answer",
    "second_answer_in_a_later_packet": (
        "bytes arriving on an idle pooled connection are handed to the next request as its"
        " answer: the desync of issue 11"
    ),
    "garbage_after_a_complete_answer": _LEFTOVER,
    "content_length_shorter_than_the_body": _LEFTOVER,
    "duplicate_transfer_encoding": "chunked applied twice is accepted (RFC 9112 6.1 forbids it)",
    "transfer_encoding_gzip_then_chunked": "the gzip transfer coding's bytes come back as the body",
    "stale_keep_alive_closed_when_reused": (
        "a pooled connection the backend closed as the request arrived is an error for a POST,"
        " not retried on a fresh connection"
    ),
}


def _params() -> list[object]:
    params = []
    for case in CASES:
        for client in CLIENTS:
            marks = []
            if client == "aiohttp" and case.name in AIOHTTP_FAILS:
                marks.append(pytest.mark.xfail(strict=True, reason=AIOHTTP_FAILS[case.name]))
            params.append(pytest.param(case, client, id=f"{case.name}-{client}", marks=marks))
    return params


@pytest.fixture
async def backend() -> AsyncIterator[RawBackend]:
    server = RawBackend()
    await server.start()
    yield server
    await server.stop()


async def _fetch(
    client: object, backend: RawBackend, engine: str, stream: bool, case: Case
) -> tuple[str, Outcome]:
    nonce = f"nonce-{next(_counter)}x{case.name.replace('_', '')[:20].lower()}"
    backend.cases[nonce] = case
    body = request_body(nonce, stream)
    try:
        async with asyncio.timeout(CLIENT_DEADLINE):
            outcome = await client.fetch(backend.port, PATHS[engine], body, stream)  # type: ignore[attr-defined]
    except TimeoutError:
        outcome = ("timeout", 0, b"")
    return nonce, outcome


def _judge(case: Case, engine: str, stream: bool, nonce: str, outcome: Outcome) -> None:
    kind, status, data = outcome
    wanted = case.client
    if wanted == "too_large" and stream:
        wanted = "ok"  # streams are read as they come, not capped
    if wanted == "ok":
        assert (kind, status) == ("ok", 200), outcome[:2]
        assert data == expected_body(engine, stream, nonce, case)
    elif wanted.startswith("status:"):
        assert (kind, status) == ("ok", int(wanted[7:])), outcome[:2]
    else:
        assert kind == wanted, outcome[:2]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("engine", ["vllm", "ollama"])
@pytest.mark.parametrize(("case", "client_name"), _params())
async def test_conformance(
    backend: RawBackend, case: Case, client_name: str, engine: str, stream: bool
) -> None:
    client = CLIENTS[client_name]()
    try:
        nonce, outcome = await _fetch(client, backend, engine, stream, case)
        _judge(case, engine, stream, nonce, outcome)
        await wait_finished(backend, nonce)
        # The same client again: exactly its own answer, whatever the last connection did.
        nonce, outcome = await _fetch(client, backend, engine, stream, PLAIN)
        _judge(PLAIN, engine, stream, nonce, outcome)
        if case.stale_next:  # and the connection the backend dropped was noticed and replaced
            nonce, outcome = await _fetch(client, backend, engine, stream, PLAIN)
            _judge(PLAIN, engine, stream, nonce, outcome)
    finally:
        await client.close()


@pytest.mark.parametrize("client_name", list(CLIENTS))
async def test_chunked_framing_split_at_every_byte_boundary(
    backend: RawBackend, client_name: str
) -> None:
    """Two packets, cut at each position of a chunked answer in turn."""
    from tests.integration.upstream_table import Answer, Pause, chunked, reply_for

    client = CLIENTS[client_name]()
    try:
        probe = chunked(Answer("vllm", True, "m", reply_for("nonce-0")))
        for cut in range(1, len(probe)):
            case = Case(
                f"cut{cut}",
                lambda a, cut=cut: [chunked(a)[:cut], Pause(0.002), chunked(a)[cut:]],  # type: ignore[misc]
                "ok",
                "ok",
            )
            nonce, outcome = await _fetch(client, backend, "vllm", True, case)
            _judge(case, "vllm", True, nonce, outcome)
    finally:
        await client.close()


async def test_accept_encoding_identity_is_sent(backend: RawBackend) -> None:
    client = CLIENTS["modelops"]()
    try:
        nonce, outcome = await _fetch(client, backend, "vllm", False, PLAIN)
        _judge(PLAIN, "vllm", False, nonce, outcome)
    finally:
        await client.close()
    seen = next(s for s in backend.seen if s.nonce == nonce)
    assert seen.headers.get(b"accept-encoding") == b"identity"
