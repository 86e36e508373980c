"""Forwarding one inference request: candidate models, endpoint choice, retries, streaming.

Retries (connect errors, 502/503/504, a backend dropping the connection) go to another
endpoint, then to the next model of the chain, bounded by `retries.maxAttempts`, and only
while nothing has been sent to the client. A canary is held to a stricter rule: any 5xx or
timeout from the canary track, before the first byte reached the client, is retried on the
stable track, so users never pay for a bad canary; the canary's failure is still counted.
Timeouts become 504s in the client's shape; a timeout after streaming started ends the
stream with an error event.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from modelops.api.telemetry import OUTCOME_ERROR, OUTCOME_OK, OUTCOME_RETRIED
from modelops.router.adapters import (
    OLLAMA_PATHS,
    OPENAI_PATHS,
    Operation,
    StreamPlan,
    backend_to_canonical,
    canonical_to_backend,
    canonical_to_client,
    same_api,
    upstream_error_message,
)
from modelops.router.errors import ClientError, ClientGone, error_object
from modelops.router.metrics import RouterMetrics
from modelops.router.routing import RequestClass, order_candidates, pick_endpoint, pick_track
from modelops.router.state import EndpointState, ModelRuntime, Snapshot
from modelops.router.streams import NdjsonDecoder, SseDecoder, dumps, ndjson_line, sse_event
from modelops.router.translate_ollama import JsonDict, TranslationError, UpstreamStreamError
from modelops.router.upstream import UpstreamClient, UpstreamResponse

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
RETRYABLE_STATUSES = frozenset({502, 503, 504})
GOLDEN_RATIO_STEP = 0.6180339887498949
MAX_ERROR_BODY = 64 * 1024


@dataclass
class InferenceRequest:
    op: Operation
    canonical: JsonDict
    raw_body: bytes
    chain: Sequence[str]
    request_class: RequestClass
    started: float = field(default_factory=time.perf_counter)
    # Set by the stream relay: when the first chunk went out, and whether the stream then
    # ended with an error event (a failure the client saw after a 200).
    first_chunk_at: float | None = None
    stream_failed: bool = False

    @property
    def stream(self) -> bool:
        return bool(self.canonical.get("stream"))


class RetryableFailure(Exception):
    """This endpoint could not answer; another may."""


CANARY = "canary"
STABLE = "stable"


def retry_on_stable(model: ModelRuntime, endpoint: EndpointState, error: ClientError) -> bool:
    """A canary's server-side failure goes to stable when stable can take it."""
    return endpoint.track == CANARY and error.status >= 500 and _has_usable_stable(model)


def _has_usable_stable(model: ModelRuntime) -> bool:
    stable = model.track(STABLE)
    return stable is not None and stable.has_usable


