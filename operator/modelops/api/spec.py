"""`ModelDeployment.spec`: the desired state a user writes.

Cross-field rules are written twice on purpose: as CEL (`x-kubernetes-validations`, attached to
the JSON schema through `json_schema_extra`) so the API server rejects bad specs before the
operator sees them, and as pydantic validators so Python callers (tests, standalone tools) get
the same answer. `tests/unit/api/test_spec_rules.py` keeps the two lists in step.

Defaults that depend on other fields (the image per engine, `servedModelName` = metadata.name,
`vllm.tensorParallelSize` = gpus) cannot be expressed in a CRD; they are resolved by the
operator (`effective_*` helpers below) and documented in the schema descriptions.
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from modelops.api.engines import ENGINE_FACTS
from modelops.api.wire import (
    DNS_SUBDOMAIN_PATTERN,
    LABEL_VALUE_PATTERN,
    MODEL_MAX,
    MODEL_PATTERN,
    PAUSE_PATTERN,
    SERVED_NAME_MAX,
    SERVED_NAME_PATTERN,
    TASK_PATTERN,
    Duration,
    Quantity,
    WireModel,
)

Engine = Literal["vllm", "ollama"]
ENGINES: tuple[Engine, ...] = ("vllm", "ollama")

DEFAULT_IMAGES: dict[str, str] = {name: facts.default_image for name, facts in ENGINE_FACTS.items()}
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
TASK_PREFIX = "task:"
# Flags the operator sets from spec fields; extraArgs may not repeat them.
VLLM_RESERVED_FLAGS = (
    "--model",
    "--served-model-name",
    "--port",
    "--host",
    "--tensor-parallel-size",
)


def _config(rules: list[dict[str, str]]) -> ConfigDict:
    """The WireModel config plus CEL rules for this object's schema."""
    return ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={"x-kubernetes-validations": rules},  # type: ignore[dict-item]
    )


# ---------------------------------------------------------------------------------------------
# Resources and placement


class Resources(WireModel):
    model_config = _config(
        [
            {
                "rule": "!has(self.gpuProduct) || self.gpus > 0",
                "message": "resources.gpuProduct needs resources.gpus > 0",
            }
        ]
    )

    gpus: int = Field(
        default=0, ge=0, le=16, description="nvidia.com/gpu per replica (limit and request)."
    )
    gpu_product: str | None = Field(
        default=None,
        max_length=63,
        pattern=LABEL_VALUE_PATTERN,
        description="Schedules on nodes labelled nvidia.com/gpu.product=<value>, "
        "e.g. NVIDIA-A100-SXM4-80GB.",
    )
    cpu: Quantity | None = Field(default=None, description="CPU request per replica.")
    memory: Quantity | None = Field(
        default=None, description="Memory request and limit per replica."
    )

    @model_validator(mode="after")
    def _gpu_product_needs_gpus(self) -> Self:
        if self.gpu_product is not None and self.gpus <= 0:
            raise ValueError("resources.gpuProduct needs resources.gpus > 0")
        return self


