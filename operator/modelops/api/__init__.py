"""modelops.api: the ModelDeployment resource (pydantic models), conditions, CRD generation.

The models are the single source of truth; `modelops crds` renders the CRD from them.
Names are imported lazily (PEP 562), so that light modules of this package (`engines`,
`telemetry`) can be read by the simulator without paying for pydantic at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelops.api.resource import (
        InvalidModelDeploymentError,
        ModelDeployment,
        ObjectMeta,
        dump_spec,
        dump_status,
        parse_model_deployment,
        parse_spec,
    )
    from modelops.api.spec import DEFAULT_IMAGES, Engine, ModelDeploymentSpec
    from modelops.api.status import Condition, ModelDeploymentStatus, Phase
    from modelops.api.wire import API_VERSION, GROUP, KIND, PLURAL, VERSION

__all__ = [
    "API_VERSION",
    "DEFAULT_IMAGES",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Condition",
    "Engine",
    "InvalidModelDeploymentError",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ObjectMeta",
    "Phase",
    "dump_spec",
    "dump_status",
    "parse_model_deployment",
    "parse_spec",
]
_HOMES = {
    "modelops.api.resource": (
        "InvalidModelDeploymentError",
        "ModelDeployment",
        "ObjectMeta",
        "dump_spec",
        "dump_status",
        "parse_model_deployment",
        "parse_spec",
    ),
    "modelops.api.spec": ("DEFAULT_IMAGES", "Engine", "ModelDeploymentSpec"),
    "modelops.api.status": ("Condition", "ModelDeploymentStatus", "Phase"),
    "modelops.api.wire": ("API_VERSION", "GROUP", "KIND", "PLURAL", "VERSION"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'modelops.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
