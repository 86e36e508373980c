"""The router's upstream HTTP/1.1 client: asyncio protocol + httptools parser, keep-alive pool.

Why not aiohttp or httpx: `benchmarks/router_upstream_clients.py` measures all three against
the same simulator, and `tests/integration/test_router_upstream_clients.py` runs the same
conformance table against this client and aiohttp's. httpx is ~10x slower than aiohttp at
concurrency 32 (encode/httpx#3215); this client does only what the router needs (one request
per connection at a time, JSON bodies, streaming) at a fraction of aiohttp's per-request cost.

What it guarantees (the conformance table, docs/router.md):

* One request, one answer. 1xx interim answers (100 Continue, 103 Early Hints) are skipped;
  101 is an error. Anything after the end of the final answer (a second response, stray
  bytes) marks the connection unusable: the answer stays as it was, and the connection is
  dropped instead of going back to the pool, so it can never hand another request's answer
  to the next one.
* Framing per RFC 9112 section 6: Content-Length, chunked (with extensions and trailers), or,
  with neither, the body ends when the backend closes the connection cleanly (HTTP/1.0,
  `Connection: close`). Conflicting or duplicate framing headers and transfer codings other
  than `chunked` are errors. `Accept-Encoding: identity` is sent; any other Content-Encoding
  in the answer is an error (the router never passes compressed bytes on as JSON).
* Limits: response head size and header count; `read_all(max_bytes)` caps a non-streaming
  body (checked against Content-Length before any byte is buffered).

Errors are `OSError`s: `ConnectionRefusedError` & co. from connecting, `UpstreamDisconnected`
when the backend drops the connection before the answer ended, `UpstreamProtocolError` for an
answer that breaks the rules above. A pooled keep-alive connection that turns out to be closed
by the backend is retried once on a fresh connection, so a stale socket is never mistaken for a
dead endpoint; connections idle longer than `IDLE_SECONDS` are not reused at all. Cancelling a
request (timeout, client gone) aborts its connection, which the backend sees as a disconnect.
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
# A parked connection is reused only this long: below the 5 s keep-alive timeout of uvicorn
# (vLLM's server), so the backend closing it and us sending on it rarely cross.
IDLE_SECONDS = 4.0
DEFAULT_MAX_HEAD_BYTES = 64 * 1024
DEFAULT_MAX_HEADERS = 100


class UpstreamDisconnected(OSError):
    """The backend closed the connection before the response was complete."""


class UpstreamProtocolError(OSError):
    """The backend sent something this client does not accept as an HTTP/1.1 answer."""


class UpstreamTooLarge(UpstreamProtocolError):
    """A non-streaming answer is larger than the caller allows."""


class _Rejected(Exception):
    """Raised inside a parser callback to stop parsing; the reason is kept on the connection."""


class UpstreamResponse:
    __slots__ = (
        "_buffered",
        "_chunks",
        "_connection",
        "_error",
        "_head",
        "_waiter",
        "content_length",
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
        self.content_length: int | None = None
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
        if not self._head.done():  # a body ended by close can finish before anyone awaited
            self._head.set_result(None)
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
        """The body, or its first `limit` bytes (the rest is not read: close() then drops the
        connection)."""
        parts: list[bytes] = []
        size = 0
        while (chunk := await self.next_chunk()) is not None:
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
        return b"".join(parts)[:limit] if limit is not None else b"".join(parts)

    async def read_all(self, max_bytes: int) -> bytes:
        """The whole body; `UpstreamTooLarge` as soon as it is known to exceed `max_bytes`."""
        if self.content_length is not None and self.content_length > max_bytes:
            raise UpstreamTooLarge(
                f"the answer is {self.content_length} bytes, more than the {max_bytes} allowed"
            )
        parts: list[bytes] = []
        size = 0
        while (chunk := await self.next_chunk()) is not None:
            size += len(chunk)
            if size > max_bytes:
                raise UpstreamTooLarge(f"the answer is larger than the {max_bytes} bytes allowed")
            parts.append(chunk)
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def close(self) -> None:
        """Hands the connection back when the answer was read to its end, else drops it."""
        connection = self._connection
        if self.done and self.keep_alive and not self._chunks and connection.reusable:
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
        self.reusable = True
        self.parked_at = 0.0
        self._paused = False
        self._reset_message_state()

    def _reset_message_state(self) -> None:
        self._head_complete = False  # the final (non-1xx) answer's head was parsed
        self._head_bytes = 0
        self._header_count = 0
        self._header_bytes = 0
        self._framed = False  # Content-Length or chunked: the body does not end with the close
        self._transfer_encoding = False
        self._interim = False
        self._rejection: str | None = None

    # ---- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response.done:
            # Bytes after the end of the answer (or with none asked for): whatever they are,
            # this connection's next answer could not be trusted.
            self.reusable = False
            self.abort()
            return
        response.received_any = True
        if not self._head_complete:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            self._protocol_error(self._rejection or "invalid HTTP response")
            return
        except httptools.HttpParserUpgrade:
            self._protocol_error("the backend switched protocols (101)")
            return
        except httptools.HttpParserError as error:
            self._protocol_error(f"invalid HTTP response: {error}")
            return
        if not self._head_complete and self._head_bytes > self.client.max_head_bytes:
            self._protocol_error(f"response head larger than {self.client.max_head_bytes} bytes")

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost decides what the end means

    def connection_lost(self, exc: Exception | None) -> None:
        aborted = self.closed
        self.closed = True
        self.client._forget(self)
        response = self.response
        if response is None or response.done:
            return
        if exc is None and not aborted and self._head_complete and not self._framed:
            response._finish(keep_alive=False)  # RFC 9112 6.3 (7): the close ends the body
            return
        response._fail(
            UpstreamDisconnected("the backend closed the connection before answering in full")
        )

    def _protocol_error(self, message: str) -> None:
        self.reusable = False
        if self.response is not None:
            self.response._fail(UpstreamProtocolError(message))
        self.abort()

    def _reject(self, message: str) -> None:
        self._rejection = message
        raise _Rejected(message)

    # ---- httptools callbacks

    def on_message_begin(self) -> None:
        response = self.response
        if response is not None and response.done:
            self.reusable = False  # a second answer after a complete one: stop right here
            self._reject("a second response after a complete one")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.client.max_headers:
            self._reject(f"more than {self.client.max_headers} response headers")
        size = len(name)
        # A head that came whole in one read is measured here; data_received measures one
        # still incomplete (whose bytes httptools would otherwise keep gathering).
        self._header_bytes += size + len(value) + 4
        if self._header_bytes > self.client.max_head_bytes:
            self._reject(f"response head larger than {self.client.max_head_bytes} bytes")
        # Only the framing and coding headers matter here; the length test skips the others
        # without lower-casing them.
        if size == 14 and name.lower() == b"content-length":
            self._framed = True
            if self.response is not None:
                self.response.content_length = int(value)  # llhttp checked the digits
        elif size == 17 and name.lower() == b"transfer-encoding":
            if self._transfer_encoding:
                self._reject("duplicate Transfer-Encoding headers")
            self._transfer_encoding = True
            if value.strip().lower() != b"chunked":
                self._reject(f"unsupported Transfer-Encoding {value.decode('latin-1')!r}")
            self._framed = True
        elif size == 16 and name.lower() == b"content-encoding":
            coding = value.strip().lower()
            if coding and coding != b"identity":
                self._reject(
                    f"the backend answered with Content-Encoding {value.decode('latin-1')!r}"
                    " although the router asks for identity"
                )

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status == 101:
            self._reject("the backend switched protocols (101)")
        if 100 <= status < 200:
            # Interim answer: skip it, the final one follows on the same connection.
            self._interim = True
            self._header_count = 0
            self._framed = False
            self._transfer_encoding = False
            return
        self._head_complete = True
        response = self.response
        if response is not None:
            response.status = status
            if not response._head.done():
                response._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response._feed(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
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
        self._reset_message_state()
        self.client._park(self)

    def abort(self) -> None:
        self.closed = True
        self.client._forget(self)
        if self.transport is not None:
            self.transport.abort()


class UpstreamClient:
    """Keep-alive connections per (host, port); no limit on concurrent connections."""

    def __init__(
        self,
        max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
        max_headers: int = DEFAULT_MAX_HEADERS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.max_head_bytes = max_head_bytes
        self.max_headers = max_headers
        self.idle_seconds = idle_seconds
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
        """Sends the request and waits for the status line and headers of the final answer.

        `extra_headers`: preformatted "Name: value\\r\\n" lines (the router itself sends none).
        """
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {authority}\r\n"
            f"Accept-Encoding: identity\r\n{extra_headers}"
        )
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
        if not idle:
            return None
        oldest_usable = asyncio.get_running_loop().time() - self.idle_seconds
        while idle:
            connection = idle.pop()
            transport = connection.transport
            if connection.closed or transport is None or transport.is_closing():
                continue
            if connection.parked_at < oldest_usable:
                connection.abort()  # the newest was too old: so are all the others
                for stale in list(idle):
                    stale.abort()
                return None
            return connection
        return None

    def _park(self, connection: _Connection) -> None:
        idle = self._idle.setdefault(connection.key, [])
        if self._closed or len(idle) >= MAX_IDLE_PER_ENDPOINT:
            connection.abort()
        else:
            connection.parked_at = connection.loop.time()
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
