"""Creating Kubernetes API clients: the one place that reads kubeconfigs."""

from __future__ import annotations

from pathlib import Path

from lightkube import AsyncClient, Client
from lightkube.config.kubeconfig import KubeConfig

FIELD_MANAGER = "modelops"

# The client type other layers may hold without importing lightkube themselves.
ApiClient = AsyncClient


def load_config(kubeconfig: Path | str | None = None) -> KubeConfig:
    """A kubeconfig file when given, else $KUBECONFIG / ~/.kube/config / in-cluster."""
    if kubeconfig:
        return KubeConfig.from_file(str(kubeconfig))
    return KubeConfig.from_env()


def async_client(
    kubeconfig: Path | str | None = None, *, namespace: str | None = None
) -> AsyncClient:
    return AsyncClient(
        load_config(kubeconfig), namespace=namespace, field_manager=FIELD_MANAGER, trust_env=False
    )


def sync_client(kubeconfig: Path | str | None = None, *, namespace: str | None = None) -> Client:
    return Client(
        load_config(kubeconfig), namespace=namespace, field_manager=FIELD_MANAGER, trust_env=False
    )
