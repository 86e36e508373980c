"""The telemetry loop's rounds and the pod -> source rule (refresh stubbed: no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelops.controller.telemetry_loop import TelemetryLoop, pod_source
from modelops.telemetry.service import Telemetry
from modelops.telemetry.types import Changes, Source, Sources


def pod(ip: str | None = "10.1.2.3", ready: str = "True", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "llama-blue-abc", "namespace": "models"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {
        "metadata": meta,
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]},
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (pod(), Source("models/llama-blue-abc", "http://10.1.2.3:8000/metrics")),
        (pod(ip="fd00::5"), Source("models/llama-blue-abc", "http://[fd00::5]:8000/metrics")),
        (pod(ready="False"), None),
        (pod(ip=None), None),
        (pod(deleting=True), None),
        ({"metadata": {"name": "x"}}, None),
    ],
)
def test_pod_source(body: dict[str, Any], expected: Source | None) -> None:
    assert pod_source(body, port=8000, path="/metrics") == expected


class ScriptedTelemetry(Telemetry):
    """Answers refresh() from a script; records the sources it was given."""

    def __init__(self, script: list[Changes | Exception]) -> None:
        super().__init__()
        self.script = script
        self.seen: list[Sources] = []

    async def refresh(self, sources: Sources) -> Changes:
        self.seen.append(sources)
        step = self.script.pop(0) if self.script else Changes()
        if isinstance(step, Exception):
            raise step
        return step


async def test_rounds_report_changes_and_survive_failures() -> None:
    changes = Changes(models=frozenset({"llama"}))
    telemetry = ScriptedTelemetry([changes, RuntimeError("boom"), Changes(), changes])
    reported: list[Changes] = []
    sources = Sources(routers=[Source("r", "http://127.0.0.1:1/metrics")])
    loop = TelemetryLoop(telemetry, lambda: sources, reported.append, interval_seconds=0.01)
    loop.start()
    try:
        while loop.rounds < 4:
            await loop.next_round()
    finally:
        await loop.stop()
    assert reported == [changes, changes]  # nothing for the failed or the empty round
    assert telemetry.seen[0] is sources


async def test_a_failing_callback_does_not_stop_the_loop() -> None:
    telemetry = ScriptedTelemetry([Changes(pods=frozenset({"p"}))] * 3)

    def explode(_: Changes) -> None:
        raise RuntimeError("callback bug")

    loop = TelemetryLoop(telemetry, Sources, explode, interval_seconds=0.01)
    loop.start()
    try:
        await loop.next_round()
        await loop.next_round()
    finally:
        await loop.stop()
    assert loop.rounds >= 2


async def test_next_round_times_out_when_stopped() -> None:
    loop = TelemetryLoop(ScriptedTelemetry([]), Sources, lambda _: None)
    with pytest.raises(TimeoutError):
        await loop.next_round(timeout_seconds=0.05)
    await asyncio.sleep(0)


def test_bad_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        TelemetryLoop(ScriptedTelemetry([]), Sources, lambda _: None, interval_seconds=0)