class Toleration(WireModel):
    model_config = _config(
        [
            {
                "rule": "self.operator != 'Exists' || !has(self.value)",
                "message": "a toleration with operator Exists must not have a value",
            },
            {
                "rule": "has(self.key) || self.operator == 'Exists'",
                "message": "a toleration without a key must use operator Exists",
            },
        ]
    )

    key: str | None = Field(
        default=None, max_length=316, description="The taint key (empty: every key, with Exists)."
    )
    operator: Literal["Exists", "Equal"] = Field(
        default="Equal", description="Equal matches key and value; Exists matches the key alone."
    )
    value: str | None = Field(default=None, max_length=63, description="The taint value (Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="The taint effect to tolerate (empty: all)."
    )
    toleration_seconds: int | None = Field(
        default=None, description="With NoExecute: how long the pod stays bound after the taint."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.operator == "Exists" and self.value is not None:
            raise ValueError("a toleration with operator Exists must not have a value")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator Exists")
        return self


class EnvVar(WireModel):
    model_config = _config(
        [
            {
                "rule": "!(has(self.value) && has(self.valueFrom))",
                "message": "env: set value or valueFrom, not both",
            }
        ]
    )

    name: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$",
        description="The environment variable's name.",
    )
    value: str | None = Field(default=None, description="Its value (or use valueFrom).")
    value_from: dict[str, Any] | None = Field(
        default=None,
        description="As in a container's env[].valueFrom (secretKeyRef, configMapKeyRef, ...).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.value is not None and self.value_from is not None:
            raise ValueError("env: set value or valueFrom, not both")
        return self


class Cache(WireModel):
    """A volume for model weights: a PVC the operator creates (`size`) or an existing claim."""

    model_config = _config(
        [
            {
                "rule": "has(self.size) != has(self.existingClaim)",
                "message": "cache needs exactly one of size (a new PVC) or existingClaim",
            },
            {
                "rule": "!has(self.storageClassName) || has(self.size)",
                "message": "cache.storageClassName only applies with cache.size",
            },
        ]
    )

    size: Quantity | None = Field(default=None, description="Size of the PVC <name>-cache.")
    storage_class_name: str | None = Field(
        default=None, max_length=253, description="StorageClass of the created PVC (cache.size)."
    )
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"] = (
        Field(
            default="ReadWriteOnce",
            description="Access mode of the created PVC. With ReadWriteOnce every replica (and "
            "both slots during a rollout) must run on one node; use ReadWriteMany for more.",
        )
    )
    existing_claim: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="An existing PVC to mount instead of creating one.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.size is None) == (self.existing_claim is None):
            raise ValueError("cache needs exactly one of size (a new PVC) or existingClaim")
        if self.storage_class_name is not None and self.size is None:
            raise ValueError("cache.storageClassName only applies with cache.size")
        return self


# ---------------------------------------------------------------------------------------------
# Engines


class VllmSettings(WireModel):
    model_config = _config(
        [
            {
                "rule": "!has(self.extraArgs) || self.extraArgs.all(a, "
                + " && ".join(f"a != '{f}' && !a.startsWith('{f}=')" for f in VLLM_RESERVED_FLAGS)
                + ")",
                "message": "vllm.extraArgs may not set "
                + ", ".join(VLLM_RESERVED_FLAGS)
                + "; use model, servedModelName and vllm.tensorParallelSize",
            }
        ]
    )

    tensor_parallel_size: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Defaults to resources.gpus (1 without GPUs). Must divide resources.gpus; "
        "the remaining factor becomes --pipeline-parallel-size.",
    )
    max_model_len: int | None = Field(
        default=None,
        ge=16,
        le=10_485_760,
        description="--max-model-len: the context window in tokens (the router reports it and "
        "routes long prompts elsewhere).",
    )
    quantization: (
        Literal[
            "awq",
            "awq_marlin",
            "gptq",
            "gptq_marlin",
            "marlin",
            "fp8",
            "bitsandbytes",
            "gguf",
            "compressed-tensors",
            "experts_int8",
        ]
        | None
    ) = Field(default=None, description="--quantization: the weights' quantization method.")
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] | None = Field(
        default=None, description="--dtype of weights and activations."
    )
    gpu_memory_utilization: float | None = Field(
        default=None, gt=0, le=1, description="--gpu-memory-utilization: share of GPU memory used."
    )
    enable_prefix_caching: bool | None = Field(
        default=None, description="--enable-prefix-caching (or --no-enable-prefix-caching)."
    )
    max_num_seqs: int | None = Field(
        default=None, ge=1, le=65536, description="--max-num-seqs: requests batched at once."
    )
    extra_args: list[Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=list,
        max_length=64,
        description="Appended verbatim to the vLLM command line (no shell involved).",
    )

    @field_validator("extra_args")
    @classmethod
    def _no_reserved_flags(cls, value: list[str]) -> list[str]:
        for arg in value:
            if any(arg == flag or arg.startswith(flag + "=") for flag in VLLM_RESERVED_FLAGS):
                raise ValueError(
                    "vllm.extraArgs may not set "
                    + ", ".join(VLLM_RESERVED_FLAGS)
                    + "; use model, servedModelName and vllm.tensorParallelSize"
                )
        return value


