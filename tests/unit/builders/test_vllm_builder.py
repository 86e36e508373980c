from __future__ import annotations

from typing import Any

import pytest

from tests.unit.builders.helpers import VLLM, build, container, pod_spec, spec_with


@pytest.mark.parametrize(
    ("spec", "expected_args"),
    [
        (
            VLLM,
            [
                "--model",
                "org/model",
                "--served-model-name",
                "demo",
                "--tensor-parallel-size",
                "1",
                "--port",
                "8000",
            ],
        ),
        (
            spec_with(VLLM, servedModelName="alias", resources={"gpus": 4}),
            [
                "--model",
                "org/model",
                "--served-model-name",
                "alias",
                "--tensor-parallel-size",
                "4",
                "--port",
                "8000",
            ],
        ),
        (
            spec_with(VLLM, resources={"gpus": 4}, vllm={"tensorParallelSize": 2}),
            [
                "--model",
                "org/model",
                "--served-model-name",
                "demo",
                "--tensor-parallel-size",
                "2",
                "--port",
                "8000",
                "--pipeline-parallel-size",
                "2",
            ],
        ),
        (
            spec_with(
                VLLM,
                vllm={
                    "maxModelLen": 8192,
                    "quantization": "awq",
                    "dtype": "bfloat16",
                    "gpuMemoryUtilization": 0.9,
                    "enablePrefixCaching": True,
                    "maxNumSeqs": 64,
                    "extraArgs": ["--enforce-eager", "--seed=1"],
                },
            ),
            [
                "--model",
                "org/model",
                "--served-model-name",
                "demo",
                "--tensor-parallel-size",
                "1",
                "--port",
                "8000",
                "--max-model-len",
                "8192",
                "--quantization",
                "awq",
                "--dtype",
                "bfloat16",
                "--gpu-memory-utilization",
                "0.9",
                "--enable-prefix-caching",
                "--max-num-seqs",
                "64",
                "--enforce-eager",
                "--seed=1",
            ],
        ),
        (
            spec_with(VLLM, vllm={"enablePrefixCaching": False}),
            [
                "--model",
                "org/model",
                "--served-model-name",
                "demo",
                "--tensor-parallel-size",
                "1",
                "--port",
                "8000",
                "--no-enable-prefix-caching",
            ],
        ),
    ],
    ids=["defaults", "served-name-and-tp-from-gpus", "pipeline", "all-settings", "no-prefix"],
)
def test_vllm_args(spec: dict[str, Any], expected_args: list[str]) -> None:
    assert container(build(spec))["args"] == expected_args


def test_vllm_container_shape() -> None:
    children = build(VLLM)
    server = container(children)
    assert server["image"] == "vllm/vllm-openai:v0.10.1"
    assert server["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"] == {"path": "/health", "port": "http"}
    startup = server["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 20 * 60
    assert {"name": "dshm", "mountPath": "/dev/shm"} in server["volumeMounts"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod_spec(children)["volumes"]
    assert "command" not in server  # the image's entrypoint is the API server
    assert children.service["spec"]["ports"][0]["port"] == 8000


def test_vllm_cache_mounts_the_hf_cache() -> None:
    children = build(spec_with(VLLM, cache={"size": "100Gi", "storageClassName": "fast"}))
    server = container(children)
    assert {"name": "model-cache", "mountPath": "/root/.cache/huggingface"} in server[
        "volumeMounts"
    ]
    assert {
        "name": "model-cache",
        "persistentVolumeClaim": {"claimName": "demo-cache"},
    } in pod_spec(children)["volumes"]
    assert children.pvc is not None
    assert children.pvc["metadata"]["name"] == "demo-cache"
    assert children.pvc["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "100Gi"}},
        "storageClassName": "fast",
    }


def test_vllm_explicit_image_and_cpu_mode() -> None:
    children = build(spec_with(VLLM, image="my/vllm-cpu:1", resources={"gpus": 0}))
    assert container(children)["image"] == "my/vllm-cpu:1"
    assert "tolerations" not in pod_spec(children)
    assert "nvidia.com/gpu" not in str(container(children).get("resources", {}))
