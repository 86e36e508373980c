"""Simulated nodes: shapes (what a node advertises) and their Node manifests.

A shape is a small, user-editable description (`--nodes FILE`, YAML):

    nodes:
      - name: rtx4090        # prefix; nodes are named <name>-<index>
        count: 4
        gpus: 1
        gpuProduct: NVIDIA-GeForce-RTX-4090
        gpuMemoryMiB: 24564
      - name: a100-80gb
        count: 2
        gpus: 8
        gpuProduct: NVIDIA-A100-SXM4-80GB
        gpuMemoryMiB: 81920

GPU nodes carry the labels NVIDIA's GPU feature discovery sets and the taint the GPU
operator recommends, so workloads need the usual toleration, exactly as on a real cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

SIMULATED_LABEL = "modelops.io/simulated"
# `modelops cluster node down`: KWOK (and the launcher) leave a node with this label alone,
# as if its kubelet had died. The same name is in modelops.k8s.pod_status.
DOWN_LABEL = "modelops.io/node-down"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
# Each cluster gets a 127.<n>.0.0/16 of its own (so clusters side by side never share a pod
# IP) and each node one /24 of it; all of 127/8 is loopback on Linux.
FIRST_POD_NETWORK = 10


@dataclass(frozen=True)
class NodeShape:
    name: str
    count: int = 1
    gpus: int = 0
    gpu_product: str | None = None
    gpu_memory_mib: int | None = None
    cpu: str = "32"
    memory: str = "256Gi"
    pods: int = 110


DEFAULT_SHAPES = (
    NodeShape(
        "gpu-a100-40gb",
        gpus=8,
        gpu_product="NVIDIA-A100-SXM4-40GB",
        gpu_memory_mib=40960,
        cpu="96",
        memory="1Ti",
    ),
    NodeShape(
        "gpu-a100-80gb",
        gpus=8,
        gpu_product="NVIDIA-A100-SXM4-80GB",
        gpu_memory_mib=81920,
        cpu="96",
        memory="1Ti",
    ),
    NodeShape("cpu", cpu="32", memory="128Gi"),
)


class ShapeError(ValueError):
    pass


_SHAPE_KEYS = {
    "name": "name",
    "count": "count",
    "gpus": "gpus",
    "gpuProduct": "gpu_product",
    "gpuMemoryMiB": "gpu_memory_mib",
    "cpu": "cpu",
    "memory": "memory",
    "pods": "pods",
}


def parse_shapes(text: str) -> tuple[NodeShape, ...]:
    """Read the `nodes:` YAML; raise ShapeError with a readable message on bad input."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ShapeError(f"node shapes are not valid YAML: {error}") from error
    entries = document.get("nodes") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ShapeError("node shapes need a non-empty list under 'nodes:'")
    shapes = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ShapeError(f"nodes[{index}] needs at least a 'name'")
        unknown = set(entry) - set(_SHAPE_KEYS)
        if unknown:
            raise ShapeError(f"nodes[{index}] has unknown keys: {', '.join(sorted(unknown))}")
        for key in ("count", "gpus", "pods", "gpuMemoryMiB"):
            if key not in entry:
                continue
            value = entry[key]
            # YAML booleans (true, yes) are ints to Python: reject them too.
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ShapeError(f"nodes[{index}].{key} must be a non-negative integer")
        fields = {_SHAPE_KEYS[k]: v for k, v in entry.items()}
        fields["name"] = str(fields["name"])
        if fields.get("gpu_product") is not None:
            fields["gpu_product"] = str(fields["gpu_product"])  # a label value
        for key in ("cpu", "memory"):
            if key in fields:
                fields[key] = str(fields[key])
        shapes.append(NodeShape(**fields))
    return tuple(shapes)


def pod_network(taken: Iterable[int]) -> int:
    """The first second octet (127.<n>/16) no other local cluster uses."""
    used = set(taken)
    for octet in range(FIRST_POD_NETWORK, 255):
        if octet not in used:
            return octet
    raise ShapeError("no free 127.<n>.0.0/16 pod network left")


def free_pod_cidrs(network: int, used: Iterable[str]) -> Iterator[str]:
    """Unused /24s of 127.<network>/16, in order."""
    taken = set(used)
    for third in range(256):
        cidr = f"127.{network}.{third}.0/24"
        if cidr not in taken:
            yield cidr


def node_manifest(shape: NodeShape, node_name: str, pod_cidr: str) -> dict[str, Any]:
    """The Node object for one simulated node (status included: KWOK keeps it)."""
    labels = {
        "kubernetes.io/hostname": node_name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        SIMULATED_LABEL: "true",
    }
    capacity: dict[str, str] = {
        "cpu": shape.cpu,
        "memory": shape.memory,
        "pods": str(shape.pods),
        "ephemeral-storage": "1Ti",
    }
    taints: list[Mapping[str, str]] = []
    if shape.gpus:
        labels.update(
            {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.count": str(shape.gpus),
                "nvidia.com/gpu.product": shape.gpu_product or "NVIDIA-GPU",
            }
        )
        if shape.gpu_memory_mib:
            labels["nvidia.com/gpu.memory"] = str(shape.gpu_memory_mib)
        capacity[GPU_RESOURCE] = str(shape.gpus)
        taints.append(GPU_TAINT)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node_name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "taints": taints},
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def node_manifests(shapes: Iterable[NodeShape], pod_cidrs: Iterator[str]) -> list[dict[str, Any]]:
    """Manifests for every node of every shape, each with the next pod CIDR."""
    manifests = []
    for shape in shapes:
        for ordinal in range(shape.count):
            cidr = next(pod_cidrs, None)
            if cidr is None:
                raise ShapeError("at most 256 simulated nodes per cluster (one /24 each)")
            manifests.append(node_manifest(shape, f"{shape.name}-{ordinal}", cidr))
    return manifests