class OllamaSettings(WireModel):
    keep_alive: Duration | None = Field(
        default=None, description="OLLAMA_KEEP_ALIVE: how long a model stays loaded (-1: forever)."
    )
    num_parallel: int | None = Field(
        default=None, ge=1, le=256, description="OLLAMA_NUM_PARALLEL: requests served at once."
    )
    max_loaded_models: int | None = Field(
        default=None, ge=1, le=64, description="OLLAMA_MAX_LOADED_MODELS."
    )
    context_length: int | None = Field(
        default=None,
        ge=256,
        le=1_048_576,
        description="OLLAMA_CONTEXT_LENGTH: the context window in tokens (the router reports it "
        "and routes long prompts elsewhere).",
    )


# ---------------------------------------------------------------------------------------------
# Routing, rollout, autoscaling


ServedName = Annotated[str, Field(max_length=SERVED_NAME_MAX, pattern=SERVED_NAME_PATTERN)]
TaskName = Annotated[str, Field(max_length=63, pattern=TASK_PATTERN)]


class Routing(WireModel):
    """How the router exposes this model (issue 5)."""

    tasks: list[TaskName] = Field(
        default_factory=list,
        max_length=32,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Tasks this model serves, in the router's task table (task:<name>).",
    )
    fallback: list[ServedName] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Served names to try, in order, when this model is unhealthy or demoted.",
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="Per-request timeout override in the router."
    )

    @field_validator("tasks", "fallback")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise ValueError(f"repeated entries: {', '.join(duplicates)}")
        return value


class RolloutStep(WireModel):
    """One canary step: a share of the traffic, held for a pause, then judged."""

    weight: int = Field(ge=1, le=100, description="Percent of traffic sent to the new revision.")
    pause: str = Field(
        default="0s",
        pattern=PAUSE_PATTERN,
        max_length=16,
        description="How long to hold this step before judging it, e.g. 60s or 2m. The canary "
        "is rolled back as soon as minRequests is reached and a check fails, pause or not.",
    )


class RolloutAnalysis(WireModel):
    """What a canary must show on real traffic, over each step's window, to go on."""

    min_requests: int = Field(
        default=20,
        ge=0,
        le=1_000_000,
        description="Canary requests needed before a step can be judged. Too few at the end of "
        "a pause hold the step (status says how many are missing) until the progress deadline.",
    )
    max_error_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Highest share of failed canary requests (5xx, broken connections, "
        "timeouts; those retried on stable count too).",
    )
    max_p95_seconds: float = Field(
        default=10.0, gt=0, description="Highest 95th percentile canary request latency."
    )
    max_ttft_seconds: float | None = Field(
        default=None,
        gt=0,
        alias="maxTTFTSeconds",
        description="Highest 95th percentile time to first token of streamed canary requests.",
    )
    max_latency_ratio: float | None = Field(
        default=1.5,
        gt=0,
        description="Highest canary p95 latency relative to the stable's over the same window "
        "(judged when the stable has requests too). Null disables the comparison.",
    )


class SmokeTest(WireModel):
    """One short chat request sent by the operator to each new pod before any user traffic."""

    enabled: bool = Field(default=True, description="Run the smoke test (default true).")
    prompt: str = Field(
        default="Say OK", min_length=1, max_length=4096, description="The user message sent."
    )
    expect: str | None = Field(
        default=None,
        max_length=1024,
        description="Text the answer must contain (case-insensitive); any non-empty answer "
        "passes when unset.",
    )
    max_tokens: int = Field(default=16, ge=1, le=4096, description="max_tokens of the request.")
    timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Time the pod has to answer."
    )


