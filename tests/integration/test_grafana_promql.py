"""Every router series the chart's Grafana dashboard names is exposed by a real router: one in
front of simulators is driven through every path the panels chart (plain and streamed answers,
an upstream failure, a fallback, a client-visible error), then scraped, and each
`modelops_router_*` name in the dashboard's PromQL must be among the scraped samples. The
operator's series (`modelops_operator_*`, `modelops_model_*`) are checked against a real
operator mid-rollout in tests/e2e/test_grafana_operator_series.py.
"""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelops.router.testing import free_port, running_router
from modelops.sim.testing import running_simulator
from tests.unit.test_grafana_dashboard import expressions, load

ASK: Any = [{"role": "user", "content": "hello"}]
METRIC = re.compile(r"\b(modelops_[a-z0-9_]+)")
PREFIXES = ("modelops_router_", "modelops_operator_", "modelops_model_")


def scraped_names(text: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_dashboard_expression_names_scraped_router_series() -> None:
    dead = free_port()  # nothing listens here: upstream failures, then a fallback
    with running_simulator("vllm", ["big"]) as big, running_simulator("vllm", ["small"]) as small:
        config = {
            "models": {
                "big": {"engine": "vllm", "tracks": [{"endpoints": [f"127.0.0.1:{big.port}"]}]},
                "small": {
                    "engine": "vllm",
                    "tracks": [{"endpoints": [f"127.0.0.1:{small.port}"]}],
                },
                "gone": {
                    "engine": "vllm",
                    "fallback": ["small"],
                    "tracks": [{"endpoints": [f"127.0.0.1:{dead}"]}],
                },
                "broken": {"engine": "vllm", "tracks": [{"endpoints": [f"127.0.0.1:{dead}"]}]},
            },
            "tasks": {"chat": ["gone", "small"]},
            "healthCheck": {"intervalSeconds": 60},  # keep the dead endpoint in play
        }
        with running_router(config) as router:
            client = openai.OpenAI(base_url=router.url + "/v1", api_key="unused", max_retries=0)
            try:
                client.chat.completions.create(model="big", messages=ASK, max_tokens=4)
                stream = client.chat.completions.create(
                    model="big",
                    messages=ASK,
                    max_tokens=4,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
                served = client.chat.completions.create(model="gone", messages=ASK, max_tokens=4)
                assert served.model == "small"
                with pytest.raises(openai.APIStatusError):
                    client.chat.completions.create(model="broken", messages=ASK, max_tokens=4)
            finally:
                client.close()
            names = scraped_names(router.metrics())
    used = {name for expr in expressions(load()) for name in METRIC.findall(expr)}
    assert all(name.startswith(PREFIXES) for name in used), sorted(used)
    mine = {name for name in used if name.startswith("modelops_router_")}
    assert len(mine) >= 8, "the dashboard names few router series"
    assert sorted(mine - names) == [], f"not exposed by the router; exposed: {sorted(names)}"
    for expr in expressions(load()):
        assert METRIC.search(expr), f"an expression naming no modelops series: {expr}"
