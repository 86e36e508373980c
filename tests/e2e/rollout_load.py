"""Steady, bounded load through the router with the official openai client, counting every
failure the client sees, and the router's own per-track counts at each weight change."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

import openai
from prometheus_client.parser import text_string_to_metric_families

ASK = [{"role": "user", "content": "Say something"}]
REQUESTS = "modelops_router_model_requests"


@dataclass
class Outcome:
    stream: bool
    ok: bool
    track: str | None
    error: str = ""


@dataclass
class Load:
    """`rate` requests per second (every third one streamed), at most `max_seconds` long."""

    router_url: str
    model: str
    rate: float = 10.0
    max_seconds: float = 120.0
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._client = openai.OpenAI(
            base_url=f"{self.router_url}/v1", api_key="unused", max_retries=0, timeout=30
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._driver = threading.Thread(target=self._drive, daemon=True)

    def __enter__(self) -> Load:
        self._driver.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._driver.join()
        for thread in list(self._threads):
            thread.join(timeout=40)
        self._client.close()

    def _drive(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        index = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            thread = threading.Thread(target=self._one, args=(index % 3 == 0,), daemon=True)
            thread.start()
            self._threads.append(thread)
            index += 1
            self._stop.wait(1 / self.rate)

    def _one(self, stream: bool) -> None:
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model, messages=ASK, max_tokens=8, stream=stream
            )
            track = raw.headers.get("x-modelops-track")
            if stream:
                chunks = list(raw.parse())
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                outcome = Outcome(True, bool(text), track, "" if text else "empty stream")
            else:
                reply = raw.parse()
                content = reply.choices[0].message.content
                outcome = Outcome(False, bool(content), track, "" if content else "empty")
        except Exception as error:  # every failure the client sees is a finding
            outcome = Outcome(stream, False, None, f"{type(error).__name__}: {error}")
        with self._lock:
            self.outcomes.append(outcome)

    def failures(self, *, stream: bool | None = None) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if not o.ok and (stream is None or o.stream == stream)]

    def sent(self) -> int:
        with self._lock:
            return len(self.outcomes)


def track_counts(router_url: str, model: str) -> Counter[str]:
    """The router's own count of the model's requests per track (every outcome)."""
    with urllib.request.urlopen(f"{router_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != REQUESTS:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("model") == model:
                counts[sample.labels["track"]] += int(sample.value)
    return counts


def canary_weight(router_url: str, model: str) -> int | None:
    """The canary weight the router itself is using right now (None: no canary track)."""
    with urllib.request.urlopen(f"{router_url}/status", timeout=5) as response:
        status = json.loads(response.read())
    tracks = status["models"].get(model, {}).get("tracks", [])
    return next((t["weight"] for t in tracks if t["name"] == "canary"), None)


class WeightWatcher:
    """Snapshots the router's per-track counts each time its canary weight changes, so each
    step's traffic split can be read from the router's own figures."""

    def __init__(self, router_url: str, model: str) -> None:
        self.router_url, self.model = router_url, model
        self.snapshots: list[tuple[int | None, Counter[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WeightWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last: object = object()
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            weight = canary_weight(self.router_url, self.model)
            if weight != last:
                self.snapshots.append((weight, track_counts(self.router_url, self.model)))
                last = weight
            self._stop.wait(0.05)
        self.snapshots.append((None, track_counts(self.router_url, self.model)))

    def shares(self) -> list[tuple[int, float, int]]:
        """(weight, measured canary share in percent, requests) for each canary weight held."""
        result = []
        for (weight, before), (_, after) in zip(self.snapshots, self.snapshots[1:], strict=False):
            if weight is None:
                continue
            canary = after["canary"] - before["canary"]
            total = canary + after["stable"] - before["stable"]
            if total:
                result.append((weight, 100.0 * canary / total, total))
        return result
