"""Start simulator processes from tests and benchmarks (any subsystem may use this).

with running_simulator("vllm", ["demo"], env={"MODELOPS_SIM_TTFT_MS": "50"}) as sim:
    openai.OpenAI(base_url=sim.url + "/v1", api_key="unused")
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import modelops
from modelops.api.engines import ENGINE_FACTS

SOURCE_ROOT = Path(modelops.__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def simulator_command(
    engine: str, models: Sequence[str], host: str, port: int, extra_args: Sequence[str] = ()
) -> list[str]:
    command = [sys.executable, "-m", "modelops.sim", "--engine", engine]
    command += ["--host", host, "--port", str(port)]
    for model in models:
        command += ["--model", model]
    return command + list(extra_args)


def health_path(engine: str) -> str:
    return ENGINE_FACTS[engine].health_path


def http_status(host: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    """Status code of GET path, or None when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


@dataclass
class RunningSimulator:
    engine: str
    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def health(self) -> int | None:
        return http_status(self.host, self.port, health_path(self.engine))

    def wait_until(self, predicate_status: int, timeout: float = 15.0) -> None:
        """Wait until the health endpoint answers `predicate_status` (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"simulator exited with {self.process.returncode}")
            if self.health() == predicate_status:
                return
            time.sleep(0.02)
        raise TimeoutError(f"simulator health never became {predicate_status} in {timeout}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@contextmanager
def running_simulator(
    engine: str,
    models: Sequence[str],
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    wait_healthy: bool = True,
    host: str = "127.0.0.1",
) -> Iterator[RunningSimulator]:
    """A simulator subprocess on a free loopback port; killed on exit."""
    port = free_port(host)
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(
        [str(SOURCE_ROOT), *filter(None, [child_env.get("PYTHONPATH")])]
    )
    child_env.update(env or {})
    process = subprocess.Popen(
        simulator_command(engine, models, host, port, extra_args),
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    simulator = RunningSimulator(engine, host, port, process)
    try:
        if wait_healthy:
            simulator.wait_until(200)
        yield simulator
    finally:
        simulator.stop()
