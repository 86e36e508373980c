"""Rollouts on the local cluster, simulator as runtime, under steady bounded load through the
router with the official openai client (streaming and non-streaming), counting every client
failure (issue 9's must-show list)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import nodes, toolchain
from tests.conftest import REPO, ClusterHandle, OperatorProcess, RouterProcess, wait_until
from tests.e2e.rollout_load import Load, WeightWatcher, track_counts
from tests.integration.test_operator import apply_yaml, condition, get
from tests.unit.test_gitops_examples import argo_health

FAST_STEPS = {
    "steps": [{"weight": 10, "pause": "2s"}, {"weight": 50, "pause": "2s"}, {"weight": 100}],
    "analysis": {"minRequests": 10},
    "drainSeconds": 5,
}
ARGO_CHECK = yaml.safe_load(
    (REPO / "examples" / "gitops" / "argocd" / "argocd-cm-health-patch.yaml").read_text()
)["data"]["resource.customizations.health.modelops.io_ModelDeployment"]


def model(name: str, *, image: str = "ollama/ollama:0.6.8", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "engine": "ollama",
        "model": "phi3:mini",
        "image": image,
        "resources": {"gpus": 0, "cpu": "1"},
        "rollout": FAST_STEPS,
    }
    base.update(spec)
    return {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": base,
    }


@pytest.fixture
def stack(operator: OperatorProcess, router: RouterProcess) -> RouterProcess:
    """The session operator (scraping the session router) and the router."""
    if operator.process is None or operator.process.poll() is not None:
        operator.start()
    return router


def md(cluster: ClusterHandle, namespace: str, name: str) -> dict[str, Any]:
    return get(cluster, "md", "-n", namespace, name)  # type: ignore[no-any-return]


def events(cluster: ClusterHandle, namespace: str, name: str) -> list[dict[str, Any]]:
    items = get(
        cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def deploy_and_wait(
    cluster: ClusterHandle, router: RouterProcess, namespace: str, doc: dict[str, Any]
) -> None:
    apply_yaml(cluster, namespace, doc)
    name = doc["metadata"]["name"]
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", f"md/{name}", "--timeout=120s",
        timeout=130,
    )  # fmt: skip
    wait_until(
        lambda: router.status()["models"].get(name, {}).get("available"),
        what=f"router serving {name}",
    )


def patch_spec(cluster: ClusterHandle, namespace: str, name: str, spec: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch", "md", name, "-n", namespace, "--type", "merge", "-p", json.dumps({"spec": spec})
    )


def kstatus(obj: dict[str, Any]) -> str:
    """The health Flux computes, from cli-utils' kstatus built like the cluster."""
    binary = toolchain.binary_path("kstatus")
    result = subprocess.run(
        [str(binary)], input=json.dumps(obj), capture_output=True, text=True, check=True
    )
    return str(json.loads(result.stdout)["status"])


def promoted(cluster: ClusterHandle, namespace: str, name: str, old: str) -> bool:
    status = md(cluster, namespace, name).get("status", {})
    return (status.get("stable") or {}).get("revision") != old and "canary" not in status


def stable_revision(cluster: ClusterHandle, namespace: str, name: str) -> str:
    return str(md(cluster, namespace, name)["status"]["stable"]["revision"])


def failed_rollout(cluster: ClusterHandle, namespace: str, name: str) -> dict[str, Any] | None:
    return md(cluster, namespace, name).get("status", {}).get("failedRollout")  # type: ignore[no-any-return]


def in_phase(cluster: ClusterHandle, namespace: str, name: str, phase: str) -> bool:
    canary = md(cluster, namespace, name).get("status", {}).get("canary") or {}
    return canary.get("phase") == phase


# -- a good version, a bad one, a slow one, one that fails its smoke test -----------------


