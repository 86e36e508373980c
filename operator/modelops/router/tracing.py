"""OpenTelemetry tracing of the router: off unless the environment switches it on.

On with `LLM_TRACE_EXPORTER=otlp` or the standard `OTEL_TRACES_EXPORTER=otlp`; off again with
`OTEL_SDK_DISABLED=true`. Everything else is the SDK's own environment: the collector
(`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, HTTP/protobuf), the
sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`; default parent-based always-on),
`OTEL_SERVICE_NAME` (default modelops-router), `OTEL_RESOURCE_ATTRIBUTES`.

One SERVER span per client request, named and attributed by the GenAI semantic conventions
(`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.response.model`,
`gen_ai.usage.input_tokens` / `output_tokens`, time to first token), and one CLIENT span per
upstream attempt (model, track, endpoint, and why it was tried: a retry or a fallback). The
client's W3C `traceparent` is the parent; each attempt sends its own to the runtime.

The request being traced travels in a ContextVar (each ASGI request runs in its own task, so
the proxy's hooks find it without new parameters); the provider and exporter belong to the
app (`Tracing`, made by the app, shut down with it). With tracing off every hook is one
ContextVar lookup.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from modelops.otel import otlp_provider

OPERATION_NAMES = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}
ATTR_TTFT = "gen_ai.server.time_to_first_token"  # seconds, as the semconv metric of that name
DEFAULT_SERVICE = "modelops-router"

_current: contextvars.ContextVar[RequestTrace | None] = contextvars.ContextVar(
    "modelops_router_trace", default=None
)


class RequestTrace:
    """The spans of one client request."""

    __slots__ = (
        "_attempts",
        "_ended",
        "_passthrough",
        "_tracer",
        "_ttft_set",
        "span",
        "span_operation",
        "started",
    )

    def __init__(
        self, tracer: Any, span: Any, operation: str, passthrough: Mapping[str, str] | None = None
    ) -> None:
        self._tracer = tracer
        # Sampled out: the header lines to pass on instead of spans of our own.
        self._passthrough = (
            None
            if passthrough is None
            else "".join(f"{name}: {value}\r\n" for name, value in passthrough.items())
        )
        self.span = span
        self.started = time.perf_counter()
        self._attempts = 0
        self._ended = False
        self._ttft_set = False
        self.span_operation = operation
        span.set_attribute("gen_ai.operation.name", operation)

    def requested(self, model: Any) -> None:
        if isinstance(model, str) and model:
            self.span.set_attribute("gen_ai.request.model", model)
            self.span.update_name(f"{self.span_operation} {model}")

    @contextlib.contextmanager
    def attempt(
        self,
        model: str,
        engine: str,
        track: str,
        revision: str,
        address: str,
        reason: str | None,
        fallback: str | None,
    ) -> Iterator[str]:
        """A CLIENT span around one upstream attempt; yields the header lines to send."""
        if self._passthrough is not None:
            yield self._passthrough
            return
        from opentelemetry import propagate, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self._attempts += 1
        host, _, port = address.rpartition(":")
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": self.span_operation,
            "gen_ai.request.model": model,
            "gen_ai.provider.name": engine,
            "server.address": host.strip("[]"),
            "server.port": int(port) if port.isdigit() else 0,
            "modelops.track": track,
            "modelops.attempt": self._attempts,
        }
        if revision:
            attributes["modelops.revision"] = revision
        if reason:
            attributes["modelops.retry_reason"] = reason[:512]
        if fallback:
            attributes["modelops.fallback_from"] = fallback
            attributes["modelops.fallback_reason"] = (
                reason[:512] if reason else f"{fallback!r} has no usable endpoint"
            )
        parent = trace.set_span_in_context(self.span)
        span = self._tracer.start_span(
            f"{self.span_operation} {model}",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        try:
            yield "".join(f"{name}: {value}\r\n" for name, value in carrier.items())
        except BaseException as error:
            span.set_status(Status(StatusCode.ERROR, str(error)[:512] or type(error).__name__))
            span.set_attribute("error.type", type(error).__name__)
            raise
        finally:
            span.end()

    def first_token(self) -> None:
        if not self._ttft_set:
            self._ttft_set = True
            self.span.set_attribute(ATTR_TTFT, time.perf_counter() - self.started)
            self.span.add_event("gen_ai.first_token")

    def answered(self, model: str, usage: Any) -> None:
        self.span.set_attribute("gen_ai.response.model", model)
        if isinstance(usage, Mapping):
            for field, attribute in (
                ("prompt_tokens", "gen_ai.usage.input_tokens"),
                ("completion_tokens", "gen_ai.usage.output_tokens"),
            ):
                value = usage.get(field)
                if isinstance(value, int):
                    self.span.set_attribute(attribute, value)

    def end(self, status: int) -> None:
        from opentelemetry.trace import Status, StatusCode

        if self._ended:
            return
        self._ended = True
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500 or status == 499:
            self.span.set_status(Status(StatusCode.ERROR, f"answered {status}"))
            self.span.set_attribute("error.type", str(status))
        self.span.end()
        _current.set(None)


def current() -> RequestTrace | None:
    """The request being traced in this task, or None (tracing off, or not sampled in)."""
    return _current.get()


class Tracing:
    """The app's tracer provider, or nothing at all when tracing is off."""

    def __init__(self, provider: Any | None) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("modelops.router") if provider is not None else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Tracing:
        return cls(otlp_provider(os.environ if environ is None else environ, DEFAULT_SERVICE))

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def start(self, scope: Mapping[str, Any], kind: str) -> RequestTrace | None:
        """The request's span, parented on the client's traceparent; None when off."""
        if self._tracer is None:
            return None
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind

        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name in (b"traceparent", b"tracestate")
        }
        operation = OPERATION_NAMES.get(kind, kind)
        span = self._tracer.start_span(
            operation,
            context=propagate.extract(carrier) if carrier else None,
            kind=SpanKind.SERVER,
            attributes={"url.path": str(scope.get("path", "")), "http.request.method": "POST"},
        )
        if not span.is_recording():
            # Not sampled in: no spans, and the client's traceparent (if any) goes on as it
            # came, so a sampled-out request costs little more than the sampler's decision.
            if not carrier:
                return None
            request = RequestTrace(self._tracer, span, operation, passthrough=carrier)
        else:
            request = RequestTrace(self._tracer, span, operation)
        _current.set(request)
        return request

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # flushes what the batch processor still holds
