"""The Python twin of the CRD's validation: every CEL rule has a case here with the same
message, plus the defaults the operator resolves itself."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.api import (
    DEFAULT_IMAGES,
    InvalidModelDeploymentError,
    dump_spec,
    parse_model_deployment,
    parse_spec,
)
from modelops.api.resource import ROOT_RULES
from modelops.api.spec import SPEC_RULES

EXAMPLES = sorted(
    p for p in (Path(__file__).parents[3] / "examples").glob("*.yaml") if p.stem != "kustomization"
)


def body(spec: dict[str, Any], name: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": "ai", "uid": "u-1", "generation": 3},
        "spec": spec,
    }


VLLM = {"engine": "vllm", "model": "org/model", "resources": {"gpus": 2}}
OLLAMA = {"engine": "ollama", "model": "llama3.1:8b"}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(base)
    result.update(changes)
    return result


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_valid_and_named_like_their_files(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    assert "namespace" not in data["metadata"]
    md = parse_model_deployment(data)
    assert md.name == path.stem
    assert md.served_name == path.stem


def test_example_catalog_is_complete() -> None:
    assert {p.stem for p in EXAMPLES} == {
        "llama3.1-8b-instruct",
        "phi3-mini-4k",
        "mistral-nemo",
        "qwen2.5-14b-instruct",
        "mixtral-8x7b-instruct",
    }


INVALID = [
    # (id, spec, name, expected message substring)
    ("vllm-section-on-ollama", with_(OLLAMA, vllm={}), "demo", SPEC_RULES[0]["message"]),
    ("ollama-section-on-vllm", with_(VLLM, ollama={}), "demo", SPEC_RULES[1]["message"]),
    (
        "tp-does-not-divide",
        with_(VLLM, resources={"gpus": 3}, vllm={"tensorParallelSize": 2}),
        "demo",
        SPEC_RULES[2]["message"],
    ),
    (
        "tp-without-gpus",
        with_(VLLM, image="my/vllm-cpu:1", resources={"gpus": 0}, vllm={"tensorParallelSize": 2}),
        "demo",
        SPEC_RULES[2]["message"],
    ),
    ("vllm-cpu-default-image", with_(VLLM, resources={}), "demo", SPEC_RULES[3]["message"]),
    ("served-task-prefix", with_(OLLAMA, servedModelName="task:x"), "demo", "task:"),
    (
        "gpu-product-selector-conflict",
        with_(
            VLLM,
            resources={"gpus": 1, "gpuProduct": "NVIDIA-L40S"},
            nodeSelector={"nvidia.com/gpu.product": "NVIDIA-A100"},
        ),
        "demo",
        SPEC_RULES[5]["message"],
    ),
    (
        "gpu-product-without-gpus",
        with_(OLLAMA, resources={"gpuProduct": "NVIDIA-L40S"}),
        "demo",
        "gpuProduct needs resources.gpus > 0",
    ),
    ("cache-both", with_(OLLAMA, cache={"size": "1Gi", "existingClaim": "c"}), "demo", "exactly"),
    ("cache-neither", with_(OLLAMA, cache={}), "demo", "exactly one of size"),
    (
        "autoscaling-bounds",
        with_(OLLAMA, autoscaling={"minReplicas": 5, "maxReplicas": 2}),
        "demo",
        "minReplicas must be <= autoscaling.maxReplicas",
    ),
    (
        "rollout-not-increasing",
        with_(OLLAMA, rollout={"steps": [{"weight": 50}, {"weight": 10}]}),
        "demo",
        "strictly increasing",
    ),
    (
        "rollout-duplicate",
        with_(OLLAMA, rollout={"steps": [{"weight": 10}, {"weight": 10}]}),
        "demo",
        "strictly increasing",
    ),
    (
        "fallback-self-default-name",
        with_(OLLAMA, routing={"fallback": ["demo"]}),
        "demo",
        ROOT_RULES[2]["message"],
    ),
    (
        "fallback-self-served-name",
        with_(OLLAMA, servedModelName="alias", routing={"fallback": ["alias"]}),
        "demo",
        ROOT_RULES[2]["message"],
    ),
    ("name-leading-digit", OLLAMA, "3b-model", ROOT_RULES[0]["message"]),
    ("name-too-long", OLLAMA, "a" * 53, ROOT_RULES[1]["message"]),
    (
        "extra-args-reserved",
        with_(VLLM, vllm={"extraArgs": ["--port=9000"]}),
        "demo",
        "vllm.extraArgs may not set",
    ),
    ("unknown-field", with_(OLLAMA, replica=2), "demo", "spec.replica: Extra inputs"),
    ("snake-case-wire", with_(OLLAMA, served_model_name="x"), "demo", "served_model_name"),
    ("bad-engine", with_(OLLAMA, engine="tgi"), "demo", "spec.engine"),
    ("bad-quantity", with_(OLLAMA, resources={"memory": "16GB"}), "demo", "spec.resources.memory"),
    ("shell-in-model", with_(OLLAMA, model="x; rm -rf /"), "demo", "spec.model"),
    (
        "env-value-and-from",
        with_(OLLAMA, env=[{"name": "A", "value": "1", "valueFrom": {"x": {}}}]),
        "demo",
        "value or valueFrom, not both",
    ),
    (
        "env-duplicate",
        with_(OLLAMA, env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
        "demo",
        "env names must be unique",
    ),
    (
        "toleration-exists-with-value",
        with_(OLLAMA, tolerations=[{"key": "k", "operator": "Exists", "value": "v"}]),
        "demo",
        "must not have a value",
    ),
    (
        "gpu-utilization-zero",
        with_(VLLM, vllm={"gpuMemoryUtilization": 0}),
        "demo",
        "gpuMemoryUtilization",
    ),
    ("task-uppercase", with_(OLLAMA, routing={"tasks": ["Reasoning"]}), "demo", "routing.tasks"),
]


@pytest.mark.parametrize(
    ("spec", "name", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_specs_are_rejected_with_a_clear_message(
    spec: dict[str, Any], name: str, expected: str
) -> None:
    with pytest.raises(InvalidModelDeploymentError) as caught:
        parse_model_deployment(body(spec, name=name))
    assert expected in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_every_cel_rule_message_is_exercised() -> None:
    expected = {case[3] for case in INVALID}
    for rule in [*SPEC_RULES, *ROOT_RULES]:
        assert any(rule["message"].startswith(e) or e in rule["message"] for e in expected), rule


def test_defaults_the_crd_cannot_express() -> None:
    md = parse_model_deployment(body(VLLM, name="qwen2.5-14b"))
    assert md.served_name == "qwen2.5-14b"
    assert md.spec.effective_image() == DEFAULT_IMAGES["vllm"]
    assert md.spec.effective_tensor_parallel_size() == 2
    ollama = parse_spec(OLLAMA)
    assert ollama.effective_image() == "ollama/ollama:0.6.8"
    assert ollama.effective_tensor_parallel_size() == 1
    assert ollama.replicas == 1
    assert ollama.resources.gpus == 0


def test_integers_become_quantity_and_duration_strings() -> None:
    spec = parse_spec(with_(OLLAMA, resources={"cpu": 4}, ollama={"keepAlive": -1}))
    assert spec.resources.cpu == "4"
    assert spec.ollama is not None
    assert spec.ollama.keep_alive == "-1"


def test_dump_is_camel_case_and_round_trips() -> None:
    source = with_(
        VLLM,
        servedModelName="m",
        vllm={"maxModelLen": 4096, "enablePrefixCaching": True},
        routing={"tasks": ["reasoning"], "fallback": ["other"], "timeoutSeconds": 60},
    )
    dumped = dump_spec(parse_spec(source))
    assert dumped["servedModelName"] == "m"
    assert dumped["vllm"]["maxModelLen"] == 4096
    assert "served_model_name" not in dumped
    assert parse_spec(dumped) == parse_spec(source)


def test_parse_spec_reports_wire_paths() -> None:
    with pytest.raises(InvalidModelDeploymentError, match=r"spec\.resources\.gpus"):
        parse_spec(with_(OLLAMA, resources={"gpus": -1}))


def test_non_mapping_body_is_a_clear_error() -> None:
    with pytest.raises(InvalidModelDeploymentError, match="expected a mapping"):
        parse_model_deployment([])  # type: ignore[arg-type]


class _View(Mapping[str, Any]):
    """Stands in for kopf's Body/Spec views, which are Mappings but not dicts."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return _View(value) if isinstance(value, dict) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_mapping_views_are_accepted() -> None:
    source = body(with_(OLLAMA, resources={"gpus": 1}, tolerations=[{"operator": "Exists"}]))
    md = parse_model_deployment(_View(source))
    assert md.spec.resources.gpus == 1
    assert parse_spec(_View(source)["spec"]).resources.gpus == 1  # type: ignore[arg-type]
