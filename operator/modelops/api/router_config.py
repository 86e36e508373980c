"""The router's configuration: one schema for the operator's ConfigMap and standalone YAML files.

The operator renders this model into the ConfigMap `modelops-router-config` (key `config.yaml`);
people who run runtimes outside Kubernetes write the same YAML by hand and list static
`endpoints` per track (`modelops router --config FILE`).

Validation happens in two layers:

* structural (pydantic, camelCase keys, unknown keys rejected): `parse_router_config()` raises
  `RouterConfigError` with one line per problem;
* referential (`find_problems()`), a pure function returning `ConfigProblem`s that name the
  models involved: fallbacks or tasks naming unknown models, fallback cycles, models without a
  stable track. The operator reports those as conditions on the offending ModelDeployment, and
  `drop_models_with_problems()` removes only the bad entries so that the others keep working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from modelops.api.engines import ENGINE_FACTS

Engine = Literal["vllm", "ollama"]
BackendApi = Literal["openai", "ollama"]
TrackName = Literal["stable", "canary"]

DEFAULT_PORTS: Mapping[str, int] = {name: facts.port for name, facts in ENGINE_FACTS.items()}
DEFAULT_APIS: Mapping[str, BackendApi] = {name: facts.api for name, facts in ENGINE_FACTS.items()}
CONFIGMAP_KEY = "config.yaml"
# libyaml's C emitter/parser when present: pure-Python YAML of a config with hundreds of models
# took a third of the operator's CPU in the scale benchmark.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TASK_PREFIX = "task:"


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Track(_Model):
    """A group of endpoints serving one revision of a model (stable, or a canary)."""

    name: TrackName = "stable"
    # Pod label selector (Kubernetes mode); ignored when `endpoints` is given.
    selector: dict[str, str] = Field(default_factory=dict)
    weight: int = Field(default=100, ge=0, le=100)
    # The revision serving this track (labels the router's per-track metrics).
    revision: str = ""
    # Static endpoints as "host:port" (standalone mode).
    endpoints: list[str] = Field(default_factory=list)

    @field_validator("endpoints")
    @classmethod
    def _endpoints_are_host_port(cls, value: list[str]) -> list[str]:
        for endpoint in value:
            split_host_port(endpoint)
        return value


class Timeouts(_Model):
    # Per request class: the deadline of a whole non-streaming answer; for a stream, the
    # deadline of its headers and first event.
    interactive_seconds: float = Field(default=30.0, gt=0)
    long_seconds: float = Field(default=120.0, gt=0)
    # Requests asking for more tokens than this (or sending `X-Request-Class: long`) are "long".
    long_request_tokens: int = Field(default=1024, ge=1)
    # A stream: the longest wait between two events (bytes that end no event do not count;
    # unset: the request class's limit above), and the deadline of the whole stream.
    stream_idle_seconds: float | None = Field(default=None, gt=0)
    stream_total_seconds: float = Field(default=1800.0, gt=0)


class ModelRoute(_Model):
    """How to reach one served model."""

    namespace: str = "default"
    engine: Engine
    # The name the backend knows (vLLM served name, Ollama tag); defaults to the served name.
    backend_model: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    api: BackendApi | None = None
    tracks: list[Track] = Field(default_factory=lambda: [Track()])
    fallback: list[str] = Field(default_factory=list)
    timeouts: Timeouts | None = None
    # The model emits `<think>...</think>` reasoning in its content.
    reasoning: bool = False
    # The model may be at zero replicas (autoscaling with minReplicas 0): while it has no usable
    # endpoint, and no model of the request's chain has one, requests wait for one (at most the
    # router's `holdSeconds`) instead of failing.
    scale_to_zero: bool = False
    # Tokens of prompt + answer the model can hold (vLLM maxModelLen, Ollama contextLength);
    # reported by the listing endpoints and used to skip candidates a prompt cannot fit.
    context_length: int | None = Field(default=None, ge=1)

    @property
    def backend_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.engine]

    @property
    def backend_api(self) -> BackendApi:
        return self.api if self.api is not None else DEFAULT_APIS[self.engine]

    @field_validator("tracks")
    @classmethod
    def _track_names_unique(cls, value: list[Track]) -> list[Track]:
        names = [track.name for track in value]
        if len(names) != len(set(names)):
            raise ValueError(f"track names must be unique, got {names}")
        return value


class HealthCheck(_Model):
    interval_seconds: float = Field(default=5.0, gt=0)
    timeout_seconds: float = Field(default=2.0, gt=0)
    # Consecutive 502/503/504 answers before an endpoint is taken out (connect errors: at once).
    passive_failure_threshold: int = Field(default=3, ge=1)


class Retries(_Model):
    # Total upstream attempts per request, across endpoints and fallback models.
    max_attempts: int = Field(default=3, ge=1, le=10)


class Limits(_Model):
    # A non-streaming answer larger than this is refused with a 502 (streams are not capped:
    # they are passed on as they arrive, with backpressure).
    max_response_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)


class SecretRef(_Model):
    name: str
    key: str = "keys.yaml"


class ApiKey(_Model):
    key: str = Field(min_length=8)
    # Served names this key may use; "*" means all.
    models: list[str] = Field(default_factory=lambda: ["*"])
    name: str | None = None


class Auth(_Model):
    enabled: bool = False
    # A YAML/JSON file holding `keys: [{key, models}]` (e.g. a mounted Secret).
    keys_file: str | None = None
    # A Secret in the router's namespace with the same content; resolved by the Kubernetes
    # config source, which turns it into `keys`.
    secret_ref: SecretRef | None = None
    # Inline keys: for tests and local use only; prefer a file or a Secret.
    keys: list[ApiKey] = Field(default_factory=list)


class RouterConfig(_Model):
    models: dict[str, ModelRoute] = Field(default_factory=dict)
    tasks: dict[str, list[str]] = Field(default_factory=dict)
    demotion_window_seconds: float = Field(default=300.0, ge=0)
    health_check: HealthCheck = Field(default_factory=HealthCheck)
    retries: Retries = Field(default_factory=Retries)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    limits: Limits = Field(default_factory=Limits)
    auth: Auth = Field(default_factory=Auth)
    # OpenAI clients get `<think>` content as `reasoning_content` ("separate") or inline ("keep").
    openai_reasoning: Literal["separate", "keep"] = "separate"
    # Model used when a request names none (TGI clients never do).
    default_model: str | None = None
    # How long a request for a model at zero may wait for an endpoint; then a 503 + Retry-After.
    hold_seconds: float = Field(default=300.0, gt=0, le=3600)

    def timeouts_for(self, served_name: str) -> Timeouts:
        route = self.models.get(served_name)
        if route is not None and route.timeouts is not None:
            return route.timeouts
        return self.timeouts

    def to_yaml(self) -> str:
        data = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


class RouterConfigError(ValueError):
    """The config cannot be used; the message lists every problem, one per line."""


@dataclass(frozen=True)
class ConfigProblem:
    """A referential problem; `models` are the served names to blame (and to drop)."""

    models: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return self.message


def split_host_port(endpoint: str) -> tuple[str, int]:
    host, sep, port_text = endpoint.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"endpoint {endpoint!r} is not host:port")
    return host, int(port_text)


def parse_router_config(data: Any) -> RouterConfig:
    """Structural validation of already-parsed YAML/JSON data."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise RouterConfigError(f"router config must be a mapping, got {type(data).__name__}")
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "(top level)"
            lines.append(f"{where}: {item['msg']}")
        raise RouterConfigError("invalid router config:\n  " + "\n  ".join(lines)) from None


