"""The router's ASGI app: `create_app(...)` builds one; uvicorn serves it.

Raw ASGI (no framework) so the per-request cost is one dict lookup for the route, one JSON
parse of the body and the upstream call. The upstream client (`upstream.py`) and background tasks
(config follower, endpoint watcher, health checks) are created in the lifespan startup and
closed at shutdown; nothing lives at module level.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from modelops.api.router_config import RouterConfig, RouterConfigError, usable_config
from modelops.router import catalog
from modelops.router.adapters import Operation, client_to_canonical
from modelops.router.auth import KeyRing, load_key_ring
from modelops.router.errors import ClientApi, ClientError, ClientGone, error_body
from modelops.router.health import run_health_checks
from modelops.router.holding import Holds
from modelops.router.metrics import RouterMetrics
from modelops.router.proxy import Forwarder, InferenceRequest
from modelops.router.routing import RoutingError, model_chain, parse_target, request_class
from modelops.router.sources import (
    ConfigSource,
    EndpointMap,
    EndpointSource,
    FileConfigSource,
    FixedConfigSource,
    StaticEndpointSource,
)
from modelops.router.state import Snapshot, StateRegistry
from modelops.router.streams import dumps
from modelops.router.translate_ollama import TranslationError
from modelops.router.upstream import UpstreamClient

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 16 * 1024 * 1024
INFERENCE_ROUTES: dict[str, Operation] = {
    "/v1/chat/completions": Operation("openai", "chat"),
    "/v1/completions": Operation("openai", "completion"),
    "/v1/embeddings": Operation("openai", "embedding"),
    "/api/chat": Operation("ollama", "chat"),
    "/api/generate": Operation("ollama", "completion"),
    "/api/embed": Operation("ollama", "embedding"),
    "/api/embeddings": Operation("ollama", "embedding", legacy_embedding=True),
    "/generate": Operation("tgi", "completion"),
    "/generate_stream": Operation("tgi", "completion", tgi_stream=True),
}


def _api_for_path(path: str) -> ClientApi:
    if path.startswith("/v1/"):
        return "openai"
    if path.startswith("/api/"):
        return "ollama"
    if path in ("/generate", "/generate_stream", "/info"):
        return "tgi"
    return "router"


class _GuardedSend:
    """Remembers whether the response started, so errors are only sent when they still can be."""

    __slots__ = ("_send", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ClientError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class RouterApp:
    def __init__(self, config_source: ConfigSource, endpoint_source: EndpointSource) -> None:
        self.config_source = config_source
        self.endpoint_source = endpoint_source
        self.registry = StateRegistry()
        self.keys = KeyRing(enabled=False, allowed={})
        self.metrics = RouterMetrics(lambda: self.snapshot)
        self.holds = Holds(self.metrics)
        self._snapshot: Snapshot | None = None
        self.last_config_error: str | None = None
        self.config_loaded_at: float | None = None
        self._endpoint_map: EndpointMap = {}
        self._problems: list[str] = []
        self._upstream: UpstreamClient | None = None
        self._forwarder: Forwarder | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._endpoint_task: asyncio.Task[None] | None = None
        self._config_applied = asyncio.Event()
        self._simple: dict[str, Handler] = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics,
            "/status": self._status,
            "/v1/models": self._catalog(catalog.openai_models),
            "/api/tags": self._catalog(catalog.ollama_tags),
            "/api/ps": self._catalog(catalog.ollama_ps),
            "/api/version": self._version,
            "/api/show": self._show,
            "/info": self._tgi_info,
            "/": self._root,
        }

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    @snapshot.setter
    def snapshot(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self.holds.snapshot_swapped(snapshot)  # held requests go the moment an endpoint is ready

    # ----------------------------------------------------------------- lifecycle

    async def startup(self) -> None:
        self._upstream = UpstreamClient()
        self._forwarder = Forwarder(self._upstream, self.metrics)
        self._tasks = [
            asyncio.create_task(self._follow_config(), name="router-config"),
            asyncio.create_task(
                run_health_checks(self._upstream, lambda: self.snapshot), name="router-health"
            ),
        ]

    async def shutdown(self) -> None:
        tasks = [*self._tasks, *([self._endpoint_task] if self._endpoint_task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._upstream is not None:
            await self._upstream.close()

    async def wait_configured(self, limit_seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_seconds):
                await self._config_applied.wait()
        return self.snapshot is not None

    async def _follow_config(self) -> None:
        async for update in self.config_source.updates():
            self.apply_config(update)

    def apply_config(self, update: RouterConfig | RouterConfigError) -> bool:
        """Swaps in a new config; a bad one is rejected and the last good one stays."""
        try:
            if isinstance(update, RouterConfigError):
                raise update
            keys = load_key_ring(update.auth)
        except RouterConfigError as error:
            self.last_config_error = str(error)
            self.metrics.config_reloads.labels("rejected").inc()
            log.error("config rejected, keeping the last good one: %s", error)
            self._config_applied.set()
            return False
        config, problems = usable_config(update)
        for problem in problems:
            log.warning("config problem (entry dropped): %s", problem)
        self.keys = keys
        self._problems = [str(p) for p in problems]
        self.last_config_error = None
        self.config_loaded_at = time.time()
        # The new config's endpoints from the pods already known (a track may now select
        # other pods); else carry the current ones over until the watcher reports.
        known = self.endpoint_source.known(config)
        if known is not None:
            self._endpoint_map = known
        self.snapshot = self.registry.build(config, self._endpoint_map, self._problems)
        self.metrics.config_reloads.labels("applied").inc()
        if self._endpoint_task is not None:
            self._endpoint_task.cancel()
        self._endpoint_task = asyncio.create_task(
            self._follow_endpoints(config), name="router-endpoints"
        )
        self._config_applied.set()
        return True

    async def _follow_endpoints(self, config: RouterConfig) -> None:
        async for endpoint_map in self.endpoint_source.watch(config):
            self._endpoint_map = endpoint_map
            self.snapshot = self.registry.build(config, endpoint_map, self._problems)

    # ----------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            op = INFERENCE_ROUTES.get(path)
            if op is not None:
                await self._inference(op, scope, receive, send)
                return
            handler = self._simple.get(path)
            if handler is None:
                api = _api_for_path(path)
                await respond(send, 404, error_body(api, 404, f"no route {path}"))
                return
            guarded = _GuardedSend(send)
            try:
                await handler(scope, receive, guarded)
            except ClientError as error:
                if not guarded.started:
                    await respond(
                        send,
                        error.status,
                        error_body(_api_for_path(path), error.status, error.message),
                    )
            except ClientGone:
                pass
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _inference(self, op: Operation, scope: Scope, receive: Receive, send: Send) -> None:
        api = op.client_api
        guarded = _GuardedSend(send)
        status = 200
        try:
            await self._serve_inference(op, scope, receive, guarded)
        except ClientError as error:
            status = error.status
            if not guarded.started:
                body = error_body(api, status, error.message)
                await respond(send, status, body, extra_headers=error.headers)
        except ClientGone:
            status = 499
        except Exception:
            status = 500
            log.exception("unexpected error serving %s", scope["path"])
            if not guarded.started:
                await respond(send, 500, error_body(api, 500, "internal router error"))
        self.metrics.count_client_request(api, status)

    async def _serve_inference(
        self, op: Operation, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["method"] != "POST":
            raise ClientError(405, f"{scope['path']} takes POST")
        snapshot = self.snapshot
        if snapshot is None:
            raise ClientError(503, "the router has no configuration yet")
        headers = _headers(scope)
        authorization = headers.get("authorization")
        auth = self.keys.check(authorization, None)
        if auth != "ok":
            raise ClientError(401, "missing API key" if auth == "missing" else "invalid API key")
        body = await read_body(receive)
        try:
            parsed = json.loads(body)
        except ValueError as error:
            raise ClientError(400, f"request body is not valid JSON: {error}") from None
        if not isinstance(parsed, dict):
            raise ClientError(400, "request body must be a JSON object")
        try:
            canonical = client_to_canonical(op, parsed)
        except TranslationError as error:
            raise ClientError(400, str(error)) from None
        if not canonical.get("model") and headers.get("x-model"):
            canonical["model"] = headers["x-model"]
        try:
            target = parse_target(
                canonical.get("model"), headers.get("x-task"), snapshot.config.default_model
            )
            chain = model_chain(target, snapshot.config)
        except RoutingError as error:
            raise ClientError(
                404 if "not found" in str(error) or "unknown" in str(error) else 400, str(error)
            ) from None
        if self.keys.enabled:
            allowed = [name for name in chain if self.keys.may_use(authorization, name)]
            if not allowed or (target.model is not None and allowed[0] != chain[0]):
                raise ClientError(403, f"this API key may not use {chain[0]!r}")
            chain = allowed
        held = await self.holds.wait_for_endpoint(snapshot, chain, lambda: self.snapshot, receive)
        if held is None:
            raise ClientGone
        snapshot, chain = held
        timeouts = snapshot.config.timeouts_for(chain[0])
        max_tokens = canonical.get("max_tokens", canonical.get("max_completion_tokens"))
        request = InferenceRequest(
            op=op,
            canonical=canonical,
            raw_body=body,
            chain=chain,
            request_class=request_class(
                max_tokens, headers.get("x-request-class"), timeouts.long_request_tokens
            ),
        )
        if self._forwarder is None:
            raise ClientError(503, "the router is starting")
        serving = self._forwarder.serve(snapshot, request, send)
        if request.stream:
            await _cancel_on_disconnect(receive, serving)
        else:
            await serving

    # ----------------------------------------------------------------- simple endpoints

    async def _healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, b'{"status":"ok"}')

    async def _readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.snapshot is None:
            await respond(
                send, 503, dumps({"status": "no config", "error": self.last_config_error})
            )
        else:
            await respond(send, 200, b'{"status":"ready"}')

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, self.metrics.exposition(), CONTENT_TYPE_LATEST.encode())

    async def _status(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = catalog.status_document(
            self.snapshot, self.last_config_error, self.config_loaded_at, time.monotonic()
        )
        await respond(send, 200, dumps(status))

    async def _root(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, b"modelops router is running", b"text/plain")

    async def _version(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, dumps({"version": catalog.OLLAMA_COMPAT_VERSION}))

    def _authorized_snapshot(self, scope: Scope) -> tuple[Snapshot, str | None]:
        snapshot = self.snapshot
        if snapshot is None:
            raise ClientError(503, "the router has no configuration yet")
        authorization = _headers(scope).get("authorization")
        outcome = self.keys.check(authorization, None)
        if outcome != "ok":
            raise ClientError(401, "missing API key" if outcome == "missing" else "invalid API key")
        return snapshot, authorization

    def _visible(self, snapshot: Snapshot, authorization: str | None) -> list[str]:
        return [name for name in snapshot.models if self.keys.may_use(authorization, name)]

    def _catalog(self, render: Callable[[Snapshot, list[str]], dict[str, Any]]) -> Handler:
        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            snapshot, authorization = self._authorized_snapshot(scope)
            await respond(
                send, 200, dumps(render(snapshot, self._visible(snapshot, authorization)))
            )

        return handler

    async def _show(self, scope: Scope, receive: Receive, send: Send) -> None:
        snapshot, authorization = self._authorized_snapshot(scope)
        try:
            body = json.loads(await read_body(receive) or b"{}")
        except ValueError:
            raise ClientError(400, "request body is not valid JSON") from None
        name = body.get("model") or body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or name not in snapshot.models:
            raise ClientError(404, f"model {name!r} not found")
        if not self.keys.may_use(authorization, name):
            raise ClientError(403, f"this API key may not use {name!r}")
        await respond(send, 200, dumps(catalog.ollama_show(snapshot, name)))

    async def _tgi_info(self, scope: Scope, receive: Receive, send: Send) -> None:
        snapshot, _ = self._authorized_snapshot(scope)
        name = _headers(scope).get("x-model") or snapshot.config.default_model
        await respond(send, 200, dumps(catalog.tgi_info(snapshot, name)))


def _headers(scope: Scope) -> dict[str, str]:
    wanted = {b"authorization", b"x-task", b"x-model", b"x-request-class"}
    return {
        name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in wanted
    }


async def _cancel_on_disconnect(receive: Receive, serving: Coroutine[Any, Any, None]) -> None:
    """Runs `serving`; if the client goes away first, cancels it (closing the upstream call)."""
    serve_task = asyncio.ensure_future(serving)
    watch_task = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        await asyncio.wait({serve_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        serve_task.cancel()
        watch_task.cancel()
        raise
    watch_task.cancel()
    if serve_task.done():
        serve_task.result()
        return
    serve_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await serve_task
    raise ClientGone


def create_app(
    config: RouterConfig | Path | ConfigSource,
    endpoints: EndpointSource | None = None,
    *,
    reload_seconds: float = 2.0,
) -> RouterApp:
    """A router app. `config`: a config, a YAML file (reloaded on change), or any ConfigSource.

    `endpoints` defaults to the static `endpoints` lists of the config (standalone mode).
    """
    source: ConfigSource
    if isinstance(config, RouterConfig):
        source = FixedConfigSource(config)
    elif isinstance(config, Path):
        source = FileConfigSource(config, reload_seconds)
    else:
        source = config
    return RouterApp(source, endpoints if endpoints is not None else StaticEndpointSource())
