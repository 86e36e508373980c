"""What the simulator launcher reads and writes in place of a kubelet.

KWOK marks every simulated pod Running and Ready. The launcher runs the real (simulated) runtime
and its readiness probe, and corrects the pod's status from what it observes, so that Kubernetes
(Deployments, the router's endpoint discovery, `kubectl get pods`) sees honest readiness and
crash loops.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Node, Pod
from lightkube.types import PatchType

SIMULATED_NODE_LABEL = "modelops.io/simulated"
# `modelops cluster node down` (modelops.localcluster.nodes.DOWN_LABEL): the node's kubelet
# is dead, so nothing runs or reports for its pods.
NODE_DOWN_LABEL = "modelops.io/node-down"


@dataclass(frozen=True)
class Termination:
    """How a container's previous run ended (Kubernetes' lastState.terminated)."""

    exit_code: int
    started_at: datetime.datetime
    finished_at: datetime.datetime
    reason: str = "Error"


@dataclass(frozen=True)
class ContainerObservation:
    container: str
    ready: bool
    restart_count: int = 0
    last_termination: Termination | None = None
    waiting_reason: str | None = None  # e.g. CrashLoopBackOff while backing off
    started_at: datetime.datetime | None = None


def _time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_update(observation: ContainerObservation) -> dict[str, Any]:
    """The fields of one container status that the launcher owns (None means remove)."""
    update: dict[str, Any] = {"ready": observation.ready, "restartCount": observation.restart_count}
    if observation.waiting_reason:
        update["state"] = {"waiting": {"reason": observation.waiting_reason}}
        update["started"] = False
    elif observation.started_at is not None:
        update["state"] = {"running": {"startedAt": _time(observation.started_at)}}
        update["started"] = True
    if observation.last_termination is not None:
        term = observation.last_termination
        update["lastState"] = {
            "terminated": {
                "exitCode": term.exit_code,
                "reason": term.reason,
                "startedAt": _time(term.started_at),
                "finishedAt": _time(term.finished_at),
            }
        }
    return update


def merge_container_statuses(
    existing: Sequence[Mapping[str, Any]], name: str, update: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The whole containerStatuses list with one entry updated.

    The list is atomic for patches (no merge key), so a patch must carry every container's
    status, or the others (and fields KWOK set, like image) would be lost.
    """
    statuses = [dict(status) for status in existing]
    for status in statuses:
        if status.get("name") == name:
            status.update(update)
            return statuses
    return [*statuses, {"name": name, "image": "", "imageID": "", **update}]


def ready_conditions(pod_ready: bool, now: datetime.datetime) -> list[dict[str, Any]]:
    """Ready and ContainersReady; conditions merge by type in a strategic-merge patch."""
    return [
        {
            "type": kind,
            "status": "True" if pod_ready else "False",
            "lastTransitionTime": _time(now),
            "reason": None if pod_ready else "ContainersNotReady",
            "message": None if pod_ready else "containers with unready status",
        }
        for kind in ("Ready", "ContainersReady")
    ]


async def report_container(
    client: AsyncClient,
    namespace: str,
    pod: str,
    observation: ContainerObservation,
) -> bool:
    """Write one container's observed state and the pod's Ready conditions (the pod is ready
    when every container is, simulated or not, as the kubelet decides).

    Callers serialise reports per pod (read-modify-write of the container list). Returns False
    when the pod is gone (nothing to report to any more).
    """
    try:
        current = await client.get(Pod, pod, namespace=namespace)
        existing = [
            status.to_dict()
            for status in ((current.status.containerStatuses if current.status else None) or [])
        ]
        statuses = merge_container_statuses(
            existing, observation.container, container_update(observation)
        )
        pod_ready = all(status.get("ready") is True for status in statuses)
        patch = {
            "status": {
                "conditions": ready_conditions(pod_ready, datetime.datetime.now(datetime.UTC)),
                "containerStatuses": statuses,
            }
        }
        await client.patch(
            Pod.Status, pod, patch, namespace=namespace, patch_type=PatchType.STRATEGIC
        )
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise
    return True


async def simulated_nodes(client: AsyncClient) -> dict[str, bool]:
    """The nodes KWOK simulates (label modelops.io/simulated=true), each with whether it is up
    (not labelled down)."""
    nodes: dict[str, bool] = {}
    async for node in client.list(Node, labels={SIMULATED_NODE_LABEL: "true"}):
        if node.metadata is not None and node.metadata.name:
            down = (node.metadata.labels or {}).get(NODE_DOWN_LABEL) == "true"
            nodes[node.metadata.name] = not down
    return nodes
