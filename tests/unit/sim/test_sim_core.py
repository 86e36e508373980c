"""Pure pieces of the simulator: knob parsing, deterministic text, JSON schemas, slots, metrics."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from modelops.sim import textgen
from modelops.sim.engine import Slots
from modelops.sim.knobs import ConfigError, parse_config
from modelops.sim.metrics import Metrics


@pytest.mark.parametrize(
    ("argv", "env", "field", "expected"),
    [
        ([], {}, "ttft_ms", 0.0),
        ([], {"MODELOPS_SIM_TTFT_MS": "250"}, "ttft_ms", 250.0),
        (["--ttft-ms", "10"], {"MODELOPS_SIM_TTFT_MS": "250"}, "ttft_ms", 10.0),
        ([], {"MODELOPS_SIM_UNHEALTHY": "true"}, "unhealthy", True),
        (["--unhealthy"], {}, "unhealthy", True),
        (["--reasoning", "false"], {"MODELOPS_SIM_REASONING": "1"}, "reasoning", False),
        ([], {"OLLAMA_CONTEXT_LENGTH": "8192"}, "context_length", 8192),
        ([], {"MODELOPS_SIM_MAX_CONCURRENCY": "3"}, "max_concurrency", 3),
        ([], {}, "port", 8000),
    ],
)
def test_flags_and_env(argv: list[str], env: dict[str, str], field: str, expected: Any) -> None:
    config = parse_config(["--engine", "vllm", "--model", "m", *argv], env)
    assert getattr(config, field) == expected


def test_ollama_default_port_and_several_models() -> None:
    config = parse_config(["--engine", "ollama", "--model", "a", "--model", "b"], {})
    assert config.port == 11434
    assert config.models == ("a", "b")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--engine", "vllm"], {}, "--model"),
        (["--model", "m"], {}, "--engine"),
        (["--engine", "vllm", "--model", "m"], {"MODELOPS_SIM_ERROR_RATE": "2"}, "between"),
        (["--engine", "vllm", "--model", "m"], {"MODELOPS_SIM_SEED": "x"}, "MODELOPS_SIM_SEED"),
        (["--engine", "vllm", "--model", "m", "--ttft-ms", "-1"], {}, "negative"),
        (["--engine", "vllm", "--model", "m"], {"MODELOPS_SIM_UNHEALTHY": "maybe"}, "UNHEALTHY"),
    ],
)
def test_bad_configuration_is_a_config_error(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(argv, env)


def test_answers_are_deterministic_per_prompt_and_seed() -> None:
    assert textgen.answer_tokens("p", 1) == textgen.answer_tokens("p", 1)
    assert textgen.answer_tokens("p", 1) != textgen.answer_tokens("p", 2)
    assert textgen.answer_tokens("p", 1, reasoning=True)[0] == "<think>"


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


@pytest.mark.parametrize(
    ("schema", "check"),
    [
        (_object(n={"type": "integer"}), lambda v: type(v["n"]) is int),
        (_object(x={"type": "number"}), lambda v: isinstance(v["x"], float)),
        (_object(e={"enum": ["a", "b"]}), lambda v: v["e"] == "a"),
        (
            _object(items={"type": "array", "items": {"type": "boolean"}}),
            lambda v: all(isinstance(i, bool) for i in v["items"]),
        ),
        (_object(o=_object(s={"type": "string"})), lambda v: isinstance(v["o"]["s"], str)),
        (_object(u={"type": ["null", "string"]}), lambda v: isinstance(v["u"], str)),
    ],
)
def test_json_schema_values(schema: dict[str, Any], check: Any) -> None:
    text = "".join(textgen.json_tokens("prompt", 0, schema))
    assert check(json.loads(text))


def test_schema_generation_is_bounded_on_recursive_input() -> None:
    deep: dict[str, Any] = {"type": "object", "properties": {}}
    node = deep
    for _ in range(50):
        child: dict[str, Any] = {"type": "object", "properties": {}}
        node["properties"]["c"] = child
        node = child
    textgen.value_for_schema(deep, random.Random(0), 0)


async def test_slots_queue_in_order_and_count() -> None:
    slots = Slots(2)
    await slots.acquire()
    await slots.acquire()
    waiters = [asyncio.create_task(slots.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    assert (slots.running, slots.waiting) == (2, 3)
    slots.release()
    await asyncio.sleep(0)
    assert waiters[0].done()
    assert not waiters[1].done()
    assert (slots.running, slots.waiting) == (2, 2)
    waiters[1].cancel()
    await asyncio.gather(waiters[1], return_exceptions=True)
    assert slots.waiting == 1
    for _ in range(2):
        slots.release()
    await asyncio.sleep(0)
    assert waiters[2].done()
    assert (slots.running, slots.waiting) == (1, 0)


def test_metrics_render_prometheus_text() -> None:
    metrics = Metrics("demo")
    metrics.record(10, 5, "stop", 0.02, 0.4)
    text = metrics.render(1, 2, lambda: 0.5)
    assert 'vllm:num_requests_running{model_name="demo"} 1' in text
    assert 'vllm:num_requests_waiting{model_name="demo"} 2' in text
    assert 'vllm:prompt_tokens_total{model_name="demo"} 10' in text
    assert 'vllm:request_success_total{finished_reason="stop",model_name="demo"} 1' in text
    assert 'vllm:time_to_first_token_seconds_bucket{le="0.04",model_name="demo"} 1' in text
    assert 'vllm:time_to_first_token_seconds_bucket{le="0.01",model_name="demo"} 0' in text
    assert 'vllm:e2e_request_latency_seconds_count{model_name="demo"} 1' in text
