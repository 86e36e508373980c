"""The upstream conformance table: scripted raw-socket backends and what each must lead to.

A `Case` scripts what the backend writes for one request, for any engine (vLLM: OpenAI JSON and
SSE; Ollama: JSON and NDJSON) and either mode (stream or not). `RawBackend` is a plain asyncio
server that reads each request, finds its case by the nonce in the request body, and plays the
script. The same table drives two tests: against HTTP clients directly
(test_router_upstream_clients.py: ours and aiohttp's) and against the router, through the
OpenAI and Ollama SDKs (test_router_upstream.py).

Outcome names: "ok" (the answer, exactly), "error" (the client raised), "timeout" (nothing
usable within the deadline); at the router: "ok", "502", "504", "stream_error" (the stream
started, then ended with an error event).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

NONCE_RE = re.compile(rb"nonce-[0-9a-z]+")
INTRUDER = "reply to an intruder"  # what a mixed-up connection would deliver


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Answer:
    """The correct answer to one request, as the engine would frame it."""

    engine: str  # "vllm" | "ollama"
    stream: bool
    model: str
    content: str
    pad: int = 0  # whitespace inside the first JSON object (size tests)

    @property
    def content_type(self) -> bytes:
        if not self.stream:
            return b"application/json"
        return b"text/event-stream" if self.engine == "vllm" else b"application/x-ndjson"

    def _json(self, obj: dict[str, object], pad: int = 0) -> bytes:
        data = json.dumps(obj).encode()
        return b"{" + b" " * pad + data[1:] if pad else data

    @property
    def events(self) -> list[bytes]:
        """The body in its natural pieces: one per event for a stream, else one."""
        half = len(self.content) // 2
        pieces = [self.content[:half], self.content[half:]]
        if self.engine == "vllm":
            if not self.stream:
                return [self._json(self._openai_whole(), self.pad)]
            base = {"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1}
            base["model"] = self.model
            chunks = [{"index": 0, "delta": {"role": "assistant", "content": ""}}]
            chunks += [{"index": 0, "delta": {"content": piece}} for piece in pieces]
            events = [
                b"data: " + self._json({**base, "choices": [c]}, self.pad if i == 0 else 0)
                for i, c in enumerate(chunks)
            ]
            last = {"index": 0, "delta": {}, "finish_reason": "stop"}
            events.append(b"data: " + self._json({**base, "choices": [last]}))
            return [event + b"\n\n" for event in events] + [b"data: [DONE]\n\n"]
        if not self.stream:
            return [self._json(self._ollama_line(self.content, True), self.pad)]
        lines = [
            self._json(self._ollama_line(piece, False), self.pad if i == 0 else 0)
            for i, piece in enumerate(pieces)
        ]
        lines.append(self._json(self._ollama_line("", True)))
        return [line + b"\n" for line in lines]

    @property
    def body(self) -> bytes:
        return b"".join(self.events)

    @property
    def partial(self) -> bytes:
        """A prefix that holds at least one piece of content, never the whole answer."""
        events = self.events
        if len(events) > 2:
            return b"".join(events[:2])
        return events[0][: len(events[0]) // 2]

    def _openai_whole(self) -> dict[str, object]:
        return {
            "id": "chatcmpl-t",
            "object": "chat.completion",
            "created": 1,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }

    def _ollama_line(self, content: str, done: bool) -> dict[str, object]:
        line: dict[str, object] = {
            "model": self.model,
            "created_at": "2024-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": content},
            "done": done,
        }
        if done:
            line |= {"done_reason": "stop", "prompt_eval_count": 1, "eval_count": 2}
        return line


def reply_for(nonce: str) -> str:
    return f"reply to {nonce}"


# --------------------------------------------------------------------------- framing


def head(status: str, headers: list[tuple[bytes, bytes]], version: bytes = b"HTTP/1.1") -> bytes:
    lines = [version + b" " + status.encode()]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def with_length(a: Answer, status: str = "200 OK", extra: list[tuple[bytes, bytes]] = ()) -> bytes:  # type: ignore[assignment]
    body = a.body
    headers = [(b"Content-Type", a.content_type), (b"Content-Length", str(len(body)).encode())]
    return head(status, [*headers, *extra]) + body


def chunk(data: bytes, extension: bytes = b"") -> bytes:
    return f"{len(data):x}".encode() + extension + b"\r\n" + data + b"\r\n"


def chunked(a: Answer, extra: list[tuple[bytes, bytes]] = (), tail: bytes = b"0\r\n\r\n") -> bytes:  # type: ignore[assignment]
    headers = [(b"Content-Type", a.content_type), (b"Transfer-Encoding", b"chunked"), *extra]
    return head("200 OK", headers) + b"".join(chunk(e) for e in a.events) + tail


def error_answer(status: str, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", str(len(body)).encode())]
    return head(status, headers) + body


# --------------------------------------------------------------------------- scripts


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Trickle:
    """Writes `data` a byte at a time, `seconds` apart (forever when `repeat`)."""

    data: bytes
    seconds: float
    repeat: bool = False


class Close:
    """FIN: a clean close."""


class Reset:
    """RST: an abortive close."""


class Silent:
    """Says nothing more until the client goes away."""


Step = bytes | Pause | Trickle | type[Close] | type[Reset] | type[Silent]
Script = Callable[[Answer], list[Step]]


@dataclass(frozen=True)
class Case:
    name: str
    script: Script
    client: str  # outcome for an HTTP client: "ok" | "error" | "timeout" | "status:NNN"
    router: str  # outcome at the router, non-streaming
    router_stream: str | None = None  # the same for a stream, when it differs
    # Also acceptable at the router (RST can discard bytes the router had not read yet).
    router_also: frozenset[str] = frozenset()
    # The backend closes the connection when the next request arrives on it, unanswered.
    stale_next: bool = False
    pad: int = 0
    # Client-level only (skipped at the router: it needs a second nonce in one request).
    client_only: bool = False

    def expected_router(self, stream: bool) -> set[str]:
        main = self.router_stream if stream and self.router_stream else self.router
        return {main, *self.router_also}


def _every_byte(data: bytes) -> list[Step]:
    return [data[i : i + 1] for i in range(len(data))]


def _header_bomb(count: int, size: int) -> list[tuple[bytes, bytes]]:
    return [(f"X-Filler-{i}".encode(), b"v" * size) for i in range(count)]


def _gzip_answer(a: Answer) -> bytes:
    body = gzip.compress(a.body)
    headers = [
        (b"Content-Type", a.content_type),
        (b"Content-Encoding", b"gzip"),
        (b"Content-Length", str(len(body)).encode()),
    ]
    return head("200 OK", headers) + body


def _intruder(a: Answer) -> Answer:
    return Answer(a.engine, a.stream, a.model, INTRUDER)


def _events_forever(a: Answer) -> list[Step]:
    headers = [(b"Content-Type", a.content_type), (b"Transfer-Encoding", b"chunked")]
    steps: list[Step] = [head("200 OK", headers)]
    event = a.events[1] if a.stream else a.body[:40]
    for _ in range(200):  # bounded: 200 x 0.05 s, far past every deadline of the tests
        steps += [chunk(event), Pause(0.05)]
    return steps


MAX_ANSWER_BYTES = 256 * 1024  # the cap the tests configure

CASES: list[Case] = [
    Case("content_length", lambda a: [with_length(a)], "ok", "ok"),
    Case("chunked", lambda a: [chunked(a)], "ok", "ok"),
    Case("chunked_split_at_every_byte", lambda a: _every_byte(chunked(a)), "ok", "ok"),
    Case(
        "chunk_extensions_and_trailers",
        lambda a: [
            head("200 OK", [(b"Content-Type", a.content_type), (b"Transfer-Encoding", b"chunked")])
            + b"".join(chunk(e, b';name="v";x') for e in a.events)
            + b"0;last\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"
        ],
        "ok",
        "ok",
    ),
    Case(
        "body_ended_by_close_http11",
        lambda a: [
            head("200 OK", [(b"Content-Type", a.content_type), (b"Connection", b"close")]),
            a.body,
            Close,
        ],
        "ok",
        "ok",
    ),
    Case(
        "body_ended_by_close_http10",
        lambda a: [
            head("200 OK", [(b"Content-Type", a.content_type)], b"HTTP/1.0") + a.body,
            Close,
        ],
        "ok",
        "ok",
    ),
    Case(
        "http10_with_length",
        lambda a: [
            head(
                "200 OK",
                [(b"Content-Type", a.content_type), (b"Content-Length", str(len(a.body)).encode())],
                b"HTTP/1.0",
            )
            + a.body
        ],
        "ok",
        "ok",
    ),
    Case(
        "continue_100_in_its_own_packet",
        lambda a: [b"HTTP/1.1 100 Continue\r\n\r\n", Pause(0.02), with_length(a)],
        "ok",
        "ok",
    ),
    Case(
        "early_hints_103_in_its_own_packet",
        lambda a: [
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
            Pause(0.02),
            chunked(a),
        ],
        "ok",
        "ok",
    ),
    Case(
        "several_interim_answers",
        lambda a: [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + with_length(a)
        ],
        "ok",
        "ok",
    ),
    Case(
        "switching_protocols_101",
        lambda a: [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
            + with_length(a)
        ],
        "error",
        "502",
    ),
    Case(
        "second_answer_in_the_same_packet",
        lambda a: [with_length(a) + with_length(_intruder(a))],
        "ok",
        "ok",
    ),
    Case(
        "second_answer_in_a_later_packet",
        lambda a: [with_length(a), Pause(0.02), with_length(_intruder(a))],
        "ok",
        "ok",
    ),
    Case(
        "garbage_after_a_complete_answer",
        lambda a: [chunked(a) + b"\x00\x01garbage\r\n\r\n"],
        "ok",
        "ok",
    ),
    Case(
        "503_then_200_in_the_same_packet",
        lambda a: [error_answer("503 Service Unavailable", "overloaded") + with_length(a)],
        "status:503",
        "502",
    ),
    Case(
        "content_length_shorter_than_the_body",
        lambda a: [with_length(a) + b'{"leaked": "bytes of another answer"}'],
        "ok",
        "ok",
    ),
    Case(
        "content_length_longer_than_the_body_then_close",
        lambda a: [
            head(
                "200 OK",
                [(b"Content-Type", a.content_type), (b"Content-Length", str(len(a.body)).encode())],
            )
            + a.partial,
            Pause(0.05),
            Close,
        ],
        "error",
        "502",
        router_stream="stream_error",
    ),
    Case(
        "content_length_longer_than_the_body_then_silent",
        lambda a: [
            head(
                "200 OK",
                [(b"Content-Type", a.content_type), (b"Content-Length", str(len(a.body)).encode())],
            )
            + a.partial,
            Silent,
        ],
        "timeout",
        "504",
        router_stream="stream_error",
    ),
    Case(
        "chunked_cut_by_close",
        lambda a: [
            head("200 OK", [(b"Content-Type", a.content_type), (b"Transfer-Encoding", b"chunked")])
            + chunk(a.partial),
            Pause(0.05),
            Close,
        ],
        "error",
        "502",
        router_stream="stream_error",
    ),
    Case(
        "chunk_size_not_matching_its_data",
        lambda a: [
            head("200 OK", [(b"Content-Type", a.content_type), (b"Transfer-Encoding", b"chunked")])
            + b"3\r\n"
            + a.body
            + b"\r\n0\r\n\r\n"
        ],
        "error",
        "502",
        # Passed through as bytes, the first 3 already went out: the stream then breaks.
        router_also=frozenset({"stream_error"}),
    ),
    Case(
        "content_length_and_chunked",
        lambda a: [chunked(a, [(b"Content-Length", str(len(a.body)).encode())])],
        "error",
        "502",
    ),
    Case(
        "duplicate_content_length_same_value",
        lambda a: [with_length(a, extra=[(b"Content-Length", str(len(a.body)).encode())])],
        "error",
        "502",
    ),
    Case(
        "duplicate_content_length_other_value",
        lambda a: [with_length(a, extra=[(b"Content-Length", b"3")])],
        "error",
        "502",
    ),
    Case(
        "duplicate_transfer_encoding",
        lambda a: [chunked(a, [(b"Transfer-Encoding", b"chunked")])],
        "error",
        "502",
    ),
    Case(
        "transfer_encoding_gzip_then_chunked",
        lambda a: [
            head(
                "200 OK",
                [(b"Content-Type", a.content_type), (b"Transfer-Encoding", b"gzip, chunked")],
            )
            + chunk(gzip.compress(a.body))
            + b"0\r\n\r\n"
        ],
        "error",
        "502",
    ),
    Case("content_encoding_gzip", lambda a: [_gzip_answer(a)], "error", "502"),
    Case(
        "content_encoding_identity",
        lambda a: [with_length(a, extra=[(b"Content-Encoding", b"identity")])],
        "ok",
        "ok",
    ),
    Case(
        "headers_within_the_limits",
        lambda a: [with_length(a, extra=_header_bomb(60, 200))],
        "ok",
        "ok",
    ),
    Case(
        "header_larger_than_the_limit",
        lambda a: [with_length(a, extra=[(b"X-Big", b"b" * 100_000)])],
        "error",
        "502",
    ),
    Case(
        "more_headers_than_the_limit",
        lambda a: [with_length(a, extra=_header_bomb(150, 4))],
        "error",
        "502",
    ),
    Case(
        "answer_larger_than_the_cap",
        lambda a: [with_length(a)],
        "too_large",
        "502",
        router_stream="ok",  # streams are passed on as they come, not capped
        pad=MAX_ANSWER_BYTES + 1024,
    ),
    Case(
        "answer_larger_than_the_cap_without_length",
        lambda a: [chunked(a)],
        "too_large",
        "502",
        router_stream="ok",
        pad=MAX_ANSWER_BYTES + 1024,
    ),
    Case(
        "stale_keep_alive_closed_when_reused",
        lambda a: [with_length(a)],
        "ok",
        "ok",
        stale_next=True,
    ),
    Case("close_after_a_complete_answer", lambda a: [with_length(a), Close], "ok", "ok"),
    Case("reset_before_answering", lambda a: [Reset], "error", "502"),
    Case("reset_in_the_status_line", lambda a: [b"HTTP/1.1 20", Reset], "error", "502"),
    Case(
        "reset_in_the_headers",
        lambda a: [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Le", Reset],
        "error",
        "502",
    ),
    Case(
        "reset_after_the_headers",
        lambda a: [with_length(a)[: -len(a.body)], Pause(0.05), Reset],
        "error",
        "502",
    ),
    Case(
        "reset_in_the_body",
        lambda a: [with_length(a)[: -len(a.body)] + a.partial, Pause(0.05), Reset],
        "error",
        "502",
        router_stream="stream_error",
        router_also=frozenset({"502"}),
    ),
    Case("slow_server", lambda a: [Pause(0.2), with_length(a)], "ok", "ok"),
    Case("silent_server", lambda a: [Silent], "timeout", "504"),
    Case(
        "trickling_headers",
        lambda a: [Trickle(with_length(a), 0.05)],
        "timeout",
        "504",
    ),
    Case(
        "trickling_body",
        lambda a: [with_length(a)[: -len(a.body)], Trickle(a.body, 0.05, repeat=True)],
        "timeout",
        "504",
        # Passed through as bytes (OpenAI client, vLLM engine) the stream has started.
        router_also=frozenset({"stream_error"}),
    ),
    Case(
        "events_forever",
        _events_forever,
        "timeout",
        "504",
        router_stream="stream_error",
    ),
]
CASE_BY_NAME = {case.name: case for case in CASES}
PLAIN = CASE_BY_NAME["content_length"]


# --------------------------------------------------------------------------- the backend


@dataclass
class Seen:
    method: bytes
    path: bytes
    headers: dict[bytes, bytes]
    nonce: str | None


@dataclass
class RawBackend:
    """A scripted HTTP/1.1 server on loopback; `cases[nonce]` says how to answer a request."""

    cases: dict[str, Case] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    health_answer: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    health_requests: int = 0
    # Nonces whose script has been played to its end (or ended by the peer going away).
    finished: set[str] = field(default_factory=set)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
        try:
            raw_head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return None
        length = 0
        for line in raw_head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        try:
            return raw_head, await reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (ConnectionError, OSError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stale = False
        while (request := await self._read_request(reader)) is not None:
            if stale:
                return  # closed as the reused connection's request arrives
            raw_head, body = request
            lines = raw_head.split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                if b":" in line:
                    name, value = line.split(b":", 1)
                    headers[name.strip().lower()] = value.strip()
            match = NONCE_RE.search(body)
            nonce = match.group().decode() if match else None
            self.seen.append(Seen(method, path, headers, nonce))
            if method == b"GET":
                self.health_requests += 1
                writer.write(self.health_answer)
                await writer.drain()
                if b"Content-Length" not in self.health_answer:
                    writer.close()  # the body ends with the (clean) close
                    return
                continue
            case = self.cases.get(nonce or "", PLAIN)
            engine = "vllm" if path.startswith(b"/v1/") else "ollama"
            stream = b'"stream": true' in body or b'"stream":true' in body
            try:
                model = json.loads(body).get("model") or "m"
            except ValueError:
                model = "m"
            answer = Answer(engine, stream, model, reply_for(nonce or "?"), case.pad)
            try:
                if not await self._play(case.script(answer), reader, writer):
                    return
            finally:
                self.finished.add(nonce or "")
            stale = case.stale_next

    async def _play(
        self, steps: list[Step], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """False when the connection is done."""
        for step in steps:
            if isinstance(step, bytes):
                writer.write(step)
                await writer.drain()
            elif isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Trickle):
                for _ in range(1000 if step.repeat else 1):  # bounded; ends when the peer goes
                    for index in range(len(step.data)):
                        if writer.transport.is_closing():
                            return False
                        writer.write(step.data[index : index + 1])
                        await writer.drain()
                        await asyncio.sleep(step.seconds)
            elif step is Close:
                writer.close()
                return False
            elif step is Reset:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return False
            elif step is Silent:
                await reader.read()  # until the client closes
                return False
        return True


@contextmanager
def backend_thread(backend: RawBackend) -> Iterator[RawBackend]:
    """Runs `backend` on its own event loop in a thread (for tests with synchronous clients)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(backend.start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(backend.stop())
        loop.close()

    thread = threading.Thread(target=run, name="raw-backend", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the raw backend did not start")
    try:
        yield backend
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


SETTLE_SECONDS = 0.05


def wait_finished_sync(backend: RawBackend, nonce: str, seconds: float = 10.0) -> None:
    """`wait_finished` for a test thread while the backend runs on its own."""
    deadline = time.monotonic() + seconds
    while nonce not in backend.finished:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the backend did not finish {nonce}")
        time.sleep(0.005)
    time.sleep(SETTLE_SECONDS)


async def wait_finished(backend: RawBackend, nonce: str, seconds: float = 10.0) -> None:
    """Until the backend played `nonce`'s script to its end (its last bytes are out), and then
    a moment more, so those bytes reach the client before it sends its next request: bytes that
    arrive after a reused connection carried a new request cannot be told from its answer (no
    HTTP/1.1 client can), the table is about every other order of events."""
    async with asyncio.timeout(seconds):
        # A poll, not an Event: the backend may run on another thread's loop.
        while nonce not in backend.finished:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    await asyncio.sleep(SETTLE_SECONDS)


# --------------------------------------------------------------------------- HTTP clients

PATHS = {"vllm": "/v1/chat/completions", "ollama": "/api/chat"}
Outcome = tuple[str, int, bytes]  # (kind, status, body); kind "ok" or an error kind


def request_body(nonce: str, stream: bool, model: str = "m") -> bytes:
    messages = [{"role": "user", "content": nonce}]
    return json.dumps({"model": model, "messages": messages, "stream": stream}).encode()


def expected_body(engine: str, stream: bool, nonce: str, case: Case, model: str = "m") -> bytes:
    return Answer(engine, stream, model, reply_for(nonce), case.pad).body


class OursClient:
    """`modelops.router.upstream.UpstreamClient` as the router uses it."""

    name = "modelops"

    def __init__(self) -> None:
        from modelops.router.upstream import UpstreamClient

        self.client = UpstreamClient()

    async def fetch(self, port: int, path: str, body: bytes, stream: bool) -> Outcome:
        from modelops.router.upstream import UpstreamTooLarge

        try:
            response = await self.client.request("127.0.0.1", port, "POST", path, body)
            try:
                if stream:
                    data = b"".join([piece async for piece in response.chunks()])
                else:
                    data = await response.read_all(MAX_ANSWER_BYTES)
            finally:
                response.close()
        except UpstreamTooLarge:
            return ("too_large", 0, b"")
        except OSError:
            return ("error", 0, b"")
        return ("ok", response.status, data)

    async def close(self) -> None:
        await self.client.close()


class AiohttpClient:
    """aiohttp's client with the router's policy on top: identity coding asked for and
    required, the same body cap, comparable head limits."""

    name = "aiohttp"

    def __init__(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            auto_decompress=False,
            max_line_size=64 * 1024,
            max_field_size=64 * 1024,
            max_headers=100,
            connector=aiohttp.TCPConnector(limit=0),
        )

    async def fetch(self, port: int, path: str, body: bytes, stream: bool) -> Outcome:
        import aiohttp

        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        url = f"http://127.0.0.1:{port}{path}"
        try:
            async with self.session.post(url, data=body, headers=headers) as response:
                coding = response.headers.get("Content-Encoding", "identity").strip().lower()
                if coding not in ("", "identity"):
                    return ("error", 0, b"")
                parts: list[bytes] = []
                size = 0
                async for piece in response.content.iter_any():
                    size += len(piece)
                    if not stream and size > MAX_ANSWER_BYTES:
                        return ("too_large", 0, b"")
                    parts.append(piece)
                return ("ok", response.status, b"".join(parts))
        except (aiohttp.ClientError, OSError):
            return ("error", 0, b"")

    async def close(self) -> None:
        await self.session.close()


CLIENTS = {"modelops": OursClient, "aiohttp": AiohttpClient}