def parse_router_config_yaml(text: str) -> RouterConfig:
    try:
        data = yaml.load(text, Loader=_Loader)  # safe: a SafeLoader
    except yaml.YAMLError as error:
        raise RouterConfigError(f"router config is not valid YAML: {error}") from None
    return parse_router_config(data)


def find_problems(config: RouterConfig) -> list[ConfigProblem]:
    """Referential problems, each naming the models to blame. Pure."""
    problems: list[ConfigProblem] = []
    known = set(config.models)
    for name, route in config.models.items():
        for target in route.fallback:
            if target not in known:
                problems.append(
                    ConfigProblem((name,), f"model {name!r}: fallback {target!r} is not a model")
                )
            elif target == name:
                problems.append(ConfigProblem((name,), f"model {name!r} falls back to itself"))
        if not any(track.name == "stable" for track in route.tracks):
            problems.append(ConfigProblem((name,), f"model {name!r} has no stable track"))
    for cycle in _fallback_cycles(config):
        path = " -> ".join([*cycle, cycle[0]])
        problems.append(ConfigProblem(tuple(cycle), f"fallback cycle: {path}"))
    for task, chain in config.tasks.items():
        for target in chain:
            if target not in known:
                problems.append(ConfigProblem((), f"task {task!r}: {target!r} is not a model"))
    if config.default_model is not None and config.default_model not in known:
        problems.append(ConfigProblem((), f"defaultModel {config.default_model!r} is not a model"))
    return problems


def _fallback_cycles(config: RouterConfig) -> list[list[str]]:
    """Each cycle (length >= 2) in the fallback graph once, as found by a depth-first search."""
    edges = {
        name: [t for t in route.fallback if t in config.models and t != name]
        for name, route in config.models.items()
    }
    cycles: list[list[str]] = []
    seen_cycles: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(node: str, path: list[str], on_path: set[str]) -> None:
        for target in edges[node]:
            if target in on_path:
                cycle = path[path.index(target) :]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    cycles.append(cycle)
            elif target not in done:
                path.append(target)
                on_path.add(target)
                visit(target, path, on_path)
                on_path.discard(target)
                path.pop()
        done.add(node)

    for start in sorted(edges):
        if start not in done:
            visit(start, [start], {start})
    return cycles


def drop_models_with_problems(
    config: RouterConfig, problems: Iterable[ConfigProblem]
) -> RouterConfig:
    """The config without the blamed models, and without references to models no longer there."""
    bad = {name for problem in problems for name in problem.models}
    if not bad and not any(not p.models for p in problems):
        return config
    models = {name: route for name, route in config.models.items() if name not in bad}
    cleaned = {
        name: route.model_copy(update={"fallback": [t for t in route.fallback if t in models]})
        for name, route in models.items()
    }
    tasks = {
        task: [t for t in chain if t in cleaned]
        for task, chain in config.tasks.items()
        if any(t in cleaned for t in chain)
    }
    default_model = config.default_model if config.default_model in cleaned else None
    return config.model_copy(
        update={"models": cleaned, "tasks": tasks, "default_model": default_model}
    )


def usable_config(config: RouterConfig) -> tuple[RouterConfig, list[ConfigProblem]]:
    """`config` minus its bad entries, plus the problems found (for logs and conditions)."""
    problems = find_problems(config)
    return drop_models_with_problems(config, problems), problems
