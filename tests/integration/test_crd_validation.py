"""The API server itself rejects bad ModelDeployments (schema + CEL) with clear messages,
accepts every example, applies defaults, and serves the scale and status subresources.

Nothing here needs the operator: rejected objects never reach it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.api.crd import CRD_NAME, CRD_PATH
from modelops.api.resource import parse_model_deployment
from tests.conftest import ClusterHandle, OperatorProcess, wait_until

pytestmark = pytest.mark.cluster

REPO = Path(__file__).parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.yaml") if p.stem != "kustomization")
OLLAMA: dict[str, Any] = {"engine": "ollama", "model": "llama3.1:8b"}
VLLM: dict[str, Any] = {"engine": "vllm", "model": "org/model", "resources": {"gpus": 2}}


def manifest(spec: dict[str, Any], name: str = "demo") -> str:
    return json.dumps(
        {
            "apiVersion": "modelops.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(base)
    result.update(changes)
    return result


@pytest.fixture(scope="module")
def crd(cluster: ClusterHandle) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / CRD_PATH))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")


# (id, spec, metadata.name, substring of the API server's answer)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    # -- CEL rules -------------------------------------------------------------------------
    (
        "vllm-section-on-ollama",
        with_(OLLAMA, vllm={}),
        "demo",
        "spec.vllm is only allowed with engine: vllm",
    ),
    (
        "ollama-section-on-vllm",
        with_(VLLM, ollama={}),
        "demo",
        "spec.ollama is only allowed with engine: ollama",
    ),
    (
        "tp-does-not-divide-gpus",
        with_(VLLM, resources={"gpus": 3}, vllm={"tensorParallelSize": 2}),
        "demo",
        "vllm.tensorParallelSize must divide resources.gpus",
    ),
    (
        "tp-without-gpus",
        with_(VLLM, image="my/vllm-cpu:1", resources={"gpus": 0}, vllm={"tensorParallelSize": 2}),
        "demo",
        "vllm.tensorParallelSize must divide resources.gpus",
    ),
    (
        "vllm-cpu-with-cuda-image",
        with_(VLLM, resources={"gpus": 0}),
        "demo",
        "engine vllm without GPUs needs an explicit CPU image",
    ),
    (
        "gpu-product-without-gpus",
        with_(OLLAMA, resources={"gpuProduct": "NVIDIA-L40S"}),
        "demo",
        "resources.gpuProduct needs resources.gpus > 0",
    ),
    (
        "gpu-product-contradicts-node-selector",
        with_(
            VLLM,
            resources={"gpus": 1, "gpuProduct": "NVIDIA-L40S"},
            nodeSelector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"},
        ),
        "demo",
        "nodeSelector nvidia.com/gpu.product contradicts resources.gpuProduct",
    ),
    (
        "cache-size-and-existing-claim",
        with_(OLLAMA, cache={"size": "10Gi", "existingClaim": "models"}),
        "demo",
        "cache needs exactly one of size (a new PVC) or existingClaim",
    ),
    (
        "cache-empty",
        with_(OLLAMA, cache={}),
        "demo",
        "cache needs exactly one of size (a new PVC) or existingClaim",
    ),
    (
        "cache-storage-class-with-existing-claim",
        with_(OLLAMA, cache={"existingClaim": "models", "storageClassName": "fast"}),
        "demo",
        "cache.storageClassName only applies with cache.size",
    ),
    (
        "autoscaling-min-above-max",
        with_(OLLAMA, autoscaling={"minReplicas": 5, "maxReplicas": 2}),
        "demo",
        "autoscaling.minReplicas must be <= autoscaling.maxReplicas",
    ),
    (
        "autoscaling-scale-to-zero-after-zero",
        with_(OLLAMA, autoscaling={"minReplicas": 0, "scaleToZeroAfter": "0m0s"}),
        "demo",
        "autoscaling.scaleToZeroAfter must be a positive duration such as 15m",
    ),
    (
        "autoscaling-scale-to-zero-after-not-a-duration",
        with_(OLLAMA, autoscaling={"scaleToZeroAfter": "15 minutes"}),
        "demo",
        "spec.autoscaling.scaleToZeroAfter",
    ),
    (
        "autoscaling-kv-cache-above-one",
        with_(VLLM, autoscaling={"targetKVCache": 1.5}),
        "demo",
        "spec.autoscaling.targetKVCache",
    ),
    (
        "autoscaling-zero-step",
        with_(OLLAMA, autoscaling={"scaleUp": {"maxStep": 0}}),
        "demo",
        "spec.autoscaling.scaleUp.maxStep",
    ),
    (
        "rollout-weights-decreasing",
        with_(OLLAMA, rollout={"steps": [{"weight": 50}, {"weight": 10}]}),
        "demo",
        "rollout.steps weights must be strictly increasing",
    ),
    (
        "rollout-weights-repeated",
        with_(OLLAMA, rollout={"steps": [{"weight": 10}, {"weight": 10}]}),
        "demo",
        "rollout.steps weights must be strictly increasing",
    ),
    (
        "fallback-to-itself-by-default-name",
        with_(OLLAMA, routing={"fallback": ["demo"]}),
        "demo",
        "routing.fallback must not name this model's own servedModelName",
    ),
    (
        "fallback-to-itself-by-served-name",
        with_(OLLAMA, servedModelName="chat", routing={"fallback": ["other", "chat"]}),
        "demo",
        "routing.fallback must not name this model's own servedModelName",
    ),
    (
        "served-name-task-prefix",
        with_(OLLAMA, servedModelName="task:chat"),
        "demo",
        "servedModelName may not start with 'task:'",
    ),
    (
        "extra-args-reserved-flag",
        with_(VLLM, vllm={"extraArgs": ["--port", "9000"]}),
        "demo",
        "vllm.extraArgs may not set",
    ),
    (
        "env-value-and-value-from",
        with_(
            OLLAMA,
            env=[
                {
                    "name": "A",
                    "value": "1",
                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                }
            ],
        ),
        "demo",
        "env: set value or valueFrom, not both",
    ),
    (
        "toleration-exists-with-value",
        with_(OLLAMA, tolerations=[{"key": "k", "operator": "Exists", "value": "v"}]),
        "demo",
        "a toleration with operator Exists must not have a value",
    ),
    ("name-starts-with-digit", OLLAMA, "3b-chat", "metadata.name must start with a letter"),
    ("name-too-long", OLLAMA, "a" * 53, "metadata.name must be at most 52 characters"),
    # -- schema: types, enums, bounds, patterns, required, unknown fields --------------------
    ("engine-unknown", with_(OLLAMA, engine="tgi"), "demo", 'Unsupported value: "tgi"'),
    ("model-missing", {"engine": "ollama"}, "demo", "spec.model: Required value"),
    (
        "model-with-shell-metacharacters",
        with_(OLLAMA, model="x; rm -rf /"),
        "demo",
        "spec.model in body should match",
    ),
    (
        "replicas-negative",
        with_(OLLAMA, replicas=-1),
        "demo",
        "spec.replicas in body should be greater than or equal to 0",
    ),
    (
        "gpus-too-many",
        with_(OLLAMA, resources={"gpus": 17}),
        "demo",
        "spec.resources.gpus in body should be less than or equal to 16",
    ),
    (
        "memory-not-a-quantity",
        with_(OLLAMA, resources={"memory": "16GB"}),
        "demo",
        "spec.resources.memory in body should match",
    ),
    (
        "gpu-utilization-zero",
        with_(VLLM, vllm={"gpuMemoryUtilization": 0}),
        "demo",
        "spec.vllm.gpuMemoryUtilization in body should be greater than 0",
    ),
    (
        "gpu-utilization-above-one",
        with_(VLLM, vllm={"gpuMemoryUtilization": 1.5}),
        "demo",
        "spec.vllm.gpuMemoryUtilization in body should be less than or equal to 1",
    ),
    (
        "quantization-unknown",
        with_(VLLM, vllm={"quantization": "int3"}),
        "demo",
        'Unsupported value: "int3"',
    ),
    (
        "context-length-too-small",
        with_(OLLAMA, ollama={"contextLength": 8}),
        "demo",
        "spec.ollama.contextLength in body should be greater than or equal to 256",
    ),
    (
        "keep-alive-garbage",
        with_(OLLAMA, ollama={"keepAlive": "forever"}),
        "demo",
        "spec.ollama.keepAlive in body should match",
    ),
    (
        "rollout-weight-above-100",
        with_(OLLAMA, rollout={"steps": [{"weight": 150}]}),
        "demo",
        "should be less than or equal to 100",
    ),
    (
        "rollout-pause-garbage",
        with_(OLLAMA, rollout={"steps": [{"weight": 10, "pause": "soon"}]}),
        "demo",
        "pause in body should match",
    ),
    (
        "task-duplicate",
        with_(OLLAMA, routing={"tasks": ["chat", "chat"]}),
        "demo",
        "Duplicate value",
    ),
    (
        "task-uppercase",
        with_(OLLAMA, routing={"tasks": ["Chat"]}),
        "demo",
        "spec.routing.tasks[0] in body should match",
    ),
    (
        "timeout-zero",
        with_(OLLAMA, routing={"timeoutSeconds": 0}),
        "demo",
        "spec.routing.timeoutSeconds in body should be greater than or equal to 1",
    ),
    ("unknown-field", with_(OLLAMA, replica=2), "demo", 'unknown field "spec.replica"'),
    (
        "snake-case-field",
        with_(OLLAMA, served_model_name="x"),
        "demo",
        'unknown field "spec.served_model_name"',
    ),
]


@pytest.mark.parametrize(
    ("spec", "name", "expected"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_spec_is_rejected_by_the_api_server(
    cluster: ClusterHandle,
    crd: None,
    namespace: str,
    spec: dict[str, Any],
    name: str,
    expected: str,
) -> None:
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=manifest(spec, name),
        check=False,
    )
    assert result.returncode != 0, f"accepted: {result.stdout}"
    assert expected in result.stderr, result.stderr


def test_invalid_table_is_big_enough() -> None:
    assert len(INVALID) >= 20


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_passes_server_dry_run(
    cluster: ClusterHandle, crd: None, namespace: str, path: Path
) -> None:
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", str(path), "-o", "json"
    )
    applied = json.loads(result.stdout)
    assert (
        applied["spec"]["resources"]["gpus"]
        == yaml.safe_load(path.read_text())["spec"]["resources"]["gpus"]
    )


KITCHEN_SINK: dict[str, Any] = {
    "engine": "vllm",
    "model": "Qwen/Qwen2.5-14B-Instruct",
    "servedModelName": "qwen-large",
    "image": "vllm/vllm-openai:v0.10.1",
    "replicas": 2,
    "resources": {"gpus": 4, "gpuProduct": "NVIDIA-L40S", "cpu": 8, "memory": "64Gi"},
    "nodeSelector": {"pool": "inference", "nvidia.com/gpu.product": "NVIDIA-L40S"},
    "tolerations": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
    "env": [
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}},
        {"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"},
    ],
    "podAnnotations": {"prometheus.io/scrape": "true"},
    "cache": {"size": "100Gi", "storageClassName": "fast"},
    "vllm": {
        "tensorParallelSize": 2,
        "maxModelLen": 16384,
        "quantization": "awq",
        "dtype": "bfloat16",
        "gpuMemoryUtilization": 0.9,
        "enablePrefixCaching": True,
        "maxNumSeqs": 128,
        "extraArgs": ["--enforce-eager", "--model-impl", "vllm"],
    },
    "routing": {
        "tasks": ["summarisation", "chat"],
        "fallback": ["phi3-mini-4k"],
        "timeoutSeconds": 90,
    },
    "rollout": {
        "steps": [{"weight": 10, "pause": "1m"}, {"weight": 50}, {"weight": 100}],
        "analysis": {"maxErrorRate": 0.01},
    },
    "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 8},
}


def test_every_field_at_once_is_accepted_and_parses_back(
    cluster: ClusterHandle, crd: None, namespace: str
) -> None:
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        "-o",
        "json",
        input=manifest(KITCHEN_SINK, "qwen2.5-14b-instruct"),
    )
    stored = json.loads(result.stdout)
    spec = stored["spec"]
    # Server-side defaults.
    assert spec["tolerations"][0]["operator"] == "Equal"
    assert spec["cache"]["accessMode"] == "ReadWriteOnce"
    assert spec["rollout"]["steps"][1]["pause"] == "0s"
    assert spec["rollout"]["analysis"] == {
        "maxErrorRate": 0.01,
        "maxP95Seconds": 10,
        "minRequests": 20,
        "maxLatencyRatio": 1.5,
    }
    assert spec["rollout"]["strategy"] == "Canary"
    assert spec["rollout"]["progressDeadlineSeconds"] == 600
    assert spec["autoscaling"]["targetInFlight"] == 8
    assert spec["autoscaling"]["scaleDown"] == {
        "windowSeconds": 60,
        "stabilizationWindowSeconds": 300,
        "maxStep": 1,
    }
    assert spec["autoscaling"]["scaleToZeroAfter"] == "15m"
    assert spec["autoscaling"]["intervalSeconds"] == 5
    assert spec["affinity"] == KITCHEN_SINK["affinity"]
    # What the API server stores is what the operator's parser accepts, unchanged.
    md = parse_model_deployment(stored)
    assert md.served_name == "qwen-large"
    assert md.spec.resources.cpu == "8"


def test_defaults_scale_columns_and_status(
    cluster: ClusterHandle, crd: None, operator: OperatorProcess, namespace: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest(OLLAMA, "chat"))
    stored = json.loads(cluster.kubectl("get", "-n", namespace, "md/chat", "-o", "json").stdout)
    assert stored["spec"]["replicas"] == 1
    assert stored["spec"]["resources"] == {"gpus": 0}

    # The operator fills the status (its pydantic dump is what the status subresource takes).
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "md/chat", "--timeout=60s")

    table = cluster.kubectl("get", "-n", namespace, "md").stdout
    header = table.splitlines()[0].split()
    assert header == [
        "NAME", "ENGINE", "MODEL", "GPUS", "READY", "DESIRED", "PHASE", "CANARY", "AGE"
    ]  # fmt: skip
    assert table.splitlines()[1].split()[:7] == ["chat", "ollama", "chat", "0", "1", "1", "Ready"]

    cluster.kubectl("scale", "-n", namespace, "md/chat", "--replicas=3")
    scaled = json.loads(cluster.kubectl("get", "-n", namespace, "md/chat", "-o", "json").stdout)
    assert scaled["spec"]["replicas"] == 3
    scale = json.loads(
        cluster.kubectl(
            "get",
            "--raw",
            f"/apis/modelops.io/v1alpha1/namespaces/{namespace}/modeldeployments/chat/scale",
        ).stdout
    )
    assert scale["status"]["selector"] == "modelops.io/model=chat"

    def scale_replicas() -> int:
        path = f"/apis/modelops.io/v1alpha1/namespaces/{namespace}/modeldeployments/chat/scale"
        return int(json.loads(cluster.kubectl("get", "--raw", path).stdout)["status"]["replicas"])

    wait_until(lambda: scale_replicas() == 3, what="scale status at 3 replicas")

    # Short name and category.
    assert "chat" in cluster.kubectl("get", "-n", namespace, "modelops", "-o", "name").stdout
