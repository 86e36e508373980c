"""Router tracing through the official OTLP exporter (HTTP/protobuf) to an OTLP receiver run
by the test: the span tree and GenAI attributes of a plain, a streamed, a retried and a
fallback request, the client's traceparent continued, and each attempt's traceparent seen by
the simulator that served it."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from modelops.router.testing import free_port, running_router
from modelops.sim.testing import SOURCE_ROOT, RunningSimulator, simulator_command
from tests.conftest import wait_until

ASK: Any = [{"role": "user", "content": "hello"}]
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT = 2, 3  # SpanKind in the OTLP protobuf


class Receiver:
    """An OTLP/HTTP trace receiver on loopback: decodes every export into plain dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            receiver.spans.extend(decode(s) for s in scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.spans if s["trace"] == trace_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def decode(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "trace": span.trace_id.hex(),
        "id": span.span_id.hex(),
        "parent": span.parent_span_id.hex(),
        "kind": span.kind,
        "status": span.status.code,
        "attributes": {a.key: value(a.value) for a in span.attributes},
        "events": [e.name for e in span.events],
    }


@contextmanager
def logged_simulator(model: str, log: Path) -> Iterator[RunningSimulator]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SOURCE_ROOT), "MODELOPS_SIM_LOG_TRACEPARENT": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            simulator_command("vllm", [model], "127.0.0.1", port),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    simulator = RunningSimulator("vllm", "127.0.0.1", port, process)
    try:
        simulator.wait_until(200)
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def traceparent(trace_id: str) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"}


def tree(receiver: Receiver, trace_id: str, attempts: int) -> tuple[dict[str, Any], list[Any]]:
    """The request span and its attempt spans, once all have been exported."""
    spans = wait_until(
        lambda: (lambda s: s if len(s) == 1 + attempts else None)(receiver.trace(trace_id)),
        timeout=20,
        what=f"{1 + attempts} spans of trace {trace_id}",
    )
    (root,) = [s for s in spans if s["kind"] == SERVER]
    children = [s for s in spans if s["kind"] == CLIENT]
    assert all(c["parent"] == root["id"] for c in children)
    children.sort(key=lambda s: s["attributes"]["modelops.attempt"])
    return root, children


