"""How fast the operator turns many ModelDeployments into workloads (issue 4).

Starts its own local cluster in control-plane-only mode (KWOK marks pods Ready, no
simulators: this measures the operator, not 500 runtimes), runs the real `modelops operator`
as a subprocess, creates N ModelDeployments at once (bounded concurrency) for each N, and
prints, from watch events received by this process:

  * apply -> Deployment created   (median, p95)
  * apply -> ModelDeployment Ready (median, p95)
  * apply of the first -> all Ready
  * operator RSS: idle, after N objects, and per object

Each N is created as a burst (all at once); a last round creates the first N at a steady
--rate, which shows the per-object latency rather than the machine's throughput limit.

Run: .venv/bin/python benchmarks/operator_scale.py [--counts 100 500]
Everything is bounded: each round stops after --timeout seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from lightkube import AsyncClient
from lightkube.config.kubeconfig import KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import nodes, toolchain

REPO = Path(__file__).resolve().parent.parent
ModelDeployment = create_namespaced_resource(
    "modelops.io", "v1alpha1", "ModelDeployment", "modeldeployments"
)
# Room for 1000 pods: the default shapes cap at 110 pods per node.
SHAPES = [nodes.NodeShape("bench", count=5, cpu="2000", memory="8Ti", pods=250)]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"engine": "ollama", "model": "phi3:mini", "resources": {"gpus": 0, "cpu": "1"}},
    }


async def run_round(
    client: AsyncClient, count: int, limit_seconds: float, rate: float | None = None
) -> dict[str, float]:
    namespace = f"bench-{count}-{uuid.uuid4().hex[:4]}"
    await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    applied: dict[str, float] = {}
    deployed: dict[str, float] = {}
    ready: dict[str, float] = {}
    done = asyncio.Event()

    async def watch_deployments() -> None:
        async for _, obj in client.watch(Deployment, namespace=namespace):
            name = obj.metadata.labels.get("modelops.io/model", "")
            deployed.setdefault(name, time.monotonic())

    async def watch_models() -> None:
        async for _, obj in client.watch(ModelDeployment, namespace=namespace):
            conditions = (obj.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                ready.setdefault(obj.metadata.name, time.monotonic())
                if len(ready) == count:
                    done.set()

    watchers = [asyncio.create_task(watch_deployments()), asyncio.create_task(watch_models())]
    await asyncio.sleep(0.5)  # let both watches open before the first create
    semaphore = asyncio.Semaphore(16)

    async def create(index: int) -> None:
        name = f"m{index:04d}"
        async with semaphore:
            applied[name] = time.monotonic()
            await client.create(ModelDeployment.from_dict(manifest(name)), namespace=namespace)

    start = time.monotonic()
    if rate is None:  # a burst: everything at once (bounded concurrency)
        await asyncio.gather(*(create(i) for i in range(count)))
    else:  # a steady stream, as a GitOps sync or a team's applies would send
        pending = []
        for index in range(count):
            await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
            pending.append(asyncio.create_task(create(index)))
        await asyncio.gather(*pending)
    created = time.monotonic() - start
    try:
        await asyncio.wait_for(done.wait(), limit_seconds)
    except TimeoutError:
        print(
            f"  timed out: {len(ready)}/{count} Ready after {limit_seconds:.0f}s", file=sys.stderr
        )
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    to_deployment = [deployed[n] - applied[n] for n in applied if n in deployed]
    to_ready = [ready[n] - applied[n] for n in applied if n in ready]
    return {
        "deployment_median": statistics.median(to_deployment),
        "deployment_p95": percentile(to_deployment, 0.95),
        "ready_median": statistics.median(to_ready),
        "ready_p95": percentile(to_ready, 0.95),
        "all_ready": (max(ready.values()) - start) if len(ready) == count else float("nan"),
        "ready_count": float(len(ready)),
        "create_seconds": created,
    }


async def measure(
    kubeconfig: Path, operator_pid: int, counts: list[int], limit_seconds: float, rate: float
) -> None:
    client = AsyncClient(KubeConfig.from_file(str(kubeconfig)), field_manager="bench")
    idle = rss_kib(operator_pid)
    print(f"operator RSS idle: {idle / 1024:.1f} MiB")
    print(
        f"{'round':>12} {'apply->Deployment med/p95 (s)':>30} {'apply->Ready med/p95 (s)':>26} "
        f"{'all Ready (s)':>14} {'RSS (MiB)':>10} {'KiB/object':>11} {'CPU s':>6}"
    )
    total = 0
    rounds = [(f"{count} burst", count, None) for count in counts]
    rounds.append((f"{counts[0]} @{rate:g}/s", counts[0], rate))
    for label, count, pace in rounds:
        cpu_before = cpu_seconds(operator_pid)
        result = await run_round(client, count, limit_seconds, pace)
        total += count
        rss = rss_kib(operator_pid)
        print(
            f"{label:>12} {result['deployment_median']:>14.3f} / {result['deployment_p95']:<13.3f} "
            f"{result['ready_median']:>12.3f} / {result['ready_p95']:<11.3f} "
            f"{result['all_ready']:>14.1f} {rss / 1024:>10.1f} {(rss - idle) / total:>11.1f} "
            f"{cpu_seconds(operator_pid) - cpu_before:>6.1f} {result['create_seconds']:>9.1f}",
            flush=True,
        )
    await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help="objects per second of the last, paced round (default 10)",
    )
    args = parser.parse_args()
    toolchain.build()
    target = localcluster.Cluster(f"bench-{uuid.uuid4().hex[:6]}")
    localcluster.up(target, SHAPES, simulate_runtimes=False)
    operator = None
    try:
        kubectl = [str(toolchain.binary_path("kubectl")), "--kubeconfig", str(target.kubeconfig)]
        subprocess.run(
            [*kubectl, "apply", "--server-side", "-f", str(REPO / "crds")],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*kubectl, "create", "namespace", "modelops-system"], check=True, capture_output=True
        )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd/modeldeployments.modelops.io"],
            check=True,
            capture_output=True,
        )
        log = (target.root / "operator.log").open("wb")
        operator = subprocess.Popen(
            [
                sys.executable,
                *os.environ.get("OPERATOR_PYTHON_ARGS", "").split(),
                "-m",
                "modelops",
                "operator",
                "--kubeconfig",
                str(target.kubeconfig),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        time.sleep(3)  # the operator connects its watches; nothing to wait on with no objects
        asyncio.run(measure(target.kubeconfig, operator.pid, args.counts, args.timeout, args.rate))
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(timeout=30)
            text = (target.root / "operator.log").read_text(errors="replace")
            print(
                f"operator: {text.count('reconciled ')} reconciles, "
                f"{text.count('applying ')} applies, {text.count('Traceback')} tracebacks"
            )
            Path("/tmp/operator_scale.log").write_text(text)
        localcluster.down(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
