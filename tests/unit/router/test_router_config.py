"""Router config schema: structural and referential validation."""

from __future__ import annotations

import pytest

from modelops.api.router_config import (
    RouterConfig,
    RouterConfigError,
    find_problems,
    parse_router_config,
    parse_router_config_yaml,
    usable_config,
)

EXAMPLE = """
models:
  llama3.1-8b-instruct:
    engine: ollama
    backendModel: llama3.1:8b
    tracks: [{name: stable, endpoints: ["127.0.0.1:11434"]}]
  mixtral-8x7b-instruct:
    engine: vllm
    reasoning: true
    fallback: [llama3.1-8b-instruct]
    timeouts: {interactiveSeconds: 5, longSeconds: 60}
    tracks:
      - {name: stable, selector: {app: mixtral}, weight: 90}
      - {name: canary, selector: {app: mixtral-canary}, weight: 10}
tasks:
  reasoning: [mixtral-8x7b-instruct, llama3.1-8b-instruct]
demotionWindowSeconds: 60
"""


def _models(**fallbacks: list[str]) -> RouterConfig:
    return parse_router_config(
        {
            "models": {
                name.replace("_", "-"): {"engine": "vllm", "fallback": chain}
                for name, chain in fallbacks.items()
            }
        }
    )


def test_example_parses_with_defaults() -> None:
    config = parse_router_config_yaml(EXAMPLE)
    llama = config.models["llama3.1-8b-instruct"]
    assert llama.backend_port == 11434
    assert llama.backend_api == "ollama"
    assert config.models["mixtral-8x7b-instruct"].backend_port == 8000
    assert config.timeouts_for("mixtral-8x7b-instruct").interactive_seconds == 5
    assert config.timeouts_for("llama3.1-8b-instruct").interactive_seconds == 30
    assert config.demotion_window_seconds == 60
    assert find_problems(config) == []
    assert parse_router_config_yaml(config.to_yaml()) == config


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("models: {a: {engine: tgi}}", "models.a.engine"),
        ("models: {a: {engine: vllm, color: red}}", "models.a.color"),
        ("models: {a: {engine: vllm, tracks: [{endpoints: [nohost]}]}}", "not host:port"),
        ("models: {a: {engine: vllm, tracks: [{weight: 101}]}}", "weight"),
        ("models: {a: {engine: vllm, tracks: [{name: stable}, {name: stable}]}}", "unique"),
        ("- just a list", "must be a mapping"),
        ("models: {a: [unclosed", "not valid YAML"),
    ],
)
def test_structural_errors_are_clear(text: str, fragment: str) -> None:
    with pytest.raises(RouterConfigError, match="(?s)" + fragment.replace(".", r"\.")):
        parse_router_config_yaml(text)


@pytest.mark.parametrize(
    ("fallbacks", "expected_messages"),
    [
        ({"a": ["b"], "b": []}, []),
        ({"a": ["zz"]}, ["model 'a': fallback 'zz' is not a model"]),
        ({"a": ["a"]}, ["model 'a' falls back to itself"]),
        ({"a": ["b"], "b": ["a"]}, ["fallback cycle: a -> b -> a"]),
        ({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}, ["fallback cycle: a -> b -> c -> a"]),
    ],
)
def test_referential_problems_name_the_models(
    fallbacks: dict[str, list[str]], expected_messages: list[str]
) -> None:
    assert [p.message for p in find_problems(_models(**fallbacks))] == expected_messages


def test_bad_entries_are_dropped_and_the_rest_kept() -> None:
    config = parse_router_config(
        {
            "models": {
                "a": {"engine": "vllm", "fallback": ["b"]},
                "b": {"engine": "vllm", "fallback": ["c"]},
                "c": {"engine": "vllm", "fallback": ["b"]},
                "d": {"engine": "ollama", "fallback": ["missing"]},
                "e": {"engine": "ollama"},
            },
            "tasks": {"chat": ["b", "e"], "only-bad": ["c"], "ghost": ["nothing"]},
        }
    )
    cleaned, problems = usable_config(config)
    assert sorted(cleaned.models) == ["a", "e"]
    assert cleaned.models["a"].fallback == []
    assert cleaned.tasks == {"chat": ["e"]}
    assert {m for p in problems for m in p.models} == {"b", "c", "d"}
    assert find_problems(cleaned) == []
