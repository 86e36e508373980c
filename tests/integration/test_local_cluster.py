"""The local control plane behaves like a real cluster with GPU nodes."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import nodes, processes
from tests.conftest import ClusterHandle, wait_until

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def get_json(cluster: ClusterHandle, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def gpu_pod(name: str, gpus: int, node_selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "gpu-test"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ],
            "tolerations": [GPU_TOLERATION],
            "nodeSelector": node_selector or {},
        },
    }


def apply(cluster: ClusterHandle, namespace: str, *manifests: dict[str, Any]) -> None:
    document = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))


def test_default_nodes_are_ready_with_gpu_capacity_and_labels(cluster: ClusterHandle) -> None:
    items = get_json(cluster, "nodes", "-l", f"{nodes.SIMULATED_LABEL}=true")["items"]
    by_name = {n["metadata"]["name"]: n for n in items}
    for shape in nodes.DEFAULT_SHAPES:
        node = by_name[f"{shape.name}-0"]
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True"
        assert node["spec"]["podCIDR"].startswith("127.")
        if shape.gpus:
            assert node["status"]["capacity"]["nvidia.com/gpu"] == "8"
            assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"
            labels = node["metadata"]["labels"]
            assert labels["nvidia.com/gpu.product"] == shape.gpu_product
            assert labels["nvidia.com/gpu.count"] == "8"
            assert labels["nvidia.com/gpu.memory"] == str(shape.gpu_memory_mib)
            assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in [
                {k: t.get(k) for k in ("key", "value", "effect")} for t in node["spec"]["taints"]
            ]
        else:
            assert "nvidia.com/gpu" not in node["status"]["capacity"]


def test_gpu_deployment_is_scheduled_on_a_gpu_node_and_becomes_available(
    cluster: ClusterHandle, namespace: str
) -> None:
    template = gpu_pod("unused", 2)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "two-gpus"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "gpu-test"}},
            "template": {"metadata": {"labels": {"app": "gpu-test"}}, "spec": template["spec"]},
        },
    }
    apply(cluster, namespace, deployment)
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Available", "deployment/two-gpus", "--timeout=60s"
    )
    pod = get_json(cluster, "pods", "-n", namespace, "-l", "app=gpu-test")["items"][0]
    node = get_json(cluster, "node", pod["spec"]["nodeName"])
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "8"
    assert pod["status"]["podIP"].startswith("127.")
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"


def pod_scheduled_condition(
    cluster: ClusterHandle, namespace: str, name: str
) -> dict[str, Any] | None:
    pod = get_json(cluster, "pod", "-n", namespace, name)
    for condition in pod["status"].get("conditions", []):
        if condition["type"] == "PodScheduled":
            return condition  # type: ignore[no-any-return]
    return None


def test_pod_asking_more_gpus_than_any_node_stays_pending(
    cluster: ClusterHandle, namespace: str
) -> None:
    apply(cluster, namespace, gpu_pod("too-big", 16))
    condition = wait_until(
        lambda: (
            (c := pod_scheduled_condition(cluster, namespace, "too-big"))
            and c["status"] == "False"
            and c
        ),
        what="PodScheduled=False",
    )
    assert condition["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in condition["message"]
    assert get_json(cluster, "pod", "-n", namespace, "too-big")["status"]["phase"] == "Pending"


def test_sixteen_single_gpu_pods_fill_two_nodes_and_the_seventeenth_waits(
    cluster: ClusterHandle, local_cluster: localcluster.Cluster, namespace: str
) -> None:
    # Two fresh 8-GPU nodes of a product nothing else asks for, so other tests' pods
    # cannot take their GPUs.
    product = f"TEST-{namespace}"
    shape = nodes.NodeShape(f"bp-{namespace[-5:]}", count=2, gpus=8, gpu_product=product)
    added = localcluster.add_nodes(local_cluster, [shape])
    try:
        for name in added:
            cluster.kubectl("wait", "--for=condition=Ready", f"node/{name}", "--timeout=60s")
        selector = {"nvidia.com/gpu.product": product}
        apply(cluster, namespace, *(gpu_pod(f"one-gpu-{i}", 1, selector) for i in range(16)))
        wait_until(
            lambda: (
                sum(
                    p["status"].get("phase") == "Running"
                    for p in get_json(cluster, "pods", "-n", namespace)["items"]
                )
                == 16
            ),
            what="16 running pods",
        )
        apply(cluster, namespace, gpu_pod("one-gpu-16", 1, selector))
        condition = wait_until(
            lambda: (
                (c := pod_scheduled_condition(cluster, namespace, "one-gpu-16"))
                and c["status"] == "False"
                and c
            ),
            what="17th pod unschedulable",
        )
        assert "Insufficient nvidia.com/gpu" in condition["message"]
        placed = [
            p["spec"]["nodeName"]
            for p in get_json(cluster, "pods", "-n", namespace)["items"]
            if p["metadata"]["name"] != "one-gpu-16"
        ]
        assert sorted(placed) == sorted(added * 8)
    finally:
        cluster.kubectl("delete", "pods", "--all", "-n", namespace, "--wait=false")
        cluster.kubectl("delete", "nodes", *added, "--wait=false")


def test_built_kubectl_works_with_the_written_kubeconfig(
    cluster: ClusterHandle, local_cluster: localcluster.Cluster
) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"].startswith("v1.34.")
    assert version["serverVersion"]["gitVersion"] == version["clientVersion"]["gitVersion"]
    config = yaml.safe_load(local_cluster.kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    assert cluster.kubectl("auth", "can-i", "create", "deployments").stdout.strip() == "yes"


def our_processes(marker: str) -> list[int]:
    """Pids whose command line mentions `marker` (a cluster's state dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline:
                pids.append(int(entry.name))
    return pids


def test_cluster_up_is_idempotent_and_down_leaves_no_process(cluster: ClusterHandle) -> None:
    extra = localcluster.Cluster(f"pytest-down-{uuid.uuid4().hex[:6]}")
    modelops = [sys.executable, "-m", "modelops", "cluster"]
    try:
        localcluster.up(extra, [nodes.NodeShape("solo", gpus=1, gpu_product="TEST")])
        records = extra.records()
        assert {r.name for r in records} >= {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        }
        assert all(processes.is_running(r) for r in records)
        again = subprocess.run(
            [*modelops, "up", "--name", extra.name], capture_output=True, text=True, check=True
        )
        assert "already running" in again.stdout
        assert [r.pid for r in extra.records()] == [r.pid for r in records]
        status = json.loads(
            subprocess.run(
                [*modelops, "status", "--name", extra.name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert status["state"] == "running"
    finally:
        result = subprocess.run(
            [*modelops, "down", "--name", extra.name], capture_output=True, text=True
        )
    assert result.returncode == 0, result.stderr
    assert not any(processes.is_running(r) for r in records)
    assert our_processes(str(extra.root)) == []
    assert not extra.root.exists()


def test_a_crashed_component_is_reported_and_started_again_without_down(
    cluster: ClusterHandle,
) -> None:
    extra = localcluster.Cluster(f"pytest-crash-{uuid.uuid4().hex[:6]}")
    modelops = [sys.executable, "-m", "modelops", "cluster"]
    try:
        localcluster.up(extra, [nodes.NodeShape("solo")])
        scheduler = next(r for r in extra.records() if r.name == "kube-scheduler")
        os.kill(scheduler.pid, signal.SIGKILL)
        wait_until(lambda: not processes.is_running(scheduler), what="scheduler gone")
        status = subprocess.run(
            [*modelops, "status", "--name", extra.name], capture_output=True, text=True
        )
        assert status.returncode == 1
        report = json.loads(status.stdout)
        assert report["state"] == "degraded"
        states = {c["name"]: c["state"] for c in report["components"]}
        assert states["kube-scheduler"] == "crashed"
        again = subprocess.run(
            [*modelops, "start", "scheduler", "--name", extra.name],
            capture_output=True,
            text=True,
        )
        assert again.returncode == 0, again.stderr
        assert "scheduler: started" in again.stdout
        report = localcluster.status(extra)
        assert report["state"] == "running"
        assert [c["name"] for c in report["components"]].count("kube-scheduler") == 1
    finally:
        localcluster.down(extra)
    assert our_processes(str(extra.root)) == []


def ready_condition(item: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in item["status"].get("conditions", []) if c["type"] == "Ready")


DEMO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.10.0
        args: ["--served-model-name", "demo"]
        ports: [{containerPort: 8000}]
        readinessProbe:
          httpGet: {path: /health, port: 8000}
          periodSeconds: 1
"""


def test_faults_of_components_and_nodes_keep_state_and_pods_come_back_ready(
    cluster: ClusterHandle,
) -> None:
    """Issue 12: stop/start/restart of every component keeps the cluster's state; after an
    API server outage long enough for the node lifecycle controller to mark pods NotReady,
    the launcher (the kubelet) marks them Ready again; a node taken down lapses and returns."""
    extra = localcluster.Cluster(f"pytest-faults-{uuid.uuid4().hex[:6]}")
    modelops = [sys.executable, "-m", "modelops", "cluster"]

    def run(*args: str) -> str:
        result = subprocess.run(
            [*modelops, *args, "--name", extra.name], capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    try:
        localcluster.up(extra, [nodes.NodeShape("gpu", gpus=1, gpu_product="TEST")])
        handle = ClusterHandle(extra.kubeconfig, cluster.bin_dir, extra)
        handle.kubectl("apply", "-f", "-", input=DEMO)
        handle.kubectl(
            "wait", "--for=condition=Available", "deployment/demo", "--timeout=120s", timeout=130
        )
        handle.kubectl("create", "configmap", "kept", "--from-literal=a=b")

        launcher_log = extra.logs / "sim-launcher.log"
        logged = len(launcher_log.read_text())
        for component in ("etcd", "controller-manager", "scheduler", "kwok", "launcher"):
            assert f"{component}: restarted" in run("restart", component)
        # The new launcher has written what it observes (before the API goes away).
        wait_until(
            lambda: "container vllm ready=True" in launcher_log.read_text()[logged:],
            timeout=60,
            what="the restarted launcher reporting the pod",
        )
        assert localcluster.status(extra)["state"] == "running"
        assert get_json(handle, "configmap", "kept")["data"] == {"a": "b"}  # etcd kept it

        pod = get_json(handle, "pods", "-l", "app=demo")["items"][0]
        node = get_json(handle, "node", "gpu-0")
        before = ready_condition(node)["lastTransitionTime"]
        assert "kube-apiserver: stopped" in run("stop", "kube-apiserver")
        assert {c["name"]: c["state"] for c in localcluster.status(extra)["components"]}[
            "kube-apiserver"
        ] == "stopped"
        assert localcluster.crashed(extra) == []
        # Longer than the node monitor grace period: the Lease lapses meanwhile.
        outage = localcluster.NODE_MONITOR_GRACE_SECONDS + 10
        stopped_at = time.monotonic()
        wait_until(
            lambda: time.monotonic() - stopped_at > outage, timeout=outage + 5, what="outage"
        )
        back_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "kube-apiserver: started" in run("start", "kube-apiserver")
        # The node lifecycle controller marks the node (and its pods) not ready, KWOK renews
        # the node, and the launcher re-asserts the pod: Ready again, the same pod.
        wait_until(
            lambda: (
                ready_condition(get_json(handle, "node", "gpu-0"))["lastTransitionTime"] != before
                and ready_condition(get_json(handle, "node", "gpu-0"))["status"] == "True"
            ),
            timeout=120,
            what="the node marked NotReady and back",
        )
        wait_until(
            lambda: (
                ready_condition(get_json(handle, "pod", pod["metadata"]["name"]))["status"]
                == "True"
            ),
            timeout=60,
            what="the pod Ready again",
        )
        # Only the launcher writes a Running pod's Ready: its status sync did, after the API
        # came back.
        marked = ready_condition(get_json(handle, "pod", pod["metadata"]["name"]))
        assert marked["lastTransitionTime"] >= back_at, marked
        assert "re-asserting status of default/" in launcher_log.read_text()

        # A node down: its Lease stops, it turns NotReady, its simulator stops; back when up.
        ip = get_json(handle, "pod", pod["metadata"]["name"])["status"]["podIP"]
        simulator = wait_until(lambda: our_processes(f"--host {ip} "), what="the simulator")
        assert "node gpu-0: down" in run("node", "down", "gpu-0")
        wait_until(
            lambda: ready_condition(get_json(handle, "node", "gpu-0"))["status"] != "True",
            # The controller-manager may still be coming back from the API outage above
            # (leader lease to expire, caches to sync) before its grace period even starts.
            timeout=localcluster.NODE_MONITOR_GRACE_SECONDS + 150,
            what="the node NotReady",
        )
        wait_until(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in simulator),
            what="the simulator stopped with its node",
        )
        assert "node gpu-0: up" in run("node", "up", "gpu-0")
        handle.kubectl("wait", "--for=condition=Ready", "node/gpu-0", "--timeout=60s")
        handle.kubectl(
            "wait", "--for=condition=Available", "deployment/demo", "--timeout=120s", timeout=130
        )
        assert localcluster.status(extra)["state"] == "running"
    finally:
        localcluster.down(extra)
    assert our_processes(str(extra.root)) == []
