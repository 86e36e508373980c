"""The dashboard's web app (aiohttp): four pages, one JSON API per page, static files.

Pages are one HTML shell; `app.js` fetches the page's API every 15 s and redraws in place.
Every API answer carries `sources` (is the API server reachable, which routers answered), so
scripts can tell fresh figures from stale ones. Unknown paths and models get JSON errors.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from modelops.dashboard import views_cluster, views_models
from modelops.dashboard.collector import Collector

API = "/api/v1"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
COLLECTOR: web.AppKey[Collector] = web.AppKey("collector", Collector)


def _static(name: str) -> bytes:
    return (resources.files("modelops.dashboard") / "static" / name).read_bytes()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"})


def _error(status: int, message: str) -> web.Response:
    return _json({"error": {"status": status, "message": message}}, status)


async def _page(request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")


async def _asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    suffix = name[name.rfind(".") :] if "." in name else ""
    if suffix not in STATIC_TYPES or "/" in name:
        return _error(404, f"no static file {name}")
    try:
        body = _static(name)
    except FileNotFoundError:
        return _error(404, f"no static file {name}")
    return web.Response(body=body, content_type=STATIC_TYPES[suffix], charset="utf-8")


def _collector(request: web.Request) -> Collector:
    return request.app[COLLECTOR]


async def _overview(request: web.Request) -> web.Response:
    return _json(views_models.overview(_collector(request).readings))


async def _model(request: web.Request) -> web.Response:
    collector = _collector(request)
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    md = views_models.find_model(collector.readings, namespace, name)
    if md is None:
        return _error(404, f"no ModelDeployment {namespace}/{name}")
    return _json(
        views_models.model_page(collector.readings, md, collector.history.of(namespace, name))
    )


async def _gpus(request: web.Request) -> web.Response:
    return _json(views_cluster.gpus(_collector(request).readings))


async def _router(request: web.Request) -> web.Response:
    return _json(views_cluster.router(_collector(request).readings))


async def _sources(request: web.Request) -> web.Response:
    return _json(views_models.sources(_collector(request).readings))


async def _healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok", "rounds": _collector(request).rounds})


async def _readyz(request: web.Request) -> web.Response:
    """Ready once a first collection round is done (it may have found the API down)."""
    rounds = _collector(request).rounds
    return _json(
        {"status": "ready" if rounds else "starting", "rounds": rounds}, 200 if rounds else 503
    )


async def _not_found(request: web.Request) -> web.Response:
    return _error(404, f"no page or API {request.path}; see docs/dashboard.md")


def create_app(collector: Collector, *, manage_collector: bool = True) -> web.Application:
    """The app; with `manage_collector` its startup/cleanup start and stop the collector."""
    app = web.Application()
    app[COLLECTOR] = collector
    if manage_collector:

        async def lifecycle(app: web.Application) -> Any:
            await collector.start()
            yield
            await collector.stop()

        app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/", _page)
    app.router.add_get("/models/{namespace}/{name}", _page)
    app.router.add_get("/gpus", _page)
    app.router.add_get("/router", _page)
    app.router.add_get("/static/{name}", _asset)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get(f"{API}/overview", _overview)
    app.router.add_get(f"{API}/models/{{namespace}}/{{name}}", _model)
    app.router.add_get(f"{API}/gpus", _gpus)
    app.router.add_get(f"{API}/router", _router)
    app.router.add_get(f"{API}/sources", _sources)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app
