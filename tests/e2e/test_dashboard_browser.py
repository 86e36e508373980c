"""`modelops dashboard` in a real browser (Debian's chromium driven by Playwright) against the
local cluster with the catalog models applied (the e2e stack's fixtures): every page opened,
its content checked against what kubectl and the router say, a screenshot of each saved under
the test's output directory.

The rollout is a real one: the operator's step machine moving a canary through 10 % and 50 %
under load through the router.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from modelops.sim.testing import free_port
from tests.conftest import ClusterHandle, RouterProcess, terminate, wait_until
from tests.e2e.rollout_load import Load
from tests.e2e.test_stack import MODELS, models, set_env
from tests.integration.test_operator import apply_yaml, small_model

playwright = pytest.importorskip("playwright.sync_api")

__all__ = ["models"]  # the e2e stack's fixture, reused
CHROMIUM = Path("/usr/bin/chromium")
# The flags that work on this kind of machine (root, no network but loopback).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REFRESH = "?refresh=1"
GPU = "nvidia.com/gpu"
UNHEALTHY = {"name": "MODELOPS_SIM_UNHEALTHY", "value": "1"}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@contextmanager
def running_dashboard(kubeconfig: Path, router_url: str, log_path: Path) -> Iterator[str]:
    """`modelops dashboard` collecting every second; its URL once it has read twice."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "modelops", "dashboard"),
                *("--kubeconfig", str(kubeconfig), "--router-url", router_url),
                *("--port", str(port), "--interval", "1"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def collected() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"dashboard exited:\n{log_path.read_text()}")
        try:
            return bool(get_json(f"{url}/healthz")["rounds"] >= 2)
        except OSError:
            return False

    try:
        wait_until(collected, timeout=60, what="dashboard collecting")
        yield url
    finally:
        terminate(process)


