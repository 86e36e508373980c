"""The launcher's pure decisions: which pods get simulators, configured how, started/stopped."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from modelops.k8s.pods import ContainerInfo, PodInfo
from modelops.sim.launch_plan import (
    Plan,
    ReadinessProbe,
    SimulatorSpec,
    desired_simulators,
    engine_of_image,
    ollama_pulled_models,
    plan,
    vllm_served_names,
)

NODES = {"gpu-0"}


def pod(uid: str = "u1", *containers: ContainerInfo, **changes: Any) -> PodInfo:
    base = PodInfo(
        name=f"pod-{uid}",
        namespace="ai",
        uid=uid,
        ip="127.10.0.5",
        phase="Running",
        ready=True,
        node_name="gpu-0",
        deleting=False,
        containers=containers or (vllm(),),
    )
    return replace(base, **changes)


def vllm(*args: str, **changes: Any) -> ContainerInfo:
    base = ContainerInfo(
        name="vllm",
        image="vllm/vllm-openai:v0.10.0",
        args=args or ("--served-model-name", "demo"),
        ports=(8000,),
    )
    return replace(base, **changes)


def ollama(shell: str = "ollama pull llama3.1:8b", **changes: Any) -> ContainerInfo:
    base = ContainerInfo(
        name="ollama",
        image="ollama/ollama:0.6.8",
        post_start={"exec": {"command": ["/bin/sh", "-c", f"sleep 2 && {shell}"]}},
        ports=(11434,),
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("image", "engine"),
    [
        ("vllm/vllm-openai:v0.10.0", "vllm"),
        ("registry.local:5000/vllm/vllm-openai@sha256:abc", "vllm"),
        ("myorg/vllm-cpu", "vllm"),
        ("ollama/ollama", "ollama"),
        ("docker.io/ollama/ollama:0.6.8", "ollama"),
        ("nginx:1.27", None),
        ("vllm-registry:5000/nginx", None),
        ("busybox", None),
    ],
)
def test_engine_of_image(image: str, engine: str | None) -> None:
    assert engine_of_image(image) == engine


@pytest.mark.parametrize(
    ("container", "names"),
    [
        (vllm("--served-model-name", "a", "b", "--port", "8000"), ("a", "b")),
        (vllm("--served-model-name=a"), ("a",)),
        (vllm("--model", "meta/llama", "--max-model-len", "4096"), ("meta/llama",)),
        (vllm(command=("vllm", "serve", "Qwen/Qwen3-8B"), args=("--tp", "2")), ("Qwen/Qwen3-8B",)),
        (vllm(command=("sh", "-c", "vllm serve m1 --served-model-name x y"), args=()), ("x", "y")),
        (vllm(args=("--dtype", "auto")), ("facebook/opt-125m",)),
    ],
)
def test_vllm_served_names(container: ContainerInfo, names: tuple[str, ...]) -> None:
    assert vllm_served_names(container) == names


@pytest.mark.parametrize(
    ("container", "models"),
    [
        (ollama(), ("llama3.1:8b",)),
        (ollama("ollama pull qwen3:0.6b; ollama pull llama3"), ("qwen3:0.6b", "llama3")),
        (
            ollama(
                shell="true",
                startup_probe={"exec": {"command": ["ollama", "pull", "gemma3:1b"]}},
            ),
            ("gemma3:1b",),
        ),
        (ollama(shell="echo nothing"), ()),
    ],
)
def test_ollama_pulled_models(container: ContainerInfo, models: tuple[str, ...]) -> None:
    assert ollama_pulled_models(container) == models


@pytest.mark.parametrize(
    ("pods", "expected_keys"),
    [
        ({"u1": pod()}, [("u1", "vllm")]),
        ({"u1": pod(phase="Pending")}, []),
        ({"u1": pod(ip=None)}, []),
        ({"u1": pod(deleting=True)}, []),
        ({"u1": pod(node_name="real-node")}, []),
        ({"u1": pod("u1", ContainerInfo(name="web", image="nginx"))}, []),
        ({"u1": pod("u1", ollama(shell="true"))}, []),  # pulls nothing: no model to serve
        (
            {"u1": pod("u1", vllm(), ContainerInfo(name="side", image="envoy")), "u2": pod("u2")},
            [("u1", "vllm"), ("u2", "vllm")],
        ),
    ],
    ids=["running", "pending", "no-ip", "deleting", "real-node", "other-image", "no-model", "two"],
)
def test_desired_simulators_selects_pods(
    pods: dict[str, PodInfo], expected_keys: list[tuple[str, str]]
) -> None:
    assert sorted(desired_simulators(pods, NODES)) == expected_keys


def test_ollama_builder_pull_command_is_recognised() -> None:
    from modelops.builders.ollama import pull_command

    container = ollama(post_start={"exec": {"command": pull_command("llama3.1:8b")}})
    assert ollama_pulled_models(container) == ("llama3.1:8b",)


@pytest.mark.parametrize(
    ("container", "knob_args"),
    [
        (vllm("--served-model-name", "d", "--max-model-len", "4096"), ("--max-model-len", "4096")),
        (vllm("--max-num-seqs", "8"), ("--max-concurrency", "8")),
        (vllm("--max-num-seqs", "8", env={"MODELOPS_SIM_MAX_CONCURRENCY": "2"}), ()),
        (ollama(env={"OLLAMA_NUM_PARALLEL": "4"}), ("--max-concurrency", "4")),
        (ollama(), ()),
    ],
)
def test_runtime_settings_imply_knobs(container: ContainerInfo, knob_args: tuple[str, ...]) -> None:
    specs = list(desired_simulators({"u1": pod("u1", container)}, NODES).values())
    assert [spec.knob_args for spec in specs] == [knob_args]


def test_vllm_spec_from_pod() -> None:
    container = vllm(
        "--served-model-name",
        "demo",
        env={"MODELOPS_SIM_TTFT_MS": "50", "HF_TOKEN": "secret", "OLLAMA_CONTEXT_LENGTH": "1"},
        readiness_probe={
            "httpGet": {"path": "/health", "port": 8000},
            "periodSeconds": 2,
            "failureThreshold": 1,
        },
    )
    spec = desired_simulators({"u1": pod("u1", container)}, NODES)[("u1", "vllm")]
    assert spec.args() == [
        "--engine", "vllm", "--host", "127.10.0.5", "--port", "8000", "--model", "demo",
    ]  # fmt: skip
    assert dict(spec.env) == {"MODELOPS_SIM_TTFT_MS": "50", "OLLAMA_CONTEXT_LENGTH": "1"}
    assert spec.probe == ReadinessProbe(
        path="/health", port=8000, period_seconds=2, failure_threshold=1
    )


@pytest.mark.parametrize(
    ("container", "port"),
    [
        (vllm(ports=(9000,)), 9000),
        (vllm("--served-model-name", "d", "--port", "8081", ports=()), 8081),
        (vllm(ports=()), 8000),
        (ollama(ports=(), env={"OLLAMA_HOST": "0.0.0.0:11500"}), 11500),
        (ollama(ports=()), 11434),
    ],
)
def test_port_selection(container: ContainerInfo, port: int) -> None:
    specs = list(desired_simulators({"u1": pod("u1", container)}, NODES).values())
    assert [spec.port for spec in specs] == [port]


def spec(uid: str, port: int = 8000) -> SimulatorSpec:
    return SimulatorSpec("ai", f"pod-{uid}", uid, "vllm", "vllm", "127.10.0.5", port, ("demo",))


@pytest.mark.parametrize(
    ("desired", "running", "expected"),
    [
        ([], [], Plan()),
        ([spec("a")], [], Plan(start=(spec("a"),))),
        ([], [spec("a")], Plan(stop=(("a", "vllm"),))),
        ([spec("a")], [spec("a")], Plan()),
        ([spec("a", 9000)], [spec("a")], Plan(start=(spec("a", 9000),), stop=(("a", "vllm"),))),
        (
            [spec("a"), spec("c")],
            [spec("a"), spec("b")],
            Plan(start=(spec("c"),), stop=(("b", "vllm"),)),
        ),
    ],
    ids=["nothing", "new-pod", "pod-gone", "steady", "reconfigured", "replaced"],
)
def test_plan(desired: list[SimulatorSpec], running: list[SimulatorSpec], expected: Plan) -> None:
    result = plan({s.key: s for s in desired}, {s.key: s for s in running})
    assert result == expected
