"""The runtime-independent core: concurrency slots, token pacing, fault injection, metrics."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from modelops.sim import textgen
from modelops.sim.knobs import SimConfig
from modelops.sim.metrics import Metrics
from modelops.sim.sampling import apply_stop

# Sleeping costs a timer and a loop iteration; below this the simulator just runs ahead.
MIN_SLEEP_SECONDS = 0.001


class Slots:
    """A counting semaphore that exposes how many requests run and how many wait (FIFO)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def acquire(self) -> None:
        if self.running < self.limit and not self._queue:
            self.running += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(future)
        try:
            await future  # release() hands its slot over, so `running` is already counted
        except asyncio.CancelledError:
            if future in self._queue:
                self._queue.remove(future)
            elif future.done() and not future.cancelled():
                self.release()  # the slot was handed to us just as we were cancelled
            raise

    def release(self) -> None:
        while self._queue:
            future = self._queue.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.running -= 1


@dataclass(slots=True)
class Generation:
    """What a request will produce, decided before any waiting happens."""

    tokens: list[str]
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    stop_reason: str | None = None  # the stop string that ended the answer, as vLLM reports

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens)

    @property
    def text(self) -> str:
        return "".join(self.tokens)


class Engine:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.slots = Slots(config.max_concurrency)
        self.metrics = Metrics(config.models[0])
        self._faults = random.Random(config.seed)
        self._ttft = config.ttft_ms / 1000.0
        self._interval = 1.0 / config.tokens_per_second

    def resolve_model(self, name: object) -> str | None:
        if not isinstance(name, str):
            return None
        models = self.config.models
        if name in models:
            return name
        if self.config.engine == "ollama":  # Ollama treats "llama3" and "llama3:latest" alike
            for candidate in (name + ":latest", name.removesuffix(":latest")):
                if candidate in models:
                    return candidate
        return None

    def should_fail(self) -> bool:
        rate = self.config.error_rate
        return rate > 0 and self._faults.random() < rate

    def plan(
        self,
        prompt: str,
        max_tokens: int | None,
        json_mode: bool = False,
        schema: dict[str, Any] | None = None,
        stop: tuple[str, ...] = (),
        variant: int = 0,
    ) -> Generation:
        """The answer to `prompt`; `variant` > 0 gives the other choices of an `n` > 1 request."""
        seed = self.config.seed + variant * 7919
        if json_mode:
            tokens = textgen.json_tokens(prompt, seed, schema)
        else:
            tokens = textgen.answer_tokens(prompt, seed, self.config.reasoning)
        tokens, matched = apply_stop(tokens, stop)
        finish = "stop"
        if max_tokens is not None and len(tokens) > max_tokens:
            tokens = tokens[:max_tokens]
            finish, matched = "length", None
        return Generation(tokens, finish, textgen.count_tokens(prompt), matched)

    def kv_cache_usage(self) -> float:
        return min(1.0, self.slots.running / self.config.max_concurrency)

    async def complete(self, generation: Generation) -> float:
        """Run a whole generation at once (non-streaming); returns seconds to first token."""
        arrived = time.monotonic()
        await self.slots.acquire()
        try:
            started = time.monotonic()
            count = len(generation.tokens)
            duration = self._ttft + max(count - 1, 0) * self._interval
            if duration >= MIN_SLEEP_SECONDS:
                await asyncio.sleep(duration)
        finally:
            self.slots.release()
        ttft = started - arrived + self._ttft
        self._record(generation, ttft, time.monotonic() - arrived)
        return ttft

    async def stream(self, generation: Generation) -> AsyncGenerator[str, None]:
        """Yield tokens at the configured pace; holds a slot until done or closed."""
        arrived = time.monotonic()
        await self.slots.acquire()
        first_token_at = 0.0
        try:
            started = time.monotonic()
            for index, token in enumerate(generation.tokens):
                due = started + self._ttft + index * self._interval
                delay = due - time.monotonic()
                if delay >= MIN_SLEEP_SECONDS:
                    await asyncio.sleep(delay)
                if index == 0:
                    first_token_at = time.monotonic()
                yield token
        finally:
            self.slots.release()
        ttft = (first_token_at or time.monotonic()) - arrived
        self._record(generation, ttft, time.monotonic() - arrived)

    def _record(self, generation: Generation, ttft: float, e2e: float) -> None:
        self.metrics.record(
            generation.prompt_tokens,
            generation.completion_tokens,
            generation.finish_reason,
            ttft,
            e2e,
        )