@pytest.fixture(scope="module")
def dashboard(
    cluster: ClusterHandle,
    router: RouterProcess,
    models: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    with running_dashboard(cluster.kubeconfig, router.url, log_path) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (make browser installs it)")
    with playwright.sync_playwright() as driver:
        instance = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shoot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def phases(cluster: ClusterHandle, namespace: str) -> dict[str, str]:
    items = json.loads(cluster.kubectl("get", "md", "-n", namespace, "-o", "json").stdout)["items"]
    return {md["metadata"]["name"]: md.get("status", {}).get("phase", "Unknown") for md in items}


def test_overview_lists_every_model_with_its_phase(
    cluster: ClusterHandle, dashboard: str, models: str, page: Any, tmp_path: Path
) -> None:
    page.goto(f"{dashboard}/{REFRESH}")
    page.wait_for_selector("table[data-table=models] tbody tr[data-model]")
    expected = phases(cluster, models)
    assert set(expected) == set(MODELS)
    for name, phase in expected.items():
        row = page.locator(f'tr[data-model="{models}/{name}"]')
        row.wait_for()
        assert row.get_attribute("data-phase") == phase
        assert phase in row.locator("td").nth(2).inner_text()
    mixtral = page.locator(f'tr[data-model="{models}/mixtral-8x7b-instruct"]')
    assert "reasoning" in mixtral.inner_text()
    assert "llama3.1-8b-instruct" in mixtral.inner_text()  # its fallback chain
    assert page.locator("#banner .msg").count() == 0  # API and router reachable
    shoot(page, tmp_path, "overview")


def expected_gpus(cluster: ClusterHandle) -> dict[str, tuple[int, int]]:
    """Per GPU node: capacity, and GPUs held by pods bound to it (requests, else limits)."""
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    pods = json.loads(cluster.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]
    used: dict[str, int] = {}
    for pod in pods:
        node = pod["spec"].get("nodeName")
        if not node or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for container in pod["spec"]["containers"]:
            resources = container.get("resources", {})
            count = resources.get("requests", {}).get(GPU, resources.get("limits", {}).get(GPU))
            used[node] = used.get(node, 0) + int(count or 0)
    return {
        n["metadata"]["name"]: (
            int(n["status"]["capacity"].get(GPU, 0)),
            used.get(n["metadata"]["name"], 0),
        )
        for n in nodes
        if int(n["status"]["capacity"].get(GPU, 0)) > 0
    }


def test_gpu_page_matches_node_capacity_and_pod_requests(
    cluster: ClusterHandle, dashboard: str, models: str, page: Any, tmp_path: Path
) -> None:
    page.goto(f"{dashboard}/gpus{REFRESH}")
    page.wait_for_selector("table[data-table=nodes] tr[data-node]")

    def shown() -> dict[str, tuple[int, int]]:
        rows = page.locator("tr[data-node]")
        return {
            rows.nth(i).get_attribute("data-node"): (
                int(rows.nth(i).locator("td").nth(2).inner_text()),
                int(rows.nth(i).locator("td").nth(4).inner_text()),
            )
            for i in range(rows.count())
        }

    # Both sides are re-read until they agree (pods may still be moving when the test starts).
    agreed = wait_until(
        lambda: (lambda e, s: e if e == s else None)(expected_gpus(cluster), shown()),
        timeout=30,
        what="the GPU page matching kubectl",
    )
    assert sum(capacity for capacity, _ in agreed.values()) == 16  # two 8-GPU nodes
    mds = json.loads(cluster.kubectl("get", "md", "-n", models, "-o", "json").stdout)["items"]
    held_by_catalog = sum(
        md["spec"]["resources"].get("gpus", 0) * md["status"].get("replicas", 0) for md in mds
    )
    assert held_by_catalog > 0
    assert sum(used for _, used in agreed.values()) >= held_by_catalog
    for name, (capacity, used) in agreed.items():
        row = page.locator(f'tr[data-node="{name}"]')
        assert int(row.locator("td").nth(5).inner_text()) == capacity - used  # free
    mixtral = page.locator(f'[data-holder^="{models}/mixtral-8x7b-instruct"]')
    assert mixtral.count() == 1
    assert mixtral.get_attribute("data-gpus") == "2"
    products = page.locator("tr[data-product]")
    assert products.count() == 2  # A100 40GB and 80GB
    shoot(page, tmp_path, "gpus")


def test_an_unhealthy_model_is_shown_as_such(
    cluster: ClusterHandle, dashboard: str, models: str, page: Any, tmp_path: Path
) -> None:
    model = "qwen2.5-14b-instruct"
    # Recreate: the unhealthy revision replaces the pods in place (a canary would be judged,
    # rolled back, and the model would stay healthy).
    patch = {"rollout": {"strategy": "Recreate"}, "env": [UNHEALTHY]}
    try:
        cluster.kubectl(
            "patch", "md", model, "-n", models, "--type=merge", "-p", json.dumps({"spec": patch})
        )
        page.goto(f"{dashboard}/{REFRESH}")
        row = page.locator(f'tr[data-model="{models}/{model}"]')
        row.wait_for()
        wait_until(
            lambda: (
                "problem" in (row.get_attribute("class") or "")
                and row.locator("ul.problems li").count() > 0
            ),
            timeout=90,
            what="the unhealthy model flagged on the overview",
        )
        # Problems sort first.
        assert page.locator("tr[data-model]").first.get_attribute("class") == "problem"
        shoot(page, tmp_path, "overview-unhealthy")
        page.goto(f"{dashboard}/router{REFRESH}")
        routed = page.locator(f'tr[data-router-model="{model}"]')
        routed.wait_for()
        wait_until(
            lambda: (
                routed.get_attribute("data-available") == "false"
                or routed.get_attribute("data-demoted") == "true"
            ),
            timeout=60,
            what="the router page showing the model unusable",
        )
        assert "problem" in (routed.get_attribute("class") or "")
        shoot(page, tmp_path, "router")
        page.goto(f"{dashboard}/models/{models}/{model}{REFRESH}")
        page.wait_for_selector("[data-problems] li")
        shoot(page, tmp_path, "model-unhealthy")
    finally:
        set_env(cluster, models, model, [])
    cluster.kubectl(
        "wait", "-n", models, "--for=condition=Ready", f"md/{model}", "--timeout=120s", timeout=130
    )


# Slow enough steps for a page refreshing every second to see each weight.
ROLLOUT = {
    "steps": [{"weight": 10, "pause": "15s"}, {"weight": 50, "pause": "15s"}, {"weight": 100}],
    "analysis": {"minRequests": 5},
    "drainSeconds": 2,
}


def test_a_rollouts_weight_changes_on_the_model_page(
    cluster: ClusterHandle,
    router: RouterProcess,
    dashboard: str,
    namespace: str,
    page: Any,
    tmp_path: Path,
) -> None:
    """A real rollout (the operator's step machine) under load through the router."""
    name = "canaried"
    apply_yaml(cluster, namespace, small_model(name, image="ollama/ollama:0.6.8", rollout=ROLLOUT))
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", f"md/{name}", "--timeout=120s",
        timeout=130,
    )  # fmt: skip
    wait_until(
        lambda: router.status()["models"].get(name, {}).get("available"),
        what=f"router serving {name}",
    )
    api = f"{dashboard}/api/v1/models/{namespace}/{name}"
    with Load(router.url, name, rate=8, max_seconds=150) as load:
        cluster.kubectl(
            "patch", "md", name, "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"image": "ollama/ollama:0.6.9"}}),
        )  # fmt: skip
        page.goto(f"{dashboard}/models/{namespace}/{name}{REFRESH}")
        page.wait_for_selector('[data-canary] [data-weight="10"]', timeout=90_000)
        assert "10% canary" in page.locator("[data-canary]").inner_text()
        page.wait_for_selector('[data-canary] [data-weight="50"]', timeout=60_000)
        weights = [p["canaryWeight"] for p in get_json(api)["history"]]
        assert weights.index(10) < weights.index(50)  # seen in that order, over time
        chart = page.locator('[data-chart="Canary weight (%)"]')
        assert chart.locator('path[data-series="canary weight"]').count() == 1
        # Both tracks carry traffic now: the canary's share shows on the page.
        page.wait_for_selector('table[data-table=traffic] tr[data-track="canary"]', timeout=30_000)
        shoot(page, tmp_path, "model-rollout")
        page.goto(f"{dashboard}/{REFRESH}")
        row = page.locator(f'tr[data-model="{namespace}/{name}"]')
        row.wait_for()
        assert row.locator("[data-weight]").count() == 1  # the rollout, on the overview too
        shoot(page, tmp_path, "overview-rollout")
        wait_until(
            lambda: (
                "canary" not in get_json(api).get("model", {}) and get_json(api)["canary"] is None
            ),
            timeout=90,
            what="the rollout promoted",
        )
    assert load.failures() == []
    page.goto(f"{dashboard}/models/{namespace}/{name}{REFRESH}")
    page.wait_for_selector("table[data-table=slots] tr[data-slot]")
    assert page.locator("[data-canary]").count() == 0
    assert get_json(api)["model"]["rollout"] is None


