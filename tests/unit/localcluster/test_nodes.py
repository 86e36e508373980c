"""modelops.localcluster.nodes: node shapes, Node manifests and pod networks (pure)."""

from __future__ import annotations

import itertools

import pytest

from modelops.localcluster.nodes import (
    DEFAULT_SHAPES,
    FIRST_POD_NETWORK,
    GPU_RESOURCE,
    GPU_TAINT,
    SIMULATED_LABEL,
    NodeShape,
    ShapeError,
    free_pod_cidrs,
    node_manifest,
    node_manifests,
    parse_shapes,
    pod_network,
)

EXAMPLE = """
nodes:
  - name: rtx4090
    count: 4
    gpus: 1
    gpuProduct: NVIDIA-GeForce-RTX-4090
    gpuMemoryMiB: 24564
  - name: a100-80gb
    count: 2
    gpus: 8
    gpuProduct: NVIDIA-A100-SXM4-80GB
    gpuMemoryMiB: 81920
    cpu: 96
    memory: 1Ti
    pods: 250
  - name: cpu
"""


def test_parse_shapes_example() -> None:
    assert parse_shapes(EXAMPLE) == (
        NodeShape("rtx4090", 4, 1, "NVIDIA-GeForce-RTX-4090", 24564),
        NodeShape(
            "a100-80gb", 2, 8, "NVIDIA-A100-SXM4-80GB", 81920, cpu="96", memory="1Ti", pods=250
        ),
        NodeShape("cpu"),
    )


def test_parse_shapes_turns_names_and_quantities_into_strings() -> None:
    (shape,) = parse_shapes("nodes: [{name: 4090, cpu: 0.5, memory: 1024}]")
    assert (shape.name, shape.cpu, shape.memory) == ("4090", "0.5", "1024")


def test_parse_shapes_gpu_product_is_a_string_label_value() -> None:
    (shape,) = parse_shapes("nodes: [{name: g, gpus: 1, gpuProduct: 4090}]")
    assert shape.gpu_product == "4090"
    assert (
        node_manifest(shape, "g-0", "127.10.0.0/24")["metadata"]["labels"]["nvidia.com/gpu.product"]
        == "4090"
    )


def test_parse_shapes_allows_zero_counts() -> None:
    (shape,) = parse_shapes("nodes: [{name: spare, count: 0, gpus: 0}]")
    assert (shape.count, shape.gpus) == (0, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nodes: [", "not valid YAML"),
        ("", "non-empty list under 'nodes:'"),
        ("nodes:", "non-empty list under 'nodes:'"),
        ("nodes: []", "non-empty list under 'nodes:'"),
        ("nodes: {name: a}", "non-empty list under 'nodes:'"),
        ("- name: a", "non-empty list under 'nodes:'"),
        ("just text", "non-empty list under 'nodes:'"),
        ("nodes: [a]", "nodes[0] needs at least a 'name'"),
        ("nodes: [{name: a}, {count: 2}]", "nodes[1] needs at least a 'name'"),
        ("nodes: [{name: a, gpu: 1, colour: red}]", "nodes[0] has unknown keys: colour, gpu"),
        ("nodes: [{name: a, gpu_product: x}]", "unknown keys: gpu_product"),
        ("nodes: [{name: a, count: -1}]", "nodes[0].count must be a non-negative integer"),
        ("nodes: [{name: a, count: '2'}]", "nodes[0].count must be a non-negative integer"),
        ("nodes: [{name: a, gpus: 1.5}]", "nodes[0].gpus must be a non-negative integer"),
        ("nodes: [{name: a, pods: -3}]", "nodes[0].pods must be a non-negative integer"),
        (
            "nodes: [{name: a, gpuMemoryMiB: big}]",
            "nodes[0].gpuMemoryMiB must be a non-negative integer",
        ),
        # YAML booleans are Python ints; `gpus: true` must not become a GPU count of "True".
        ("nodes: [{name: a, gpus: true}]", "nodes[0].gpus must be a non-negative integer"),
        ("nodes: [{name: a, count: yes}]", "nodes[0].count must be a non-negative integer"),
    ],
)
def test_parse_shapes_errors(text: str, message: str) -> None:
    with pytest.raises(ShapeError) as caught:
        parse_shapes(text)
    assert message in str(caught.value)


