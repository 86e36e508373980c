"""Shared fixtures.

`cluster` starts one local control plane per test session (`modelops cluster up`, with a
name of its own so it never touches a developer's `dev` cluster) and stops it at the end.
Set MODELOPS_KUBECONFIG to run the same suite against an existing cluster instead (kind, or a
real one): then nothing is started or stopped, and tests that need the simulated nodes skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import toolchain


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