class Rollout(WireModel):
    """How a new revision (any change that shapes the pod) reaches users."""

    model_config = _config(
        [
            {
                "rule": "!has(self.steps) || (self.steps.map(s, s.weight).isSorted() && "
                "self.steps.all(s, self.steps.exists_one(t, t.weight == s.weight)))",
                "message": "rollout.steps weights must be strictly increasing",
            }
        ]
    )

    strategy: Literal["Canary", "Recreate"] = Field(
        default="Canary",
        description="Canary: the new revision starts in the idle blue/green slot and takes "
        "traffic step by step, judged on metrics. Recreate: the serving pods are replaced in "
        "place, which means downtime while the new ones start.",
    )
    capacity: Literal["Surge", "Reuse", "Auto"] = Field(
        default="Auto",
        description="Where the canary's GPUs come from. Surge: extra pods beside the stable "
        "ones. Reuse: one stable replica is taken away for each canary replica (needs at least "
        "two stable replicas). Auto: surge, and reuse when the canary cannot be scheduled for "
        "lack of GPUs.",
    )
    steps: list[RolloutStep] = Field(
        default_factory=list,
        max_length=10,
        description="Canary steps, strictly increasing weights. Empty: 10, 50 and 100 percent "
        "with no pause. After the last step the canary is promoted.",
    )
    analysis: RolloutAnalysis | None = Field(
        default=None, description="Checks each step must pass (defaults apply when unset)."
    )
    smoke_test: SmokeTest | None = Field(
        default=None, description="The request every new pod must answer first."
    )
    progress_deadline_seconds: int = Field(
        default=600,
        ge=10,
        le=86_400,
        description="Time the new slot has to become Ready, and each step to collect "
        "minRequests after its pause; past it the rollout is rolled back.",
    )
    drain_seconds: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="After promotion, how long the old slot keeps its pods for requests still "
        "in flight (it stops earlier when none are) before it goes to 0 replicas.",
    )
    paused: bool = Field(
        default=False,
        description="Hold the rollout at its current step (also: annotation "
        "modelops.io/rollout-paused=true, or `modelops rollout pause`).",
    )

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[RolloutStep]) -> list[RolloutStep]:
        weights = [step.weight for step in value]
        if any(b <= a for a, b in itertools.pairwise(weights)):
            raise ValueError("rollout.steps weights must be strictly increasing")
        return value


class ScaleUp(WireModel):
    """How fast replicas are added."""

    window_seconds: int = Field(
        default=10,
        ge=1,
        le=3600,
        description="Load is averaged over this window before it is divided by the target: "
        "short, so that a load step is answered within two intervals.",
    )
    stabilization_window_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="A larger count must have been recommended for this long (the lowest "
        "recommendation of the window is used), so that a spike shorter than it adds nothing.",
    )
    max_step: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="At most this many replicas added at once. Scale-up decisions come every "
        "interval and within a second of a load change.",
    )


class ScaleDown(WireModel):
    """How slowly replicas are removed."""

    window_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="Load is averaged over this (longer) window for scale-down recommendations.",
    )
    stabilization_window_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="Replicas are removed only when every recommendation of this window was "
        "lower; the highest of them is used. Guards against flapping under noisy load.",
    )
    max_step: int = Field(
        default=1, ge=1, le=1000, description="At most this many replicas removed per interval."
    )


AUTOSCALING_RULES: list[dict[str, str]] = [
    {
        "rule": "self.minReplicas <= self.maxReplicas",
        "message": "autoscaling.minReplicas must be <= autoscaling.maxReplicas",
    },
    {
        # A duration of the pause grammar is positive exactly when one of its digits is.
        "rule": "self.scaleToZeroAfter.matches('[1-9]')",
        "message": "autoscaling.scaleToZeroAfter must be a positive duration such as 15m",
    },
]


