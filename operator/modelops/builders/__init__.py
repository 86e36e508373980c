"""Pure builders: ModelDeployment -> Deployment / Service / PVC manifests (dicts).

The controller calls `build_children(md, namespace=, name=, uid=, slot=, replicas=)`; one module
per engine (`vllm`, `ollama`) shapes the container, `common` holds names, labels and hashes.
"""

from modelops.builders.common import (
    ANNOTATION_TEMPLATE_HASH,
    FIRST_SLOT,
    LABEL_MODEL,
    LABEL_REVISION,
    LABEL_SLOT,
    SLOTS,
    Slot,
    deployment_name,
    model_selector,
    other_slot,
    pvc_name,
    selector_string,
    service_name,
    slot_selector,
)
from modelops.builders.workload import Children, build_children, engine_port, revision

__all__ = [
    "ANNOTATION_TEMPLATE_HASH",
    "FIRST_SLOT",
    "LABEL_MODEL",
    "LABEL_REVISION",
    "LABEL_SLOT",
    "SLOTS",
    "Children",
    "Slot",
    "build_children",
    "deployment_name",
    "engine_port",
    "model_selector",
    "other_slot",
    "pvc_name",
    "revision",
    "selector_string",
    "service_name",
    "slot_selector",
]
