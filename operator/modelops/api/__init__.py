"""modelops.api: the ModelDeployment resource (pydantic models), conditions, CRD generation.

The models are the single source of truth; `modelops crds` renders the CRD from them.
"""

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
