"""Assembly of the children of a ModelDeployment: Deployment (per slot), Service, PVC.

Two hashes go on the workload:
* `modelops.io/revision` (label): hash of everything that shapes the pod *except* the slot, so
  the same spec yields the same revision in either slot; a new revision is what a blue/green
  rollout moves to the other slot. Fields that do not reach the pod (replicas, routing,
  rollout, autoscaling, an Ollama servedModelName) do not change it.
* `modelops.io/template-hash` (annotation on the Deployment and its pod template): hash of the
  complete desired pod template (labels included). The controller compares it with the live
  annotation and patches only on a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from modelops.api.resource import ModelDeployment
from modelops.api.spec import ModelDeploymentSpec
from modelops.builders import common, ollama, vllm
from modelops.builders.common import Slot

ENGINES: dict[str, ModuleType] = {"vllm": vllm, "ollama": ollama}
REVISION_HISTORY_LIMIT = 2
# Time after the startup budget before the Deployment reports ProgressDeadlineExceeded.
PROGRESS_MARGIN_SECONDS = 600


@dataclass(frozen=True)
class Children:
    """Complete manifests, ready for server-side apply."""

    deployment: dict[str, Any]
    service: dict[str, Any]
    pvc: dict[str, Any] | None

    def all(self) -> list[dict[str, Any]]:
        items = [self.deployment, self.service]
        return items if self.pvc is None else [self.pvc, *items]


def engine_port(engine: str) -> int:
    port: int = ENGINES[engine].PORT
    return port


def build_pod_spec(spec: ModelDeploymentSpec, *, name: str, served_name: str) -> dict[str, Any]:
    engine = ENGINES[spec.engine]
    container: dict[str, Any] = {"name": common.CONTAINER_NAME}
    container.update(engine.build_container(spec, served_name=served_name))
    env = common.merge_env(engine.builtin_env(spec), spec)
    if env:
        container["env"] = env
    resources = common.container_resources(spec)
    if resources:
        container["resources"] = resources
    container["securityContext"] = common.container_security_context()

    volumes: list[dict[str, Any]] = list(engine.extra_volumes(spec))
    cache = common.cache_volume(spec, name)
    if cache is not None:
        volumes.append(cache)
        mounts = list(container.get("volumeMounts", []))
        mounts.append({"name": common.CACHE_VOLUME, "mountPath": engine.CACHE_MOUNT_PATH})
        container["volumeMounts"] = mounts

    pod_spec: dict[str, Any] = {
        "containers": [container],
        # Service links inject FOO_PORT=tcp://... variables; a Service named `vllm` would
        # produce VLLM_PORT, which vLLM reads as its own setting and crashes on.
        "enableServiceLinks": False,
        "automountServiceAccountToken": spec.mount_service_account_token,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    if volumes:
        pod_spec["volumes"] = volumes
    selector = common.node_selector(spec)
    if selector:
        pod_spec["nodeSelector"] = selector
    tolerations = common.tolerations(spec)
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if spec.affinity is not None:
        pod_spec["affinity"] = spec.affinity
    return pod_spec


def revision(spec: ModelDeploymentSpec, *, name: str) -> str:
    """The slot-independent revision of the pod this spec asks for."""
    pod_spec = build_pod_spec(spec, name=name, served_name=spec.effective_served_name(name))
    return common.stable_hash({"spec": pod_spec, "annotations": spec.pod_annotations})


def build_deployment(
    spec: ModelDeploymentSpec,
    *,
    namespace: str,
    name: str,
    owner: dict[str, Any],
    slot: Slot,
    replicas: int,
) -> dict[str, Any]:
    served_name = spec.effective_served_name(name)
    pod_spec = build_pod_spec(spec, name=name, served_name=served_name)
    pod_revision = common.stable_hash({"spec": pod_spec, "annotations": spec.pod_annotations})
    labels = common.pod_labels(name, spec.engine, slot, pod_revision)
    template: dict[str, Any] = {
        "metadata": {"labels": labels, "annotations": dict(spec.pod_annotations)},
        "spec": pod_spec,
    }
    template_hash = common.stable_hash(template)
    template["metadata"]["annotations"][common.ANNOTATION_TEMPLATE_HASH] = template_hash
    startup_budget: int = ENGINES[spec.engine].STARTUP_BUDGET_SECONDS
    metadata = common.object_meta(common.deployment_name(name, slot), namespace, labels, owner)
    metadata["annotations"] = {common.ANNOTATION_TEMPLATE_HASH: template_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": common.slot_selector(name, slot)},
            # GPUs are the scarce resource: a surge pod would need a free GPU that a full
            # cluster does not have, and would sit Pending forever while the old pod keeps its
            # GPU. maxSurge 0 replaces pods one at a time inside the capacity already held.
            # Zero-downtime version changes are the job of the blue/green slots, not of this.
            "strategy": _strategy(spec),
            "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
            "progressDeadlineSeconds": startup_budget + PROGRESS_MARGIN_SECONDS,
            "template": template,
        },
    }


def _strategy(spec: ModelDeploymentSpec) -> dict[str, Any]:
    if spec.rollout is not None and spec.rollout.strategy == "Recreate":
        return {"type": "Recreate"}  # the user chose downtime over two versions at once
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def build_children(
    md: ModelDeployment, *, namespace: str, name: str, uid: str, slot: Slot, replicas: int
) -> Children:
    """Everything one slot of `md` needs. Only `md.spec` is read: `namespace`, `name` and `uid`
    are passed explicitly (the controller has them from the event) and win over md.metadata."""
    if slot not in common.SLOTS:
        raise ValueError(f"slot must be one of {common.SLOTS}, got {slot!r}")
    if replicas < 0:
        raise ValueError(f"replicas must be >= 0, got {replicas}")
    spec = md.spec
    owner = common.owner_reference(name, uid)
    return Children(
        deployment=build_deployment(
            spec, namespace=namespace, name=name, owner=owner, slot=slot, replicas=replicas
        ),
        service=common.build_service(
            spec, name=name, namespace=namespace, owner=owner, port=engine_port(spec.engine)
        ),
        pvc=common.build_pvc(spec, name=name, namespace=namespace, owner=owner),
    )
