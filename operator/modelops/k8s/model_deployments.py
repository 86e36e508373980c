"""Reading one ModelDeployment and setting its annotations (the `modelops rollout` commands)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from modelops.k8s.writes import ModelDeploymentResource


class NotFoundError(LookupError):
    pass


def get(client: Client, namespace: str, name: str) -> dict[str, Any]:
    try:
        obj = client.get(ModelDeploymentResource, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            raise NotFoundError(f"modeldeployment {namespace}/{name} not found") from None
        raise
    data: dict[str, Any] = obj.to_dict()  # type: ignore[no-untyped-call]
    return data


def annotate(
    client: Client, namespace: str, name: str, annotations: Mapping[str, str | None]
) -> None:
    """Merge-patch metadata.annotations (None removes one); never touches spec."""
    try:
        client.patch(
            ModelDeploymentResource,
            name,
            {"metadata": {"annotations": dict(annotations)}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
    except ApiError as error:
        if error.status.code == 404:
            raise NotFoundError(f"modeldeployment {namespace}/{name} not found") from None
        raise
