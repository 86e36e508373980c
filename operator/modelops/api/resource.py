"""The whole `ModelDeployment` object as the operator receives it (kopf body or API JSON).

`parse_model_deployment(body)` is the one entry point: it validates the spec with the same rules
as the CRD and raises `InvalidModelDeploymentError` with one line per problem (wire paths such
as `spec.resources.gpus`), never a pydantic traceback. Wire data is camelCase only (snake_case
keys are rejected there, as the API server does); Python code may construct the models with
snake_case keyword arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelops.api.spec import TASK_PREFIX, ModelDeploymentSpec
from modelops.api.status import ModelDeploymentStatus
from modelops.api.wire import API_VERSION, KIND, NAME_MAX, NAME_PATTERN

# Rules on the whole object: CEL can read metadata.name only at the root of the schema.
ROOT_RULES: list[dict[str, str]] = [
    {
        "rule": f"self.metadata.name.matches('{NAME_PATTERN}')",
        "message": "metadata.name must start with a letter and contain only lowercase letters, "
        "digits, '-' and '.' (it names the Deployments, Service and PVC)",
    },
    {
        "rule": f"size(self.metadata.name) <= {NAME_MAX}",
        "message": f"metadata.name must be at most {NAME_MAX} characters "
        "(children are named <name>-green and <name>-cache)",
    },
    {
        "rule": "!has(self.spec.routing) || !has(self.spec.routing.fallback) || "
        "!((has(self.spec.servedModelName) ? self.spec.servedModelName : self.metadata.name)"
        " in self.spec.routing.fallback)",
        "message": "routing.fallback must not name this model's own servedModelName",
    },
]


class InvalidModelDeploymentError(ValueError):
    """The object cannot be used; str() lists every problem, one per line."""


class ObjectMeta(BaseModel):
    """The metadata the operator needs; everything else in metadata is ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    name: str
    namespace: str = "default"
    uid: str = ""
    generation: int = 0
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ModelDeployment(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    api_version: str = Field(default=API_VERSION, alias="apiVersion")
    kind: str = KIND
    metadata: ObjectMeta
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def served_name(self) -> str:
        return self.spec.effective_served_name(self.metadata.name)


def root_rule_violations(md: ModelDeployment) -> list[str]:
    """The Python twin of ROOT_RULES."""
    problems: list[str] = []
    name = md.metadata.name
    if not re.match(NAME_PATTERN, name):
        problems.append(ROOT_RULES[0]["message"])
    if len(name) > NAME_MAX:
        problems.append(ROOT_RULES[1]["message"])
    if md.spec.routing is not None and md.served_name in md.spec.routing.fallback:
        problems.append(ROOT_RULES[2]["message"])
    if md.served_name.startswith(TASK_PREFIX):
        problems.append("servedModelName may not start with 'task:'")
    return problems


def parse_model_deployment(body: Mapping[str, Any]) -> ModelDeployment:
    """Validate a full object (as a dict). Raises InvalidModelDeploymentError."""
    if not isinstance(body, Mapping):
        raise InvalidModelDeploymentError(f"expected a mapping, got {type(body).__name__}")
    try:
        md = ModelDeployment.model_validate(_plain(body), by_alias=True, by_name=False)
    except ValidationError as error:
        raise InvalidModelDeploymentError(format_validation_error(error)) from None
    problems = root_rule_violations(md)
    if problems:
        raise InvalidModelDeploymentError("invalid ModelDeployment:\n  " + "\n  ".join(problems))
    return md


def parse_spec(spec: Mapping[str, Any]) -> ModelDeploymentSpec:
    """Validate only a spec (e.g. kopf's `spec` kwarg)."""
    if not isinstance(spec, Mapping):
        raise InvalidModelDeploymentError(f"spec must be a mapping, got {type(spec).__name__}")
    try:
        return ModelDeploymentSpec.model_validate(_plain(spec), by_alias=True, by_name=False)
    except ValidationError as error:
        raise InvalidModelDeploymentError(format_validation_error(error, prefix="spec")) from None


def _plain(value: Any) -> Any:
    """Deep copy into plain dicts/lists: kopf hands over Mapping views (Body, Spec), not dicts."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def format_validation_error(error: ValidationError, prefix: str = "") -> str:
    lines = []
    for item in error.errors():
        parts = [prefix] if prefix else []
        parts += [str(part) for part in item["loc"]]
        where = ".".join(parts) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "invalid ModelDeployment:\n  " + "\n  ".join(lines)


def dump_spec(spec: ModelDeploymentSpec) -> dict[str, Any]:
    """The spec as camelCase JSON-compatible data, without unset optional fields."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def dump_status(status: ModelDeploymentStatus) -> dict[str, Any]:
    """The status as camelCase JSON-compatible data, ready for a status patch."""
    data = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    for condition in data.get("conditions", []):
        # metav1.Time is RFC 3339 with a Z suffix.
        condition["lastTransitionTime"] = condition["lastTransitionTime"].replace("+00:00", "Z")
    return data