class Forwarder:
    def __init__(self, upstream: UpstreamClient, metrics: RouterMetrics) -> None:
        self.upstream = upstream
        self.metrics = metrics
        self._rotation = itertools.count()
        self._rolls: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()

    def next_request_id(self, kind: str) -> str:
        """Unique per router process, cheap (no uuid per request)."""
        return f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{self._id_prefix}{next(self._ids):x}"

    async def serve(self, snapshot: Snapshot, request: InferenceRequest, send: Send) -> None:
        chain = request.chain
        if len(chain) == 1 and snapshot.models[chain[0]].has_usable:
            candidates: Sequence[str] = chain  # the common case, decided without the rules
        else:
            now = time.monotonic()
            candidates = order_candidates(
                chain,
                lambda name: snapshot.models[name].has_usable,
                lambda name: snapshot.is_demoted(name, now),
            )
        if not candidates:
            self.metrics.errors.labels(request.chain[0], "", "unavailable").inc()
            raise ClientError(503, f"no healthy endpoint for {_describe_chain(request.chain)}")
        attempts_left = snapshot.config.retries.max_attempts
        failures: list[str] = []
        last: EndpointState | None = None
        for name in candidates:
            model = snapshot.models[name]
            tried: list[EndpointState] = []
            while attempts_left > 0:
                endpoint = self._choose(model, tried)
                if endpoint is None:
                    break
                tried.append(endpoint)
                attempts_left -= 1
                last = endpoint
                try:
                    await self._attempt(snapshot, model, endpoint, request, send)
                except RetryableFailure as failure:
                    failures.append(str(failure))
                    if endpoint.track == CANARY and _has_usable_stable(model):
                        self._retry_on_stable(request, model, endpoint, tried)
                        attempts_left = max(attempts_left, 1)  # stable always gets its try
                    continue
                except ClientGone:
                    raise  # the client left: no outcome to judge the track by
                except ClientError as error:
                    if retry_on_stable(model, endpoint, error):
                        failures.append(f"canary {endpoint.address}: {error.message}")
                        self._retry_on_stable(request, model, endpoint, tried)
                        attempts_left = max(attempts_left, 1)
                        continue
                    # A 4xx is the backend's verdict on the request, not a failure of the track.
                    self._record(
                        request, endpoint, OUTCOME_ERROR if error.status >= 500 else OUTCOME_OK
                    )
                    raise
                except Exception:
                    self._record(request, endpoint, OUTCOME_ERROR)
                    raise
                self._record(
                    request, endpoint, OUTCOME_ERROR if request.stream_failed else OUTCOME_OK
                )
                if name != request.chain[0]:
                    self.metrics.fallbacks.labels(request.chain[0], name).inc()
                return
        if last is not None:
            self._record(request, last, OUTCOME_ERROR)
        self.metrics.errors.labels(request.chain[0], "", "upstream").inc()
        detail = "; ".join(failures[-3:]) or "no endpoint to try"
        raise ClientError(
            502 if failures else 503,
            f"no backend could answer for {_describe_chain(request.chain)} ({detail})",
        )

    def _retry_on_stable(
        self,
        request: InferenceRequest,
        model: ModelRuntime,
        endpoint: EndpointState,
        tried: list[EndpointState],
    ) -> None:
        """The canary failed before the client saw a byte: count it, then go to stable."""
        self._record(request, endpoint, OUTCOME_RETRIED)
        self.metrics.errors.labels(model.name, CANARY, "retried_on_stable").inc()
        tried.extend(_track_endpoints(model, CANARY))
        request.first_chunk_at = None

    def _record(self, request: InferenceRequest, endpoint: EndpointState, outcome: str) -> None:
        """The request's outcome on the track that served it, as the client saw it."""
        ttft = None if request.first_chunk_at is None else request.first_chunk_at - request.started
        seconds = time.perf_counter() - request.started
        self.metrics.record_request(
            endpoint.model, endpoint.track, endpoint.revision, outcome, seconds, ttft
        )

    def _next_roll(self, model: str) -> float:
        """A low-discrepancy sequence per model (golden-ratio steps) instead of random rolls:
        over any run of n requests each track's share is within about 1/n of its weight, so
        a 10 % canary gets its 10 % even over a short analysis window."""
        roll = (self._rolls.get(model, random.random()) + GOLDEN_RATIO_STEP) % 1.0
        self._rolls[model] = roll
        return roll

    def _choose(self, model: ModelRuntime, tried: list[EndpointState]) -> EndpointState | None:
        rotation = next(self._rotation)
        if len(model.tracks) == 1:
            endpoint = pick_endpoint(model.tracks[0].endpoints, tried, rotation)
            if endpoint is not None or model.has_usable:
                return endpoint
        elif model.has_usable:
            roll = self._next_roll(model.name)
            name = pick_track(
                [
                    (t.name, t.weight, any(e.usable and e not in tried for e in t.endpoints))
                    for t in model.tracks
                ],
                roll,
            )
            track = model.track(name) if name else None
            return pick_endpoint(track.endpoints, tried, rotation) if track else None
        # Not demoted yet but nothing looks healthy: health may be stale, try the ready ones.
        untried = [e for e in model.endpoints if e not in tried and e.ready]
        return min(untried, key=lambda e: e.outstanding) if untried else None

    async def _attempt(
        self,
        snapshot: Snapshot,
        model: ModelRuntime,
        endpoint: EndpointState,
        request: InferenceRequest,
        send: Send,
    ) -> None:
        route = model.route
        backend_api = route.backend_api
        op = request.op
        split = (
            route.reasoning
            and op.client_api == "openai"
            and snapshot.config.openai_reasoning == "separate"
        )
        limit = (
            model.timeouts.long_seconds
            if request.request_class == "long"
            else model.timeouts.interactive_seconds
        )
        raw_ok = (
            same_api(op, backend_api)
            and request.canonical.get("model") == model.backend_model
            and not split
        )
        if raw_ok:
            path = (OPENAI_PATHS if backend_api == "openai" else OLLAMA_PATHS)[op.kind]
            payload = request.raw_body
        else:
            try:
                path, body = canonical_to_backend(
                    op, request.canonical, backend_api, model.backend_model
                )
            except TranslationError as error:
                raise ClientError(400, str(error)) from None
            payload = dumps(body)
        endpoint.outstanding += 1  # also the in-flight gauge, read at scrape time
        endpoint.requests += 1
        # One timer per attempt: it bounds the whole answer, or a stream's start (a stream then
        # bounds the wait for each chunk itself).
        timer = asyncio.timeout(limit)
        try:
            async with timer:
                try:
                    response = await self.upstream.request(
                        endpoint.host, endpoint.port, "POST", path, payload
                    )
                except OSError as error:
                    self._connect_failed(snapshot, model, endpoint, error)
                if request.stream:
                    timer.reschedule(None)
                try:
                    await self._relay(
                        snapshot, model, endpoint, request, send, response, raw_ok, split, limit
                    )
                finally:
                    response.close()
        except TimeoutError:
            if timer.expired():
                self._timed_out(model, endpoint, limit)
            raise
        finally:
            endpoint.outstanding -= 1

    async def _relay(
        self,
        snapshot: Snapshot,
        model: ModelRuntime,
        endpoint: EndpointState,
        request: InferenceRequest,
        send: Send,
        response: UpstreamResponse,
        raw_ok: bool,
        split: bool,
        limit: float,
    ) -> None:
        status = response.status
        self.metrics.count_attempt(endpoint, str(status))
        if status in RETRYABLE_STATUSES:
            text = await _read_bounded(response, limit)
            self._passive_failure(snapshot, model, endpoint, f"answered {status}")
            raise RetryableFailure(
                f"{endpoint.address} answered {status}: {upstream_error_message(text)}"
            )
        if status >= 400:
            text = await _read_bounded(response, limit)
            self.metrics.errors.labels(model.name, endpoint.track, f"upstream_{status}").inc()
            raise ClientError(status, upstream_error_message(text))
        if request.stream:
            await self._relay_stream(
                snapshot, model, endpoint, request, send, response, raw_ok, split, limit
            )
        else:
            await self._relay_whole(model, endpoint, request, send, response, raw_ok, split, limit)

    async def _relay_whole(
        self,
        model: ModelRuntime,
        endpoint: EndpointState,
        request: InferenceRequest,
        send: Send,
        response: UpstreamResponse,
        raw_ok: bool,
        split: bool,
        limit: float,
    ) -> None:
        try:
            data = await response.read()  # bounded by the attempt's timer
        except OSError as error:
            self._passive_failure(None, model, endpoint, f"connection lost: {error}")
            raise RetryableFailure(f"{endpoint.address}: connection lost ({error})") from None
        _mark_success(endpoint)
        op = request.op
        if raw_ok and op.client_api == "openai" and model.backend_model == model.name:
            # Same API, same name: the backend's bytes are the answer; only usage is read.
            await self._send_whole(model, endpoint, request, send, data, _usage_in_raw_json(data))
            return
        try:
            parsed = json.loads(data)
        except ValueError:
            raise ClientError(502, f"model {model.name!r} answered with invalid JSON") from None
        if raw_ok and parsed.get("model") == model.name:
            body = data
            usage = parsed.get("usage") if op.client_api == "openai" else _ollama_usage(parsed)
        elif raw_ok and op.client_api == "ollama":
            parsed["model"] = model.name
            usage = _ollama_usage(parsed)
            body = dumps(parsed)
        else:
            request_id = self.next_request_id(op.kind)
            canonical = backend_to_canonical(
                op, model.route.backend_api, parsed, model.name, request_id
            )
            usage = canonical.get("usage")
            elapsed_ns = int((time.perf_counter() - request.started) * 1e9)
            stop = request.canonical.get("stop")
            body = dumps(canonical_to_client(op, canonical, model.name, split, elapsed_ns, stop))
        await self._send_whole(model, endpoint, request, send, body, usage)

    async def _send_whole(
        self,
        model: ModelRuntime,
        endpoint: EndpointState,
        request: InferenceRequest,
        send: Send,
        body: bytes,
        usage: Any,
    ) -> None:
        start = _start(200, b"application/json", model.name, endpoint.track)
        # A length instead of chunked encoding: less to frame and parse on both sides.
        start["headers"].append((b"content-length", str(len(body)).encode()))
        await send(start)
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe_latency(
            model.name, endpoint.track, time.perf_counter() - request.started
        )
        self.metrics.count_tokens(model.name, endpoint.track, usage)

    async def _relay_stream(
        self,
        snapshot: Snapshot,
        model: ModelRuntime,
        endpoint: EndpointState,
        request: InferenceRequest,
        send: Send,
        response: UpstreamResponse,
        raw_ok: bool,
        split: bool,
        limit: float,
    ) -> None:
        op = request.op
        backend_api = model.route.backend_api
        decoder = SseDecoder() if backend_api == "openai" else NdjsonDecoder()
        options = request.canonical.get("stream_options") or {}
        plan = StreamPlan(
            op,
            backend_api,
            model.name,
            self.next_request_id(op.kind),
            split,
            include_usage=bool(options.get("include_usage")) or op.client_api != "openai",
            stop=request.canonical.get("stop"),
        )
        raw_stream = raw_ok and op.client_api == "openai" and model.backend_model == model.name
        started_response = False
        labels = (model.name, endpoint.track)
        while True:
            try:
                async with asyncio.timeout(limit):
                    data = await response.next_chunk()
            except TimeoutError:
                if not started_response:
                    self._timed_out(model, endpoint, limit)
                self.metrics.errors.labels(*labels, "timeout").inc()
                request.stream_failed = True
                await _send_stream_error(send, plan, f"model {model.name!r} stalled for {limit:g}s")
                return
            except OSError as error:
                self._passive_failure(snapshot, model, endpoint, f"stream broken: {error}")
                if not started_response:
                    raise RetryableFailure(f"{endpoint.address}: stream broken ({error})") from None
                self.metrics.errors.labels(*labels, "stream_broken").inc()
                request.stream_failed = True
                await _send_stream_error(send, plan, "the backend connection broke mid-stream")
                return
            if data is None:
                break
            if raw_stream:
                out = data
                if b'"completion_tokens"' in data:
                    plan.usage = _usage_in_raw_sse(data) or plan.usage
            else:
                try:
                    out = b"".join([plan.feed(payload) for payload in decoder.feed(data)])
                except UpstreamStreamError as error:
                    if not started_response:
                        raise ClientError(502, str(error)) from None
                    request.stream_failed = True
                    await _send_stream_error(send, plan, str(error))
                    return
            if not out:
                continue
            if not started_response:
                started_response = True
                _mark_success(endpoint)
                request.first_chunk_at = time.perf_counter()
                self.metrics.observe_ttft(*labels, request.first_chunk_at - request.started)
                await send(_start(200, plan.media_type, model.name, endpoint.track))
            await send({"type": "http.response.body", "body": out, "more_body": True})
        tail = b""
        if not raw_stream:
            if isinstance(decoder, NdjsonDecoder):
                tail = b"".join([plan.feed(payload) for payload in decoder.flush()])
            tail += plan.finish()
        if not started_response:
            _mark_success(endpoint)
            await send(_start(200, plan.media_type, model.name, endpoint.track))
        await send({"type": "http.response.body", "body": tail, "more_body": False})
        self.metrics.observe_latency(*labels, time.perf_counter() - request.started)
        self.metrics.count_tokens(model.name, endpoint.track, plan.usage)

    # ----------------------------------------------------------- passive health

    def _timed_out(self, model: ModelRuntime, endpoint: EndpointState, limit: float) -> NoReturn:
        self.metrics.count_attempt(endpoint, "timeout")
        self.metrics.errors.labels(model.name, endpoint.track, "timeout").inc()
        raise ClientError(504, f"model {model.name!r} did not answer within {limit:g} s")

    def _connect_failed(
        self, snapshot: Snapshot, model: ModelRuntime, endpoint: EndpointState, error: BaseException
    ) -> NoReturn:
        self.metrics.count_attempt(endpoint, "error")
        # A refused or reset connection means the process is gone: out at once.
        endpoint.healthy = False
        endpoint.last_error = f"connect: {error}"
        model.health.observe(model.has_usable, time.monotonic())
        raise RetryableFailure(f"{endpoint.address}: {error}")

    def _passive_failure(
        self, snapshot: Snapshot | None, model: ModelRuntime, endpoint: EndpointState, reason: str
    ) -> None:
        endpoint.consecutive_failures += 1
        endpoint.last_error = reason
        threshold = snapshot.config.health_check.passive_failure_threshold if snapshot else 1
        if endpoint.consecutive_failures >= threshold:
            endpoint.healthy = False
            model.health.observe(model.has_usable, time.monotonic())


