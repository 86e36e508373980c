"""What the simulator launcher reads and writes in place of a kubelet.

KWOK marks every simulated pod Running and Ready. The launcher runs the real (simulated) runtime
and its readiness probe, and corrects the pod's status from what it observes, so that Kubernetes
(Deployments, the router's endpoint discovery, `kubectl get pods`) sees honest readiness and
crash loops.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Node, Pod
from lightkube.types import PatchType

log = logging.getLogger(__name__)

SIMULATED_NODE_LABEL = "modelops.io/simulated"


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


def status_patch(
    observation: ContainerObservation, pod_ready: bool, now: datetime.datetime
) -> dict[str, Any]:
    """A strategic-merge patch of pod status (conditions merge by type, containers by name)."""
    container: dict[str, Any] = {
        "name": observation.container,
        "ready": observation.ready,
        "restartCount": observation.restart_count,
    }
    if observation.waiting_reason:
        container["state"] = {"waiting": {"reason": observation.waiting_reason}, "running": None}
        container["started"] = False
    elif observation.started_at is not None:
        container["state"] = {
            "running": {"startedAt": _time(observation.started_at)},
            "waiting": None,
        }
        container["started"] = True
    if observation.last_termination is not None:
        term = observation.last_termination
        container["lastState"] = {
            "terminated": {
                "exitCode": term.exit_code,
                "reason": term.reason,
                "startedAt": _time(term.started_at),
                "finishedAt": _time(term.finished_at),
            }
        }
    pod_status = "True" if pod_ready else "False"
    reason = None if pod_ready else "ContainersNotReady"
    conditions = [
        {
            "type": kind,
            "status": pod_status,
            "lastTransitionTime": _time(now),
            "reason": reason,
            "message": None if pod_ready else "containers with unready status",
        }
        for kind in ("Ready", "ContainersReady")
    ]
    return {"status": {"conditions": conditions, "containerStatuses": [container]}}


async def report_container(
    client: AsyncClient,
    namespace: str,
    pod: str,
    observation: ContainerObservation,
    pod_ready: bool,
) -> bool:
    """Write one container's observed state and the pod's Ready conditions.

    Returns False when the pod is gone (nothing to report to any more).
    """
    patch = status_patch(observation, pod_ready, datetime.datetime.now(datetime.UTC))
    try:
        await client.patch(
            Pod.Status, pod, patch, namespace=namespace, patch_type=PatchType.STRATEGIC
        )
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise
    return True


async def simulated_node_names(client: AsyncClient) -> set[str]:
    """Names of the nodes KWOK simulates (label modelops.io/simulated=true)."""
    names: set[str] = set()
    async for node in client.list(Node, labels={SIMULATED_NODE_LABEL: "true"}):
        if node.metadata is not None and node.metadata.name:
            names.add(node.metadata.name)
    return names