def test_spans_for_plain_streamed_retried_and_fallback_requests(
    receiver: Receiver, tmp_path: Path
) -> None:
    with (
        logged_simulator("big", tmp_path / "big-a.log") as big_a,
        logged_simulator("big", tmp_path / "big-b.log") as big_b,
        logged_simulator("small", tmp_path / "small.log") as small,
    ):
        dead = free_port()
        config = {
            "models": {
                "big": {
                    "engine": "vllm",
                    "tracks": [
                        {"endpoints": [f"127.0.0.1:{big_a.port}", f"127.0.0.1:{big_b.port}"]}
                    ],
                },
                "small": {
                    "engine": "vllm",
                    "tracks": [{"endpoints": [f"127.0.0.1:{small.port}"]}],
                },
                "gone": {
                    "engine": "vllm",
                    "fallback": ["small"],
                    "tracks": [{"endpoints": [f"127.0.0.1:{dead}"]}],
                },
            },
            # No health rounds during the test: endpoints fail only when a request finds out.
            "healthCheck": {"intervalSeconds": 3600},
        }
        env = {
            "LLM_TRACE_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_SERVICE_NAME": "router-under-test",
        }
        with running_router(config, env=env) as router:
            client = openai.OpenAI(base_url=router.url + "/v1", api_key="unused", max_retries=0)
            try:
                # Plain, continuing the client's trace.
                reply = client.chat.completions.create(
                    model="big", messages=ASK, max_tokens=5, extra_headers=traceparent(CLIENT_TRACE)
                )
                root, (attempt,) = tree(receiver, CLIENT_TRACE, 1)
                assert root["parent"] == CLIENT_SPAN
                assert root["name"] == "chat big"
                assert root["attributes"]["gen_ai.operation.name"] == "chat"
                assert root["attributes"]["gen_ai.request.model"] == "big"
                assert root["attributes"]["gen_ai.response.model"] == reply.model == "big"
                assert reply.usage is not None
                assert (
                    root["attributes"]["gen_ai.usage.output_tokens"]
                    == reply.usage.completion_tokens
                )
                assert root["attributes"]["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
                assert root["attributes"]["http.response.status_code"] == 200
                assert attempt["attributes"]["gen_ai.provider.name"] == "vllm"
                assert attempt["attributes"]["modelops.track"] == "stable"
                assert attempt["attributes"]["server.address"] == "127.0.0.1"
                assert "modelops.retry_reason" not in attempt["attributes"]
                served_by = attempt["attributes"]["server.port"]
                log = tmp_path / ("big-a.log" if served_by == big_a.port else "big-b.log")
                seen = wait_until(
                    lambda: re.findall(r"traceparent=(\S+)", log.read_text()),
                    timeout=10,
                    what="the simulator logging the traceparent",
                )
                assert f"00-{CLIENT_TRACE}-{attempt['id']}-01" in seen

                # Streamed: time to first token on the request span.
                streamed_trace = "5" * 32
                chunks = list(
                    client.chat.completions.create(
                        model="big",
                        messages=ASK,
                        max_tokens=5,
                        stream=True,
                        stream_options={"include_usage": True},
                        extra_headers=traceparent(streamed_trace),
                    )
                )
                root, (attempt,) = tree(receiver, streamed_trace, 1)
                ttft = root["attributes"]["gen_ai.server.time_to_first_token"]
                assert 0 < ttft < 30
                assert "gen_ai.first_token" in root["events"]
                assert chunks[-1].usage is not None
                assert (
                    root["attributes"]["gen_ai.usage.output_tokens"]
                    == chunks[-1].usage.completion_tokens
                )

                # Retried: one of big's endpoints goes away while the router still trusts it.
                big_a.stop()
                retried = None
                for index in range(6):
                    trace_id = f"{index + 1:032x}"
                    client.chat.completions.create(
                        model="big", messages=ASK, max_tokens=2, extra_headers=traceparent(trace_id)
                    )
                    spans = wait_until(
                        lambda t=trace_id: len(receiver.trace(t)) >= 2 and receiver.trace(t),
                        timeout=20,
                        what="spans",
                    )
                    if len(spans) == 3:
                        retried = trace_id
                        break
                assert retried is not None, "no request was sent to the stopped endpoint"
                root, (first, second) = tree(receiver, retried, 2)
                assert first["attributes"]["server.port"] == big_a.port
                assert first["status"] == 2  # ERROR
                assert second["attributes"]["server.port"] == big_b.port
                assert "127.0.0.1:" in second["attributes"]["modelops.retry_reason"]
                assert root["attributes"]["http.response.status_code"] == 200

                # Fallback: `gone`'s only endpoint refuses the connection, `small` answers.
                fallback_trace = "f" * 32
                reply = client.chat.completions.create(
                    model="gone",
                    messages=ASK,
                    max_tokens=2,
                    extra_headers=traceparent(fallback_trace),
                )
                assert reply.model == "small"
                root, (failed, attempt) = tree(receiver, fallback_trace, 2)
                assert root["attributes"]["gen_ai.request.model"] == "gone"
                assert root["attributes"]["gen_ai.response.model"] == "small"
                assert failed["attributes"]["gen_ai.request.model"] == "gone"
                assert failed["attributes"]["server.port"] == dead
                assert failed["status"] == 2  # ERROR
                assert attempt["attributes"]["gen_ai.request.model"] == "small"
                assert attempt["attributes"]["modelops.fallback_from"] == "gone"
                assert f"127.0.0.1:{dead}" in attempt["attributes"]["modelops.fallback_reason"]
                small_log = (tmp_path / "small.log").read_text()
                assert f"00-{fallback_trace}-{attempt['id']}-01" in small_log

                # A client that sampled its trace out: no spans, its traceparent passed on.
                unsampled = f"00-{'e' * 32}-{CLIENT_SPAN}-00"
                client.chat.completions.create(
                    model="small",
                    messages=ASK,
                    max_tokens=2,
                    extra_headers={"traceparent": unsampled},
                )
                wait_until(
                    lambda: unsampled in (tmp_path / "small.log").read_text(),
                    timeout=10,
                    what="the unsampled traceparent at the simulator",
                )
                assert receiver.trace("e" * 32) == []

                # A request without traceparent starts its own trace.
                client.chat.completions.create(model="small", messages=ASK, max_tokens=2)
                wait_until(
                    lambda: any(
                        s["kind"] == SERVER and s["parent"] == "" and s["name"] == "chat small"
                        for s in receiver.spans
                    ),
                    timeout=20,
                    what="a root span of its own",
                )
            finally:
                client.close()


def test_tracing_is_off_without_the_environment(tmp_path: Path, receiver: Receiver) -> None:
    with logged_simulator("small", tmp_path / "small.log") as small:
        config = {
            "models": {
                "small": {"engine": "vllm", "tracks": [{"endpoints": [f"127.0.0.1:{small.port}"]}]}
            }
        }
        env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url, "OTEL_TRACES_EXPORTER": "none"}
        with running_router(config, env=env) as router:
            client = openai.OpenAI(base_url=router.url + "/v1", api_key="unused", max_retries=0)
            try:
                client.chat.completions.create(
                    model="small", messages=ASK, max_tokens=2, extra_headers=traceparent("a" * 32)
                )
            finally:
                client.close()
        # The router has stopped (an exporter would have flushed at shutdown): nothing came,
        # and with tracing off the router sends no traceparent of its own.
        assert receiver.spans == []
        assert "traceparent=" not in (tmp_path / "small.log").read_text()