def test_the_dashboard_says_when_the_router_cannot_be_reached(
    cluster: ClusterHandle, models: str, page: Any, tmp_path: Path
) -> None:
    """A second dashboard pointed at a router that is not there: the pages still work."""
    dead = f"http://127.0.0.1:{free_port()}"
    with running_dashboard(cluster.kubeconfig, dead, tmp_path / "dashboard.log") as url:
        page.goto(f"{url}/router{REFRESH}")
        page.wait_for_selector('#banner [data-source="router"]')
        assert "unreachable" in page.locator("#banner").inner_text()
        page.goto(f"{url}/{REFRESH}")
        page.locator(f'tr[data-model="{models}/mistral-nemo"]').wait_for()
        shoot(page, tmp_path, "router-unreachable")


class TcpForwarder:
    """A loopback TCP forwarder to the API server that the test can take down and bring
    back on the same port: to the dashboard, exactly an API server going away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        assert self.listener is not None
        # shutdown() first: a plain close() leaves a thread blocked in accept() listening on.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                connection.close()
            self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            upstream = socket.create_connection(self.target, timeout=10)
            with self.lock:
                self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()


def test_the_dashboard_says_when_the_api_server_is_down_and_recovers(
    cluster: ClusterHandle, router: RouterProcess, models: str, page: Any, tmp_path: Path
) -> None:
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    server = urlsplit(config["clusters"][0]["cluster"]["server"])
    assert server.hostname is not None
    assert server.port is not None
    forwarder = TcpForwarder((server.hostname, server.port))
    forwarder.up()
    config["clusters"][0]["cluster"]["server"] = f"https://{server.hostname}:{forwarder.port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    try:
        with running_dashboard(kubeconfig, router.url, tmp_path / "dashboard.log") as url:
            page.goto(f"{url}/{REFRESH}")
            row = page.locator(f'tr[data-model="{models}/mistral-nemo"]')
            row.wait_for()
            forwarder.down()
            page.wait_for_selector('#banner [data-source="api"]', timeout=30_000)
            assert "Kubernetes API unreachable" in page.locator("#banner").inner_text()
            assert row.get_attribute("data-phase") == "Ready"  # the last objects stay
            for path in ("/gpus", "/router", f"/models/{models}/mistral-nemo"):
                page.goto(f"{url}{path}{REFRESH}")
                page.wait_for_selector('#banner [data-source="api"]')
            shoot(page, tmp_path, "api-down")
            forwarder.up()
            page.goto(f"{url}/{REFRESH}")
            page.wait_for_selector(f'tr[data-model="{models}/mistral-nemo"]')
            wait_until(
                lambda: page.locator('#banner [data-source="api"]').count() == 0,
                timeout=30,
                what="the banner gone once the API is back",
            )
            assert get_json(f"{url}/api/v1/sources")["api"]["ok"] is True
    finally:
        forwarder.down()
