"""The whole stack on the local cluster: operator + router + simulated runtimes, driven by the
official `openai` and `ollama` clients (issue 5's must-show list)."""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ollama
import openai
import pytest
import yaml

from tests.conftest import REPO, ClusterHandle, OperatorProcess, RouterProcess, wait_until

MODELS = (
    "llama3.1-8b-instruct",
    "phi3-mini-4k",
    "mistral-nemo",
    "qwen2.5-14b-instruct",
    "mixtral-8x7b-instruct",
)
VLLM_MODEL, OLLAMA_MODEL = "mistral-nemo", "llama3.1-8b-instruct"
ASK = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture(scope="module")
def models(
    cluster: ClusterHandle, operator: OperatorProcess, router: RouterProcess
) -> Iterator[str]:
    """The five catalog examples, Ready and served by the router."""
    namespace = f"e2e-{uuid.uuid4().hex[:5]}"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("apply", "-n", namespace, "-k", str(REPO / "examples"))
    cluster.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        "md",
        "--all",
        "--timeout=180s",
        timeout=200,
    )
    wait_until(
        lambda: all(router.status()["models"].get(m, {}).get("available") for m in MODELS),
        timeout=60,
        what="router serving every model",
    )
    try:
        yield namespace
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


Connect = Callable[..., openai.OpenAI]


@pytest.fixture
def client() -> Iterator[Connect]:
    """Makes openai clients for a router and closes them after the test."""
    made: list[openai.OpenAI] = []

    def connect(router: RouterProcess, api_key: str = "unused") -> openai.OpenAI:
        # No SDK retries: a failure must show, not be papered over by the client.
        made.append(
            openai.OpenAI(base_url=f"{router.url}/v1", api_key=api_key, max_retries=0, timeout=30)
        )
        return made[-1]

    yield connect
    for each in made:
        each.close()


@pytest.fixture
def ollama_client() -> Iterator[Callable[[RouterProcess], ollama.Client]]:
    made: list[ollama.Client] = []

    def connect(router: RouterProcess) -> ollama.Client:
        made.append(ollama.Client(host=router.url, timeout=30))
        return made[-1]

    yield connect
    for each in made:
        each.close()


def scale(cluster: ClusterHandle, namespace: str, model: str, replicas: int) -> None:
    cluster.kubectl("scale", "md", model, "-n", namespace, f"--replicas={replicas}")
    cluster.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        f"md/{model}",
        "--timeout=120s",
        timeout=130,
    )


def ready_endpoints(router: RouterProcess, model: str) -> int:
    tracks = router.status()["models"].get(model, {}).get("tracks", [])
    return sum(e["ready"] and e["healthy"] for t in tracks for e in t["endpoints"])


