"""Start router processes from tests and benchmarks.

with running_router({"models": {...}}) as router:
    openai.OpenAI(base_url=router.url + "/v1", api_key="unused")
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import modelops
from modelops.sim.testing import free_port

SOURCE_ROOT = Path(modelops.__file__).resolve().parent.parent


def get_json(host: str, port: int, path: str, timeout: float = 2.0) -> tuple[int, Any] | None:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, body
    except OSError:
        return None
    finally:
        connection.close()


@dataclass
class RunningRouter:
    host: str
    port: int
    config_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def status(self) -> dict[str, Any]:
        answer = get_json(self.host, self.port, "/status")
        if answer is None or answer[0] != 200:
            raise RuntimeError(f"router /status unavailable: {answer}")
        document: dict[str, Any] = answer[1]
        return document

    def metrics(self) -> str:
        answer = get_json(self.host, self.port, "/metrics")
        assert answer is not None
        body = answer[1]
        return body.decode() if isinstance(body, bytes) else str(body)

    def write_config(self, config: Mapping[str, Any] | str) -> None:
        text = config if isinstance(config, str) else yaml.safe_dump(dict(config))
        temporary = self.config_path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(self.config_path)  # atomic: the router never reads half a file

    def wait_for(self, predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
        """Polls `predicate(status)` until it returns something truthy (bounded)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"router exited with {self.process.returncode}: {self.log()}")
            last = self.status()
            result = predicate(last)
            if result:
                return result
            time.sleep(0.05)
        raise TimeoutError(f"router never reached {what} in {timeout}s; last status: {last}")

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@contextmanager
def running_router(
    config: Mapping[str, Any],
    host: str = "127.0.0.1",
    reload_seconds: float = 0.2,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 20.0,
    port: int | None = None,
    args: Sequence[str] = (),
) -> Iterator[RunningRouter]:
    """`modelops router` as a subprocess on a free loopback port (or `port`, to restart one in
    place), ready; stopped on exit."""
    port = free_port(host) if port is None else port
    with tempfile.TemporaryDirectory(prefix="modelops-router-") as directory:
        config_path = Path(directory) / "router.yaml"
        config_path.write_text(yaml.safe_dump(dict(config)))
        log_path = Path(directory) / "router.log"
        child_env = dict(os.environ)
        child_env["PYTHONPATH"] = os.pathsep.join(
            [str(SOURCE_ROOT), *filter(None, [child_env.get("PYTHONPATH")])]
        )
        child_env.update(env or {})
        command = [sys.executable, "-m", "modelops", "router", "--config", str(config_path)]
        command += ["--host", host, "--port", str(port), "--reload-seconds", str(reload_seconds)]
        command += list(args)
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command, env=child_env, stdout=log_file, stderr=subprocess.STDOUT
            )
        router = RunningRouter(host, port, config_path, process, log_path)
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"router exited with {process.returncode}: {router.log()}")
                answer = get_json(host, port, "/readyz")
                if answer is not None and answer[0] == 200:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"router not ready in {startup_timeout}s: {router.log()}")
                time.sleep(0.05)
            yield router
        finally:
            router.stop()
