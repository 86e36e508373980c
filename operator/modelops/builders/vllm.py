"""The vLLM container: the OpenAI-compatible server of the vllm/vllm-openai image.

The image's entrypoint is the API server, so only `args` are set. Every flag is passed as two
tokens (`--port`, `8000`) and never through a shell.
"""

from __future__ import annotations

from typing import Any

from modelops.api.engines import ENGINE_FACTS
from modelops.api.spec import ModelDeploymentSpec

FACTS = ENGINE_FACTS["vllm"]
PORT = FACTS.port
# The Hugging Face cache inside the image ($HOME is /root); weights land here.
CACHE_MOUNT_PATH = "/root/.cache/huggingface"
SHM_VOLUME = "dshm"
# Loading a large model (download + weights to GPU) takes minutes; the startup probe gives it
# PERIOD * THRESHOLD = 30 minutes before the kubelet restarts the container.
STARTUP_PERIOD_SECONDS = 10
STARTUP_FAILURE_THRESHOLD = 180
STARTUP_BUDGET_SECONDS = STARTUP_PERIOD_SECONDS * STARTUP_FAILURE_THRESHOLD


def _flag_value(value: float) -> str:
    return format(value, "g")


def build_args(spec: ModelDeploymentSpec, *, served_name: str) -> list[str]:
    tensor_parallel = spec.effective_tensor_parallel_size()
    args = [
        "--model",
        spec.model,
        "--served-model-name",
        served_name,
        "--tensor-parallel-size",
        str(tensor_parallel),
        "--port",
        str(PORT),
    ]
    gpus = spec.resources.gpus
    # The CRD guarantees tensor_parallel divides gpus; GPUs beyond one tensor-parallel group are
    # used as pipeline stages so that every requested GPU does work.
    if gpus > tensor_parallel:
        args += ["--pipeline-parallel-size", str(gpus // tensor_parallel)]
    settings = spec.vllm
    if settings is None:
        return args
    if settings.max_model_len is not None:
        args += ["--max-model-len", str(settings.max_model_len)]
    if settings.quantization is not None:
        args += ["--quantization", settings.quantization]
    if settings.dtype is not None:
        args += ["--dtype", settings.dtype]
    if settings.gpu_memory_utilization is not None:
        args += ["--gpu-memory-utilization", _flag_value(settings.gpu_memory_utilization)]
    if settings.enable_prefix_caching is True:
        args.append("--enable-prefix-caching")
    elif settings.enable_prefix_caching is False:
        args.append("--no-enable-prefix-caching")
    if settings.max_num_seqs is not None:
        args += ["--max-num-seqs", str(settings.max_num_seqs)]
    return args + list(settings.extra_args)


def _probe(period: int, failures: int, timeout: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": FACTS.health_path, "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": timeout,
    }


def build_container(spec: ModelDeploymentSpec, *, served_name: str) -> dict[str, Any]:
    return {
        "image": spec.effective_image(),
        "args": build_args(spec, served_name=served_name),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "startupProbe": _probe(STARTUP_PERIOD_SECONDS, STARTUP_FAILURE_THRESHOLD, 5),
        "readinessProbe": _probe(5, 3, 5),
        "livenessProbe": _probe(15, 4, 10),
        "volumeMounts": [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}],
    }


def builtin_env(spec: ModelDeploymentSpec) -> list[dict[str, Any]]:
    return []


def extra_volumes(spec: ModelDeploymentSpec) -> list[dict[str, Any]]:
    # NCCL and the tokenizer workers use shared memory; the container default (64Mi) is far
    # too small for tensor parallelism.
    return [{"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}}]
