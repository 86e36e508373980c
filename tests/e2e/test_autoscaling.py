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
import random
import threading
import time
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


class Load:
    """Closed-loop clients through the router: up to `workers`, of which the first `level`
    send one request after the other (so about `level` in flight), for at most `seconds`;
    `errors` lists every failure a client saw."""

    def __init__(self, router: RouterProcess, model: str, workers: int, seconds: float = 300):
        self.level = workers
        self.errors: list[str] = []
        self.answered = 0
        self._model = model
        self._stop = threading.Event()
        self._deadline = time.monotonic() + seconds
        self._client = openai.OpenAI(
            base_url=f"{router.url}/v1", api_key="unused", max_retries=0, timeout=60
        )
        self._threads = [
            threading.Thread(target=self._work, args=(index,), daemon=True)
            for index in range(workers)
        ]

    def _work(self, index: int) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            if index >= self.level:
                self._stop.wait(0.1)
                continue
            try:
                self._client.chat.completions.create(model=self._model, messages=ASK, max_tokens=20)
                self.answered += 1
            except Exception as error:  # every failure the client sees is a finding
                self.errors.append(f"{type(error).__name__}: {error}")

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)
        self._client.close()


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


def ready_and_routed(
    cluster: ClusterHandle, router: RouterProcess, namespace: str, name: str
) -> int:
    """Wait for the model Ready and served by the router; its metadata.generation."""
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", f"md/{name}", "--timeout=120s"
    )
    wait_until(
        lambda: router.status()["models"].get(name, {}).get("available"),
        timeout=120,
        what="router serving the model",
    )
    return int(stored(cluster, namespace, name)["metadata"]["generation"])


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
    generation = ready_and_routed(cluster, router, namespace, name)
    assert desired(cluster, namespace, name) == 1

    with Watcher(cluster, namespace, name) as watcher:
        with Load(router, name, workers=12) as load:
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
        assert load.errors == []
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
    generation = ready_and_routed(cluster, router, namespace, name)

    with Load(router, name, workers=12) as load:
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
    assert load.errors == []
    assert stored(cluster, namespace, name)["metadata"]["generation"] == generation


def scale_events(cluster: ClusterHandle, namespace: str, name: str) -> list[str]:
    """The model's ScaledUp/ScaledDown Event messages, oldest first."""
    result = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector",
        f"involvedObject.name={name},involvedObject.kind=ModelDeployment", "-o", "json",
    )  # fmt: skip
    items = json.loads(result.stdout)["items"]
    items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [e["message"] for e in items if e["reason"] in ("ScaledUp", "ScaledDown")]


def test_a_vllm_model_scales_on_its_queue_holds_under_noise_and_comes_back_down(
    cluster: ClusterHandle, operator: OperatorProcess, router: RouterProcess, namespace: str
) -> None:
    name = "queued-model"
    interval = 5
    apply(
        cluster,
        namespace,
        name,
        {
            "engine": "vllm",
            "model": "org/queued-model",
            "resources": {"gpus": 1},
            # 2 s a request, 4 at once per pod: more queue (vllm:num_requests_waiting).
            "env": [*SLOW, {"name": "MODELOPS_SIM_MAX_CONCURRENCY", "value": "4"}],
            "autoscaling": {
                "enabled": True,
                "minReplicas": 1,
                "maxReplicas": 6,
                "targetInFlight": 4,
                "intervalSeconds": interval,
                "scaleDown": {"windowSeconds": 10, "stabilizationWindowSeconds": 30},
            },
        },
    )
    generation = ready_and_routed(cluster, router, namespace, name)
    assert desired(cluster, namespace, name) == 1
    noise = random.Random(10)

    with Watcher(cluster, namespace, name) as watcher:
        with Load(router, name, workers=12, seconds=600) as load:
            # The step: 12 in flight on one pod (4 running, 8 waiting) / 4 per replica: 3.
            stepped = time.monotonic()
            wait_until(
                lambda: desired(cluster, namespace, name) == 3,
                timeout=90,
                what="3 replicas asked for",
            )
            reaction = time.monotonic() - stepped
            # The Event goes out just after the status write that says 3.
            ups = wait_until(
                lambda: (
                    (found := scale_events(cluster, namespace, name))
                    and "to 3 " in found[-1]
                    and found
                ),
                timeout=30,
                what="the ScaledUp Event to 3",
            )
            reached = list(watcher.seen)
            wait_until(
                lambda: stored(cluster, namespace, name)["status"].get("readyReplicas") == 3,
                timeout=120,
                what="3 replicas ready",
            )
            # Two minutes of noisy load: 9 to 12 clients, a new level every 5 s (still 3
            # replicas' worth). Every change of the count is recorded by the watcher.
            steady_from = len(watcher.seen)
            until = time.monotonic() + 120
            while time.monotonic() < until:
                load.level = noise.randint(9, 12)
                time.sleep(5)
            during_noise = watcher.seen[steady_from:]
        assert load.errors == []
        assert load.answered > 100
        stopped = time.monotonic()
        wait_until(
            lambda: desired(cluster, namespace, name) == 1,
            timeout=150,
            what="back to 1 replica",
        )
        settle = time.monotonic() - stopped
        wait_until(lambda: watcher.seen[-1] == 1, timeout=10, what="the watcher's poll of it")

    print(
        f"\nvLLM step to 3 replicas asked for in {reaction:.1f}s ({reaction / interval:.1f} "
        f"intervals) by {len(ups)} change(s): {ups}; {len(during_noise)} change(s) during 2 "
        f"minutes of noise; back to 1 {settle:.0f}s after the load stopped"
    )
    # The step is reached in at most two moves, and nothing moves during
    # the noisy two minutes.
    assert 1 <= len(ups) <= 2, ups
    assert ups[-1].startswith(("scale up from 1 to 3", "scale up from 2 to 3")), ups
    assert during_noise == [], watcher.seen
    assert watcher.seen[: len(reached)] == reached
    after = watcher.seen[len(reached) :]
    assert max(watcher.seen) == 3
    assert after == sorted(after, reverse=True), watcher.seen
    md = stored(cluster, namespace, name)
    assert md["metadata"]["generation"] == generation  # spec never written
    assert md["status"]["autoscaler"]["load"] is not None


