"""Pure decisions of the launcher: which simulators the pods call for, and what to start/stop.

A pod gets one simulator per container whose image is a vLLM or Ollama image, once the pod is
Running with an IP on a simulated node and not being deleted. The simulator is configured from
the pod spec the way the real runtime would be: vLLM from its command line, Ollama from the
model its lifecycle hook or startup probe pulls, knobs from the container env.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from modelops.k8s.pods import ContainerInfo, PodInfo
from modelops.sim.knobs import DEFAULT_PORTS, KNOB_ENV_NAMES

SimulatorKey = tuple[str, str]  # (pod uid, container name)

DEFAULT_PROBE_PERIOD_SECONDS = 10
MAX_PROBE_PERIOD_SECONDS = 60


@dataclass(frozen=True)
class ReadinessProbe:
    """The httpGet readiness probe the launcher runs in place of the kubelet."""

    path: str
    port: int
    period_seconds: float = DEFAULT_PROBE_PERIOD_SECONDS
    initial_delay_seconds: float = 0
    timeout_seconds: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class SimulatorSpec:
    namespace: str
    pod: str
    uid: str
    container: str
    engine: str
    host: str
    port: int
    models: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    probe: ReadinessProbe | None = None
    knob_args: tuple[str, ...] = ()  # knobs the runtime's own settings imply

    @property
    def key(self) -> SimulatorKey:
        return (self.uid, self.container)

    def args(self) -> list[str]:
        args = ["--engine", self.engine, "--host", self.host, "--port", str(self.port)]
        for model in self.models:
            args += ["--model", model]
        return args + list(self.knob_args)


@dataclass(frozen=True)
class Plan:
    start: tuple[SimulatorSpec, ...] = ()
    stop: tuple[SimulatorKey, ...] = ()


def image_repository(image: str) -> str:
    """`registry:5000/vllm/vllm-openai:v0.10.0@sha256:...` -> `registry:5000/vllm/vllm-openai`."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def engine_of_image(image: str) -> str | None:
    repository = image_repository(image).lower()
    last = repository.rsplit("/", 1)[-1]
    if "vllm" in last:
        return "vllm"
    if repository == "ollama/ollama" or repository.endswith("/ollama/ollama") or last == "ollama":
        return "ollama"
    return None


def _flag_values(argv: Sequence[str], flag: str) -> list[str] | None:
    """Values of `--flag a b c` / `--flag=a` (vLLM's nargs='+' flags); None when absent."""
    for index, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            return [arg.split("=", 1)[1]]
        if arg == flag:
            values = []
            for value in argv[index + 1 :]:
                if value.startswith("-"):
                    break
                values.append(value)
            return values
    return None


def vllm_argv(container: ContainerInfo) -> list[str]:
    """Command + args, with `sh -c "vllm serve ..."` wrappers unpacked."""
    argv = [*container.command, *container.args]
    if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in ("sh", "bash") and argv[1] == "-c":
        try:
            return shlex.split(argv[2])
        except ValueError:
            return argv
    return argv


def vllm_served_names(container: ContainerInfo) -> tuple[str, ...]:
    argv = vllm_argv(container)
    served = _flag_values(argv, "--served-model-name")
    if served:
        return tuple(served)
    model = _flag_values(argv, "--model")
    if model:
        return (model[0],)
    if "serve" in argv:
        rest = argv[argv.index("serve") + 1 :]
        if rest and not rest[0].startswith("-"):
            return (rest[0],)
    return ("facebook/opt-125m",)  # vLLM's own default model


def _exec_commands(hook: Mapping[str, Any] | None) -> Iterable[Sequence[str]]:
    if not hook:
        return ()
    exec_ = hook.get("exec") or hook.get("_exec")
    command = exec_.get("command") if isinstance(exec_, Mapping) else None
    return (command,) if isinstance(command, list) else ()


def ollama_pulled_models(container: ContainerInfo) -> tuple[str, ...]:
    """Models in any `ollama pull MODEL` of postStart or the startup probe (shell or argv)."""
    models: list[str] = []
    for command in (
        *_exec_commands(container.post_start),
        *_exec_commands(container.startup_probe),
    ):
        words: list[str] = []
        for part in command:
            try:
                words += shlex.split(part.replace("&&", " ; ").replace(";", " ; "))
            except ValueError:
                words += part.split()
        for index, word in enumerate(words[:-2]):
            if word.rsplit("/", 1)[-1] == "ollama" and words[index + 1] == "pull":
                model = words[index + 2]
                if not model.startswith("-") and model not in models:
                    models.append(model)
    return tuple(models)


