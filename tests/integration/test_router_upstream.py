"""The router's upstream HTTP client against scripted raw servers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from modelops.router.upstream import UpstreamClient, UpstreamDisconnected

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
