"""Every operator series the chart's Grafana dashboard names is exposed by a real operator:
the session operator, restarted with its metrics endpoint, scraped while a ModelDeployment is
mid-rollout under load (the canary and analysis series exist only then). The router's series
are checked in tests/integration/test_grafana_promql.py."""

from __future__ import annotations

import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from modelops.sim.testing import free_port
from tests.conftest import ClusterHandle, OperatorProcess, RouterProcess, wait_until
from tests.e2e.rollout_load import Load
from tests.integration.test_grafana_promql import METRIC
from tests.integration.test_operator import apply_yaml, small_model
from tests.unit.test_grafana_dashboard import expressions, load

HELD = {"steps": [{"weight": 20, "pause": "10m"}, {"weight": 100}], "analysis": {"minRequests": 1}}


def scrape(url: str) -> set[str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return set()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_operator_series_of_the_dashboard_is_exposed(
    cluster: ClusterHandle, operator: OperatorProcess, router: RouterProcess, namespace: str
) -> None:
    wanted = {
        name
        for expr in expressions(load())
        for name in METRIC.findall(expr)
        if name.startswith(("modelops_operator_", "modelops_model_"))
    }
    assert len(wanted) >= 6, "the dashboard names few operator series"
    port = free_port()
    operator.stop()
    operator.start("--metrics-port", str(port))
    try:
        name = "graphed"
        apply_yaml(cluster, namespace, small_model(name, image="ollama/ollama:0.6.8", rollout=HELD))
        cluster.kubectl(
            "wait", "-n", namespace, "--for=condition=Ready", f"md/{name}", "--timeout=120s",
            timeout=130,
        )  # fmt: skip
        wait_until(
            lambda: router.status()["models"].get(name, {}).get("available"),
            what=f"router serving {name}",
        )
        with Load(router.url, name, rate=8, max_seconds=120):
            cluster.kubectl(
                "patch", "md", name, "-n", namespace, "--type=merge",
                "-p", json.dumps({"spec": {"image": "ollama/ollama:0.6.9"}}),
            )  # fmt: skip
            url = f"http://127.0.0.1:{port}/metrics"
            exposed = wait_until(
                lambda: (lambda names: names if wanted <= names else None)(scrape(url)),
                timeout=90,
                what=f"the operator exposing {sorted(wanted - scrape(url))}",
            )
        assert wanted <= exposed
    finally:
        operator.restart()
