"""The router's upstream HTTP/1.1 client: asyncio protocol + httptools parser, keep-alive pool.

Why not aiohttp or httpx: `benchmarks/router_upstream_clients.py` measures all three against
the same simulator. httpx is ~10x slower than aiohttp at concurrency 32 (encode/httpx#3215);
this client, which does only what the router needs (one request per connection at a time,
JSON bodies, Content-Length or chunked answers, streaming), costs a fraction of aiohttp's
per-request overhead, and that overhead is most of the router's own.

Errors are `OSError`s: `ConnectionRefusedError` & co. from connecting, `UpstreamDisconnected`
when the backend drops the connection before the answer ended. A pooled keep-alive connection
that turns out to be closed by the backend is retried once on a fresh connection, so a stale
socket is never mistaken for a dead endpoint. Cancelling a request (timeout, client gone)
aborts its connection, which the backend sees as a disconnect.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import cast

import httptools

# Stop reading from the backend while this much is buffered and not yet consumed.
MAX_BUFFERED_BYTES = 1024 * 1024
MAX_IDLE_PER_ENDPOINT = 256


class UpstreamDisconnected(OSError):
    """The backend closed the connection before the response was complete."""


class UpstreamProtocolError(OSError):
    """The backend sent something that is not HTTP/1.1."""


class UpstreamResponse:
    __slots__ = (
        "_buffered",
        "_chunks",
        "_connection",
        "_error",
        "_head",
        "_waiter",
        "done",
        "keep_alive",
        "received_any",
        "status",
    )

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self._head: asyncio.Future[None] = connection.loop.create_future()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self.status = 0
        self.done = False
        self.keep_alive = False
        self.received_any = False

    # ---- fed by the protocol

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > MAX_BUFFERED_BYTES:
            self._connection.pause()
        self._wake()

    def _finish(self, keep_alive: bool) -> None:
        self.done = True
        self.keep_alive = keep_alive
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self.done:
            return
        self._error = error
        if not self._head.done():
            self._head.set_exception(error)
        self._wake()

    # ---- used by the router

    async def head(self) -> None:
        await self._head

    async def _wait(self) -> None:
        self._waiter = self._connection.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body as it arrived, or None at the end."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= MAX_BUFFERED_BYTES:
                    self._connection.resume()
                return chunk
            if self.done:
                return None
            if self._error is not None:
                raise self._error
            await self._wait()

    async def chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self.next_chunk()) is not None:
            yield chunk

    async def read(self, limit: int | None = None) -> bytes:
        parts: list[bytes] = []
        size = 0
        while (chunk := await self.next_chunk()) is not None:
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
        return b"".join(parts)[:limit] if limit is not None else b"".join(parts)

    def close(self) -> None:
        """Hands the connection back when the answer was read to its end, else drops it."""
        connection = self._connection
        if self.done and self.keep_alive and not self._chunks:
            connection.release()
        else:
            connection.abort()


class _Connection(asyncio.Protocol):
    def __init__(self, client: UpstreamClient, key: tuple[str, int]) -> None:
        self.client = client
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: UpstreamResponse | None = None
        self.closed = False
        self._paused = False

    # ---- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:
            self.abort()  # bytes nobody asked for: the connection cannot be trusted
            return
        response.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            response._fail(UpstreamProtocolError(f"invalid HTTP response: {error}"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client._forget(self)
        if self.response is not None:
            self.response._fail(
                UpstreamDisconnected("the backend closed the connection before answering in full")
            )

    # ---- httptools callbacks

    def on_headers_complete(self) -> None:
        response = self.response
        if response is not None:
            response.status = self.parser.get_status_code()
            if not response._head.done():
                response._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response._feed(body)

    def on_message_complete(self) -> None:
        if self.response is not None:
            self.response._finish(self.parser.should_keep_alive())

    # ---- used by the client and the response

    def send(self, data: bytes) -> UpstreamResponse:
        assert self.transport is not None
        self.response = UpstreamResponse(self)
        self.transport.write(data)
        return self.response

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def release(self) -> None:
        self.response = None
        self.parser = httptools.HttpResponseParser(self)
        self.client._park(self)

    def abort(self) -> None:
        self.closed = True
        self.client._forget(self)
        if self.transport is not None:
            self.transport.abort()


class UpstreamClient:
    """Keep-alive connections per (host, port); no limit on concurrent connections."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._closed = False

    async def request(
        self,
        host: str,
        port: int,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str = "application/json",
        extra_headers: str = "",
    ) -> UpstreamResponse:
        """Sends the request and waits for the status line and headers.

        `extra_headers`: preformatted "Name: value\\r\\n" lines (the router itself sends none).
        """
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        head = f"{method} {path} HTTP/1.1\r\nHost: {authority}\r\n{extra_headers}"
        if body or method == "POST":
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        data = head.encode("latin-1") + b"\r\n" + body
        key = (host, port)
        for _ in range(2):
            connection = self._take(key)
            reused = connection is not None
            if connection is None:
                _, connection = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(self, key), host, port
                )
            response = connection.send(data)
            try:
                await response.head()
            except UpstreamDisconnected:
                connection.abort()
                if reused and not response.received_any:
                    continue  # the backend had closed this idle connection: try a fresh one
                raise
            except BaseException:
                connection.abort()
                raise
            return response
        raise UpstreamDisconnected("the backend closed the connection before answering")

    def _take(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            transport = connection.transport
            if not connection.closed and transport is not None and not transport.is_closing():
                return connection
        return None

    def _park(self, connection: _Connection) -> None:
        idle = self._idle.setdefault(connection.key, [])
        if self._closed or len(idle) >= MAX_IDLE_PER_ENDPOINT:
            connection.abort()
        else:
            idle.append(connection)

    def _forget(self, connection: _Connection) -> None:
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)

    async def close(self) -> None:
        self._closed = True
        for idle in list(self._idle.values()):
            for connection in list(idle):
                connection.abort()
        self._idle.clear()
