"""Steady, bounded load through the router with the official `openai` client, counting every
outcome: a non-streaming chat that fails, a stream that fails before its first chunk, a stream
broken with a clean error event (the router's error in OpenAI's shape, which the client raises
as `openai.APIError`), a stream broken uncleanly (a protocol error, or an end without a finish
reason).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import cycle

import httpx
import ollama
import openai

ASK = [{"role": "user", "content": "Why is the sky blue?"}]


@dataclass(frozen=True)
class Outcome:
    kind: str  # "chat" | "stream"
    model: str
    result: str  # "ok" | "failed" | "clean-error" | "broken"
    detail: str = ""
    served_by: str = ""
    ended: float = 0.0


def classify_stream_error(error: BaseException) -> str:
    """What a stream that raised tells its client."""
    if isinstance(error, openai.APIStatusError):
        return "failed"  # refused before streaming began: an ordinary failed request
    if isinstance(error, openai.APIConnectionError | httpx.HTTPError):
        return "broken"  # the connection broke: no clean end
    if isinstance(error, openai.APIError):
        return "clean-error"  # an `error` event in the stream, in OpenAI's shape
    return "broken"


@dataclass
class Load:
    """`workers` threads, each sending requests one after another (every `stream_every`-th
    streaming) to the models in turn, until stopped, `max_requests` in all or `max_seconds`."""

    base_url: str
    models: tuple[str, ...]
    workers: int = 4
    max_requests: int = 5000
    max_seconds: float = 900.0
    stream_every: int = 2
    max_tokens: int = 8
    stream_max_tokens: int | None = None
    pause_seconds: float = 0.05  # pacing: a steady rate, not a flood on two shared cores
    # Streams also through the official `ollama` client (the router's Ollama API), one in
    # every `ollama_every` streams; 0: none.
    ollama_every: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sent = 0
        self._threads: list[threading.Thread] = []
        self._deadline = 0.0

    def __enter__(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _take(self) -> bool:
        with self._lock:
            if self._sent >= self.max_requests or time.monotonic() > self._deadline:
                return False
            self._sent += 1
            return True

    def _work(self, index: int) -> None:
        # No SDK retries: every failure must show, not be papered over by the client.
        client = openai.OpenAI(
            base_url=f"{self.base_url}/v1", api_key="unused", max_retries=0, timeout=60
        )
        native = ollama.Client(host=self.base_url, timeout=60)
        models = cycle(
            self.models[index % len(self.models) :] + self.models[: index % len(self.models)]
        )
        try:
            turn = index
            while not self._stop.is_set() and self._take():
                model = next(models)
                turn += 1
                streams = turn // self.stream_every
                if (
                    turn % self.stream_every == 0
                    and self.ollama_every
                    and streams % self.ollama_every == 0
                ):
                    outcome = self._ollama_stream(native, model)
                elif turn % self.stream_every == 0:
                    outcome = self._stream(client, model)
                else:
                    outcome = self._chat(client, model)
                with self._lock:
                    self.outcomes.append(outcome)
                self._stop.wait(self.pause_seconds)
        finally:
            client.close()
            native.close()

    def _chat(self, client: openai.OpenAI, model: str) -> Outcome:
        try:
            reply = client.chat.completions.create(
                model=model, messages=ASK, max_tokens=self.max_tokens
            )
        except Exception as error:
            return Outcome(
                "chat", model, "failed", f"{type(error).__name__}: {error}", ended=time.monotonic()
            )
        if not reply.choices or reply.choices[0].finish_reason not in ("stop", "length"):
            return Outcome(
                "chat", model, "failed", f"no finish reason: {reply}", ended=time.monotonic()
            )
        return Outcome("chat", model, "ok", served_by=reply.model, ended=time.monotonic())

    def _stream(self, client: openai.OpenAI, model: str) -> Outcome:
        finish = None
        served = ""
        try:
            stream = client.chat.completions.create(
                model=model,
                messages=ASK,
                max_tokens=self.stream_max_tokens or self.max_tokens,
                stream=True,
            )
            for chunk in stream:
                served = chunk.model or served
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
        except Exception as error:
            result = classify_stream_error(error)
            return Outcome(
                "stream",
                model,
                result,
                f"{type(error).__name__}: {error}",
                served,
                time.monotonic(),
            )
        if finish not in ("stop", "length"):
            return Outcome(
                "stream", model, "broken", "ended without a finish reason", served, time.monotonic()
            )
        return Outcome("stream", model, "ok", served_by=served, ended=time.monotonic())

    def _ollama_stream(self, client: ollama.Client, model: str) -> Outcome:
        """A streamed /api/chat: a clean end is a last part with done=True; a clean error is
        an `{"error": ...}` line after the first part (Ollama's shape; the client raises
        ResponseError)."""
        parts = 0
        done = False
        options = {"num_predict": self.stream_max_tokens or self.max_tokens}
        try:
            for part in client.chat(model=model, messages=ASK, stream=True, options=options):
                parts += 1
                done = bool(part.done)
        except ollama.ResponseError as error:
            result = "clean-error" if parts else "failed"
            return Outcome(
                "ollama-stream", model, result, f"ResponseError: {error}", ended=time.monotonic()
            )
        except Exception as error:
            return Outcome(
                "ollama-stream",
                model,
                "broken",
                f"{type(error).__name__}: {error}",
                ended=time.monotonic(),
            )
        if not done:
            return Outcome(
                "ollama-stream", model, "broken", "ended without done", ended=time.monotonic()
            )
        return Outcome("ollama-stream", model, "ok", ended=time.monotonic())

    # -- figures -----------------------------------------------------------------------------

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def counts(self) -> Counter[str]:
        return Counter(f"{o.kind}:{o.result}" for o in self.snapshot())

    def failures(self) -> list[Outcome]:
        """Requests that failed: any non-ok chat, a stream refused or broken uncleanly."""
        return [o for o in self.snapshot() if o.result in ("failed", "broken")]

    def clean_errors(self) -> list[Outcome]:
        return [o for o in self.snapshot() if o.result == "clean-error"]

    def wait_for_more(self, count: int, timeout: float = 60.0) -> None:
        """Until `count` more outcomes than now have come in (the load is flowing)."""
        start = len(self.snapshot())
        deadline = time.monotonic() + timeout
        while len(self.snapshot()) < start + count:
            if time.monotonic() > deadline or all(not t.is_alive() for t in self._threads):
                raise AssertionError(f"load stalled: {self.counts()}")
            self._stop.wait(0.1)
