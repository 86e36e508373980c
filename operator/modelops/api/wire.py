"""Shared building blocks of the wire format: the base model, names, patterns, quantities.

Everything the API server sees is camelCase; Python code uses snake_case. Unknown keys are
rejected so that a typo in a spec is an error, not a silently ignored field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

GROUP = "modelops.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAMES = ("md",)
CATEGORIES = ("modelops",)

# The Kubernetes resource.Quantity grammar, exactly as controller-gen emits it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# Served model names: what clients put in `model`. Ollama tags (`llama3.1:8b`) and HF ids
# (`org/name`) are fine; spaces and shell metacharacters are not.
SERVED_NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._:/-]*[A-Za-z0-9])?$"
SERVED_NAME_MAX = 128
# Model references end up in container args and (Ollama) in a shell command, so the alphabet is
# closed: no spaces, quotes, `;`, `$`, backticks.
MODEL_PATTERN = r"^[A-Za-z0-9_./:@+-]+$"
MODEL_MAX = 256
# Label values (gpuProduct) and DNS-1123 subdomains (claim names).
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
TASK_PATTERN = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
# metadata.name: children are `<name>-green`, `<name>-cache` and a Service named after it (dots
# become dashes, so it must start with a letter to be a DNS-1035 label).
NAME_PATTERN = r"^[a-z]([-a-z0-9.]*[a-z0-9])?$"
NAME_MAX = 52
# Go-style durations as used by Ollama's keep-alive, or a plain number of seconds / -1.
DURATION_PATTERN = r"^(-1|[0-9]+|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$"
# Rollout pauses: `30s`, `2m`, `1h30m`.
PAUSE_PATTERN = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown keys rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


def _int_to_str(value: Any) -> Any:
    # YAML `cpu: 4` or `keepAlive: -1` arrive as ints; Kubernetes accepts both forms.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    return value


def _int_or_string_schema(pattern: str, description: str) -> dict[str, Any]:
    return {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": pattern,
        "x-kubernetes-int-or-string": True,
        "description": description,
    }


Quantity = Annotated[
    str,
    BeforeValidator(_int_to_str),
    Field(pattern=QUANTITY_PATTERN),
    WithJsonSchema(
        _int_or_string_schema(QUANTITY_PATTERN, "A Kubernetes quantity such as 4, 500m or 16Gi.")
    ),
]
"""A Kubernetes quantity (`4`, `500m`, `16Gi`); ints are accepted and kept as strings."""

Duration = Annotated[
    str,
    BeforeValidator(_int_to_str),
    Field(pattern=DURATION_PATTERN),
    WithJsonSchema(
        _int_or_string_schema(
            DURATION_PATTERN, "A duration such as 5m or 24h, a number of seconds, or -1 (forever)."
        )
    ),
]
