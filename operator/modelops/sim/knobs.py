"""Simulator configuration: command-line flags and the equivalent environment variables.

Every behaviour knob can be given as a flag or as an env var of the same meaning, so that a
pod spec (container env) can tune the simulator that the launcher starts for it. Flags win
over env vars. Only argparse/os and the engine table are imported here: `modelops --help`
and the launcher's children must start fast.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelops.api.engines import ENGINE_FACTS

ENGINES = ("vllm", "ollama")
DEFAULT_PORTS = {name: facts.port for name, facts in ENGINE_FACTS.items()}


@dataclass(frozen=True)
class Knob:
    """One behaviour knob: its flag, env var, parser and default."""

    dest: str
    flag: str
    env: str
    kind: type
    default: object
    help: str


KNOBS: tuple[Knob, ...] = (
    Knob("ttft_ms", "--ttft-ms", "MODELOPS_SIM_TTFT_MS", float, 0.0, "time to first token (ms)"),
    Knob(
        "tokens_per_second",
        "--tokens-per-second",
        "MODELOPS_SIM_TOKENS_PER_SECOND",
        float,
        10000.0,
        "generation rate after the first token",
    ),
    Knob(
        "max_concurrency",
        "--max-concurrency",
        "MODELOPS_SIM_MAX_CONCURRENCY",
        int,
        256,
        "requests generated at once; extra requests queue (vllm:num_requests_waiting)",
    ),
    Knob(
        "error_rate",
        "--error-rate",
        "MODELOPS_SIM_ERROR_RATE",
        float,
        0.0,
        "share of inference requests answered with HTTP 500 (0..1)",
    ),
    Knob("unhealthy", "--unhealthy", "MODELOPS_SIM_UNHEALTHY", bool, False, "health fails"),
    Knob(
        "startup_delay_seconds",
        "--startup-delay-seconds",
        "MODELOPS_SIM_STARTUP_DELAY_SECONDS",
        float,
        0.0,
        "do not listen until this much time has passed (like a model load)",
    ),
    Knob(
        "reasoning",
        "--reasoning",
        "MODELOPS_SIM_REASONING",
        bool,
        False,
        "prefix answers with <think>...</think>",
    ),
    Knob("seed", "--seed", "MODELOPS_SIM_SEED", int, 0, "seed of the deterministic text"),
    Knob(
        "max_model_len",
        "--max-model-len",
        "MODELOPS_SIM_MAX_MODEL_LEN",
        int,
        32768,
        "vLLM: prompt + max_tokens limit (400 beyond it)",
    ),
    Knob(
        "context_length",
        "--context-length",
        "OLLAMA_CONTEXT_LENGTH",
        int,
        4096,
        "Ollama: context length reported by /api/show and /api/ps",
    ),
)

KNOB_ENV_NAMES = frozenset(knob.env for knob in KNOBS)


class ConfigError(ValueError):
    """A flag or env var has a value the simulator cannot use."""


@dataclass(frozen=True)
class SimConfig:
    engine: str
    host: str
    port: int
    models: tuple[str, ...]
    ttft_ms: float = 0.0
    tokens_per_second: float = 10000.0
    max_concurrency: int = 256
    error_rate: float = 0.0
    unhealthy: bool = False
    startup_delay_seconds: float = 0.0
    reasoning: bool = False
    seed: int = 0
    max_model_len: int = 32768
    context_length: int = 4096


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's flags. Knob flags default to None so env vars can fill them in."""
    parser.add_argument("--engine", choices=ENGINES, help="which runtime to impersonate")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    parser.add_argument("--port", type=int, help="port (default 8000 vLLM, 11434 Ollama)")
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help="served model name; repeat for several",
    )
    for knob in KNOBS:
        if knob.kind is bool:
            parser.add_argument(
                knob.flag,
                dest=knob.dest,
                nargs="?",
                const="true",
                default=None,
                help=f"{knob.help} [env {knob.env}]",
            )
        else:
            parser.add_argument(
                knob.flag,
                dest=knob.dest,
                default=None,
                help=f"{knob.help} (default {knob.default}) [env {knob.env}]",
            )


def _convert(knob: Knob, raw: str, source: str) -> object:
    try:
        if knob.kind is bool:
            return parse_bool(raw)
        value = knob.kind(raw)
    except ValueError:
        raise ConfigError(f"{source}: expected {knob.kind.__name__}, got {raw!r}") from None
    if isinstance(value, (int, float)) and value < 0:
        raise ConfigError(f"{source}: must not be negative, got {raw!r}")
    return value


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> SimConfig:
    """Merge parsed flags with env vars into a validated SimConfig (flags win)."""
    if args.engine is None:
        raise ConfigError("--engine is required (vllm or ollama)")
    models = tuple(args.models or ())
    if not models:
        raise ConfigError("at least one --model NAME is required")
    values: dict[str, object] = {}
    for knob in KNOBS:
        flag_value = getattr(args, knob.dest, None)
        if flag_value is not None:
            values[knob.dest] = _convert(knob, str(flag_value), knob.flag)
        elif environ.get(knob.env) is not None:
            values[knob.dest] = _convert(knob, environ[knob.env], knob.env)
    error_rate = values.get("error_rate", 0.0)
    assert isinstance(error_rate, float)
    if error_rate > 1.0:
        raise ConfigError("error rate must be between 0 and 1")
    if values.get("max_concurrency") == 0:
        raise ConfigError("max concurrency must be at least 1")
    if values.get("tokens_per_second") == 0:
        raise ConfigError("tokens per second must be positive")
    port = args.port if args.port is not None else DEFAULT_PORTS[args.engine]
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port out of range: {port}")
    return SimConfig(
        engine=args.engine,
        host=args.host,
        port=port,
        models=models,
        **values,  # type: ignore[arg-type]
    )


def parse_config(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> SimConfig:
    """Parse a full simulator command line (used by `python -m modelops.sim`)."""
    parser = argparse.ArgumentParser(prog="modelops sim", description="inference simulator")
    add_arguments(parser)
    args = parser.parse_args(list(argv))
    return config_from_args(args, os.environ if environ is None else environ)
