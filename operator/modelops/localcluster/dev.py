"""`modelops dev up`: the whole product on the local cluster, the way `make dev` shows it.

CRDs, the operator and the router (as local processes, recorded with the cluster's other
processes so `modelops cluster down` stops them too), the catalog examples applied and
waited for, then the commands to try.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from modelops.localcluster.cluster import Cluster, ClusterError, _wait_http, free_port
from modelops.localcluster.processes import is_running

CONFIG_NAMESPACE = "modelops-system"
MODELS_NAMESPACE = "models"
SETTINGS = """\
# Router-wide settings for the local environment (see docs/router.md).
demotionWindowSeconds: 60
healthCheck: {intervalSeconds: 2, timeoutSeconds: 2}
# TGI clients (POST /generate) name no model.
defaultModel: llama3.1-8b-instruct
"""


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _modelops(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelops", *args]


def up(cluster: Cluster, *, crds_dir: Path, examples_dir: Path | None, router_port: int) -> int:
    """Start what is missing; return the router's port."""
    records = {r.name: r for r in cluster.records()}
    if not records:
        raise ClusterError(f"cluster {cluster.name!r} is not running: modelops cluster up")
    cluster.kubectl("apply", "--server-side", "-f", str(crds_dir))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/modeldeployments.modelops.io", "--timeout=60s"
    )
    for namespace in (CONFIG_NAMESPACE, MODELS_NAMESPACE):
        if cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0:
            cluster.kubectl("create", "namespace", namespace)
    settings = cluster.root / "router-settings.yaml"
    settings.write_text(SETTINGS)
    kubeconfig = str(cluster.kubeconfig)
    # The router's port is settled first: the operator scrapes its /metrics (rollouts).
    port = cluster.ports().get("router", router_port)
    router_running = "router" in records and is_running(records["router"])
    if not router_running and not _port_free(port):
        port = free_port()
    if "operator" not in records or not is_running(records["operator"]):
        liveness = free_port()
        operator = cluster.add_process(
            "operator",
            _modelops(
                "operator",
                "--kubeconfig",
                kubeconfig,
                "--router-config-namespace",
                CONFIG_NAMESPACE,
                "--router-settings",
                str(settings),
                "--liveness",
                f"http://127.0.0.1:{liveness}/healthz",
                "--router-metrics-url",
                f"http://127.0.0.1:{port}/metrics",
            ),
            liveness,
        )
        _wait_http(
            f"http://127.0.0.1:{liveness}/healthz", context=None, record=operator, timeout=60
        )
    if "router" not in records or not is_running(records["router"]):
        router = cluster.add_process(
            "router",
            _modelops(
                "router",
                "--kubernetes",
                "--kubeconfig",
                kubeconfig,
                "--config-namespace",
                CONFIG_NAMESPACE,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ),
            port,
        )
        _wait_http(f"http://127.0.0.1:{port}/healthz", context=None, record=router, timeout=60)
    if examples_dir is not None:
        cluster.kubectl("apply", "-n", MODELS_NAMESPACE, "-k", str(examples_dir))
        result = cluster.kubectl(
            "wait",
            "-n",
            MODELS_NAMESPACE,
            "--for=condition=Ready",
            "md",
            "--all",
            "--timeout=180s",
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(f"models not Ready: {result.stderr.strip()}")
        _wait_routed(port, timeout=60)
    return port


def _wait_routed(port: int, timeout: float) -> None:
    """Until the router lists at least one model (it has read the operator's config)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as reply:
                if b'"id"' in reply.read():
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise ClusterError("the router lists no models; see the operator and router logs")


def next_steps(cluster: Cluster, port: int) -> str:
    kubectl_dir = Path(
        subprocess.run(_modelops("cluster", "bin"), capture_output=True, text=True).stdout.strip()
        or "."
    )
    return f"""
Router:      http://127.0.0.1:{port}   (OpenAI /v1, Ollama /api, TGI /generate)
Kubeconfig:  {cluster.kubeconfig}
Logs:        {cluster.logs}/

  export KUBECONFIG={cluster.kubeconfig} PATH={kubectl_dir}:$PATH
  kubectl get md -n {MODELS_NAMESPACE}

  curl -s http://127.0.0.1:{port}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{{"model": "llama3.1-8b-instruct", "messages": [{{"role": "user", "content": "Hello"}}]}}'

  .venv/bin/python - <<'PY'
from openai import OpenAI
client = OpenAI(base_url="http://127.0.0.1:{port}/v1", api_key="unused")
reply = client.chat.completions.create(
    model="task:reasoning", messages=[{{"role": "user", "content": "Why is the sky blue?"}}])
print(reply.model, reply.choices[0].message.content)
PY

  make down    # stops the cluster, the operator and the router
"""
