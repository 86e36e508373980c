"""Scale from zero on the local cluster: operator + router (Kubernetes mode) + simulated pods.

A model autoscaled with minReplicas 0 is at zero replicas; 20 concurrent first requests are held
by the router (its holding gauge shows them), the model stays listed, the operator's telemetry
sees the gauge and the autoscaler wakes the model, and every request is answered once the pod
is Ready (the router learns it from its Pod watch, with no polling). Idle again, the model goes
back to zero after scaleToZeroAfter. `spec` is never written (metadata.generation stays).
"""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ClusterHandle, OperatorProcess, RouterProcess, wait_until

pytestmark = pytest.mark.cluster

MODEL = "sleepy-phi"
CLIENTS = 20


def stored(cluster: ClusterHandle, namespace: str) -> dict[str, Any]:
    return stored_named(cluster, namespace, MODEL)


def stored_named(cluster: ClusterHandle, namespace: str, name: str) -> dict[str, Any]:
    result = cluster.kubectl("get", "-n", namespace, f"md/{name}", "-o", "json")
    return dict(json.loads(result.stdout))


def holding(router: RouterProcess) -> float:
    with urllib.request.urlopen(f"{router.url}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "modelops_router_model_holding_requests" and sample.labels == {
                "model": MODEL
            }:
                return sample.value
    return 0.0


def test_twenty_first_requests_wait_for_the_pod_and_all_get_answers(
    cluster: ClusterHandle, operator: OperatorProcess, router: RouterProcess, namespace: str
) -> None:
    document = {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": MODEL},
        "spec": {
            "engine": "ollama",
            "model": "phi3:mini",
            "replicas": 0,
            "resources": {"gpus": 0, "cpu": "1"},
            "autoscaling": {
                "enabled": True,
                "minReplicas": 0,
                "maxReplicas": 2,
                "scaleToZeroAfter": "20s",
            },
        },
    }
    cluster.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(document)
    )
    wait_until(
        lambda: operator.router_config().get("models", {}).get(MODEL, {}).get("scaleToZero"),
        timeout=60,
        what="scaleToZero in the router config",
    )
    wait_until(lambda: MODEL in router.status()["models"], timeout=60, what="router has the model")
    assert not router.status()["models"][MODEL]["available"]
    generation = stored(cluster, namespace)["metadata"]["generation"]
    assert stored(cluster, namespace)["status"]["desiredReplicas"] == 0

    client = openai.OpenAI(
        base_url=f"{router.url}/v1", api_key="unused", max_retries=0, timeout=180
    )
    try:
        assert MODEL in [m.id for m in client.models.list().data]

        def ask(index: int) -> str:
            reply = client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": f"hello {index}"}],
                max_tokens=8,
            )
            return reply.choices[0].message.content or ""

        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(ask, i) for i in range(CLIENTS)]
            wait_until(lambda: holding(router) == CLIENTS, timeout=60, what="20 held requests")
            assert not any(f.done() for f in futures)
            answers = [f.result(timeout=180) for f in futures]
    finally:
        client.close()

    assert len(answers) == CLIENTS
    assert all(answers)
    assert holding(router) == 0
    woken = wait_until(
        lambda: (md := stored(cluster, namespace))["status"].get("readyReplicas", 0) >= 1 and md,
        timeout=60,
        what="the woken replica in status",
    )
    assert woken["status"]["autoscaler"]["lastScaleTime"]
    # Idle for scaleToZeroAfter: back to zero, by the autoscaler alone.
    asleep = wait_until(
        lambda: (
            (md := stored(cluster, namespace))["status"]["desiredReplicas"] == 0
            and md["status"].get("readyReplicas", 0) == 0
            and md
        ),
        timeout=120,
        what="back to zero replicas",
    )
    assert asleep["metadata"]["generation"] == generation  # spec never written

    # Leave the shared router config as found: later tests compare its resourceVersion.
    cluster.kubectl("delete", "-n", namespace, f"md/{MODEL}", "--timeout=60s", timeout=70)
    wait_until(
        lambda: MODEL not in operator.router_config().get("models", {}),
        timeout=60,
        what="the model gone from the router config",
    )


def test_a_hold_that_runs_out_answers_503_with_retry_after_in_the_clients_shape(
    cluster: ClusterHandle, operator: OperatorProcess, router: RouterProcess, namespace: str
) -> None:
    """A model at zero whose pod cannot be placed (no node has its GPU): the request is held
    for the router's holdSeconds (45 s in the test settings), then answered 503 with
    Retry-After in OpenAI's error shape; meanwhile the model says ScalingLimited with the
    scheduler's message."""
    name = "unplaceable"
    document = {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "engine": "vllm",
            "model": "org/unplaceable",
            "replicas": 0,
            "resources": {"gpus": 1, "gpuProduct": "NVIDIA-H100-80GB-HBM3"},
            "autoscaling": {"enabled": True, "minReplicas": 0, "maxReplicas": 2},
        },
    }
    cluster.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(document)
    )
    wait_until(lambda: name in router.status()["models"], timeout=60, what="router has the model")
    client = openai.OpenAI(
        base_url=f"{router.url}/v1", api_key="unused", max_retries=0, timeout=120
    )
    started = time.monotonic()
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "hello"}], max_tokens=8
            )
    finally:
        client.close()
    waited = time.monotonic() - started
    error = caught.value
    assert error.status_code == 503
    assert int(error.response.headers["retry-after"]) > 0
    body = error.response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"]
    assert name in body["error"]["message"]
    print(f"\nhold ran out after {waited:.1f}s: {body['error']['message']}")
    assert waited >= 44  # held for the router's holdSeconds (45), not refused at once
    limited = next(
        c
        for c in stored_named(cluster, namespace, name)["status"]["conditions"]
        if c["type"] == "ScalingLimited"
    )
    assert (limited["status"], limited["reason"]) == ("True", "InsufficientCapacity")
    assert "nvidia.com/gpu" in limited["message"] or "node" in limited["message"]
    cluster.kubectl("delete", "-n", namespace, f"md/{name}", "--timeout=60s", timeout=70)
    wait_until(
        lambda: name not in operator.router_config().get("models", {}),
        timeout=60,
        what="the model gone from the router config",
    )
