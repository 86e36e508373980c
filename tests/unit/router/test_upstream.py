"""The upstream client's parsing rules, fed bytes directly (no sockets), and the new settings.

The same rules against real sockets, for both clients and through the router:
tests/integration/test_router_upstream*.py.
"""

from __future__ import annotations

import argparse
import asyncio

import pytest

from modelops.api.router_config import RouterConfigError, parse_router_config
from modelops.router import cli
from modelops.router.server import ServerLimits, _api
from modelops.router.upstream import (
    UpstreamClient,
    UpstreamDisconnected,
    UpstreamProtocolError,
    UpstreamResponse,
    UpstreamTooLarge,
    _Connection,
)


class FakeTransport:
    """Records what the connection does to its transport."""

    def __init__(self) -> None:
        self.written = b""
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def exchange(*packets: bytes, eof: bool = False) -> tuple[UpstreamResponse, _Connection]:
    connection = _Connection(UpstreamClient(max_head_bytes=4096, max_headers=20), ("h", 1))
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    response = connection.send(b"POST / HTTP/1.1\r\n\r\n")
    for packet in packets:
        if not transport.aborted:
            connection.data_received(packet)
    if eof and not transport.aborted:
        connection.connection_lost(None)
    return response, connection


async def body_of(response: UpstreamResponse) -> bytes:
    await response.head()
    return await response.read_all(1000)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize(
    ("packets", "status", "body"),
    [
        ([OK], 200, b"ok"),
        ([b"HTTP/1.1 100 Continue\r\n\r\n", OK], 200, b"ok"),
        ([b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK], 200, b"ok"),
        ([OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother"], 200, b"ok"),
        ([OK, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother"], 200, b"ok"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\nT: 1\r\n\r\n"],
         200, b"ok"),
        ([b"HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\nok"],
         200, b"ok"),
    ],
)  # fmt: skip
async def test_answers_taken_as_they_are(packets: list[bytes], status: int, body: bytes) -> None:
    response, _ = exchange(*packets)
    assert await body_of(response) == body
    assert response.status == status


async def test_anything_after_the_answer_drops_the_connection() -> None:
    response, connection = exchange(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother")
    assert await body_of(response) == b"ok"
    assert not connection.reusable


async def test_a_body_ended_by_a_clean_close_is_an_answer() -> None:
    response, _ = exchange(b"HTTP/1.0 200 OK\r\n\r\nuntil ", b"close", eof=True)
    assert await body_of(response) == b"until close"


async def test_a_body_cut_by_a_reset_is_not() -> None:
    connection = _Connection(UpstreamClient(), ("h", 1))
    connection.connection_made(FakeTransport())  # type: ignore[arg-type]
    response = connection.send(b"GET / HTTP/1.1\r\n\r\n")
    connection.data_received(b"HTTP/1.1 200 OK\r\n\r\npartial")
    connection.connection_lost(ConnectionResetError())
    with pytest.raises(UpstreamDisconnected):
        await body_of(response)


@pytest.mark.parametrize(
    ("packets", "reason"),
    [
        ([b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"], "101"),
        ([b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok"], "gzip"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"], "Transfer-Encoding"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"],
         "duplicate"),
        ([b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(21)) + b"\r\n"],
         "more than 20"),
        ([b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 5000 + b"\r\n\r\n"], "larger than 4096"),
        ([b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 3000, b"b" * 3000], "larger than 4096"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"],
         "Content-Length"),
    ],
)  # fmt: skip
async def test_answers_refused(packets: list[bytes], reason: str) -> None:
    response, connection = exchange(*packets)
    with pytest.raises(UpstreamProtocolError, match=reason):
        await body_of(response)
    assert not connection.reusable


async def test_the_size_cap_is_decided_from_the_length_before_buffering() -> None:
    response, _ = exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nxx")
    await response.head()
    with pytest.raises(UpstreamTooLarge, match="5000 bytes"):
        await response.read_all(1000)


async def test_the_size_cap_without_a_length() -> None:
    response, _ = exchange(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        *[b"200\r\n" + b"x" * 512 + b"\r\n"] * 3,
    )
    await response.head()
    with pytest.raises(UpstreamTooLarge):
        await response.read_all(1000)


async def test_the_request_asks_for_identity() -> None:
    connection = _Connection(UpstreamClient(), ("h", 1))
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    client = UpstreamClient()
    client._idle[("h", 1)] = [connection]
    connection.parked_at = asyncio.get_running_loop().time()
    waiting = asyncio.create_task(client.request("h", 1, "POST", "/v1/x", b"{}"))
    await asyncio.sleep(0)
    connection.data_received(OK)
    await (await waiting).read()
    assert b"\r\nAccept-Encoding: identity\r\n" in transport.written


def test_new_settings_parse_with_defaults() -> None:
    config = parse_router_config({})
    assert config.limits.max_response_bytes == 32 * 1024 * 1024
    assert config.timeouts.stream_idle_seconds is None
    assert config.timeouts.stream_total_seconds == 1800
    config = parse_router_config(
        {
            "limits": {"maxResponseBytes": 4096},
            "timeouts": {"streamIdleSeconds": 5, "streamTotalSeconds": 60},
        }
    )
    assert (config.limits.max_response_bytes, config.timeouts.stream_idle_seconds) == (4096, 5)
    for bad in ({"limits": {"maxResponseBytes": 10}}, {"timeouts": {"streamIdleSeconds": 0}}):
        with pytest.raises(RouterConfigError):
            parse_router_config(bad)


def test_server_flags_become_limits() -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(
        ["router", "--config", "x.yaml", "--header-timeout", "3", "--max-connections", "7"]
    )
    limits = cli._limits(args)
    assert limits == ServerLimits(header_timeout_seconds=3, max_connections=7)


@pytest.mark.parametrize(
    ("url", "api"),
    [(b"/v1/chat/completions", "openai"), (b"/api/chat", "ollama"), (b"/generate", "tgi"),
     (b"/metrics", "router")],
)  # fmt: skip
def test_server_answers_in_the_shape_of_the_path(url: bytes, api: str) -> None:
    assert _api(url) == api
