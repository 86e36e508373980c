"""Auth on and off, timeouts, malformed requests and config reloads through a real router."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from modelops.router.testing import RunningRouter, running_router
from modelops.sim.testing import RunningSimulator, running_simulator

MESSAGES: Any = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def backends() -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    with (
        running_simulator("vllm", ["fast"]) as fast,
        running_simulator("ollama", ["slow:1b"], env={"MODELOPS_SIM_TTFT_MS": "3000"}) as slow,
    ):
        yield fast, slow


def _config(fast: RunningSimulator, slow: RunningSimulator, **extra: Any) -> dict[str, Any]:
    return {
        "models": {
            "fast": {"engine": "vllm", "tracks": [{"endpoints": [f"127.0.0.1:{fast.port}"]}]},
            "slow": {
                "engine": "ollama",
                "backendModel": "slow:1b",
                "timeouts": {"interactiveSeconds": 0.5, "longSeconds": 1.0},
                "tracks": [{"endpoints": [f"127.0.0.1:{slow.port}"]}],
            },
        },
        **extra,
    }


def _openai(router: RunningRouter, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=router.url + "/v1", api_key=key, max_retries=0)


def test_auth_on_then_off_by_reload(
    backends: tuple[RunningSimulator, RunningSimulator], tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {key: sk-team-a-0001, models: [fast]}\n  - {key: sk-admin-0001}\n")
    config = _config(*backends, auth={"keysFile": str(keys)})
    with running_router(config) as router:
        with _openai(router) as anonymous, pytest.raises(openai.AuthenticationError):
            anonymous.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=2)
        with _openai(router, "sk-team-a-0001") as team:
            assert team.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=2)
            with pytest.raises(openai.PermissionDeniedError):
                team.chat.completions.create(model="slow", messages=MESSAGES, max_tokens=2)
            assert [m.id for m in team.models.list()] == ["fast"]
        with _openai(router, "sk-admin-0001") as admin:
            assert {m.id for m in admin.models.list()} == {"fast", "slow"}
        client = ollama.Client(host=router.url)
        with pytest.raises(ollama.ResponseError) as denied:
            client.chat(model="fast", messages=MESSAGES, options={"num_predict": 2})
        assert denied.value.status_code == 401
        client._client.close()
        authed = ollama.Client(host=router.url, headers={"Authorization": "Bearer sk-admin-0001"})
        assert authed.chat(model="fast", messages=MESSAGES, options={"num_predict": 2}).done
        authed._client.close()
        # No request without a key reached the backend: the sim only saw the authorised ones.
        assert 'code="401"' not in router.metrics().split("modelops_router_requests_total")[0]

        router.write_config(_config(*backends))
        router.wait_for(lambda s: s["configLoadedAt"] and _anonymous_ok(router), what="auth off")


def _anonymous_ok(router: RunningRouter) -> bool:
    answer = httpx.post(
        router.url + "/v1/chat/completions",
        json={"model": "fast", "messages": MESSAGES, "max_tokens": 2},
        timeout=5,
    )
    return answer.status_code == 200


def test_timeouts_give_clear_504s_never_hangs(
    backends: tuple[RunningSimulator, RunningSimulator],
) -> None:
    with running_router(_config(*backends)) as router:
        with _openai(router) as client:
            started = time.monotonic()
            with pytest.raises(openai.APIStatusError) as timed_out:
                client.chat.completions.create(model="slow", messages=MESSAGES, max_tokens=2)
            assert timed_out.value.status_code == 504
            assert "did not answer within 0.5 s" in str(timed_out.value)
            assert time.monotonic() - started < 2.5
            with pytest.raises(openai.APIStatusError) as stream_timed_out:
                list(
                    client.chat.completions.create(
                        model="slow", messages=MESSAGES, max_tokens=2, stream=True
                    )
                )
            assert stream_timed_out.value.status_code == 504
            # A long request (many tokens) gets the long timeout (1 s here), still bounded.
            started = time.monotonic()
            with pytest.raises(openai.APIStatusError, match="within 1 s"):
                client.chat.completions.create(model="slow", messages=MESSAGES, max_tokens=5000)
            assert time.monotonic() - started < 3
        client_ollama = ollama.Client(host=router.url)
        with pytest.raises(ollama.ResponseError) as ollama_timeout:
            client_ollama.chat(model="slow", messages=MESSAGES, options={"num_predict": 2})
        assert ollama_timeout.value.status_code == 504
        client_ollama._client.close()
        assert 'reason="timeout"' in router.metrics()


def test_malformed_requests_and_bad_config_reload(
    backends: tuple[RunningSimulator, RunningSimulator],
) -> None:
    fast, slow = backends
    with running_router(_config(fast, slow)) as router:
        with _openai(router) as client:
            with pytest.raises(openai.BadRequestError, match="messages"):
                client.chat.completions.create(model="fast", messages=[], max_tokens=2)
            with pytest.raises(openai.NotFoundError, match="not found"):
                client.chat.completions.create(model="missing", messages=MESSAGES)
        answer = httpx.post(router.url + "/api/chat", content=b"{not json", timeout=5)
        assert answer.status_code == 400
        assert "not valid JSON" in answer.json()["error"]

        router.write_config("models: {broken: {engine: tgi}}\n")
        status = router.wait_for(lambda s: s["lastConfigError"] and s, what="rejection")
        assert "engine" in status["lastConfigError"]
        assert sorted(status["models"]) == ["fast", "slow"]
        assert _anonymous_ok(router)

        renamed = _config(fast, slow)
        renamed["models"]["fast-v2"] = {**renamed["models"].pop("fast"), "backendModel": "fast"}
        router.write_config(renamed)
        router.wait_for(
            lambda s: "fast-v2" in s["models"] and not s["lastConfigError"], what="reload"
        )
        answer = httpx.post(
            router.url + "/v1/chat/completions",
            json={"model": "fast-v2", "messages": MESSAGES, "max_tokens": 2},
            timeout=5,
        )
        assert answer.status_code == 200
        assert answer.json()["model"] == "fast-v2"


def test_reloads_under_load_drop_no_request(
    backends: tuple[RunningSimulator, RunningSimulator],
) -> None:
    fast, slow = backends
    with running_router(_config(fast, slow)) as router, httpx.Client(timeout=10) as http:
        body = {"model": "fast", "messages": MESSAGES, "max_tokens": 4}
        statuses: list[int] = []
        for index in range(300):
            if index % 50 == 25:
                # Alternate between two valid configs (the second adds a model and a task).
                extra = {"tasks": {"chat": ["fast"]}} if index % 100 == 25 else {}
                router.write_config(_config(fast, slow, **extra))
            statuses.append(
                httpx.post(router.url + "/v1/chat/completions", json=body, timeout=10).status_code
                if index % 2
                else http.post(router.url + "/v1/chat/completions", json=body).status_code
            )
        assert statuses == [200] * 300
        applied = next(
            float(line.rsplit(" ", 1)[1])
            for line in router.metrics().splitlines()
            if line.startswith('modelops_router_config_reloads_total{result="applied"}')
        )
        assert applied >= 3  # the initial config and reloads while requests were flowing
