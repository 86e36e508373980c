"""Shared fixtures.

`cluster` starts one local control plane per test session (`modelops cluster up`, with a
name of its own so it never touches a developer's `dev` cluster) and stops it at the end.
Set MODELOPS_KUBECONFIG to run the same suite against an existing cluster instead (kind, or a
real one): then nothing is started or stopped, and tests that need the simulated nodes skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import toolchain
from modelops.sim.testing import free_port


@dataclass(frozen=True)
class ClusterHandle:
    kubeconfig: Path
    bin_dir: Path
    local: localcluster.Cluster | None  # None when the suite runs on an external cluster

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        kubectl = self.bin_dir / "kubectl"
        if not kubectl.exists():
            kubectl = Path(shutil.which("kubectl") or "kubectl")
        result = subprocess.run(
            [str(kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterHandle]:
    external = os.environ.get("MODELOPS_KUBECONFIG")
    if external:
        yield ClusterHandle(Path(external), toolchain.binary_path("kubectl").parent, None)
        return
    toolchain.build()
    local = localcluster.Cluster(f"pytest-{uuid.uuid4().hex[:6]}")
    localcluster.up(local)
    try:
        yield ClusterHandle(local.kubeconfig, toolchain.binary_path("kubectl").parent, local)
    finally:
        localcluster.down(local)


@pytest.fixture
def local_cluster(cluster: ClusterHandle) -> localcluster.Cluster:
    """The simulated cluster itself; tests that add nodes or inspect processes need it."""
    if cluster.local is None:
        pytest.skip("needs the local simulated cluster (MODELOPS_KUBECONFIG is set)")
    return cluster.local


@pytest.fixture
def namespace(cluster: ClusterHandle, request: pytest.FixtureRequest) -> Iterator[str]:
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:5]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


REPO = Path(__file__).resolve().parent.parent
# Short health windows so demotion and recovery fit in a test.
# holdSeconds: a model at zero must wake within 45 s here (the e2e test of a hold that runs out
# waits that long).
ROUTER_SETTINGS = """\
demotionWindowSeconds: 3
holdSeconds: 45
healthCheck: {intervalSeconds: 0.5, timeoutSeconds: 1, passiveFailureThreshold: 2}
"""


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 60, what: str = "condition"
) -> Any:
    """Poll `predicate` until it returns something truthy (bounded); return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s; always reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class OperatorProcess:
    """`modelops operator` as a subprocess against the test cluster."""

    def __init__(
        self,
        cluster: ClusterHandle,
        config_namespace: str,
        log_dir: Path,
        router_metrics_url: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.config_namespace = config_namespace
        self.log_dir = log_dir
        # The router it scrapes for the rollout analysis and the autoscaler (its pods by
        # label otherwise, as in a real cluster; the test routers are local processes).
        self.router_metrics_url = router_metrics_url
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / "operator-0.log"
        self.starts = 0

    def start(self, *extra: str) -> None:
        port = free_port()
        settings = self.log_dir / "router-settings.yaml"
        settings.write_text(ROUTER_SETTINGS)
        self.log_path = self.log_dir / f"operator-{self.starts}.log"
        self.starts += 1
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "modelops",
                    "operator",
                    "--kubeconfig",
                    str(self.cluster.kubeconfig),
                    "--router-config-namespace",
                    self.config_namespace,
                    "--liveness",
                    f"http://127.0.0.1:{port}/healthz",
                    "--router-settings",
                    str(settings),
                    *(
                        ("--router-metrics-url", self.router_metrics_url)
                        if self.router_metrics_url
                        else ()
                    ),
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}/healthz"

        def alive() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"operator exited:\n{self.log()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until(alive, timeout=60, what="operator liveness")

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def router_config(self) -> dict[str, Any]:
        import yaml

        result = self.cluster.kubectl(
            "get",
            "configmap",
            "-n",
            self.config_namespace,
            "modelops-router-config",
            "-o",
            "json",
            check=False,
        )
        if result.returncode != 0:
            return {}
        data = json.loads(result.stdout).get("data", {})
        return yaml.safe_load(data.get("config.yaml", "")) or {}


@pytest.fixture(scope="session")
def crds(cluster: ClusterHandle) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/modeldeployments.modelops.io", "--timeout=60s"
    )


@pytest.fixture(scope="session")
def router_port() -> int:
    """The session router's port, known before the operator starts (it scrapes the router)."""
    return free_port()


@pytest.fixture(scope="session")
def operator(
    cluster: ClusterHandle, crds: None, router_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    config_namespace = "modelops-system"
    cluster.kubectl("create", "namespace", config_namespace, check=False)
    process = OperatorProcess(
        cluster,
        config_namespace,
        tmp_path_factory.mktemp("operator"),
        router_metrics_url=f"http://127.0.0.1:{router_port}/metrics",
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


class RouterProcess:
    """`modelops router --kubernetes` as a subprocess on a free loopback port."""

    def __init__(
        self,
        cluster: ClusterHandle,
        config_namespace: str,
        log_path: Path,
        *extra: str,
        port: int | None = None,
    ) -> None:
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "modelops",
                    "router",
                    "--kubernetes",
                    "--kubeconfig",
                    str(cluster.kubeconfig),
                    "--config-namespace",
                    config_namespace,
                    "--port",
                    str(self.port),
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"router exited:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until(ready, timeout=60, what="router /readyz")

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/status", timeout=5) as response:
            return dict(json.loads(response.read()))

    def stop(self) -> None:
        terminate(self.process)


@pytest.fixture(scope="session")
def router(
    cluster: ClusterHandle,
    operator: OperatorProcess,
    router_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RouterProcess]:
    process = RouterProcess(
        cluster,
        operator.config_namespace,
        tmp_path_factory.mktemp("router") / "router.log",
        port=router_port,
    )
    try:
        yield process
    finally:
        process.stop()
