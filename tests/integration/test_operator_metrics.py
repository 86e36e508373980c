"""`modelops operator --metrics-port`: a real operator against the local control plane serves
its reconcile figures and per-model series read from the statuses it wrote."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelops.sim.testing import free_port
from tests.conftest import ClusterHandle, OperatorProcess, wait_until
from tests.integration.test_operator import apply_yaml, small_model, wait_ready

pytestmark = pytest.mark.cluster


@pytest.fixture
def metered_operator(
    cluster: ClusterHandle, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[OperatorProcess, int]]:
    config_namespace = "modelops-metrics"
    cluster.kubectl("create", "namespace", config_namespace, check=False)
    process = OperatorProcess(cluster, config_namespace, tmp_path_factory.mktemp("operator"))
    port = free_port()
    process.start("--metrics-port", str(port), "--metrics-host", "127.0.0.1")
    try:
        yield process, port
    finally:
        process.stop()


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_port_serves_reconciles_and_model_series(
    cluster: ClusterHandle, metered_operator: tuple[OperatorProcess, int], namespace: str
) -> None:
    _, port = metered_operator
    apply_yaml(cluster, namespace, small_model("counted", replicas=2))
    wait_ready(cluster, namespace, "md/counted")
    labels = {("namespace", namespace), ("name", "counted"), ("model", "counted")}

    def ready_in_metrics() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        found = scrape(port)
        key = ("modelops_model_phase", frozenset({*labels, ("phase", "Ready")}))
        return found if found.get(key) == 1 else None

    found = wait_until(ready_in_metrics, timeout=60, what="phase Ready in the metrics")
    assert found[("modelops_model_desired_replicas", frozenset(labels))] == 2
    assert found[("modelops_model_ready_replicas", frozenset(labels))] == 2
    ready = frozenset({*labels, ("type", "Ready"), ("status", "True")})
    assert found[("modelops_model_condition", ready)] == 1
    assert found[("modelops_operator_reconciles_total", frozenset({("result", "ok")}))] >= 1
    assert found[("modelops_operator_reconcile_duration_seconds_count", frozenset())] >= 1
    assert ("modelops_operator_workqueue_depth", frozenset()) in found