def slot_replicas(cluster: ClusterHandle, namespace: str, name: str) -> dict[str, int]:
    """spec.replicas of the model's two slot Deployments."""
    result = cluster.kubectl(
        "get", "deployments", "-n", namespace, "-l", f"modelops.io/model={name}", "-o", "json"
    )
    return {
        item["metadata"]["name"].removeprefix(f"{name}-"): int(item["spec"]["replicas"])
        for item in json.loads(result.stdout)["items"]
    }


def test_a_load_step_during_a_canary_rollout_scales_both_slots_by_the_weight(
    cluster: ClusterHandle, operator: OperatorProcess, router: RouterProcess, namespace: str
) -> None:
    name = "rolling-phi"
    spec: dict[str, Any] = {
        "engine": "ollama",
        "model": "phi3:mini",
        "resources": {"gpus": 0, "cpu": "1"},
        "env": SLOW,
        "autoscaling": {
            "enabled": True,
            "minReplicas": 1,
            "maxReplicas": 8,
            "targetInFlight": 4,
            "scaleDown": {"windowSeconds": 10, "stabilizationWindowSeconds": 30},
        },
        # Held at 50 % until promoted.
        "rollout": {
            "steps": [{"weight": 50, "pause": "10m"}, {"weight": 100}],
            "analysis": {"minRequests": 0},
        },
    }
    apply(cluster, namespace, name, spec)
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", f"md/{name}", "--timeout=120s"
    )
    generation = stored(cluster, namespace, name)["metadata"]["generation"]
    apply(cluster, namespace, name, {**spec, "env": [*SLOW, {"name": "V", "value": "2"}]})

    def at_half() -> bool:
        canary = stored(cluster, namespace, name).get("status", {}).get("canary") or {}
        return canary.get("phase") == "Paused" or (
            canary.get("phase") == "Progressing" and canary.get("weight") == 50
        )

    wait_until(at_half, timeout=120, what="the canary at 50 %")
    canary_slot = stored(cluster, namespace, name)["status"]["canary"]["slot"]
    stable_slot = "green" if canary_slot == "blue" else "blue"
    # Idle: 1 replica in all, and each slot needs one.
    assert slot_replicas(cluster, namespace, name) == {stable_slot: 1, canary_slot: 1}

    with Load(router, name, workers=16) as load:
        # 16 in flight / 4 per replica: 4 in all, split 2 + 2 at 50 %. The stable gives a
        # replica up only as a canary replica becomes ready, so it passes through 3.
        # (A total passing through 3 is split 2 + 2 too: wait for both at once.)
        def split_at_four() -> dict[str, int] | None:
            total = stored(cluster, namespace, name)["status"]["desiredReplicas"]
            found = slot_replicas(cluster, namespace, name)
            return found if total == 4 and found == {stable_slot: 2, canary_slot: 2} else None

        sizes = wait_until(split_at_four, timeout=150, what="4 in all, both slots at 2")
        md = stored(cluster, namespace, name)
        assert md["status"]["canary"]["weight"] == 50
    assert load.errors == []
    print(f"\nduring the rollout at 50 %: desired 4, slots {sizes}")
    md = stored(cluster, namespace, name)
    assert md["metadata"]["generation"] == generation + 1  # only our own apply changed spec
    cluster.kubectl("delete", "-n", namespace, f"md/{name}", "--timeout=60s", timeout=70)