def test_a_good_version_is_promoted_through_every_step(
    cluster: ClusterHandle, stack: RouterProcess, namespace: str
) -> None:
    deploy_and_wait(cluster, stack, namespace, model("good"))
    old = stable_revision(cluster, namespace, "good")
    old_slot = md(cluster, namespace, "good")["status"]["stable"]["slot"]
    health: list[tuple[str, str]] = []
    with Load(stack.url, "good", rate=10) as load, WeightWatcher(stack.url, "good") as watcher:
        time.sleep(2)
        patch_spec(cluster, namespace, "good", {"image": "ollama/ollama:0.6.9"})

        def rolled() -> bool:
            obj = md(cluster, namespace, "good")
            health.append((kstatus(obj), argo_health(ARGO_CHECK, obj)["status"]))
            return promoted(cluster, namespace, "good", old)

        wait_until(rolled, timeout=150, what="promotion of the good version")
        time.sleep(1)
    final = md(cluster, namespace, "good")
    print(f"\ngood rollout: {load.sent()} requests, shares {watcher.shares()}")
    assert load.failures() == []
    shares = watcher.shares()
    assert [w for w, _, _ in shares] == [10, 50, 100]
    for weight, share, requests in shares:
        assert abs(share - weight) <= 5, f"{weight}%: {share:.1f}% of {requests} requests"
    assert final["status"]["stable"]["slot"] != old_slot
    assert get(cluster, "deployment", "-n", namespace, f"good-{old_slot}")["spec"]["replicas"] == 0
    reasons = Counter(e["reason"] for e in events(cluster, namespace, "good"))
    assert reasons["RolloutStarted"] == 1
    assert reasons["RolloutStep"] == 3
    assert reasons["RolloutPromoted"] == 1
    # Health as GitOps tools compute it: InProgress during the rollout, Current after.
    assert ("InProgress", "Progressing") in health
    assert (kstatus(final), argo_health(ARGO_CHECK, final)["status"]) == ("Current", "Healthy")


def test_a_bad_version_is_rolled_back_at_the_first_step(
    cluster: ClusterHandle, stack: RouterProcess, namespace: str
) -> None:
    deploy_and_wait(cluster, stack, namespace, model("bad"))
    old = stable_revision(cluster, namespace, "bad")
    with Load(stack.url, "bad", rate=10) as load:
        time.sleep(2)
        patch_spec(cluster, namespace, "bad", {"env": [
            {"name": "MODELOPS_SIM_ERROR_RATE", "value": "0.3"}
        ]})  # fmt: skip
        failed = wait_until(
            lambda: failed_rollout(cluster, namespace, "bad"), timeout=120, what="a rollback"
        )
        time.sleep(2)
    obj = md(cluster, namespace, "bad")
    print(f"\nbad rollout: {load.sent()} requests, {len(load.failures())} failed; {failed}")
    assert failed["reason"] == "RolledBack"
    assert "error rate" in failed["message"]
    assert obj["status"]["stable"]["revision"] == old  # stable kept serving
    assert condition(obj, "Ready")["status"] == "True"
    degraded = condition(obj, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "RolledBack")
    assert "error rate" in degraded["message"]
    warnings = [e for e in events(cluster, namespace, "bad") if e["type"] == "Warning"]
    assert any(e["reason"] == "RolledBack" and "at step 1" in e["message"] for e in warnings)
    assert load.failures(stream=False) == []  # retried on stable
    assert load.failures() == []
    assert (kstatus(obj), argo_health(ARGO_CHECK, obj)["status"]) == ("Failed", "Degraded")
    # Not retried: the canary slot stays at 0 while the spec names the failed revision.
    time.sleep(3)
    assert md(cluster, namespace, "bad")["status"].get("canary") is None


def test_a_slow_version_is_rolled_back_on_latency(
    cluster: ClusterHandle, stack: RouterProcess, namespace: str
) -> None:
    fast = [{"name": "MODELOPS_SIM_TTFT_MS", "value": "100"}]
    deploy_and_wait(cluster, stack, namespace, model("slow", env=fast))
    with Load(stack.url, "slow", rate=10) as load:
        time.sleep(2)
        patch_spec(
            cluster, namespace, "slow", {"env": [{"name": "MODELOPS_SIM_TTFT_MS", "value": "300"}]}
        )
        failed = wait_until(
            lambda: failed_rollout(cluster, namespace, "slow"), timeout=120, what="a rollback"
        )
    print(f"\nslow rollout: {load.sent()} requests, {len(load.failures())} failed; {failed}")
    assert failed["reason"] == "RolledBack"
    assert "latency" in failed["message"]
    assert load.failures() == []


def test_a_version_failing_its_smoke_test_never_gets_user_traffic(
    cluster: ClusterHandle, stack: RouterProcess, namespace: str
) -> None:
    deploy_and_wait(cluster, stack, namespace, model("smoky"))
    rollout = {**FAST_STEPS, "smokeTest": {"expect": "PURPLE-ELEPHANT"}}
    with Load(stack.url, "smoky", rate=10) as load:
        time.sleep(1)
        patch_spec(
            cluster, namespace, "smoky", {"image": "ollama/ollama:0.7.0", "rollout": rollout}
        )
        failed = wait_until(
            lambda: failed_rollout(cluster, namespace, "smoky"), timeout=120, what="a rollback"
        )
        time.sleep(2)
    print(f"\nsmoke test: {failed}")
    assert failed["reason"] == "SmokeTestFailed"
    assert "PURPLE-ELEPHANT" in failed["message"]
    assert track_counts(stack.url, "smoky")["canary"] == 0
    assert load.failures() == []


# -- GPUs are short --------------------------------------------------------------------------


@pytest.fixture
def gpu_product(local_cluster: localcluster.Cluster, namespace: str) -> Iterator[str]:
    """A node of its own: 8 GPUs of a product nothing else asks for."""
    product = f"ROLLOUT-GPU-{namespace[-5:].upper()}"
    added = localcluster.add_nodes(
        local_cluster, [nodes.NodeShape(f"gpu-{namespace[-5:]}", gpus=8, gpu_product=product)]
    )
    try:
        yield product
    finally:
        local_cluster.kubectl("delete", "nodes", *added, "--wait=false", check=False)


def vllm_model(name: str, product: str, gpus: int, replicas: int) -> dict[str, Any]:
    doc = model(name, image="vllm/vllm-openai:v0.10.1")
    doc["spec"].update(
        engine="vllm",
        model="org/full-node",
        replicas=replicas,
        resources={"gpus": gpus, "gpuProduct": product},
    )
    return doc


def test_one_stable_replica_and_no_free_gpu_keeps_serving_and_says_why(
    cluster: ClusterHandle, stack: RouterProcess, namespace: str, gpu_product: str
) -> None:
    deploy_and_wait(cluster, stack, namespace, vllm_model("full", gpu_product, 8, 1))
    with Load(stack.url, "full", rate=5) as load:
        patch_spec(cluster, namespace, "full", {"image": "vllm/vllm-openai:v0.10.2"})

        def waiting() -> dict[str, Any] | None:
            progressing = condition(md(cluster, namespace, "full"), "Progressing")
            return progressing if progressing.get("reason") == "InsufficientGPU" else None

        progressing = wait_until(waiting, timeout=60, what="Progressing=InsufficientGPU")
        time.sleep(5)  # the stable keeps serving while the canary waits
    print(f"\nno free GPU, 1 replica: {load.sent()} requests; {progressing['message']}")
    assert "Insufficient nvidia.com/gpu" in progressing["message"]
    assert condition(md(cluster, namespace, "full"), "Ready")["status"] == "True"
    assert load.failures() == []
    cluster.kubectl("delete", "md", "full", "-n", namespace, "--wait=true", "--timeout=60s")


def test_two_stable_replicas_and_no_free_gpu_roll_out_by_reusing_capacity(
    cluster: ClusterHandle, stack: RouterProcess, namespace: str, gpu_product: str
) -> None:
    deploy_and_wait(cluster, stack, namespace, vllm_model("tight", gpu_product, 4, 2))
    old = stable_revision(cluster, namespace, "tight")
    with Load(stack.url, "tight", rate=10) as load:
        patch_spec(cluster, namespace, "tight", {"image": "vllm/vllm-openai:v0.10.2"})
        wait_until(
            lambda: promoted(cluster, namespace, "tight", old), timeout=180, what="promotion"
        )
        cluster.kubectl(
            "wait", "-n", namespace, "--for=condition=Ready", "md/tight", "--timeout=60s",
            timeout=70,
        )  # fmt: skip
    reasons = [e["reason"] for e in events(cluster, namespace, "tight")]
    print(f"\nno free GPU, 2 replicas: {load.sent()} requests, failures {load.failures()}")
    assert "ReusingStableCapacity" in reasons
    assert "RolloutPromoted" in reasons
    assert load.failures(stream=False) == []
    cluster.kubectl("delete", "md", "tight", "-n", namespace, "--wait=true", "--timeout=60s")


# -- manual control ---------------------------------------------------------------------------

HELD = {"steps": [{"weight": 10, "pause": "10m"}, {"weight": 100}], "analysis": {"minRequests": 0}}


def modelops(*args: str, kubeconfig: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelops", "rollout", *args, "--kubeconfig", kubeconfig],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_promote_abort_pause_resume_by_command_and_annotation_and_a_revert_aborts(
    cluster: ClusterHandle, stack: RouterProcess, namespace: str
) -> None:
    kubeconfig = str(cluster.kubeconfig)
    deploy_and_wait(cluster, stack, namespace, model("steered", rollout=HELD))
    for step, image in enumerate(("ollama/ollama:0.6.9", "ollama/ollama:0.7.0")):
        old = stable_revision(cluster, namespace, "steered")
        patch_spec(cluster, namespace, "steered", {"image": image})
        wait_until(lambda: in_phase(cluster, namespace, "steered", "Progressing"), timeout=60,
                   what="the first step")  # fmt: skip
        modelops("pause", "steered", "-n", namespace, kubeconfig=kubeconfig)
        wait_until(lambda: in_phase(cluster, namespace, "steered", "Paused"), what="paused")
        modelops("resume", "steered", "-n", namespace, kubeconfig=kubeconfig)
        wait_until(lambda: in_phase(cluster, namespace, "steered", "Progressing"), what="resumed")
        status = modelops("status", "steered", "-n", namespace, kubeconfig=kubeconfig).stdout
        assert "canary:" in status
        if step == 0:  # promote by command
            modelops("promote", "steered", "-n", namespace, kubeconfig=kubeconfig)
        else:  # promote by annotation, as plain kubectl would
            revision = md(cluster, namespace, "steered")["status"]["canary"]["revision"]
            cluster.kubectl("annotate", "md", "steered", "-n", namespace,
                            f"modelops.io/rollout-promote={revision}", "--overwrite")  # fmt: skip
        wait_until(lambda old=old: promoted(cluster, namespace, "steered", old), timeout=60,
                   what="promotion")  # fmt: skip

    # Abort by command: rolled back, remembered, not retried.
    patch_spec(cluster, namespace, "steered", {"image": "ollama/ollama:0.7.1"})
    wait_until(lambda: in_phase(cluster, namespace, "steered", "Progressing"), timeout=60,
               what="a rollout to abort")  # fmt: skip
    modelops("abort", "steered", "-n", namespace, kubeconfig=kubeconfig)
    failed = wait_until(lambda: failed_rollout(cluster, namespace, "steered"), what="abort")
    assert failed["reason"] == "Aborted"
    # Abort by annotation.
    patch_spec(cluster, namespace, "steered", {"image": "ollama/ollama:0.7.2"})
    wait_until(lambda: in_phase(cluster, namespace, "steered", "Progressing"), timeout=60,
               what="a rollout to abort")  # fmt: skip
    revision = md(cluster, namespace, "steered")["status"]["canary"]["revision"]
    cluster.kubectl("annotate", "md", "steered", "-n", namespace,
                    f"modelops.io/rollout-abort={revision}", "--overwrite")  # fmt: skip
    wait_until(lambda: (failed_rollout(cluster, namespace, "steered") or {}).get("revision")
               == revision, what="abort by annotation")  # fmt: skip
    # A revert mid-rollout aborts at once, with nothing recorded as failed.
    stable = stable_revision(cluster, namespace, "steered")
    patch_spec(cluster, namespace, "steered", {"image": "ollama/ollama:0.7.3"})
    wait_until(lambda: in_phase(cluster, namespace, "steered", "Progressing"), timeout=60,
               what="a rollout to revert")  # fmt: skip
    patch_spec(cluster, namespace, "steered", {"image": "ollama/ollama:0.7.0"})
    wait_until(lambda: "canary" not in md(cluster, namespace, "steered")["status"],
               what="the revert to abort the rollout")  # fmt: skip
    status = md(cluster, namespace, "steered")["status"]
    assert status["stable"]["revision"] == stable
    assert "failedRollout" not in status
    assert "RolloutAborted" in [e["reason"] for e in events(cluster, namespace, "steered")]


# -- the operator killed mid-rollout -------------------------------------------------------


def test_a_rollout_survives_the_operator_being_killed_five_times(
    cluster: ClusterHandle, stack: RouterProcess, operator: OperatorProcess, namespace: str
) -> None:
    rollout = {
        "steps": [{"weight": 10, "pause": "4s"}, {"weight": 50, "pause": "4s"}, {"weight": 100}],
        "analysis": {"minRequests": 10},
    }
    deploy_and_wait(cluster, stack, namespace, model("sturdy", rollout=rollout))
    old = stable_revision(cluster, namespace, "sturdy")
    chance = random.Random(int.from_bytes(os.urandom(4), "big"))
    with Load(stack.url, "sturdy", rate=10, max_seconds=300) as load:
        patch_spec(cluster, namespace, "sturdy", {"image": "ollama/ollama:0.6.9"})
        for _ in range(5):
            time.sleep(chance.uniform(1.0, 5.0))
            assert operator.process is not None
            os.kill(operator.process.pid, signal.SIGKILL)
            operator.process.wait()
            operator.start()
        wait_until(
            lambda: promoted(cluster, namespace, "sturdy", old), timeout=180, what="promotion"
        )
    timeline = [(e["reason"], e["message"]) for e in events(cluster, namespace, "sturdy")]
    print("\nrollout through 5 operator kills:", *timeline, sep="\n  ")
    steps = [message.split(":")[0] for reason, message in timeline if reason == "RolloutStep"]
    assert sorted(steps) == ["step 1/3", "step 2/3", "step 3/3"]  # none repeated or skipped
    counts = Counter(reason for reason, _ in timeline)
    assert counts["RolloutStarted"] == 1
    assert counts["RolloutPromoted"] == 1
    assert load.failures(stream=False) == []
