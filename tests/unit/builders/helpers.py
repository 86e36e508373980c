from __future__ import annotations

import copy
from typing import Any

from modelops.api import ModelDeployment, parse_model_deployment
from modelops.builders import Children, build_children

VLLM: dict[str, Any] = {"engine": "vllm", "model": "org/model", "resources": {"gpus": 1}}
OLLAMA: dict[str, Any] = {"engine": "ollama", "model": "llama3.1:8b"}


def md(spec: dict[str, Any], name: str = "demo") -> ModelDeployment:
    return parse_model_deployment(
        {"metadata": {"name": name, "namespace": "ignored", "uid": "ignored"}, "spec": spec}
    )


def spec_with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(base)
    result.update(changes)
    return result


def build(
    spec: dict[str, Any], name: str = "demo", slot: str = "blue", replicas: int = 1
) -> Children:
    return build_children(
        md(spec, name),
        namespace="ai",
        name=name,
        uid="uid-1",
        slot=slot,
        replicas=replicas,  # type: ignore[arg-type]
    )


def pod_spec(children: Children) -> dict[str, Any]:
    result: dict[str, Any] = children.deployment["spec"]["template"]["spec"]
    return result


def container(children: Children) -> dict[str, Any]:
    result: dict[str, Any] = pod_spec(children)["containers"][0]
    return result


def env_of(children: Children) -> dict[str, Any]:
    return {
        e["name"]: e.get("value", e.get("valueFrom")) for e in container(children).get("env", [])
    }