class Autoscaling(WireModel):
    """Replica autoscaling on load. The operator writes its decision to status.desiredReplicas
    and applies it to the workloads; spec.replicas is then ignored and never written."""

    model_config = _config(AUTOSCALING_RULES)

    enabled: bool = Field(
        default=False,
        description="Scale on load. Leave false to scale by hand or with an HPA/KEDA on the "
        "scale subresource (spec.replicas).",
    )
    min_replicas: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="Fewest replicas. 0 lets an idle model sleep (see scaleToZeroAfter); the "
        "router holds requests for it until a replica is ready.",
    )
    max_replicas: int = Field(default=4, ge=1, le=1000, description="Most replicas.")
    target_in_flight: int = Field(
        default=8,
        ge=1,
        le=10_000,
        description="Requests per replica (running + waiting, and those the router holds): "
        "desired = ceil(in-flight / targetInFlight).",
    )
    target_waiting: float | None = Field(
        default=None,
        gt=0,
        le=10_000,
        description="vLLM only (ignored for Ollama): waiting requests per replica "
        "(vllm:num_requests_waiting); the larger of the signals' counts wins.",
    )
    target_kv_cache: float | None = Field(
        default=None,
        gt=0,
        le=1,
        alias="targetKVCache",
        description="vLLM only (ignored for Ollama): KV-cache usage per replica, 0-1 "
        "(vllm:kv_cache_usage_perc); the larger of the signals' counts wins.",
    )
    scale_up: ScaleUp = Field(default_factory=ScaleUp, json_schema_extra={"default": {}})
    scale_down: ScaleDown = Field(default_factory=ScaleDown, json_schema_extra={"default": {}})
    scale_to_zero_after: str = Field(
        default="15m",
        pattern=PAUSE_PATTERN,
        min_length=2,
        max_length=16,
        description="With minReplicas 0: how long the model must be idle (no request in flight "
        "or held) before its last replica is removed, e.g. 15m or 1h30m.",
    )
    interval_seconds: int = Field(
        default=5, ge=1, le=300, description="How often the load is read and a decision made."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        messages = [rule["message"] for rule in AUTOSCALING_RULES]
        if self.min_replicas > self.max_replicas:
            raise ValueError(messages[0])
        if self.scale_to_zero_after_seconds() <= 0:
            raise ValueError(messages[1])
        return self

    def scale_to_zero_after_seconds(self) -> int:
        return pause_seconds(self.scale_to_zero_after)


def pause_seconds(text: str) -> int:
    """`1h30m`, `15m`, `45s` (PAUSE_PATTERN) in seconds; 0 for the empty string."""
    seconds = 0
    for amount, unit in re.findall(r"([0-9]+)([hms])", text):
        seconds += int(amount) * {"h": 3600, "m": 60, "s": 1}[unit]
    return seconds


# ---------------------------------------------------------------------------------------------
# The spec


SPEC_RULES: list[dict[str, str]] = [
    {
        "rule": "!has(self.vllm) || self.engine == 'vllm'",
        "message": "spec.vllm is only allowed with engine: vllm",
        "fieldPath": ".vllm",
    },
    {
        "rule": "!has(self.ollama) || self.engine == 'ollama'",
        "message": "spec.ollama is only allowed with engine: ollama",
        "fieldPath": ".ollama",
    },
    {
        "rule": "!has(self.vllm) || !has(self.vllm.tensorParallelSize) "
        "|| self.vllm.tensorParallelSize == 1 "
        "|| (self.resources.gpus > 0 && self.resources.gpus % self.vllm.tensorParallelSize == 0)",
        "message": "vllm.tensorParallelSize must divide resources.gpus (and needs GPUs when > 1)",
        "fieldPath": ".vllm.tensorParallelSize",
    },
    {
        "rule": "self.engine != 'vllm' || self.resources.gpus > 0 || has(self.image)",
        "message": "engine vllm without GPUs needs an explicit CPU image "
        "(the default vllm/vllm-openai image is CUDA only)",
    },
    {
        "rule": "!has(self.servedModelName) || !self.servedModelName.startsWith('task:')",
        "message": "servedModelName may not start with 'task:' (reserved for task routing)",
        "fieldPath": ".servedModelName",
    },
    {
        "rule": "!has(self.resources.gpuProduct) || !has(self.nodeSelector) "
        "|| !('nvidia.com/gpu.product' in self.nodeSelector) "
        "|| self.nodeSelector['nvidia.com/gpu.product'] == self.resources.gpuProduct",
        "message": "nodeSelector nvidia.com/gpu.product contradicts resources.gpuProduct",
        "fieldPath": ".nodeSelector",
    },
]


class ModelDeploymentSpec(WireModel):
    model_config = _config(SPEC_RULES)

    engine: Engine = Field(description="The inference runtime: vllm or ollama.")
    model: str = Field(
        min_length=1,
        max_length=MODEL_MAX,
        pattern=MODEL_PATTERN,
        description="Ollama tag (llama3.1:8b) or Hugging Face repo id / local path for vLLM.",
    )
    served_model_name: str | None = Field(
        default=None,
        max_length=SERVED_NAME_MAX,
        pattern=SERVED_NAME_PATTERN,
        description="The name clients send as `model`. Defaults to metadata.name; the operator "
        "fills it in (a CRD default cannot refer to the object's name).",
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=r"^[^\s]+$",
        description="Container image. Defaults to a pinned tag per engine: "
        + ", ".join(f"{k}: {v}" for k, v in DEFAULT_IMAGES.items())
        + " (resolved by the operator).",
    )
    replicas: int = Field(
        default=1, ge=0, le=1000, description="Replicas (the scale subresource points here)."
    )
    resources: Resources = Field(
        default_factory=Resources,
        json_schema_extra={"default": {}},
        description="GPUs, CPU and memory per replica.",
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Node labels the pods must run on."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=32,
        description="Taints the pods tolerate (nvidia.com/gpu is added when gpus > 0).",
    )
    affinity: dict[str, Any] | None = Field(
        default=None, description="A pod affinity object, passed through unchanged."
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=128,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="Extra container env; a name the operator also sets overrides its value.",
    )
    pod_annotations: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Annotations of the runtime pods."
    )
    cache: Cache | None = Field(
        default=None,
        description="Model weights volume, mounted at the HF cache (vLLM) or models dir (Ollama).",
    )
    vllm: VllmSettings | None = Field(default=None, description="vLLM engine flags.")
    ollama: OllamaSettings | None = Field(default=None, description="Ollama server settings.")
    routing: Routing | None = None
    rollout: Rollout | None = Field(
        default=None,
        description="How new revisions are rolled out (blue/green canary by default).",
    )
    autoscaling: Autoscaling | None = Field(
        default=None, description="Load-based replica autoscaling. Validated; not acted on yet."
    )
    mount_service_account_token: bool = Field(
        default=False,
        description="Mount the namespace's default ServiceAccount token into the runtime pods. "
        "Off by default: vLLM and Ollama never call the Kubernetes API, and a compromised model "
        "server should hold no credential.",
    )

    @field_validator("env")
    @classmethod
    def _env_names_unique(cls, value: list[EnvVar]) -> list[EnvVar]:
        names = [item.name for item in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"env names must be unique, repeated: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        problems = spec_rule_violations(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- defaults the CRD cannot express ------------------------------------------------------

    def effective_image(self) -> str:
        return self.image if self.image is not None else DEFAULT_IMAGES[self.engine]

    def effective_served_name(self, name: str) -> str:
        return self.served_model_name if self.served_model_name is not None else name

    def effective_tensor_parallel_size(self) -> int:
        if self.vllm is not None and self.vllm.tensor_parallel_size is not None:
            return self.vllm.tensor_parallel_size
        return max(1, self.resources.gpus)


def spec_rule_violations(spec: ModelDeploymentSpec) -> list[str]:
    """The Python twin of SPEC_RULES: one message per broken rule (same wording)."""
    problems: list[str] = []
    messages = [rule["message"] for rule in SPEC_RULES]
    if spec.vllm is not None and spec.engine != "vllm":
        problems.append(messages[0])
    if spec.ollama is not None and spec.engine != "ollama":
        problems.append(messages[1])
    gpus = spec.resources.gpus
    tp = spec.vllm.tensor_parallel_size if spec.vllm is not None else None
    if tp is not None and tp != 1 and not (gpus > 0 and gpus % tp == 0):
        problems.append(messages[2])
    if spec.engine == "vllm" and gpus == 0 and spec.image is None:
        problems.append(messages[3])
    if spec.served_model_name is not None and spec.served_model_name.startswith(TASK_PREFIX):
        problems.append(messages[4])
    selected = spec.node_selector.get(GPU_PRODUCT_LABEL)
    product = spec.resources.gpu_product
    if product is not None and selected is not None and selected != product:
        problems.append(messages[5])
    return problems