def _track_endpoints(model: ModelRuntime, name: str) -> tuple[EndpointState, ...]:
    track = model.track(name)
    return track.endpoints if track is not None else ()


def _mark_success(endpoint: EndpointState) -> None:
    endpoint.consecutive_failures = 0
    if not endpoint.healthy:
        endpoint.healthy = True


def _describe_chain(chain: Sequence[str]) -> str:
    if len(chain) == 1:
        return f"model {chain[0]!r}"
    return f"model {chain[0]!r} and its fallbacks {', '.join(repr(c) for c in chain[1:])}"


def _ollama_usage(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    return {
        "prompt_tokens": body.get("prompt_eval_count"),
        "completion_tokens": body.get("eval_count"),
    }


def _usage_in_raw_json(data: bytes) -> Any:
    """The `usage` object of an OpenAI answer, decoding only that object."""
    index = data.rfind(b'"usage"')
    if index < 0:
        return None
    rest = data[index + 7 :].lstrip()
    if not rest.startswith(b":"):
        return None
    rest = rest[1:].lstrip()
    if not rest.startswith(b"{"):
        return None  # "usage": null
    try:
        usage, _ = _DECODER.raw_decode(rest.decode())
    except ValueError:
        return None
    return usage


_DECODER = json.JSONDecoder()


def _usage_in_raw_sse(data: bytes) -> Any:
    for line in data.split(b"\n"):
        if line.startswith(b"data:") and b'"completion_tokens"' in line:
            try:
                return json.loads(line[5:]).get("usage")
            except ValueError:
                return None
    return None


async def _read_bounded(response: UpstreamResponse, limit: float) -> bytes:
    try:
        async with asyncio.timeout(limit):
            return await response.read(MAX_ERROR_BODY)
    except OSError:
        return b""


def _start(status: int, content_type: bytes, model: str, track: str) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", content_type),
            (b"x-modelops-model", model.encode()),
            (b"x-modelops-track", track.encode()),
        ],
    }


async def _send_stream_error(send: Send, plan: StreamPlan, message: str) -> None:
    """Ends a started stream with an error event the client's SDK will surface."""
    api = plan.op.client_api
    event = error_object(api, 504, message)
    body = ndjson_line(event) if api == "ollama" else sse_event(event)
    await send({"type": "http.response.body", "body": body, "more_body": False})