def _ollama_port(container: ContainerInfo) -> int:
    host = container.env.get("OLLAMA_HOST", "")
    _, _, port = host.rpartition(":")
    return int(port) if port.isdigit() else DEFAULT_PORTS["ollama"]


def container_port(container: ContainerInfo, engine: str) -> int:
    if container.ports:
        return container.ports[0]
    if engine == "vllm":
        port = _flag_values(vllm_argv(container), "--port")
        if port and port[0].isdigit():
            return int(port[0])
        return DEFAULT_PORTS["vllm"]
    return _ollama_port(container)


def readiness_probe(container: ContainerInfo, default_port: int) -> ReadinessProbe | None:
    probe = container.readiness_probe
    http_get = probe.get("httpGet") if probe else None
    if not probe or not isinstance(http_get, Mapping):
        return None
    port = http_get.get("port")
    period = float(probe.get("periodSeconds") or DEFAULT_PROBE_PERIOD_SECONDS)
    return ReadinessProbe(
        path=str(http_get.get("path") or "/"),
        port=port if isinstance(port, int) else default_port,  # named ports: the main port
        period_seconds=min(max(period, 1.0), MAX_PROBE_PERIOD_SECONDS),
        initial_delay_seconds=float(probe.get("initialDelaySeconds") or 0),
        timeout_seconds=float(probe.get("timeoutSeconds") or 1),
        success_threshold=int(probe.get("successThreshold") or 1),
        failure_threshold=int(probe.get("failureThreshold") or 3),
    )


# Runtime settings that mean the same as a simulator knob: (source, knob flag, knob env var).
VLLM_ARG_KNOBS = (
    ("--max-model-len", "--max-model-len", "MODELOPS_SIM_MAX_MODEL_LEN"),
    ("--max-num-seqs", "--max-concurrency", "MODELOPS_SIM_MAX_CONCURRENCY"),
)
OLLAMA_ENV_KNOBS = (("OLLAMA_NUM_PARALLEL", "--max-concurrency", "MODELOPS_SIM_MAX_CONCURRENCY"),)


def implied_knob_args(container: ContainerInfo, engine: str) -> tuple[str, ...]:
    """Knobs implied by the runtime's own settings (vLLM `--max-num-seqs` caps the running
    batch like `--max-concurrency`); an explicit MODELOPS_SIM_* env var still wins."""
    args: list[str] = []
    if engine == "vllm":
        argv = vllm_argv(container)
        for source, flag, env_name in VLLM_ARG_KNOBS:
            values = _flag_values(argv, source)
            if values and values[0].isdigit() and env_name not in container.env:
                args += [flag, values[0]]
    else:
        for source, flag, env_name in OLLAMA_ENV_KNOBS:
            value = container.env.get(source, "")
            if value.isdigit() and int(value) > 0 and env_name not in container.env:
                args += [flag, value]
    return tuple(args)


def simulator_for(pod: PodInfo, container: ContainerInfo) -> SimulatorSpec | None:
    engine = engine_of_image(container.image)
    if engine is None or pod.ip is None:
        return None
    models = vllm_served_names(container) if engine == "vllm" else ollama_pulled_models(container)
    if not models:
        return None  # an Ollama pod that pulls nothing serves no model we could name
    port = container_port(container, engine)
    env = {k: v for k, v in container.env.items() if k in KNOB_ENV_NAMES}
    return SimulatorSpec(
        namespace=pod.namespace,
        pod=pod.name,
        uid=pod.uid,
        container=container.name,
        engine=engine,
        host=pod.ip,
        port=port,
        models=models,
        env=env,
        probe=readiness_probe(container, port),
        knob_args=implied_knob_args(container, engine),
    )


def desired_simulators(
    pods: Mapping[str, PodInfo], simulated_nodes: Set[str]
) -> dict[SimulatorKey, SimulatorSpec]:
    desired: dict[SimulatorKey, SimulatorSpec] = {}
    for pod in pods.values():
        if pod.phase != "Running" or not pod.ip or pod.deleting:
            continue
        if pod.node_name not in simulated_nodes:
            continue
        for container in pod.containers:
            spec = simulator_for(pod, container)
            if spec is not None:
                desired[spec.key] = spec
    return desired


def plan(
    desired: Mapping[SimulatorKey, SimulatorSpec], running: Mapping[SimulatorKey, SimulatorSpec]
) -> Plan:
    """Stop what is no longer wanted or configured differently; start what is missing."""
    stop = [key for key, spec in running.items() if desired.get(key) != spec]
    start = [spec for key, spec in desired.items() if running.get(key) != spec]
    return Plan(start=tuple(start), stop=tuple(sorted(stop)))
