"""Engine facts: one table of what each inference runtime looks like from outside.

Builders (container ports, probes, default images), the router (health checks, backend API)
and the simulator (ports, paths) read these instead of keeping their own copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EngineName = Literal["vllm", "ollama"]
BackendApi = Literal["openai", "ollama"]


@dataclass(frozen=True)
class EngineFacts:
    name: EngineName
    port: int
    health_path: str
    # None: the runtime has no Prometheus endpoint of its own (Ollama).
    metrics_path: str | None
    # Pinned, real upstream tags. Bumping one changes the revision of every ModelDeployment
    # that relies on the default, i.e. it triggers a rollout: that is intended.
    default_image: str
    # The API the runtime speaks natively, and its OpenAI-compatible chat path (the operator's
    # smoke test uses it; Ollama serves the OpenAI API too).
    api: BackendApi
    openai_chat_path: str


ENGINE_FACTS: dict[str, EngineFacts] = {
    "vllm": EngineFacts(
        name="vllm",
        port=8000,
        health_path="/health",
        metrics_path="/metrics",
        default_image="vllm/vllm-openai:v0.10.1",
        api="openai",
        openai_chat_path="/v1/chat/completions",
    ),
    "ollama": EngineFacts(
        name="ollama",
        port=11434,
        health_path="/",
        metrics_path=None,
        default_image="ollama/ollama:0.6.8",
        api="ollama",
        openai_chat_path="/v1/chat/completions",
    ),
}


def engine_facts(engine: str) -> EngineFacts:
    return ENGINE_FACTS[engine]
