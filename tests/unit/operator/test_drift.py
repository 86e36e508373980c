"""modelops.policies.drift: what counts as drift between our manifest and the live object."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modelops.api import parse_model_deployment
from modelops.builders import build_children
from modelops.policies.drift import contains, needs_apply, plan_applies


@pytest.mark.parametrize(
    ("live", "wanted", "expected"),
    [
        # scalars
        ("a", "a", True),
        ("a", "b", False),
        (1, 1, True),
        (1, 2, False),
        ("1", 1, False),
        (None, None, True),
        # maps: extra live fields (server defaults, other controllers) are not drift
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": {"x": 1, "default": True}}, {"a": {"x": 1}}, True),
        ({"a": {"x": 2}}, {"a": {"x": 1}}, False),
        ("not a map", {"a": 1}, False),
        ([{"a": 1}], {"a": 1}, False),
        # empty maps / lists / None match an absent field (the server drops them) ...
        ({}, {"a": {}}, True),
        ({}, {"a": []}, True),
        ({}, {"a": None}, True),
        # A live null or [] where we want {} does count (the API server omits empty fields
        # rather than returning null, so this costs at most one no-op apply).
        ({"a": None}, {"a": {}}, False),
        ({"a": None}, {"a": []}, False),
        ({"a": None}, {"a": None}, True),
        # ... and an empty wanted map is satisfied by anything there
        ({"a": {"x": 1}}, {"a": {}}, True),
        # but a wanted empty list is not satisfied by a non-empty one
        ({"a": [1]}, {"a": []}, False),
        # a wanted value for an absent field is drift, also falsy scalars
        ({}, {"a": "x"}, False),
        ({}, {"a": 0}, False),
        ({}, {"a": False}, False),
        ({}, {"a": ""}, False),
        # lists: compared item by item, lengths must match
        ([1, 2], [1, 2], True),
        ([2, 1], [1, 2], False),
        ([1, 2, 3], [1, 2], False),
        ([1], [1, 2], False),
        ([{"n": 1, "extra": 0}], [{"n": 1}], True),
        ("ab", ["a", "b"], False),
        ({"0": 1}, [1], False),
        # strings are not sequences of characters here
        (["a", "b"], "ab", False),
    ],
)
def test_contains(live: Any, wanted: Any, expected: bool) -> None:
    assert contains(live, wanted) is expected


def desired_children() -> list[dict[str, Any]]:
    md = parse_model_deployment(
        {
            "metadata": {"name": "demo", "namespace": "ai", "uid": "u1"},
            "spec": {
                "engine": "vllm",
                "model": "org/model",
                "resources": {"gpus": 1},
                "env": [{"name": "A", "value": "1"}],
                "cache": {"size": "10Gi"},
            },
        }
    )
    children = build_children(md, namespace="ai", name="demo", uid="u1", slot="blue", replicas=2)
    return children.all()


def as_live(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the API server hands back: defaults and bookkeeping added, apiVersion/kind dropped
    (the operator's cache keeps neither)."""
    live = copy.deepcopy(manifest)
    live.pop("apiVersion")
    live.pop("kind")
    meta = live["metadata"]
    meta.update(
        {
            "uid": "server-uid",
            "resourceVersion": "123",
            "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "modelops", "operation": "Apply"}],
        }
    )
    meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "2"
    live["status"] = {"observedGeneration": 3, "replicas": 2}
    if manifest["kind"] == "Deployment":
        spec = live["spec"]
        spec.setdefault("revisionHistoryLimit", 10)
        template = spec["template"]
        template["metadata"]["creationTimestamp"] = None
        pod_spec = template["spec"]
        pod_spec.setdefault("restartPolicy", "Always")
        pod_spec.setdefault("dnsPolicy", "ClusterFirst")
        pod_spec.setdefault("schedulerName", "default-scheduler")
        pod_spec.setdefault("securityContext", {})
        for container in pod_spec["containers"]:
            container["imagePullPolicy"] = "IfNotPresent"
            container["terminationMessagePath"] = "/dev/termination-log"
            container["terminationMessagePolicy"] = "File"
            for port in container.get("ports", []):
                port.setdefault("protocol", "TCP")
    elif manifest["kind"] == "Service":
        live["spec"]["clusterIP"] = "10.0.0.12"
        live["spec"]["clusterIPs"] = ["10.0.0.12"]
        live["spec"]["sessionAffinity"] = "None"
        for port in live["spec"]["ports"]:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port["port"])
    elif manifest["kind"] == "PersistentVolumeClaim":
        live["spec"]["volumeMode"] = "Filesystem"
        live["spec"]["storageClassName"] = "standard"
    return live


