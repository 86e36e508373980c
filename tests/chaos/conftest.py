"""The chaos suite's stack: a local cluster of its own (its faults must not reach the other
tests' cluster), started the way `make dev` does (`modelops dev up`: the operator and the
router as cluster processes, the catalog examples applied and Ready), plus the models the
scenarios need. Faults go through the same tools a user has: `modelops cluster stop|start|
restart COMPONENT` and `modelops cluster node down|up NAME` (modelops.localcluster.components).

Every scenario records one figure row; the table is printed at the end of the session and
written to build/chaos-figures.json (benchmarks/chaos.py prints it too).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import dev, nodes, toolchain
from modelops.sim.testing import free_port
from tests.conftest import REPO, ClusterHandle, wait_until

NAMESPACE = dev.MODELS_NAMESPACE
FIGURES_FILE = REPO / "build" / "chaos-figures.json"
# Two 1-GPU nodes of a product only the node-loss model asks for.
CHAOS_GPU = nodes.NodeShape("chaos-gpu", count=2, gpus=1, gpu_product="CHAOS-GPU", cpu="16")
EXAMPLES = (
    "llama3.1-8b-instruct",
    "phi3-mini-4k",
    "mistral-nemo",
    "qwen2.5-14b-instruct",
    "mixtral-8x7b-instruct",
)
STREAMS_MODEL = "chaos-streams"  # two replicas that generate slowly: streams last seconds
GPU_MODEL = "chaos-gpu"


def model_deployment(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def vllm_spec(**extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "engine": "vllm",
        "model": "Qwen/Qwen2.5-0.5B-Instruct",
        "replicas": 1,
        "resources": {"gpus": 1, "cpu": "1", "memory": "4Gi"},
    }
    spec.update(extra)
    return spec


CHAOS_MODELS = (
    model_deployment(
        STREAMS_MODEL,
        vllm_spec(
            replicas=2,
            resources={
                "gpus": 1,
                "gpuProduct": "NVIDIA-A100-SXM4-80GB",
                "cpu": "1",
                "memory": "4Gi",
            },
            env=[{"name": "MODELOPS_SIM_TOKENS_PER_SECOND", "value": "40"}],
        ),
    ),
    model_deployment(
        GPU_MODEL,
        vllm_spec(
            resources={"gpus": 1, "gpuProduct": "CHAOS-GPU", "cpu": "1", "memory": "4Gi"},
            routing={"fallback": ["phi3-mini-4k"]},
        ),
    ),
)


@dataclass
class Stack:
    local: localcluster.Cluster
    handle: ClusterHandle
    router_url: str

    def get(self, *args: str) -> Any:
        return json.loads(self.handle.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, *manifests: dict[str, Any]) -> None:
        document = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        self.handle.kubectl("apply", "-f", "-", input=json.dumps(document))

    def record(self, name: str) -> Any:
        return next(r for r in self.local.records() if r.name == name)


@dataclass(frozen=True)
class Figure:
    fault: str
    requests: int
    failed: int
    clean_stream_errors: int
    recovery_seconds: float | None
    objects_wrong: int
    note: str = ""


FIGURES: list[Figure] = []


def record_figure(figure: Figure) -> None:
    FIGURES.append(figure)
    print(f"\nchaos figure: {figure}")


def figure_table(figures: list[Figure]) -> str:
    header = (
        f"{'fault':<44} {'requests':>8} {'failed':>6} {'clean stream errors':>19} "
        f"{'recovery (s)':>12} {'objects wrong':>13}"
    )
    lines = [header, "-" * len(header)]
    for f in figures:
        recovery = "-" if f.recovery_seconds is None else f"{f.recovery_seconds:.1f}"
        lines.append(
            f"{f.fault:<44} {f.requests:>8} {f.failed:>6} {f.clean_stream_errors:>19} "
            f"{recovery:>12} {f.objects_wrong:>13}" + (f"  ({f.note})" if f.note else "")
        )
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.write_sep("=", "chaos figures")
    terminalreporter.write_line(figure_table(FIGURES))
    FIGURES_FILE.parent.mkdir(exist_ok=True)
    FIGURES_FILE.write_text(json.dumps([asdict(f) for f in FIGURES], indent=2))


# -- convergence ---------------------------------------------------------------------------


def condition(item: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for each in (item.get("status") or {}).get("conditions") or []:
        if each.get("type") == kind:
            return each  # type: ignore[no-any-return]
    return None


def objects_wrong(stack: Stack) -> list[str]:
    """Everything that differs from a converged cluster: a ModelDeployment not Ready at its
    generation, a missing or duplicated child, an orphaned child, a router config that does
    not list exactly the ModelDeployments."""
    problems: list[str] = []
    mds = {m["metadata"]["name"]: m for m in stack.get("md", "-n", NAMESPACE)["items"]}
    managed = "app.kubernetes.io/managed-by=modelops"
    deployments = stack.get("deployments", "-n", NAMESPACE, "-l", managed)["items"]
    services = stack.get("services", "-n", NAMESPACE, "-l", managed)["items"]
    pods = stack.get("pods", "-n", NAMESPACE, "-l", managed)["items"]

    def owned(items: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
        return [
            i for i in items if i["metadata"].get("labels", {}).get("modelops.io/model") == name
        ]

    for name, md in mds.items():
        if md["metadata"].get("deletionTimestamp"):
            problems.append(f"{name}: still being deleted")
            continue
        ready = condition(md, "Ready")
        if not ready or ready.get("status") != "True":
            problems.append(f"{name}: not Ready ({ready and ready.get('reason')})")
        status = md.get("status") or {}
        if status.get("observedGeneration") != md["metadata"]["generation"]:
            problems.append(f"{name}: observedGeneration {status.get('observedGeneration')}")
        active = [d for d in owned(deployments, name) if d["spec"].get("replicas", 1) > 0]
        if len(active) != 1:
            problems.append(f"{name}: {len(active)} Deployments with replicas (want 1)")
        if len(owned(services, name)) != 1:
            problems.append(f"{name}: {len(owned(services, name))} Services (want 1)")
        running = [
            p
            for p in owned(pods, name)
            if not p["metadata"].get("deletionTimestamp")
            and (condition(p, "Ready") or {}).get("status") == "True"
        ]
        if len(running) != md["spec"]["replicas"]:
            problems.append(f"{name}: {len(running)} Ready pods (want {md['spec']['replicas']})")
    for kind, items in (("Deployment", deployments), ("Service", services)):
        for item in items:
            model = item["metadata"].get("labels", {}).get("modelops.io/model")
            if model not in mds:
                problems.append(f"orphaned {kind} {item['metadata']['name']}")
    config = stack.get("configmap", "-n", dev.CONFIG_NAMESPACE, "modelops-router-config")
    routed = set(yaml.safe_load(config["data"]["config.yaml"]).get("models") or {})
    served = {(m["spec"].get("servedModelName") or name) for name, m in mds.items()}
    if routed != served:
        problems.append(f"router config lists {sorted(routed ^ served)} wrongly")
    return problems


def converge(stack: Stack, *, timeout: float, what: str) -> float:
    """Seconds until nothing is wrong (bounded by `timeout`)."""
    started = time.monotonic()
    last: list[str] = []

    def clean() -> bool:
        nonlocal last
        try:
            last = objects_wrong(stack)
        except AssertionError as error:  # the API may still be coming back
            last = [str(error)]
        return not last

    try:
        wait_until(clean, timeout=timeout, what=what)
    except AssertionError as error:
        raise AssertionError(f"{error}: {last}") from None
    return time.monotonic() - started


def router_status(stack: Stack) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{stack.router_url}/status", timeout=5) as response:
        return dict(json.loads(response.read()))


def endpoints_by_model(status: dict[str, Any]) -> dict[str, list[str]]:
    return {
        name: sorted(e["address"] for t in model.get("tracks", []) for e in t["endpoints"])
        for name, model in status["models"].items()
    }


# Package scope: in `make test` the chaos cluster goes as soon as its last scenario is done,
# rather than idling beside the other tests' cluster.
@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    toolchain.build()
    local = localcluster.Cluster(f"pytest-chaos-{uuid.uuid4().hex[:6]}")
    localcluster.up(local, [*nodes.DEFAULT_SHAPES, CHAOS_GPU])
    try:
        port = dev.up(
            local,
            crds_dir=REPO / "crds",
            examples_dir=REPO / "examples",
            router_port=free_port(),
        )
        handle = ClusterHandle(local.kubeconfig, toolchain.binary_path("kubectl").parent, local)
        built = Stack(local, handle, f"http://127.0.0.1:{port}")
        built.apply(*CHAOS_MODELS)
        converge(built, timeout=240, what="the examples and the chaos models converged")
        wait_until(
            lambda: all(
                router_status(built)["models"].get(m, {}).get("available")
                for m in (*EXAMPLES, STREAMS_MODEL, GPU_MODEL)
            ),
            timeout=60,
            what="the router serving every model",
        )
        yield built
    finally:
        # `down` removes the state dir: keep the components' logs for a post-mortem.
        kept = REPO / "build" / "chaos-logs"
        shutil.rmtree(kept, ignore_errors=True)
        if local.logs.exists():
            shutil.copytree(local.logs, kept)
        localcluster.down(local)


def log_of(stack: Stack, name: str) -> str:
    return Path(stack.record(name).log).read_text(errors="replace")
