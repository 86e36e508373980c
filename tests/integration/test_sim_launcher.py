"""The launcher on the local cluster: a vLLM Deployment's pods answer on their own IPs, follow
scaling, and leave no process behind.

The cluster's launcher is started by `modelops cluster up`; this test only applies manifests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.cluster

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: demo, namespace: {namespace}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: demo}}}}
  template:
    metadata: {{labels: {{app: demo}}}}
    spec:
      tolerations:
      - {{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.10.0
        args: ["--served-model-name", "demo"]
        ports: [{{containerPort: 8000}}]
        readinessProbe:
          httpGet: {{path: /health, port: 8000}}
          periodSeconds: 1
"""


def eventually(check: Callable[[], Any], what: str, within: float = 90.0) -> Any:
    return wait_until(check, timeout=within, what=what)


def pod_ips(cluster: Any, namespace: str) -> list[str]:
    result = cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=demo", "-o", "json")
    pods = json.loads(result.stdout)["items"]
    return sorted(
        pod["status"]["podIP"]
        for pod in pods
        if pod["status"].get("phase") == "Running"
        and pod["status"].get("podIP")
        and not pod["metadata"].get("deletionTimestamp")
    )


def answers_demo(ip: str) -> bool:
    try:
        response = httpx.get(f"http://{ip}:8000/v1/models", timeout=1)
        return [model["id"] for model in response.json()["data"]] == ["demo"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def simulator_pids_for(ips: set[str]) -> list[int]:
    """Simulator processes bound to any of these IPs (scan of /proc cmdlines)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in argv]
        if "modelops.sim" in words and "--host" in words:
            host = words[words.index("--host") + 1]
            if host in ips:
                pids.append(int(cmdline.parent.name))
    return pids


def answering(cluster: Any, namespace: str, count: int) -> list[str]:
    ips = pod_ips(cluster, namespace)
    if len(ips) != count:
        return []
    return ips if all(answers_demo(ip) for ip in ips) else []


def test_vllm_deployment_pods_answer_on_their_ips_and_follow_scaling(
    cluster: Any, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT.format(namespace=namespace))
    first = eventually(lambda: answering(cluster, namespace, 1), "1 pod answering /v1/models")
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "pod", "-l", "app=demo", "--timeout=60s"
    )

    cluster.kubectl("scale", "-n", namespace, "deployment/demo", "--replicas=3")
    three = eventually(lambda: answering(cluster, namespace, 3), "3 pods answering /v1/models")
    assert len(set(three)) == 3
    assert set(first) <= set(three)

    cluster.kubectl("scale", "-n", namespace, "deployment/demo", "--replicas=0")
    eventually(lambda: pod_ips(cluster, namespace) == [], "no pods", within=90)
    eventually(lambda: not any(answers_demo(ip) for ip in three), "no IP answering")
    eventually(lambda: simulator_pids_for(set(three)) == [], "no simulator process left")


def pod_ready_conditions(cluster: Any, namespace: str, app: str) -> list[str]:
    result = cluster.kubectl("get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json")
    return [
        next((c["status"] for c in pod["status"].get("conditions", []) if c["type"] == "Ready"), "")
        for pod in json.loads(result.stdout)["items"]
    ]


def test_failing_readiness_probe_makes_the_pod_not_ready(cluster: Any, namespace: str) -> None:
    """KWOK says Ready at start; the launcher's probe of the simulator corrects it."""
    sick = (
        DEPLOYMENT.format(namespace=namespace)
        .replace("demo", "sick")
        .replace(
            "        ports:",
            "        env: [{name: MODELOPS_SIM_UNHEALTHY, value: 'true'}]\n        ports:",
        )
    )
    cluster.kubectl("apply", "-f", "-", input=sick)
    eventually(
        lambda: pod_ready_conditions(cluster, namespace, "sick") == ["False"],
        "pod Ready=False from the failing probe",
    )
    result = cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=sick", "-o", "json")
    status = json.loads(result.stdout)["items"][0]["status"]
    assert status["containerStatuses"][0]["ready"] is False
    ips = [status["podIP"]]
    cluster.kubectl("delete", "-n", namespace, "deployment/sick", "--wait=false")
    eventually(lambda: simulator_pids_for(set(ips)) == [], "no simulator process left")
