from __future__ import annotations

from typing import Any

import pytest

from tests.unit.builders.helpers import OLLAMA, build, container, env_of, pod_spec, spec_with


@pytest.mark.parametrize(
    ("spec", "expected_env"),
    [
        (OLLAMA, {"OLLAMA_HOST": "0.0.0.0:11434"}),
        (
            spec_with(
                OLLAMA,
                ollama={
                    "keepAlive": -1,
                    "numParallel": 4,
                    "maxLoadedModels": 2,
                    "contextLength": 8192,
                },
            ),
            {
                "OLLAMA_HOST": "0.0.0.0:11434",
                "OLLAMA_KEEP_ALIVE": "-1",
                "OLLAMA_NUM_PARALLEL": "4",
                "OLLAMA_MAX_LOADED_MODELS": "2",
                "OLLAMA_CONTEXT_LENGTH": "8192",
            },
        ),
        (
            spec_with(
                OLLAMA,
                ollama={"keepAlive": "5m"},
                env=[
                    {"name": "OLLAMA_KEEP_ALIVE", "value": "24h"},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
            ),
            {
                "OLLAMA_HOST": "0.0.0.0:11434",
                "OLLAMA_KEEP_ALIVE": "24h",
                "TOKEN": {"secretKeyRef": {"name": "s", "key": "k"}},
            },
        ),
    ],
    ids=["defaults", "all-settings", "user-env-overrides"],
)
def test_ollama_env(spec: dict[str, Any], expected_env: dict[str, Any]) -> None:
    assert env_of(build(spec)) == expected_env


@pytest.mark.parametrize(
    "model", ["llama3.1:8b", "phi3:mini", "hf.co/org/Model-GGUF:Q4_K_M", "qwen2.5:14b"]
)
def test_ollama_pulls_the_model_before_ready(model: str) -> None:
    server = container(build(spec_with(OLLAMA, model=model)))
    command = server["lifecycle"]["postStart"]["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    # The simulator's launcher finds the model by this exact text.
    assert command[2].endswith(f" && ollama pull {model}")
    assert "until ollama list" in command[2]


def test_ollama_container_shape() -> None:
    children = build(OLLAMA)
    server = container(children)
    assert server["image"] == "ollama/ollama:0.6.8"
    assert server["ports"] == [{"name": "http", "containerPort": 11434, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"] == {"path": "/", "port": "http"}
    assert "args" not in server
    assert "volumes" not in pod_spec(children)
    assert children.service["spec"]["ports"][0]["port"] == 11434


def test_ollama_existing_claim_mounts_models_dir_without_a_pvc() -> None:
    children = build(spec_with(OLLAMA, cache={"existingClaim": "shared-models"}))
    assert children.pvc is None
    assert container(children)["volumeMounts"] == [
        {"name": "model-cache", "mountPath": "/root/.ollama"}
    ]
    assert pod_spec(children)["volumes"] == [
        {"name": "model-cache", "persistentVolumeClaim": {"claimName": "shared-models"}}
    ]
