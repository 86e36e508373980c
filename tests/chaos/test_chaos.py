"""Issue 12's faults, each under steady bounded load through the router (official `openai`
client, streaming and not), each asserting convergence and recording its figures.

Runs on a cluster of its own (see conftest.py); `make chaos` runs this folder.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from typing import Any

import openai

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import components, processes
from tests.chaos.conftest import (
    EXAMPLES,
    GPU_MODEL,
    NAMESPACE,
    STREAMS_MODEL,
    Figure,
    Stack,
    condition,
    converge,
    endpoints_by_model,
    log_of,
    objects_wrong,
    record_figure,
    router_status,
)
from tests.chaos.load import Load
from tests.conftest import wait_until
from tests.e2e.test_stack import simulator_pids

OUTAGE_SECONDS = 90.0
READY_AFTER_API_SECONDS = 60.0


def hold(load: Load, seconds: float) -> None:
    """Keep the fault for `seconds` while the load flows (the fault's duration is the point)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        load.wait_for_more(1, timeout=max(1.0, deadline - time.monotonic() + 30))


def failures_text(load: Load) -> str:
    return "; ".join(f"{o.kind} {o.model}: {o.detail}" for o in load.failures()[:5])


def ready_pods(stack: Stack, model: str) -> list[dict[str, Any]]:
    pods = stack.get("pods", "-n", NAMESPACE, "-l", f"modelops.io/model={model}")["items"]
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and (condition(p, "Ready") or {}).get("status") == "True"
    ]


def usable_endpoints(stack: Stack, model: str) -> int:
    model_status = router_status(stack)["models"].get(model, {})
    return sum(
        e["ready"] and e["healthy"] for t in model_status.get("tracks", []) for e in t["endpoints"]
    )


def test_a_runtime_killed_during_load_and_streams(stack: Stack) -> None:
    """Zero failed non-streaming requests (the router retries elsewhere); every stream the
    crash cuts ends with a clean error event in OpenAI's shape."""
    for fault, kill in (
        ("runtime process SIGKILLed", "process"),
        ("runtime pod deleted", "pod"),
    ):
        wait_until(lambda: usable_endpoints(stack, STREAMS_MODEL) == 2, what="2 endpoints")
        victim = ready_pods(stack, STREAMS_MODEL)[0]
        ip = victim["status"]["podIP"]
        with Load(
            stack.router_url,
            (STREAMS_MODEL,),
            workers=4,
            stream_max_tokens=120,
            max_requests=400,
            ollama_every=2,
        ) as load:
            load.wait_for_more(8)
            # Streams of ~3 s are in flight on both endpoints now.
            if kill == "process":
                pids = simulator_pids(ip)
                assert pids, f"no simulator for {ip}"
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
            else:
                stack.handle.kubectl(
                    "delete", "pod", "-n", NAMESPACE, victim["metadata"]["name"], "--wait=false"
                )
            killed = time.monotonic()
            wait_until(
                lambda: (
                    usable_endpoints(stack, STREAMS_MODEL) == 2
                    and len(ready_pods(stack, STREAMS_MODEL)) == 2
                ),
                timeout=120,
                what="two endpoints again",
            )
            recovered = time.monotonic() - killed
            load.wait_for_more(8)
        wrong = objects_wrong(stack)
        clean = load.clean_errors()
        record_figure(
            Figure(
                fault,
                len(load.snapshot()),
                len(load.failures()),
                len(clean),
                recovered,
                len(wrong),
                "cut cleanly: "
                + (
                    ", ".join(f"{k} {v}" for k, v in sorted(Counter(o.kind for o in clean).items()))
                    or "none"
                ),
            )
        )
        assert load.failures() == [], failures_text(load)
        assert all(o.kind in ("stream", "ollama-stream") for o in clean)
        assert wrong == []


def test_the_router_killed_and_restarted(stack: Stack) -> None:
    """It serves again within seconds, with the same config and endpoints, and no operator
    action (the operator's pid does not change)."""
    before = endpoints_by_model(router_status(stack))
    operator = stack.record("operator")
    with Load(stack.router_url, EXAMPLES, workers=3, max_requests=20000) as load:
        load.wait_for_more(10)
        router = stack.record("router")
        os.kill(router.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: not processes.is_running(router), what="router gone")
        components.start(stack.local, "router")
        client = openai.OpenAI(base_url=f"{stack.router_url}/v1", api_key="x", max_retries=0)

        def serves() -> bool:
            try:
                reply = client.chat.completions.create(
                    model=EXAMPLES[0], messages=[{"role": "user", "content": "hi"}], max_tokens=2
                )
            except openai.APIError:
                return False
            return bool(reply.choices)

        wait_until(serves, timeout=30, what="the restarted router serving")
        serving = time.monotonic() - killed
        wait_until(
            lambda: endpoints_by_model(router_status(stack)) == before,
            timeout=30,
            what="the same endpoints",
        )
        back = time.monotonic()
        load.wait_for_more(20)
        client.close()
    late = [o for o in load.failures() if o.ended > back]
    record_figure(
        Figure(
            "router SIGKILLed and restarted",
            len(load.snapshot()),
            len(load.failures()),
            len(load.clean_errors()),
            serving,
            len(objects_wrong(stack)),
            "failures: requests sent while no router listened",
        )
    )
    assert late == [], failures_text(load)
    assert serving < 10
    assert stack.record("operator").pid == operator.pid


def control_plane_outage(stack: Stack, component: str, seconds: float) -> tuple[Load, float]:
    """Stop `component` for `seconds` (0: a restart) under load; return the load and the
    seconds from its start until everything converged."""
    operator = stack.record("operator")
    with Load(stack.router_url, (*EXAMPLES, STREAMS_MODEL), workers=3, max_requests=20000) as load:
        load.wait_for_more(10)
        components.stop_component(stack.local, component)
        if seconds:
            hold(load, seconds)
        components.start(stack.local, component)
        recovery = converge(stack, timeout=READY_AFTER_API_SECONDS, what="Ready again")
        load.wait_for_more(10)
    assert stack.record("operator").pid == operator.pid  # recovered without a restart
    assert processes.is_running(stack.record("operator"))
    return load, recovery


def test_etcd_restarted(stack: Stack) -> None:
    load, recovery = control_plane_outage(stack, "etcd", 0)
    record_figure(
        Figure("etcd restarted", len(load.snapshot()), len(load.failures()), 0, recovery, 0)
    )
    assert load.failures() == [], failures_text(load)


def test_the_api_server_stopped_for_90_seconds(stack: Stack) -> None:
    before = log_of(stack, "sim-launcher").count("re-asserting status")
    load, recovery = control_plane_outage(stack, "kube-apiserver", OUTAGE_SECONDS)
    reasserted = log_of(stack, "sim-launcher").count("re-asserting status") - before
    record_figure(
        Figure(
            "kube-apiserver stopped 90 s",
            len(load.snapshot()),
            len(load.failures()),
            len(load.clean_errors()),
            recovery,
            0,
            f"launcher re-asserted {reasserted} pod statuses",
        )
    )
    assert load.failures() == [], failures_text(load)
    assert localcluster.crashed(stack.local) == []


def md_ready(stack: Stack, model: str) -> dict[str, Any] | None:
    return condition(stack.get("md", "-n", NAMESPACE, model), "Ready")


def test_a_gpu_node_lost(stack: Stack) -> None:
    """Its model moves to a node with a free GPU; with none free it reports InsufficientGPU with
    the scheduler's message; it comes back with the node."""
    with Load(stack.router_url, (GPU_MODEL,), workers=2, max_requests=20000) as load:
        load.wait_for_more(5)
        [pod] = ready_pods(stack, GPU_MODEL)
        lost = pod["spec"]["nodeName"]
        components.node_down(stack.local, lost)
        downed = time.monotonic()
        moved = wait_until(
            lambda: [p for p in ready_pods(stack, GPU_MODEL) if p["spec"]["nodeName"] != lost],
            timeout=240,
            what="the model rescheduled on the other GPU node",
        )
        rescheduled = time.monotonic() - downed
        assert moved[0]["spec"]["nodeName"].startswith("chaos-gpu-")
        wait_until(lambda: (md_ready(stack, GPU_MODEL) or {}).get("status") == "True", timeout=60)
        components.node_up(stack.local, lost)
        stack.handle.kubectl("wait", "--for=condition=Ready", f"node/{lost}", "--timeout=60s")
        converge(stack, timeout=120, what="converged with the node back")

        # Both GPUs in use, then one node lost: nowhere to go.
        stack.handle.kubectl("scale", "md", GPU_MODEL, "-n", NAMESPACE, "--replicas=2")
        converge(stack, timeout=120, what="two replicas")
        components.node_down(stack.local, lost)
        insufficient = wait_until(
            lambda: (
                (c := md_ready(stack, GPU_MODEL)) and c.get("reason") == "InsufficientGPU" and c
            ),
            timeout=240,
            what="InsufficientGPU",
        )
        components.node_up(stack.local, lost)
        back = converge(stack, timeout=180, what="both replicas back with the node")
        stack.handle.kubectl("scale", "md", GPU_MODEL, "-n", NAMESPACE, "--replicas=1")
        converge(stack, timeout=120, what="one replica again")
        load.wait_for_more(5)
    record_figure(
        Figure(
            "GPU node lost (1 replica: moved)",
            len(load.snapshot()),
            len(load.failures()),
            len(load.clean_errors()),
            rescheduled,
            0,
            f"served by {sorted({o.served_by for o in load.snapshot() if o.served_by})}",
        )
    )
    record_figure(Figure("GPU node lost (no free GPU) and back", 0, 0, 0, back, 0))
    assert "Insufficient nvidia.com/gpu" in insufficient["message"]
    assert load.failures() == [], failures_text(load)


CHURN = [f"churn-{i}" for i in range(5)]


def churn_spec(replicas: int, flavour: int) -> dict[str, Any]:
    return {
        "engine": "ollama",
        "model": "phi3:mini",
        "replicas": replicas,
        "resources": {"gpus": 0, "cpu": "1", "memory": "2Gi"},
        "env": [{"name": "CHAOS_FLAVOUR", "value": str(flavour)}],
        # Nobody sends these models traffic: a canary step must not wait for requests.
        "rollout": {"analysis": {"minRequests": 0}},
    }


def churn(stack: Stack, rng: random.Random, operations: int, done: threading.Event) -> list[str]:
    """Creates, updates (a new revision: a rollout), scales and deletes ModelDeployments."""
    from tests.chaos.conftest import model_deployment

    present: dict[str, int] = {}
    log: list[str] = []
    try:
        for step in range(operations):
            name = rng.choice(CHURN)
            if name not in present:
                stack.apply(model_deployment(name, churn_spec(1, step)))
                present[name] = 1
                log.append(f"create {name}")
            else:
                action = rng.choice(("update", "scale", "delete"))
                if action == "update":
                    patch = {"spec": {"env": churn_spec(1, step)["env"]}}
                    stack.handle.kubectl(
                        "patch",
                        "md",
                        name,
                        "-n",
                        NAMESPACE,
                        "--type=merge",
                        "-p",
                        json.dumps(patch),
                    )
                elif action == "scale":
                    present[name] = 3 - present[name]  # 1 <-> 2
                    stack.handle.kubectl(
                        "scale", "md", name, "-n", NAMESPACE, f"--replicas={present[name]}"
                    )
                else:
                    stack.handle.kubectl("delete", "md", name, "-n", NAMESPACE, "--wait=false")
                    wait_until(
                        lambda name=name: (
                            stack.handle.kubectl(
                                "get", "md", name, "-n", NAMESPACE, check=False
                            ).returncode
                            != 0
                        ),
                        timeout=120,
                        what=f"{name} deleted",
                    )
                    del present[name]
                log.append(f"{action} {name}")
            done.wait(rng.uniform(0.3, 1.5))
    finally:
        done.set()
    return log


def test_the_operator_sigkilled_ten_times_during_churn(stack: Stack) -> None:
    rng = random.Random(12)
    done = threading.Event()
    kills: list[float] = []
    result: list[list[str]] = []
    driver = threading.Thread(target=lambda: result.append(churn(stack, rng, 30, done)))
    with Load(stack.router_url, EXAMPLES, workers=3, max_requests=20000) as load:
        load.wait_for_more(10)
        driver.start()
        killer = random.Random(7)
        for _ in range(10):
            done.wait(killer.uniform(1.0, 5.0))
            operator = stack.record("operator")
            os.kill(operator.pid, signal.SIGKILL)
            kills.append(time.monotonic())
            wait_until(lambda operator=operator: not processes.is_running(operator), what="dead")
            components.start(stack.local, "operator")
        driver.join(timeout=600)
        assert not driver.is_alive()
        recovery = converge(stack, timeout=180, what="converged after the last kill")
        load.wait_for_more(10)
    wrong = objects_wrong(stack)
    record_figure(
        Figure(
            "operator SIGKILLed 10x during churn",
            len(load.snapshot()),
            len(load.failures()),
            len(load.clean_errors()),
            recovery,
            len(wrong),
            f"{len(result[0]) if result else 0} MD operations",
        )
    )
    assert len(kills) == 10
    assert wrong == []
    assert load.failures() == [], failures_text(load)
