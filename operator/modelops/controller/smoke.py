"""Smoke tests of canary pods, each pod tested once per revision (results kept in memory).

A restarted operator tests again: a request per new pod is cheap, and the result must come
from this process's own eyes before the canary gets user traffic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from modelops.api.engines import engine_facts
from modelops.api.spec import SmokeTest
from modelops.policies.rollout import SmokeVerdict
from modelops.telemetry.smoke import SmokeResult, smoke_test

Key = tuple[str, str]


@dataclass(frozen=True)
class PodTarget:
    name: str
    ip: str


class SmokeRunner:
    def __init__(self) -> None:
        self._results: dict[tuple[Key, str, str], SmokeResult] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def verdict(
        self,
        key: Key,
        *,
        engine: str,
        revision: str,
        model: str,
        pods: Sequence[PodTarget],
        settings: SmokeTest,
    ) -> SmokeVerdict:
        """Test the pods not tested yet (in parallel), then sum up every pod's result."""
        facts = engine_facts(engine)
        untested = [p for p in pods if (key, revision, p.name) not in self._results]
        if untested:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            session = self._session
            results = await asyncio.gather(
                *(
                    smoke_test(
                        session,
                        f"http://{_host(p.ip)}:{facts.port}{facts.openai_chat_path}",
                        model=model,
                        prompt=settings.prompt,
                        max_tokens=settings.max_tokens,
                        timeout_seconds=settings.timeout_seconds,
                        expect=settings.expect,
                    )
                    for p in untested
                )
            )
            for pod, result in zip(untested, results, strict=True):
                self._results[(key, revision, pod.name)] = result
        passed = 0
        failure = None
        for pod in pods:
            result = self._results[(key, revision, pod.name)]
            if result.ok:
                passed += 1
            elif failure is None:
                failure = f"pod {pod.name} {result.message}"
        return SmokeVerdict(passed=passed, failure=failure)

    def forget(self, key: Key) -> None:
        self._results = {k: v for k, v in self._results.items() if k[0] != key}


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip
