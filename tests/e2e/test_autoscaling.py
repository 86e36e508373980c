"""Autoscaling on the local cluster: operator + router + simulated runtimes, bounded load through
the router with the official openai client (issue 10's must-show list).

- An Ollama model scales on the router's in-flight count: up to the count the load needs, no
  change while the load stays, back down after the stabilization delay once it stops.
- A vLLM model of 4 GPUs per replica asks for more than the two 8-GPU nodes hold: it reports
  ScalingLimited=True with the scheduler's message and its desired count stops growing.
- `spec` is never written (metadata.generation stays) throughout.

The windows are shortened in the specs so that the test is minutes long; reaction times are the
benchmark's business, here the counts are waited for (bounded) and changes are counted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest
import yaml

from tests.conftest import ClusterHandle, OperatorProcess, RouterProcess, wait_until

pytestmark = pytest.mark.cluster

ASK = [{"role": "user", "content": "Tell me something"}]
# Each request generates 20 tokens at 10/s: about 2 s in flight.
SLOW = [{"name": "MODELOPS_SIM_TOKENS_PER_SECOND", "value": "10"}]


def apply(cluster: ClusterHandle, namespace: str, name: str, spec: dict[str, Any]) -> None:
    document = {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }
    cluster.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(document)
    )


def stored(cluster: ClusterHandle, namespace: str, name: str) -> dict[str, Any]:
    result = cluster.kubectl("get", "-n", namespace, f"md/{name}", "-o", "json")
    return dict(json.loads(result.stdout))


def condition(md: dict[str, Any], type_: str) -> dict[str, Any]:
    for item in md.get("status", {}).get("conditions", []):
        if item["type"] == type_:
            return dict(item)
    return {}


@contextmanager
def concurrent_load(router: RouterProcess, model: str, workers: int) -> Iterator[list[str]]:
    """`workers` clients, each sending one request after the other (so about `workers` in
    flight), for at most 5 minutes; yields the list of errors the clients saw."""
    stop = threading.Event()
    errors: list[str] = []
    deadline = time.monotonic() + 300
    client = openai.OpenAI(base_url=f"{router.url}/v1", api_key="unused", max_retries=0, timeout=60)

    def work() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                client.chat.completions.create(model=model, messages=ASK, max_tokens=20)
            except Exception as error:  # every failure the client sees is a finding
                errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    try:
        yield errors
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
        client.close()


class Watcher:
    """Records every distinct status.desiredReplicas seen, polling once a second (bounded)."""

    def __init__(self, cluster: ClusterHandle, namespace: str, name: str) -> None:
        self.seen: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(cluster, namespace, name), daemon=True
        )

    def _run(self, cluster: ClusterHandle, namespace: str, name: str) -> None:
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            desired = stored(cluster, namespace, name).get("status", {}).get("desiredReplicas")
            if desired is not None and (not self.seen or self.seen[-1] != desired):
                self.seen.append(desired)
            self._stop.wait(1.0)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def desired(cluster: ClusterHandle, namespace: str, name: str) -> int:
    return int(stored(cluster, namespace, name)["status"]["desiredReplicas"])


def test_an_ollama_model_scales_on_the_routers_in_flight_count(
    cluster: ClusterHandle, operator: OperatorProcess, router: RouterProcess, namespace: str
) -> None:
    name = "busy-phi"
    apply(
        cluster,
        namespace,
        name,
        {
            "engine": "ollama",
            "model": "phi3:mini",
            "resources": {"gpus": 0, "cpu": "1"},
            "env": SLOW,
            "autoscaling": {
                "enabled": True,
                "minReplicas": 1,
                "maxReplicas": 4,
                "targetInFlight": 4,
                "scaleDown": {"windowSeconds": 10, "stabilizationWindowSeconds": 30, "maxStep": 4},
            },
        },
    )
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", f"md/{name}", "--timeout=120s"
    )
    wait_until(
        lambda: router.status()["models"].get(name, {}).get("available"),
        timeout=60,
        what="router serving the model",
    )
    generation = stored(cluster, namespace, name)["metadata"]["generation"]
    assert desired(cluster, namespace, name) == 1

    with Watcher(cluster, namespace, name) as watcher:
        with concurrent_load(router, name, workers=12) as errors:
            # 12 in flight / 4 per replica: 3 replicas.
            wait_until(
                lambda: desired(cluster, namespace, name) == 3,
                timeout=90,
                what="3 replicas asked for",
            )
            reached = list(watcher.seen)
            wait_until(
                lambda: stored(cluster, namespace, name)["status"].get("readyReplicas") == 3,
                timeout=120,
                what="3 replicas ready",
            )
            # A steady load for 60 s: the count does not move.
            steady_until = time.monotonic() + 60
            while time.monotonic() < steady_until:
                assert desired(cluster, namespace, name) == 3
                time.sleep(1)
        assert errors == []
        # The load stopped: back to 1 after the (shortened) stabilization delay.
        wait_until(
            lambda: desired(cluster, namespace, name) == 1,
            timeout=120,
            what="back to 1 replica",
        )
        wait_until(lambda: watcher.seen[-1] == 1, timeout=10, what="the watcher's poll of it")
    # Up to 3 (never beyond), held there while the load lasted, then only down to 1.
    assert watcher.seen[: len(reached)] == reached
    assert max(watcher.seen) == 3
    after = watcher.seen[len(reached) :]
    assert after == sorted(after, reverse=True), watcher.seen
    assert after[-1] == 1
    md = stored(cluster, namespace, name)
    assert md["metadata"]["generation"] == generation  # spec never written
    assert md["status"]["autoscaler"]["lastScaleTime"]
    # Idle at minReplicas: the load asks for fewer, so the floor holds the count (as HPA's
    # ScalingLimited=True TooFewReplicas); nothing else limited it.
    limited = condition(md, "ScalingLimited")
    assert (limited["status"], limited["reason"]) in (
        ("False", "DesiredWithinRange"),
        ("True", "TooFewReplicas"),
    )


def test_a_vllm_model_short_of_gpus_reports_scaling_limited_and_stops_growing(
    cluster: ClusterHandle, operator: OperatorProcess, router: RouterProcess, namespace: str
) -> None:
    name = "big-model"
    apply(
        cluster,
        namespace,
        name,
        {
            "engine": "vllm",
            "model": "org/big-model",
            "resources": {"gpus": 4, "gpuProduct": "NVIDIA-A100-SXM4-80GB"},
            "env": SLOW,
            "autoscaling": {
                "enabled": True,
                "minReplicas": 1,
                "maxReplicas": 8,
                "targetInFlight": 2,
            },
        },
    )
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", f"md/{name}", "--timeout=120s"
    )
    wait_until(
        lambda: router.status()["models"].get(name, {}).get("available"),
        timeout=120,
        what="router serving the model",
    )
    generation = stored(cluster, namespace, name)["metadata"]["generation"]

    with concurrent_load(router, name, workers=12) as errors:
        # 12 in flight / 2 per replica: 6 replicas of 4 GPUs, but one 8-GPU node holds 2.
        limited = wait_until(
            lambda: (
                (md := stored(cluster, namespace, name))
                and condition(md, "ScalingLimited").get("reason") == "InsufficientCapacity"
                and md
            ),
            timeout=120,
            what="ScalingLimited=True for lack of GPUs",
        )
        message = condition(limited, "ScalingLimited")["message"]
        assert "Insufficient nvidia.com/gpu" in message
        assert condition(limited, "ScalingLimited")["status"] == "True"
        ceiling = limited["status"]["desiredReplicas"]

        # While short of GPUs the count does not grow, though the load asks for more.
        def asks_for_more() -> bool:
            md = stored(cluster, namespace, name)
            assert md["status"]["desiredReplicas"] <= ceiling
            return bool(md["status"]["autoscaler"]["recommendation"] > ceiling)

        wait_until(asks_for_more, timeout=60, what="a recommendation above the limited count")
        until = time.monotonic() + 20  # and for 20 s more (bounded)
        while time.monotonic() < until:
            assert desired(cluster, namespace, name) <= ceiling
            time.sleep(1)
    assert errors == []
    assert stored(cluster, namespace, name)["metadata"]["generation"] == generation
