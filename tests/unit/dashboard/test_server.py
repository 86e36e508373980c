"""The dashboard's HTTP surface: pages, static files and JSON APIs, with readings set by the
test (no cluster); unknown things are JSON errors, never tracebacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from modelops.dashboard.collector import Collector
from modelops.dashboard.readings import Readings, RouterReading
from modelops.dashboard.server import COLLECTOR, create_app
from tests.unit.dashboard import objects as o


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    collector = Collector(
        None,  # type: ignore[arg-type]  # never started: the test sets the readings
        namespaces=[],
        router_urls=[],
        discovery=None,
        interval_seconds=1,
        history_points=5,
    )
    collector.readings = Readings(
        now=1.0,
        objects_at=1.0,
        model_deployments=[o.md("big")],
        nodes=[o.node("gpu-a", 8, "NVIDIA-A100-SXM4-40GB")],
        pods=[o.pod("big-1", model="big", gpus=1, node_name="gpu-a")],
        routers=[RouterReading(name="r", status=o.router_status({"big": o.routed()}))],
    )
    collector.history.record(collector.readings)
    async with TestClient(TestServer(create_app(collector, manage_collector=False))) as test:
        yield test


@pytest.mark.parametrize("path", ["/", "/gpus", "/router", "/models/models/big"])
async def test_every_page_is_the_html_shell(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path)
    assert response.status == 200
    body = await response.text()
    assert '<script src="/static/app.js">' in body
    assert "http://" not in body
    assert "https://" not in body


@pytest.mark.parametrize("name", ["app.js", "charts.js", "app.css"])
async def test_static_files_need_nothing_from_outside(
    client: TestClient[Any, Any], name: str
) -> None:
    response = await client.get(f"/static/{name}")
    assert response.status == 200
    text = await response.text()
    assert "//cdn" not in text
    assert "https://" not in text
    assert "import(" not in text


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("/api/v1/overview", {"sources", "summary", "models"}),
        ("/api/v1/gpus", {"sources", "nodes", "products", "waiting", "totals"}),
        ("/api/v1/router", {"sources", "routers"}),
        ("/api/v1/sources", {"api", "routers", "generatedAt"}),
    ],
)
async def test_json_apis(client: TestClient[Any, Any], path: str, keys: set[str]) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert set(await response.json()) == keys


async def test_model_api_and_unknown_model(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/models/models/big")
    assert response.status == 200
    page = await response.json()
    assert page["model"]["name"] == "big"
    assert len(page["history"]) == 1
    missing = await client.get("/api/v1/models/models/nope")
    assert missing.status == 404
    assert await missing.json() == {
        "error": {"status": 404, "message": "no ModelDeployment models/nope"}
    }


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/static/../server.py", "/static/x.py"])
async def test_unknown_paths_are_json_errors(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert "error" in await response.json()


async def test_ready_after_the_first_round(client: TestClient[Any, Any]) -> None:
    collector = client.server.app[COLLECTOR]
    collector.rounds = 0
    starting = await client.get("/readyz")
    assert starting.status == 503
    collector.rounds = 1
    assert (await client.get("/readyz")).status == 200
