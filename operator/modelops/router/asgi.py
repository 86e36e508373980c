"""ASGI plumbing of the router app: answering, reading bodies, noticing a client that left.

Kept apart from app.py so that the app is routes and decisions only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from modelops.router.errors import ClientApi, ClientError, ClientGone, client_status, error_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


MAX_BODY_BYTES = 16 * 1024 * 1024


class GuardedSend:
    """Remembers whether the response started, so errors are only sent when they still can be."""

    __slots__ = ("_send", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers + (extra_headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


async def respond_error(send: Send, api: ClientApi, error: ClientError) -> None:
    status = client_status(api, error.status)
    body = error_body(api, status, error.message, error.param, error.code)
    await respond(send, status, body, extra_headers=list(error.headers))


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ClientError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


async def wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def headers_of(scope: Scope) -> dict[str, str]:
    wanted = {b"authorization", b"x-task", b"x-model", b"x-request-class"}
    return {
        name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in wanted
    }


async def cancel_on_disconnect(receive: Receive, serving: Coroutine[Any, Any, None]) -> None:
    """Runs `serving`; if the client goes away first, cancels it (closing the upstream call)."""
    serve_task = asyncio.ensure_future(serving)
    watch_task = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        await asyncio.wait({serve_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        serve_task.cancel()
        watch_task.cancel()
        raise
    watch_task.cancel()
    if serve_task.done():
        serve_task.result()
        return
    serve_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await serve_task
    raise ClientGone
