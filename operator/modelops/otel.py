"""Switching OpenTelemetry on from the environment, for every modelops process alike.

On with `LLM_TRACE_EXPORTER=otlp` or the standard `OTEL_TRACES_EXPORTER=otlp`; off again with
`OTEL_SDK_DISABLED=true`. Everything else is the SDK's own environment: the collector
(`OTEL_EXPORTER_OTLP_ENDPOINT`, HTTP/protobuf), the sampler (`OTEL_TRACES_SAMPLER`,
`OTEL_TRACES_SAMPLER_ARG`), `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`. The SDK is
imported only when tracing is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def enabled_by(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    wanted = {
        environ.get("LLM_TRACE_EXPORTER", "").strip().lower(),
        *(e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")),
    }
    return "otlp" in wanted


def otlp_provider(environ: Mapping[str, str], default_service: str) -> Any | None:
    """A tracer provider exporting OTLP over HTTP in batches, or None when tracing is off."""
    if not enabled_by(environ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: environ.get("OTEL_SERVICE_NAME", default_service)})
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_*
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider
