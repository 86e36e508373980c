"""The router's HTTP server: uvicorn's httptools protocol with the limits an edge server needs.

uvicorn's httptools mode (the fastest it has; `benchmarks/router_overhead.py`) waits forever
for a request head, has no head size or header count limit, and keeps a connection that never
sends a byte open for good. `HardenedProtocol` adds, per connection:

* a deadline for each request head (from the connection, or from the first byte of a request
  on a kept-alive connection), then one for its body: 408 (head) or a close (body);
* a size limit for the head and a limit on the header count: 431;
* an idle deadline between requests (uvicorn's keep-alive timeout);
* a bound on open connections: over it, the oldest idle connection is closed to make room; when
  none is idle, the new connection's request is answered 503 with `Retry-After` and closed;
* a client that disconnects before its answer is complete cancels its request (so a
  non-streaming request stops its upstream call at once, not at its timeout), unless the app
  is waiting in receive() at that moment: then it hears of the disconnect itself and does its
  own accounting (the router's streaming path counts a 499).

Everything else (parsing, flow control, the ASGI cycle) is uvicorn's, so the cost per request
is a few attribute updates and one timer (measured in the overhead benchmark).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from modelops.router.errors import ClientApi, error_body

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class ServerLimits:
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0
    idle_timeout_seconds: float = 5.0
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    max_connections: int = 2048


_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}


class _Answered(Exception):
    """Raised in a parser callback once the connection was answered and is closing."""


class _Registry:
    """The open connections of one server, idle ones in the order they became idle."""

    def __init__(self) -> None:
        self.open = 0
        self.idle: dict[HardenedProtocol, None] = {}

    def evict_idle(self, keep: HardenedProtocol) -> bool:
        for connection in self.idle:
            if connection is not keep:
                del self.idle[connection]
                connection.transport.close()
                return True
        return False


def _api(url: bytes) -> ClientApi:
    if url.startswith(b"/v1/"):
        return "openai"
    if url.startswith(b"/api/"):
        return "ollama"
    if url.startswith((b"/generate", b"/info")):
        return "tgi"
    return "router"


class HardenedProtocol(HttpToolsProtocol):
    limits = ServerLimits()
    registry = _Registry()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        # Timers are armed only when a read ends with a head or body incomplete, so a request
        # that arrives whole in one read (the usual case) costs no timer at all.
        self._head_open = True  # waiting for (the rest of) a request head
        self._body_open = False  # head received, body not complete yet
        self._head_bytes = 0
        self._header_count = 0
        self._header_bytes = 0
        self._over_limit = False
        self._answered = False
        self._task: asyncio.Task[None] | None = None
        self._gone: _Gone | None = None
        self._request_url = b""

    # ---- connection lifecycle

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        registry = self.registry
        registry.open += 1
        if registry.open > self.limits.max_connections and not registry.evict_idle(self):
            self._over_limit = True  # answered 503 once its head arrives (or it times out)
        registry.idle[self] = None
        self._arm(self.limits.header_timeout_seconds, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.open -= 1
        self.registry.idle.pop(self, None)
        self._disarm()
        cycle, task, gone = self.cycle, self._task, self._gone
        answering = cycle is not None and not cycle.response_complete
        # An app waiting in receive() hears of the disconnect itself (and accounts for it, as
        # the router's streaming path does); any other is cancelled.
        listening = gone is not None and gone.receiving > 0
        if answering and gone is not None and not listening and task and not task.done():
            gone.value = True
            task.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._answered:
            return
        if self._head_open:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._answer(400, "protocol upgrades are not supported")
            return
        except httptools.HttpParserError:
            if not self._answered:
                self._answer(400, "invalid HTTP request")
            return
        if self._head_open:
            if self._head_bytes > self.limits.max_header_bytes:
                self._answer(431, f"request head larger than {self.limits.max_header_bytes} bytes")
            elif self._timer is None:
                self._arm(self.limits.header_timeout_seconds, self._head_timed_out)
        elif self._body_open:
            if self._timer is None:
                self._arm(self.limits.body_timeout_seconds, self._body_timed_out)
        elif self._timer is not None:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._head_open = True
            self._head_bytes = 0
            self.registry.idle[self] = None

    # ---- parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.registry.idle.pop(self, None)
        self._header_count = 0
        self._header_bytes = 0
        self._request_url = b""
        self._head_open = True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._header_bytes += len(url)
        if len(self._request_url) < 64:
            self._request_url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        # A head that came whole in one read is measured here; data_received measures one
        # still incomplete (whose bytes httptools would otherwise keep gathering).
        self._header_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers:
            self._answer(431, f"more than {self.limits.max_headers} request headers")
            raise _Answered
        if self._header_bytes > self.limits.max_header_bytes:
            self._answer(431, f"request head larger than {self.limits.max_header_bytes} bytes")
            raise _Answered
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._disarm()
        if self._over_limit:
            self._answer(
                503,
                f"the router has {self.limits.max_connections} connections open; try again",
                retry_after=True,
            )
            raise _Answered
        super().on_headers_complete()
        self._body_open = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._body_open = False
        self._disarm()

    # ---- the ASGI task: remembered, so that a disconnect can cancel it

    def _start_asgi_task(self, cycle: Any, app: ASGIApp) -> None:
        gone = _Gone()
        task = self.loop.create_task(cycle.run_asgi(_swallow_client_gone(app, gone)))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)
        self._task = task
        self._gone = gone

    # ---- deadlines and answers

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._head_bytes == 0:
            self.transport.close()  # not a byte of a request: nobody to answer
            return
        seconds = self.limits.header_timeout_seconds
        self._answer(408, f"request head not received within {seconds:g} s")

    def _body_timed_out(self) -> None:
        self._timer = None
        self._body_open = False
        # The app is reading the body: closing makes its receive() report a disconnect.
        self.transport.close()

    def _answer(self, status: int, message: str, retry_after: bool = False) -> None:
        """Answers a request the app never sees, and closes the connection."""
        self._answered = True
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # the app is answering this connection: do not interleave
            return
        body = error_body(_api(self._request_url), status, message)
        reason = {
            400: "Bad Request",
            408: "Request Timeout",
            431: "Request Header Fields Too Large",
        }
        head = (
            f"HTTP/1.1 {status} {reason.get(status, 'Service Unavailable')}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            f"{'retry-after: 1' + chr(13) + chr(10) if retry_after else ''}"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()


class _Gone:
    """Whether the request's task was cancelled because its client disconnected, and how many
    receive() calls of the app are waiting (those learn of a disconnect without help)."""

    __slots__ = ("receiving", "value")

    def __init__(self) -> None:
        self.value = False
        self.receiving = 0


def _swallow_client_gone(app: ASGIApp, gone: _Gone) -> ASGIApp:
    """A request cancelled because its client left ends quietly (uvicorn would log it)."""

    async def run(scope: Any, receive: Any, send: Any) -> None:
        async def watched_receive() -> Any:
            gone.receiving += 1
            try:
                return await receive()
            finally:
                gone.receiving -= 1

        try:
            await app(scope, watched_receive, send)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not gone.value or task is None:
                raise
            task.uncancel()

    return run


def protocol_class(limits: ServerLimits) -> type[HardenedProtocol]:
    """A protocol class for one server: its own limits and connection registry."""
    return type(
        "HardenedProtocol", (HardenedProtocol,), {"limits": limits, "registry": _Registry()}
    )


def serve(app: Any, host: str, port: int, log_level: str, limits: ServerLimits) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=protocol_class(limits),
        lifespan="on",
        access_log=False,
        # The router is the edge: X-Forwarded-* rewriting is not wanted (and costs per request).
        proxy_headers=False,
        log_level=log_level,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=limits.idle_timeout_seconds,  # type: ignore[arg-type]
        ws="none",
    )
