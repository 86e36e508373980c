"""The launcher's process supervision without a cluster: pod snapshots in, simulator processes
and pod-status patches out (a fake API client records the patches)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from modelops.k8s.pods import ContainerInfo, PodInfo
from modelops.sim.launcher import Launcher
from modelops.sim.testing import SOURCE_ROOT, free_port

POD_IP = "127.10.250.7"


class Status(dict[str, Any]):
    def to_dict(self) -> dict[str, Any]:
        return dict(self)


class FakeApi:
    """Records status patches; keeps the container list as the API server would."""

    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []
        self.statuses = [Status(name="vllm", image="vllm/vllm-openai:v0.10.0", ready=True)]
        self.node_labels: dict[str, str] = {"modelops.io/simulated": "true"}

    async def get(self, resource: Any, name: str, **_: Any) -> Any:
        return SimpleNamespace(status=SimpleNamespace(containerStatuses=self.statuses))

    async def patch(self, resource: Any, name: str, patch: dict[str, Any], **_: Any) -> None:
        self.patches.append(patch)
        self.statuses = [Status(s) for s in patch["status"]["containerStatuses"]]

    async def _nodes(self) -> AsyncIterator[Any]:
        yield SimpleNamespace(metadata=SimpleNamespace(name="gpu-0", labels=self.node_labels))

    def list(self, resource: Any, **_: Any) -> AsyncIterator[Any]:
        return self._nodes()

    def container_states(self) -> list[dict[str, Any]]:
        return [p["status"]["containerStatuses"][0] for p in self.patches]


def vllm_pod(port: int, uid: str = "uid-1") -> PodInfo:
    container = ContainerInfo(
        name="vllm",
        image="vllm/vllm-openai:v0.10.0",
        args=("--served-model-name", "demo"),
        ports=(port,),
        readiness_probe={"httpGet": {"path": "/health", "port": port}, "periodSeconds": 1},
    )
    return PodInfo(
        name="demo-0",
        namespace="ai",
        uid=uid,
        ip=POD_IP,
        phase="Running",
        ready=True,
        node_name="gpu-0",
        deleting=False,
        containers=(container,),
    )


async def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def models_at(port: int) -> list[str]:
    try:
        response = httpx.get(f"http://{POD_IP}:{port}/v1/models", timeout=1)
    except httpx.HTTPError:
        return []
    return [model["id"] for model in response.json()["data"]]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


async def test_runs_probes_restarts_and_stops_simulators() -> None:
    api = FakeApi()
    launcher = Launcher(api)
    port = free_port(POD_IP)
    pod = vllm_pod(port)
    try:
        await launcher.reconcile({pod.uid: pod})
        supervisor = launcher.supervisors[(pod.uid, "vllm")]
        await eventually(lambda: models_at(port) == ["demo"])
        await eventually(lambda: any(s["ready"] for s in api.container_states()))
        ready = api.patches[-1]["status"]["conditions"]
        assert {c["type"]: c["status"] for c in ready} == {
            "Ready": "True",
            "ContainersReady": "True",
        }

        first_pid = supervisor.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)  # a crash: restarted with backoff, and reported
        crash = await eventually(
            lambda: next((s for s in api.container_states() if s["restartCount"] == 1), None)
        )
        assert crash["ready"] is False
        assert crash["lastState"]["terminated"]["exitCode"] == 137
        assert crash["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert crash["image"] == "vllm/vllm-openai:v0.10.0"  # KWOK's fields survive
        await eventually(lambda: supervisor.pid != first_pid and models_at(port) == ["demo"])
        await eventually(lambda: api.container_states()[-1]["ready"])

        second_pid = supervisor.pid
        assert second_pid is not None
        await launcher.reconcile({})  # the pod is gone
        assert launcher.supervisors == {}
        await eventually(lambda: not alive(second_pid))
        assert models_at(port) == []
    finally:
        await launcher.stop_all()


async def test_reconfigured_pod_replaces_its_simulator() -> None:
    api = FakeApi()
    launcher = Launcher(api)
    port = free_port(POD_IP)
    try:
        await launcher.reconcile({"uid-1": vllm_pod(port)})
        await eventually(lambda: models_at(port) == ["demo"])
        changed = vllm_pod(port)
        container = changed.containers[0]
        renamed = ContainerInfo(
            name=container.name,
            image=container.image,
            args=("--served-model-name", "other"),
            ports=container.ports,
        )
        changed = PodInfo(**{**changed.__dict__, "containers": (renamed,)})
        await launcher.reconcile({"uid-1": changed})
        await eventually(lambda: models_at(port) == ["other"])
    finally:
        await launcher.stop_all()


PARENT = """
import subprocess, sys, time
from modelops.sim.launcher import die_with_parent_hook
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=die_with_parent_hook()
)
print(child.pid, flush=True)
time.sleep(60)
"""


async def test_children_die_when_the_launcher_is_killed() -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PARENT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SOURCE_ROOT)},
    )
    assert parent.stdout is not None
    child_pid = int(await asyncio.wait_for(parent.stdout.readline(), 15))
    assert alive(child_pid)
    parent.kill()  # SIGKILL: the launcher gets no chance to clean up
    await parent.wait()
    await eventually(lambda: not alive(child_pid))


async def test_the_status_sync_marks_a_pod_ready_again() -> None:
    """The node lifecycle controller marked the pod NotReady (its node's Lease lapsed while
    the API server was away): the launcher, like the kubelet, writes what it observes."""
    api = FakeApi()
    launcher = Launcher(api)
    port = free_port(POD_IP)
    pod = vllm_pod(port)
    try:
        await launcher.reconcile({pod.uid: pod})
        await eventually(lambda: any(s["ready"] for s in api.container_states()))
        written = len(api.patches)
        await launcher.reconcile({pod.uid: pod})  # the API agrees: nothing to write
        marked = PodInfo(**{**pod.__dict__, "ready": False})
        await launcher.reconcile({pod.uid: marked})
        await eventually(lambda: len(api.patches) > written)
        conditions = api.patches[-1]["status"]["conditions"]
        assert {c["type"]: c["status"] for c in conditions}["Ready"] == "True"
        assert api.container_states()[-1]["ready"] is True
    finally:
        await launcher.stop_all()


async def test_a_node_that_goes_down_stops_its_simulators_and_back_starts_them() -> None:
    api = FakeApi()
    launcher = Launcher(api)
    port = free_port(POD_IP)
    pod = vllm_pod(port)
    try:
        await launcher.reconcile({pod.uid: pod})
        await eventually(lambda: models_at(port) == ["demo"])
        pid = launcher.supervisors[(pod.uid, "vllm")].pid
        assert pid is not None
        api.node_labels = {**api.node_labels, "modelops.io/node-down": "true"}

        async def stopped() -> bool:
            await launcher.reconcile({pod.uid: pod})
            return not launcher.supervisors

        await eventually_async(stopped)
        await eventually(lambda: not alive(pid))
        assert models_at(port) == []
        api.node_labels = {"modelops.io/simulated": "true"}

        async def started() -> bool:
            await launcher.reconcile({pod.uid: pod})
            return bool(launcher.supervisors)

        await eventually_async(started)
        await eventually(lambda: models_at(port) == ["demo"])
    finally:
        await launcher.stop_all()


async def eventually_async(check: Callable[[], Any], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)