@pytest.mark.parametrize("model", MODELS)
def test_chat_and_streaming_chat_to_every_example(
    router: RouterProcess, models: str, model: str, client: Connect
) -> None:
    openai_client = client(router)
    reply = openai_client.chat.completions.create(model=model, messages=ASK, max_tokens=16)
    assert reply.model == model
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0
    chunks = list(
        openai_client.chat.completions.create(
            model=model,
            messages=ASK,
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_an_ollama_client_talks_to_a_vllm_model(
    router: RouterProcess, models: str, ollama_client: Callable[[RouterProcess], ollama.Client]
) -> None:
    ollama_client = ollama_client(router)
    reply = ollama_client.chat(model=VLLM_MODEL, messages=ASK, options={"num_predict": 8})
    assert reply.message.content
    assert reply.done
    assert reply.eval_count == 8
    assert reply.done_reason == "length"
    parts = list(
        ollama_client.chat(model=VLLM_MODEL, messages=ASK, stream=True, options={"num_predict": 8})
    )
    assert "".join(p.message.content for p in parts)
    assert parts[-1].done
    assert not any(p.done for p in parts[:-1])
    generated = ollama_client.generate(model=VLLM_MODEL, prompt="Hello", options={"num_predict": 4})
    assert generated.response
    assert generated.eval_count == 4
    assert VLLM_MODEL in [m.model for m in ollama_client.list().models]


def test_an_openai_client_talks_to_an_ollama_model(
    router: RouterProcess, models: str, client: Connect
) -> None:
    openai_client = client(router)
    reply = openai_client.chat.completions.create(
        model=OLLAMA_MODEL, messages=ASK, max_tokens=6, temperature=0.2, seed=7
    )
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 6
    stream = openai_client.chat.completions.create(
        model=OLLAMA_MODEL, messages=ASK, max_tokens=6, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    as_json = openai_client.chat.completions.create(
        model=OLLAMA_MODEL, messages=ASK, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(as_json.choices[0].message.content or ""), dict)


def test_task_routing_follows_the_chain_and_falls_back(
    cluster: ClusterHandle, router: RouterProcess, models: str, client: Connect
) -> None:
    openai_client = client(router)

    def served(task: str) -> str:
        return openai_client.chat.completions.create(
            model=f"task:{task}", messages=ASK, max_tokens=4
        ).model

    assert served("reasoning") == "mixtral-8x7b-instruct"
    assert served("summarisation") == "qwen2.5-14b-instruct"
    header = openai_client.chat.completions.create(
        model="anything", messages=ASK, max_tokens=4, extra_headers={"X-Task": "reasoning"}
    )
    assert header.model == "mixtral-8x7b-instruct"
    try:
        scale(cluster, models, "mixtral-8x7b-instruct", 0)
        scale(cluster, models, "qwen2.5-14b-instruct", 0)
        wait_until(
            lambda: served("reasoning") == "llama3.1-8b-instruct",
            timeout=30,
            what="reasoning falls back to llama3.1-8b-instruct",
        )
        assert served("summarisation") == "phi3-mini-4k"
    finally:
        scale(cluster, models, "mixtral-8x7b-instruct", 1)
        scale(cluster, models, "qwen2.5-14b-instruct", 1)
    wait_until(
        lambda: served("reasoning") == "mixtral-8x7b-instruct",
        timeout=60,
        what="reasoning back on mixtral",
    )
    assert served("summarisation") == "qwen2.5-14b-instruct"


def set_env(cluster: ClusterHandle, namespace: str, model: str, env: list[dict[str, str]]) -> None:
    """Replace the serving pods in place (strategy Recreate): a canary rollout would keep the
    healthy stable serving, and the model would never become unhealthy."""
    patch = {"spec": {"env": env, "rollout": {"strategy": "Recreate"}}}
    cluster.kubectl("patch", "md", model, "-n", namespace, "--type=merge", "-p", json.dumps(patch))


def test_an_unhealthy_model_is_demoted_then_recovers(
    cluster: ClusterHandle, router: RouterProcess, models: str, client: Connect
) -> None:
    model, fallback = "mixtral-8x7b-instruct", "llama3.1-8b-instruct"
    openai_client = client(router)
    try:
        set_env(cluster, models, model, [{"name": "MODELOPS_SIM_UNHEALTHY", "value": "1"}])
        try:
            wait_until(
                lambda: router.status()["models"][model]["demoted"],
                timeout=90,
                what="the unhealthy model demoted",
            )
        except AssertionError as error:
            raise AssertionError(f"{error}; router status: {router.status()}") from None
        state = router.status()["models"][model]
        assert state["unhealthyForSeconds"] >= 3  # not before the (shortened) window
        reply = openai_client.chat.completions.create(model=model, messages=ASK, max_tokens=4)
        assert reply.model == fallback
        assert (
            openai_client.chat.completions.create(
                model="task:reasoning", messages=ASK, max_tokens=4
            ).model
            == fallback
        )
    finally:
        set_env(cluster, models, model, [])
    cluster.kubectl(
        "wait", "-n", models, "--for=condition=Ready", f"md/{model}", "--timeout=120s", timeout=130
    )
    wait_until(
        lambda: not router.status()["models"][model]["demoted"],
        timeout=60,
        what="the model back from demotion",
    )
    assert (
        openai_client.chat.completions.create(model=model, messages=ASK, max_tokens=4).model
        == model
    )


def simulator_pids(pod_ip: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"modelops.sim" in b" ".join(cmdline) and pod_ip.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def test_an_endpoint_killed_mid_run_costs_no_failed_request(
    cluster: ClusterHandle, router: RouterProcess, models: str, client: Connect
) -> None:
    model = "phi3-mini-4k"
    scale(cluster, models, model, 3)
    try:
        wait_until(lambda: ready_endpoints(router, model) == 3, timeout=60, what="3 endpoints")
        pods = json.loads(
            cluster.kubectl(
                "get", "pods", "-n", models, "-l", f"modelops.io/model={model}", "-o", "json"
            ).stdout
        )
        victim_ip = pods["items"][0]["status"]["podIP"]
        victims = simulator_pids(victim_ip)
        assert victims, f"no simulator process for {victim_ip}"
        openai_client = client(router)
        done = threading.Semaphore(0)

        def call(index: int) -> str:
            reply = openai_client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": f"question {index}"}],
                max_tokens=8,
            )
            done.release()
            return reply.choices[0].message.content or ""

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(call, i) for i in range(90)]
            for _ in range(20):
                assert done.acquire(timeout=30)
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            answers = [future.result(timeout=60) for future in futures]
        assert len(answers) == 90
        assert all(answers)
    finally:
        scale(cluster, models, model, 1)


def test_auth_off_and_on(
    cluster: ClusterHandle,
    operator: OperatorProcess,
    router: RouterProcess,
    models: str,
    tmp_path: Path,
    client: Connect,
    ollama_client: Callable[[RouterProcess], ollama.Client],
) -> None:
    # Off: the shared router needs no key.
    assert (
        client(router)
        .chat.completions.create(model="phi3-mini-4k", messages=ASK, max_tokens=2)
        .choices
    )
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        yaml.safe_dump(
            {
                "keys": [
                    {"key": "sk-team-a-0123456789", "models": ["phi3-mini-4k"], "name": "team-a"},
                    {"key": "sk-admin-0123456789", "models": ["*"], "name": "admin"},
                ]
            }
        )
    )
    secured = RouterProcess(
        cluster, operator.config_namespace, tmp_path / "router.log", "--api-keys-file", str(keys)
    )
    try:
        wait_until(
            lambda: secured.status()["models"].get("phi3-mini-4k", {}).get("available"),
            timeout=60,
            what="secured router serving",
        )
        with pytest.raises(openai.AuthenticationError):
            client(secured).chat.completions.create(model="phi3-mini-4k", messages=ASK)
        with pytest.raises(openai.AuthenticationError):
            client(secured, api_key="sk-wrong-0123456789").chat.completions.create(
                model="phi3-mini-4k", messages=ASK
            )
        team = client(secured, api_key="sk-team-a-0123456789")
        assert team.chat.completions.create(
            model="phi3-mini-4k", messages=ASK, max_tokens=2
        ).choices
        with pytest.raises(openai.PermissionDeniedError):
            team.chat.completions.create(model="mistral-nemo", messages=ASK)
        admin = client(secured, api_key="sk-admin-0123456789")
        assert admin.chat.completions.create(
            model="mistral-nemo", messages=ASK, max_tokens=2
        ).choices
        with pytest.raises(ollama.ResponseError) as denied:
            ollama_client(secured).chat(model="mistral-nemo", messages=ASK)
        assert denied.value.status_code == 401
    finally:
        secured.stop()