def by_kind(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return result


def test_the_fixture_covers_every_child_kind() -> None:
    assert set(by_kind(desired_children())) == {"Deployment", "Service", "PersistentVolumeClaim"}


@pytest.mark.parametrize("kind", ["Deployment", "Service", "PersistentVolumeClaim"])
def test_server_defaults_and_bookkeeping_are_not_drift(kind: str) -> None:
    desired = by_kind(desired_children())[kind]
    assert not needs_apply(desired, as_live(desired))


def test_missing_object_needs_apply() -> None:
    for manifest in desired_children():
        assert needs_apply(manifest, None)


def test_apiversion_kind_and_status_are_ignored() -> None:
    desired = copy.deepcopy(by_kind(desired_children())["Deployment"])
    live = as_live(desired)
    desired["status"] = {"replicas": 99}
    live["apiVersion"] = "apps/v0"
    live["kind"] = "SomethingElse"
    assert not needs_apply(desired, live)


def change_image(d: dict[str, Any]) -> None:
    container_of(d)["image"] = "vllm/vllm-openai:v0.0.1"


def change_replicas(d: dict[str, Any]) -> None:
    d["spec"]["replicas"] = 5


def change_env_value(d: dict[str, Any]) -> None:
    next(e for e in container_of(d)["env"] if e["name"] == "A")["value"] = "2"


def drop_env_entry(d: dict[str, Any]) -> None:
    container_of(d)["env"] = [e for e in container_of(d)["env"] if e["name"] != "A"]


def add_env_entry(d: dict[str, Any]) -> None:
    container_of(d)["env"].append({"name": "INJECTED", "value": "x"})


def change_port(d: dict[str, Any]) -> None:
    container_of(d)["ports"][0]["containerPort"] = 9999


def add_port(d: dict[str, Any]) -> None:
    container_of(d)["ports"].append({"containerPort": 9090, "protocol": "TCP"})


def remove_label(d: dict[str, Any]) -> None:
    d["metadata"]["labels"].pop(next(iter(d["metadata"]["labels"])))


def remove_gpu_limit(d: dict[str, Any]) -> None:
    container_of(d)["resources"]["limits"].pop("nvidia.com/gpu")


def remove_tolerations(d: dict[str, Any]) -> None:
    d["spec"]["template"]["spec"].pop("tolerations")


def change_args(d: dict[str, Any]) -> None:
    container_of(d)["args"] = [*container_of(d)["args"], "--extra"]


@pytest.mark.parametrize(
    "edit",
    [
        change_image,
        change_replicas,
        change_env_value,
        drop_env_entry,
        add_env_entry,
        change_port,
        add_port,
        remove_label,
        remove_gpu_limit,
        remove_tolerations,
        change_args,
    ],
)
def test_edits_of_owned_fields_are_drift(edit: Any) -> None:
    desired = by_kind(desired_children())["Deployment"]
    live = as_live(desired)
    edit(live)
    assert needs_apply(desired, live)


def test_extra_labels_and_annotations_on_the_live_object_are_not_drift() -> None:
    desired = by_kind(desired_children())["Deployment"]
    live = as_live(desired)
    live["metadata"]["labels"]["team"] = "ml"
    live["spec"]["template"]["metadata"].setdefault("annotations", {})[
        "kubectl.kubernetes.io/restartedAt"
    ] = "2026-01-01T00:00:00Z"
    assert not needs_apply(desired, live)


def test_plan_applies_only_missing_or_drifted_in_the_given_order() -> None:
    desired = desired_children()
    kinds = [m["kind"] for m in desired]
    live = {(m["kind"], m["metadata"]["name"]): as_live(m) for m in desired}
    assert plan_applies(desired, live) == []

    deployment = by_kind(desired)["Deployment"]
    drifted = as_live(deployment)
    change_image(drifted)
    live[("Deployment", deployment["metadata"]["name"])] = drifted
    service = by_kind(desired)["Service"]
    del live[("Service", service["metadata"]["name"])]
    planned = plan_applies(desired, live)
    assert [m["kind"] for m in planned] == [k for k in kinds if k in ("Deployment", "Service")]
    assert all(any(p is m for m in desired) for p in planned)

    assert plan_applies(desired, {}) == desired


def test_plan_applies_looks_up_by_kind_and_name() -> None:
    desired = desired_children()
    deployment = by_kind(desired)["Deployment"]
    # A live object with the same name but another kind does not count.
    live = {("Service", deployment["metadata"]["name"]): as_live(deployment)}
    assert deployment in plan_applies(desired, live)
