"""Behaviour shared by both engines: names, labels, owner refs, placement, hashes."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.builders import (
    ANNOTATION_TEMPLATE_HASH,
    LABEL_REVISION,
    build_children,
    revision,
    selector_string,
    service_name,
)
from tests.unit.builders.helpers import OLLAMA, VLLM, build, container, md, pod_spec, spec_with

BOTH = pytest.mark.parametrize("base", [VLLM, OLLAMA], ids=["vllm", "ollama"])


@BOTH
def test_names_labels_and_owner(base: dict[str, Any]) -> None:
    children = build(base, name="qwen2.5-14b", slot="green", replicas=3)
    deployment = children.deployment
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["metadata"]["name"] == "qwen2.5-14b-green"
    assert deployment["metadata"]["namespace"] == "ai"
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "modelops.io/model": "qwen2.5-14b",
        "modelops.io/slot": "green",
    }
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == base["engine"]
    assert labels["app.kubernetes.io/instance"] == "qwen2.5-14b"
    assert labels["app.kubernetes.io/managed-by"] == "modelops"
    assert labels["app.kubernetes.io/part-of"] == "modelops"
    assert labels["app.kubernetes.io/component"] == "model-server"
    assert labels["modelops.io/slot"] == "green"
    assert len(labels[LABEL_REVISION]) == 10
    assert children.service["metadata"]["name"] == "qwen2-5-14b"
    assert children.service["spec"]["selector"] == {"modelops.io/model": "qwen2.5-14b"}
    for child in children.all():
        assert child["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "modelops.io/v1alpha1",
                "kind": "ModelDeployment",
                "name": "qwen2.5-14b",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]


@pytest.mark.parametrize(
    ("resources", "extra", "expected_selector", "expected_tolerations", "expected_resources"),
    [
        ({"gpus": 0}, {}, None, None, None),
        (
            {"gpus": 2, "cpu": 8, "memory": "32Gi"},
            {},
            None,
            [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            {
                "requests": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"},
                "limits": {"memory": "32Gi", "nvidia.com/gpu": "2"},
            },
        ),
        (
            {"gpus": 1, "gpuProduct": "NVIDIA-L40S"},
            {
                "nodeSelector": {"pool": "inference"},
                "tolerations": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
            },
            {"pool": "inference", "nvidia.com/gpu.product": "NVIDIA-L40S"},
            [
                {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            ],
            {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}},
        ),
        (
            {"gpus": 1},
            {
                "tolerations": [
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                ]
            },
            None,
            [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}},
        ),
    ],
    ids=["cpu-only", "gpus-cpu-memory", "product-and-user-placement", "toleration-not-doubled"],
)
def test_placement_and_resources(
    resources: dict[str, Any],
    extra: dict[str, Any],
    expected_selector: dict[str, str] | None,
    expected_tolerations: list[dict[str, Any]] | None,
    expected_resources: dict[str, Any] | None,
) -> None:
    children = build(spec_with(OLLAMA, resources=resources, **extra))
    pod = pod_spec(children)
    assert pod.get("nodeSelector") == expected_selector
    assert pod.get("tolerations") == expected_tolerations
    assert container(children).get("resources") == expected_resources


@BOTH
def test_security_and_pod_hygiene(base: dict[str, Any]) -> None:
    children = build(
        spec_with(base, affinity={"nodeAffinity": {"x": 1}}, podAnnotations={"a": "b"})
    )
    pod = pod_spec(children)
    assert container(children)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "runAsNonRoot" not in str(pod)
    assert pod["enableServiceLinks"] is False
    assert pod["affinity"] == {"nodeAffinity": {"x": 1}}
    annotations = children.deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["a"] == "b"
    strategy = children.deployment["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    assert children.deployment["spec"]["revisionHistoryLimit"] <= 3


@BOTH
def test_builders_are_deterministic(base: dict[str, Any]) -> None:
    assert build(base) == build(base)


@BOTH
def test_template_hash_matches_the_template(base: dict[str, Any]) -> None:
    from modelops.builders.common import stable_hash

    deployment = build(base).deployment
    template = deployment["spec"]["template"]
    hash_ = template["metadata"]["annotations"][ANNOTATION_TEMPLATE_HASH]
    assert deployment["metadata"]["annotations"][ANNOTATION_TEMPLATE_HASH] == hash_
    unhashed = {
        "metadata": {
            "labels": template["metadata"]["labels"],
            "annotations": {
                k: v
                for k, v in template["metadata"]["annotations"].items()
                if k != ANNOTATION_TEMPLATE_HASH
            },
        },
        "spec": template["spec"],
    }
    assert stable_hash(unhashed) == hash_


def revision_of(spec: dict[str, Any], slot: str = "blue", name: str = "demo") -> str:
    labels = build(spec, name=name, slot=slot).deployment["spec"]["template"]["metadata"]["labels"]
    value: str = labels[LABEL_REVISION]
    return value


def template_hash_of(spec: dict[str, Any], slot: str = "blue", replicas: int = 1) -> str:
    value: str = build(spec, slot=slot, replicas=replicas).deployment["metadata"]["annotations"][
        ANNOTATION_TEMPLATE_HASH
    ]
    return value


@pytest.mark.parametrize(
    ("change", "revision_changes"),
    [
        ({"replicas": 5}, False),
        ({"routing": {"tasks": ["chat"], "fallback": ["x"]}}, False),
        ({"autoscaling": {"enabled": True}}, False),
        ({"rollout": {"steps": [{"weight": 10}]}}, False),
        ({"image": "ollama/ollama:0.6.8"}, False),  # explicit default == implicit default
        ({"servedModelName": "alias"}, False),  # Ollama: the router maps names, not the pod
        ({"model": "llama3.1:70b"}, True),
        ({"image": "ollama/ollama:0.7.0"}, True),
        ({"ollama": {"numParallel": 8}}, True),
        ({"resources": {"gpus": 1}}, True),
        ({"podAnnotations": {"x": "y"}}, True),
        ({"env": [{"name": "A", "value": "1"}]}, True),
    ],
)
def test_revision_tracks_only_what_shapes_the_pod(
    change: dict[str, Any], revision_changes: bool
) -> None:
    assert (revision_of(spec_with(OLLAMA, **change)) != revision_of(OLLAMA)) is revision_changes


def test_vllm_served_name_changes_the_revision() -> None:
    assert revision_of(spec_with(VLLM, servedModelName="alias")) != revision_of(VLLM)


def test_revision_is_slot_independent_but_template_hash_is_not() -> None:
    assert revision_of(VLLM, slot="blue") == revision_of(VLLM, slot="green")
    assert template_hash_of(VLLM, slot="blue") != template_hash_of(VLLM, slot="green")
    assert template_hash_of(VLLM, replicas=1) == template_hash_of(VLLM, replicas=4)
    assert revision(md(VLLM).spec, name="demo") == revision_of(VLLM)


def test_pvc_only_for_operator_owned_cache() -> None:
    assert build(OLLAMA).pvc is None
    assert build(spec_with(OLLAMA, cache={"size": "5Gi"})).pvc is not None
    assert build(spec_with(OLLAMA, cache={"existingClaim": "mine"})).pvc is None


@pytest.mark.parametrize(("slot", "replicas"), [("purple", 1), ("blue", -1)])
def test_bad_slot_or_replicas_is_a_clear_error(slot: str, replicas: int) -> None:
    with pytest.raises(ValueError, match=r"slot|replicas"):
        build_children(
            md(OLLAMA), namespace="ai", name="demo", uid="u", slot=slot, replicas=replicas
        )  # type: ignore[arg-type]


def test_helpers() -> None:
    assert service_name("llama3.1-8b-instruct") == "llama3-1-8b-instruct"
    assert selector_string({"b": "2", "a": "1"}) == "a=1,b=2"


@BOTH
def test_runtime_pods_mount_no_service_account_token_unless_asked(base: dict[str, Any]) -> None:
    # vLLM and Ollama never call the Kubernetes API: a compromised model server holds no token.
    assert pod_spec(build(spec_with(base)))["automountServiceAccountToken"] is False
    asked = pod_spec(build(spec_with(base, mountServiceAccountToken=True)))
    assert asked["automountServiceAccountToken"] is True
