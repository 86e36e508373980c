"""Pieces shared by every engine: names, labels, hashes, resources, placement, owner refs.

Everything here is a pure function of its arguments; no clock, no randomness, no I/O, so the
same spec always yields byte-identical manifests (and therefore the same hashes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from modelops.api.spec import GPU_PRODUCT_LABEL, GPU_RESOURCE, ModelDeploymentSpec
from modelops.api.wire import API_VERSION, GROUP, KIND

Slot = Literal["blue", "green"]
SLOTS: tuple[Slot, ...] = ("blue", "green")
FIRST_SLOT: Slot = "blue"

LABEL_MODEL = f"{GROUP}/model"
LABEL_SLOT = f"{GROUP}/slot"
LABEL_REVISION = f"{GROUP}/revision"
ANNOTATION_TEMPLATE_HASH = f"{GROUP}/template-hash"
MANAGED_BY = "modelops"
COMPONENT = "model-server"
CONTAINER_NAME = "server"
CACHE_VOLUME = "model-cache"
HASH_LENGTH = 10

GPU_TOLERATION: dict[str, Any] = {
    "key": GPU_RESOURCE,
    "operator": "Exists",
    "effect": "NoSchedule",
}


# -- names ------------------------------------------------------------------------------------


def deployment_name(name: str, slot: Slot) -> str:
    return f"{name}-{slot}"


def service_name(name: str) -> str:
    """Service names must be DNS-1035 labels; ModelDeployment names may contain dots
    (`qwen2.5-14b-instruct`), so dots become dashes. The CRD guarantees a leading letter."""
    return name.replace(".", "-")


def pvc_name(name: str) -> str:
    return f"{name}-cache"


def other_slot(slot: Slot) -> Slot:
    return "green" if slot == "blue" else "blue"


# -- labels and hashes --------------------------------------------------------------------------


def stable_hash(data: Any, length: int = HASH_LENGTH) -> str:
    """A short, deterministic hash of JSON-compatible data (key order does not matter)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def model_selector(name: str) -> dict[str, str]:
    """Selects every pod of the model, across slots (the Service and status.selector)."""
    return {LABEL_MODEL: name}


def slot_selector(name: str, slot: Slot) -> dict[str, str]:
    """A Deployment's selector: immutable, so it names the slot but never the revision."""
    return {LABEL_MODEL: name, LABEL_SLOT: slot}


def selector_string(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def common_labels(name: str, engine: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": engine,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": "modelops",
        LABEL_MODEL: name,
    }


def pod_labels(name: str, engine: str, slot: Slot, revision: str) -> dict[str, str]:
    return {**common_labels(name, engine), LABEL_SLOT: slot, LABEL_REVISION: revision}


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    name: str, namespace: str, labels: Mapping[str, str], owner: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "ownerReferences": [dict(owner)],
    }


# -- container pieces ---------------------------------------------------------------------------


def container_resources(spec: ModelDeploymentSpec) -> dict[str, Any]:
    """CPU is a request only (CPU limits throttle tokenizer threads for no gain); memory is
    request = limit so OOM behaviour is predictable; GPUs are requested and limited equally."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if spec.resources.cpu is not None:
        requests["cpu"] = spec.resources.cpu
    if spec.resources.memory is not None:
        requests["memory"] = spec.resources.memory
        limits["memory"] = spec.resources.memory
    if spec.resources.gpus > 0:
        requests[GPU_RESOURCE] = str(spec.resources.gpus)
        limits[GPU_RESOURCE] = str(spec.resources.gpus)
    result: dict[str, Any] = {}
    if requests:
        result["requests"] = requests
    if limits:
        result["limits"] = limits
    return result


def container_security_context() -> dict[str, Any]:
    # runAsNonRoot is not forced: the upstream vLLM and Ollama images run as root and write to
    # /root; forcing it would break them. Escalation and capabilities are still locked down.
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def merge_env(
    builtin: Iterable[Mapping[str, Any]], spec: ModelDeploymentSpec
) -> list[dict[str, Any]]:
    """Operator env first; a user entry with the same name replaces it in place."""
    merged: dict[str, dict[str, Any]] = {item["name"]: dict(item) for item in builtin}
    for item in spec.env:
        merged[item.name] = item.model_dump(mode="json", by_alias=True, exclude_none=True)
    return list(merged.values())


def node_selector(spec: ModelDeploymentSpec) -> dict[str, str]:
    selector = dict(spec.node_selector)
    if spec.resources.gpu_product is not None:
        selector[GPU_PRODUCT_LABEL] = spec.resources.gpu_product
    return selector


def tolerations(spec: ModelDeploymentSpec) -> list[dict[str, Any]]:
    result = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in spec.tolerations]
    if spec.resources.gpus > 0 and GPU_TOLERATION not in result:
        result.append(dict(GPU_TOLERATION))
    return result


def cache_volume(spec: ModelDeploymentSpec, name: str) -> dict[str, Any] | None:
    if spec.cache is None:
        return None
    claim = spec.cache.existing_claim if spec.cache.existing_claim else pvc_name(name)
    return {"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": claim}}


def build_pvc(
    spec: ModelDeploymentSpec, *, name: str, namespace: str, owner: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Only when the operator owns the claim (`cache.size`); an existingClaim is the user's."""
    if spec.cache is None or spec.cache.size is None:
        return None
    pvc_spec: dict[str, Any] = {
        "accessModes": [spec.cache.access_mode],
        "resources": {"requests": {"storage": spec.cache.size}},
    }
    if spec.cache.storage_class_name is not None:
        pvc_spec["storageClassName"] = spec.cache.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": object_meta(pvc_name(name), namespace, common_labels(name, spec.engine), owner),
        "spec": pvc_spec,
    }


def build_service(
    spec: ModelDeploymentSpec,
    *,
    name: str,
    namespace: str,
    owner: Mapping[str, Any],
    port: int,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(
            service_name(name), namespace, common_labels(name, spec.engine), owner
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": model_selector(name),
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }
