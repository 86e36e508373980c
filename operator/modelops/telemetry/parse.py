"""Exposition text -> readings, with prometheus_client's own text parser. Pure.

Only the sample lines of the families read here reach the parser (a cheap prefix filter
first), and with a `LineCache` only the lines that changed since the source's previous text:
parsing costs tens of microseconds per line, and a router's or vLLM's exposition is mostly
series the operator does not read or that did not move. Samples are matched by their full
name (`..._total`, `..._bucket`), which reads the same with or without TYPE lines.
Unparsable text, a sample of ours without its labels, or a router text without the router's
start time (a wrong URL) is a `MetricsFormatError`: the caller reports the source as
unreadable rather than guessing zeros.
"""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from modelops.api import telemetry as names
from modelops.telemetry.types import PodReading, RouterReading, Series, TrackKey

_REQUESTS = names.ROUTER_MODEL_REQUESTS + "_total"
_BUCKETS = {
    names.ROUTER_MODEL_LATENCY + "_bucket": "latency",
    names.ROUTER_MODEL_TTFT + "_bucket": "ttft",
}


_ROUTER_PREFIXES = (f"{names.ROUTER_PREFIX}_model_", names.ROUTER_START_TIME)
_VLLM_PREFIXES = (
    names.VLLM_RUNNING,
    names.VLLM_WAITING,
    names.VLLM_KV_CACHE,
    names.VLLM_KV_CACHE_LEGACY,
)


class MetricsFormatError(ValueError):
    """The text is not a Prometheus exposition we can read."""


Sample = tuple[str, dict[str, str], float]


class LineCache:
    """The samples of one source's previous text, by line: between two scrapes most lines are
    the same (idle series, histogram buckets below the new observations) and are not parsed
    again. Holds one text's lines at most."""

    def __init__(self) -> None:
        self.samples: dict[str, Sample] = {}


def _samples(text: str, prefixes: tuple[str, ...], cache: LineCache | None) -> list[Sample]:
    if "\x00" in text:
        raise MetricsFormatError("not a Prometheus exposition: binary data")
    # Sample lines only: HELP/TYPE lines change nothing here, since samples are matched by
    # their full names, and without them every line parses to exactly one sample.
    lines = [line for line in text.splitlines() if line.startswith(prefixes)]
    known = cache.samples if cache is not None else {}
    fresh = [line for line in lines if line not in known]
    try:
        parsed = [
            (sample.name, sample.labels, float(sample.value))
            for family in text_string_to_metric_families("\n".join([*fresh, ""]))
            for sample in family.samples
        ]
    except (ValueError, TypeError, IndexError) as error:
        raise MetricsFormatError(f"not a Prometheus exposition: {error}") from None
    if len(parsed) != len(fresh):
        raise MetricsFormatError("not a Prometheus exposition: lines and samples do not match")
    found = dict(zip(fresh, parsed, strict=True))
    samples = [found[line] if line in found else known[line] for line in lines]
    if cache is not None:
        cache.samples = dict(zip(lines, samples, strict=True))
    return samples


def _track(name: str, labels: dict[str, str]) -> TrackKey:
    try:
        return TrackKey(
            labels[names.LABEL_MODEL], labels[names.LABEL_TRACK], labels[names.LABEL_REVISION]
        )
    except KeyError as missing:
        raise MetricsFormatError(f"{name} sample without the label {missing}") from None


def _outcome(name: str, labels: dict[str, str]) -> str:
    outcome = labels.get(names.LABEL_OUTCOME)
    if outcome is None:
        raise MetricsFormatError(f"{name} sample without the label {names.LABEL_OUTCOME!r}")
    return outcome


def parse_router(text: str, cache: LineCache | None = None) -> RouterReading:
    """The per-request series, in-flight and holding gauges and start time of one router.

    `cache`: the same `LineCache` for every text of the same router makes re-parsing cheap.
    """
    counters: dict[Series, float] = {}
    in_flight: dict[TrackKey, float] = {}
    holding: dict[str, float] = {}
    started_at: float | None = None
    for name, labels, value in _samples(text, _ROUTER_PREFIXES, cache):
        if name == _REQUESTS:
            series = Series(_track(name, labels), "requests", _outcome(name, labels), math.inf)
            counters[series] = value
        elif name in _BUCKETS:
            try:
                bound = float(labels["le"])
            except (KeyError, ValueError):
                raise MetricsFormatError(f"{name} sample without a numeric 'le'") from None
            track, outcome = _track(name, labels), _outcome(name, labels)
            counters[Series(track, _BUCKETS[name], outcome, bound)] = value
        elif name == names.ROUTER_MODEL_IN_FLIGHT:
            in_flight[_track(name, labels)] = value
        elif name == names.ROUTER_MODEL_HOLDING:
            model = labels.get(names.LABEL_MODEL)
            if model is None:
                raise MetricsFormatError(f"{name} sample without the label 'model'")
            holding[model] = value
        elif name == names.ROUTER_START_TIME:
            started_at = value
    if started_at is None:
        # Without it, an empty reading would read as "no traffic" for a wrong URL.
        raise MetricsFormatError(
            f"no {names.ROUTER_START_TIME} (is this a modelops router's /metrics?)"
        )
    return RouterReading(started_at, counters, in_flight, holding)


def parse_vllm(text: str, cache: LineCache | None = None) -> PodReading:
    """running, waiting and KV-cache usage of one vLLM pod, over every model it serves."""
    running: float | None = None
    waiting: float | None = None
    kv_cache: float | None = None
    legacy_kv: float | None = None
    for name, _, value in _samples(text, _VLLM_PREFIXES, cache):
        if name == names.VLLM_RUNNING:
            running = (running or 0.0) + value
        elif name == names.VLLM_WAITING:
            waiting = (waiting or 0.0) + value
        elif name == names.VLLM_KV_CACHE:
            kv_cache = value if kv_cache is None else max(kv_cache, value)
        elif name == names.VLLM_KV_CACHE_LEGACY:
            legacy_kv = value if legacy_kv is None else max(legacy_kv, value)
    if running is None or waiting is None:
        raise MetricsFormatError(
            f"no {names.VLLM_RUNNING} / {names.VLLM_WAITING} (is this a vLLM /metrics?)"
        )
    return PodReading(running, waiting, kv_cache if kv_cache is not None else legacy_kv)