def test_gpu_node_manifest() -> None:
    shape = NodeShape("a100", gpus=8, gpu_product="NVIDIA-A100-SXM4-80GB", gpu_memory_mib=81920)
    node = node_manifest(shape, "a100-0", "127.10.3.0/24")
    assert (node["apiVersion"], node["kind"]) == ("v1", "Node")
    meta = node["metadata"]
    assert meta["name"] == "a100-0"
    assert meta["labels"] == {
        "kubernetes.io/hostname": "a100-0",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        SIMULATED_LABEL: "true",
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.count": "8",
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
        "nvidia.com/gpu.memory": "81920",
    }
    assert meta["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["spec"] == {
        "podCIDR": "127.10.3.0/24",
        "podCIDRs": ["127.10.3.0/24"],
        "taints": [{"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}],
    }
    capacity = node["status"]["capacity"]
    assert capacity == {
        "cpu": "32",
        "memory": "256Gi",
        "pods": "110",
        "ephemeral-storage": "1Ti",
        GPU_RESOURCE: "8",
    }
    assert node["status"]["allocatable"] == capacity
    assert node["status"]["allocatable"] is not capacity


def test_gpu_node_without_product_or_memory() -> None:
    node = node_manifest(NodeShape("g", gpus=1), "g-0", "127.10.0.0/24")
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-GPU"
    assert "nvidia.com/gpu.memory" not in labels


def test_cpu_node_manifest_has_no_gpu_labels_taints_or_capacity() -> None:
    shape = NodeShape("cpu", cpu="16", memory="64Gi", pods=50, gpu_product="ignored-without-gpus")
    node = node_manifest(shape, "cpu-0", "127.11.0.0/24")
    assert not any(key.startswith("nvidia.com/") for key in node["metadata"]["labels"])
    assert node["spec"]["taints"] == []
    assert node["status"]["capacity"] == {
        "cpu": "16",
        "memory": "64Gi",
        "pods": "50",
        "ephemeral-storage": "1Ti",
    }


def test_gpu_taint_is_the_gpu_operators() -> None:
    assert GPU_TAINT == {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        ([], FIRST_POD_NETWORK),
        ([10], 11),
        ([10, 11, 13], 12),
        ([1, 2, 3], 10),  # below the first network: not ours to care about
        (range(10, 254), 254),
    ],
)
def test_pod_network(taken: list[int], expected: int) -> None:
    assert pod_network(taken) == expected


def test_pod_network_exhausted() -> None:
    with pytest.raises(ShapeError, match=r"no free 127\.<n>\.0\.0/16"):
        pod_network(range(10, 255))


def test_free_pod_cidrs() -> None:
    cidrs = list(free_pod_cidrs(12, ["127.12.1.0/24", "127.12.3.0/24", "127.99.0.0/24"]))
    assert cidrs[:3] == ["127.12.0.0/24", "127.12.2.0/24", "127.12.4.0/24"]
    assert cidrs[-1] == "127.12.255.0/24"
    assert len(cidrs) == 254
    assert len(list(free_pod_cidrs(12, []))) == 256


def test_node_manifests_names_and_cidrs() -> None:
    shapes = [NodeShape("gpu", count=2, gpus=1), NodeShape("none", count=0), NodeShape("cpu")]
    nodes = node_manifests(shapes, free_pod_cidrs(10, ["127.10.1.0/24"]))
    assert [n["metadata"]["name"] for n in nodes] == ["gpu-0", "gpu-1", "cpu-0"]
    assert [n["spec"]["podCIDR"] for n in nodes] == [
        "127.10.0.0/24",
        "127.10.2.0/24",
        "127.10.3.0/24",
    ]
    assert [n["spec"]["taints"] != [] for n in nodes] == [True, True, False]


def test_node_manifests_limit() -> None:
    assert len(node_manifests([NodeShape("n", count=256)], free_pod_cidrs(10, []))) == 256
    with pytest.raises(ShapeError, match="at most 256 simulated nodes"):
        node_manifests(
            [NodeShape("n", count=200), NodeShape("m", count=57)], free_pod_cidrs(10, [])
        )
    # CIDRs already in use lower the limit.
    with pytest.raises(ShapeError, match="at most 256"):
        node_manifests([NodeShape("n", count=256)], free_pod_cidrs(10, ["127.10.0.0/24"]))


def test_node_manifests_consume_a_shared_cidr_iterator() -> None:
    cidrs = free_pod_cidrs(10, [])
    first = node_manifests([NodeShape("a")], cidrs)
    second = node_manifests([NodeShape("b")], cidrs)
    assert first[0]["spec"]["podCIDR"] != second[0]["spec"]["podCIDR"]


def test_default_shapes_fit_a_cluster_and_have_unique_names() -> None:
    names = [shape.name for shape in DEFAULT_SHAPES]
    assert len(names) == len(set(names))
    nodes = node_manifests(DEFAULT_SHAPES, free_pod_cidrs(10, []))
    cidrs = [n["spec"]["podCIDR"] for n in nodes]
    assert len(cidrs) == len(set(cidrs))
    products = {n["metadata"]["labels"].get("nvidia.com/gpu.product") for n in nodes}
    assert {"NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-SXM4-80GB"} <= products
    assert all(
        a["metadata"]["name"] != b["metadata"]["name"] for a, b in itertools.combinations(nodes, 2)
    )
