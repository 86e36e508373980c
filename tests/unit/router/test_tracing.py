"""When router tracing is on, and what a request trace records (in-memory exporter)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from modelops import otel
from modelops.router import tracing


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        ({"LLM_TRACE_EXPORTER": "otlp"}, True),
        ({"LLM_TRACE_EXPORTER": "OTLP "}, True),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),  # where, not whether
        ({"LLM_TRACE_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_asked_for(environ: dict[str, str], enabled: bool) -> None:
    assert otel.enabled_by(environ) is enabled
    assert tracing.Tracing.from_env(environ).enabled is enabled


def scope(traceparent: str | None = None) -> dict[str, object]:
    headers = [(b"content-type", b"application/json")]
    if traceparent:
        headers.append((b"traceparent", traceparent.encode()))
    return {"path": "/v1/chat/completions", "headers": headers}


def test_a_request_trace_has_the_genai_attributes_and_one_span_per_attempt() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = tracing.Tracing(provider)
    request = traced.start(scope(f"00-{'1' * 32}-{'2' * 16}-01"), "chat")
    assert request is not None
    assert tracing.current() is request
    request.requested("big")
    with (
        pytest.raises(OSError, match="refused"),
        request.attempt("big", "vllm", "stable", "", "127.0.0.1:1", None, None),
    ):
        raise OSError("refused")
    with request.attempt(
        "small", "ollama", "canary", "r2", "127.0.0.1:2", "refused", "big"
    ) as headers:
        assert headers.startswith(f"traceparent: 00-{'1' * 32}-")
    request.first_token()
    request.answered("small", {"prompt_tokens": 3, "completion_tokens": 7})
    request.end(200)
    assert tracing.current() is None
    first, second, root = exporter.get_finished_spans()
    assert root.name == "chat big"
    assert root.parent is not None
    assert f"{root.parent.span_id:016x}" == "2" * 16
    assert dict(root.attributes or {}) | {tracing.ATTR_TTFT: 0} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "big",
        "gen_ai.response.model": "small",
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 7,
        "http.response.status_code": 200,
        "url.path": "/v1/chat/completions",
        "http.request.method": "POST",
        tracing.ATTR_TTFT: 0,
    }
    assert first.status.status_code.name == "ERROR"
    assert (second.attributes or {})["modelops.fallback_from"] == "big"
    assert (second.attributes or {})["modelops.revision"] == "r2"
    assert "modelops.revision" not in (first.attributes or {})
    assert (second.attributes or {})["modelops.retry_reason"] == "refused"
    assert all(
        s.parent is not None and s.parent.span_id == root.context.span_id for s in (first, second)
    )


def test_a_sampled_out_request_makes_no_spans_and_passes_the_clients_traceparent_on() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = tracing.Tracing(provider)
    assert traced.start(scope(), "chat") is None  # no parent to continue: nothing at all
    parent = f"00-{'3' * 32}-{'4' * 16}-00"
    request = traced.start(scope(parent), "chat")
    assert request is not None
    with request.attempt("big", "vllm", "stable", "", "127.0.0.1:1", None, None) as headers:
        assert headers == f"traceparent: {parent}\r\n"
    request.end(200)
    assert exporter.get_finished_spans() == ()
