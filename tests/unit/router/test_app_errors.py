"""The ASGI app's answers that need no backend: malformed requests, auth, unknown routes.

Driven in-process through the ASGI interface (no sockets); the app is never started, so any
request that got as far as a backend would answer 503 "starting" instead of the expected code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelops.api.router_config import parse_router_config
from modelops.router.app import RouterApp, create_app

CONFIG = {
    "models": {
        "llama": {"engine": "ollama", "tracks": [{"endpoints": ["127.0.0.1:9"]}]},
        "qwen": {"engine": "vllm", "tracks": [{"endpoints": ["127.0.0.1:9"]}]},
    },
    "tasks": {"chat": ["qwen", "llama"]},
}


async def call(
    app: RouterApp, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    try:
        return sent[0]["status"], json.loads(payload)
    except ValueError:
        return sent[0]["status"], payload


def make_app(**extra: Any) -> RouterApp:
    app = create_app(parse_router_config({**CONFIG, **extra}))
    assert app.apply_config(parse_router_config({**CONFIG, **extra}))
    return app


CHAT = json.dumps({"model": "qwen", "messages": [{"role": "user", "content": "x"}]}).encode()


@pytest.mark.parametrize(
    ("path", "body", "status", "shape"),
    [
        ("/v1/chat/completions", b"{oops", 400, "openai"),
        ("/v1/chat/completions", b"[1]", 400, "openai"),
        ("/v1/chat/completions", b'{"model": "qwen"}', 400, "openai"),
        (
            "/v1/chat/completions",
            b'{"model": "qwen", "messages": [{"role":"user"}], "max_tokens": "x"}',
            400,
            "openai",
        ),
        (
            "/v1/chat/completions",
            b'{"model": "gpt-9", "messages": [{"role":"user"}]}',
            404,
            "openai",
        ),
        (
            "/v1/chat/completions",
            b'{"model": "task:poetry", "messages": [{"role":"user"}]}',
            404,
            "openai",
        ),
        ("/v1/chat/completions", b'{"messages": [{"role":"user"}]}', 400, "openai"),
        ("/api/chat", b'{"model": "qwen", "messages": 5}', 400, "ollama"),
        ("/api/generate", b'{"model": "qwen", "prompt": 5}', 400, "ollama"),
        ("/api/chat", b"nope", 400, "ollama"),
        ("/generate", b'{"parameters": {}}', 422, "tgi"),
        ("/", b'{"parameters": {}}', 422, "tgi"),
        ("/v1/nothing", b"", 404, "openai"),
        ("/api/nothing", b"", 404, "ollama"),
    ],
)
async def test_malformed_requests_get_400s_in_the_client_shape(
    path: str, body: bytes, status: int, shape: str
) -> None:
    got_status, payload = await call(make_app(), "POST", path, body)
    assert got_status == status
    if shape == "openai":
        # The spec's Error: code is a string or null, never the status number.
        assert payload["error"]["code"] is None or isinstance(payload["error"]["code"], str)
        assert payload["error"]["message"]
        assert set(payload["error"]) == {"message", "type", "param", "code"}
    else:
        assert isinstance(payload["error"], str)


async def test_wrong_method() -> None:
    status, payload = await call(make_app(), "GET", "/v1/chat/completions")
    assert status == 405
    assert "POST" in payload["error"]["message"]


AUTH = {"auth": {"keys": [{"key": "sk-all-models"}, {"key": "sk-llama-only", "models": ["llama"]}]}}


@pytest.mark.parametrize(
    ("headers", "path", "body", "status"),
    [
        ({}, "/v1/chat/completions", CHAT, 401),
        ({"Authorization": "Bearer sk-nope-nope"}, "/v1/chat/completions", CHAT, 401),
        ({"Authorization": "Bearer sk-llama-only"}, "/v1/chat/completions", CHAT, 403),
        ({}, "/api/chat", CHAT, 401),
        ({}, "/v1/models", b"", 401),
        ({"Authorization": "Bearer sk-all-models"}, "/v1/chat/completions", CHAT, 503),
    ],
)
async def test_auth(headers: dict[str, str], path: str, body: bytes, status: int) -> None:
    method = "GET" if path == "/v1/models" else "POST"
    got_status, payload = await call(make_app(**AUTH), method, path, body, headers)
    assert got_status == status
    assert "error" in payload


async def test_listing_shows_only_allowed_models() -> None:
    app = make_app(**AUTH)
    headers = {"Authorization": "Bearer sk-llama-only"}
    status, payload = await call(app, "GET", "/v1/models", headers=headers)
    assert status == 200
    assert [m["id"] for m in payload["data"]] == ["llama"]
    status, payload = await call(app, "GET", "/api/tags", headers=headers)
    assert [m["name"] for m in payload["models"]] == ["llama"]


async def test_bad_config_is_rejected_and_last_good_kept() -> None:
    app = make_app()
    bad = parse_router_config({**CONFIG, "auth": {"enabled": True}})
    assert not app.apply_config(bad)
    status, payload = await call(app, "GET", "/status")
    assert status == 200
    assert "no keys" in payload["lastConfigError"]
    assert sorted(payload["models"]) == ["llama", "qwen"]
    status, _ = await call(app, "GET", "/v1/models")
    assert status == 200


async def test_ops_endpoints() -> None:
    app = make_app()
    assert (await call(app, "GET", "/healthz"))[0] == 200
    assert (await call(app, "GET", "/readyz"))[0] == 200
    status, text = await call(app, "GET", "/metrics")
    assert status == 200
    assert b"modelops_router_model_available" in text
    status, payload = await call(app, "POST", "/api/show", b'{"model": "qwen"}')
    assert (status, payload["details"]["family"]) == (200, "vllm")
    assert (await call(app, "GET", "/api/version"))[1]["version"]


async def _headers_of(app: RouterApp, method: str, path: str) -> tuple[int, dict[str, str]]:
    scope = {"type": "http", "method": method, "path": path, "headers": []}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/chat/completions", "POST"),
        ("PUT", "/api/chat", "POST"),
        ("DELETE", "/v1/models", "GET, HEAD"),
        ("GET", "/api/show", "POST"),
        ("PATCH", "/", "GET, HEAD, POST"),
        ("POST", "/v1/models/qwen", "GET, HEAD"),
    ],
)
async def test_wrong_methods_get_405_with_allow(method: str, path: str, allow: str) -> None:
    status, headers = await _headers_of(make_app(), method, path)
    assert (status, headers["allow"]) == (405, allow)


async def test_models_retrieve_and_context_windows() -> None:
    config = {
        "models": {
            "small": {
                "engine": "vllm",
                "contextLength": 64,
                "tracks": [{"endpoints": ["127.0.0.1:9"]}],
            },
            "big": {
                "engine": "ollama",
                "contextLength": 4096,
                "tracks": [{"endpoints": ["127.0.0.1:9"]}],
            },
        },
        "tasks": {"chat": ["small", "big"]},
    }
    app = create_app(parse_router_config(config))
    assert app.apply_config(parse_router_config(config))
    status, model = await call(app, "GET", "/v1/models/small")
    assert (status, model["id"], model["max_model_len"]) == (200, "small", 64)
    status, missing = await call(app, "GET", "/v1/models/nope")
    assert (status, missing["error"]["code"]) == (404, "model_not_found")
    status, show = await call(app, "POST", "/api/show", b'{"model": "big"}')
    assert show["model_info"]["llama.context_length"] == 4096
    assert "num_ctx 4096" in show["parameters"]
    status, unnamed = await call(app, "POST", "/api/show", b"{}")
    assert (status, unnamed["error"]) == (400, "model is required")
    # Too long for every model of the chain: 400 with the sizes, before any backend is asked.
    long_prompt = json.dumps(
        {"model": "task:chat", "messages": [{"role": "user", "content": "x" * 20000}]}
    ).encode()
    status, error = await call(app, "POST", "/v1/chat/completions", long_prompt)
    assert status == 400
    assert error["error"]["code"] == "context_length_exceeded"
    assert "'small' (64 tokens)" in error["error"]["message"]
    assert "'big' (4096 tokens)" in error["error"]["message"]
