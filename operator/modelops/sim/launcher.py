"""`modelops sim launcher`: the runtime of the local cluster's simulated pods.

Reconciles every pod snapshot (and every few seconds anyway) against the simulator processes it
runs: one `python -m modelops.sim` per vLLM/Ollama container of a Running pod on a simulated
node, bound to the pod IP. In place of the kubelet it also runs httpGet readiness probes and
restarts crashed simulators with backoff, and reports both to the pod status. Like the kubelet's
status sync, it writes a pod's status again whenever the API shows something else than it
observes (the node lifecycle controller marks pods NotReady while their node's Lease lapses, for
instance during an API server outage; nothing else would mark them Ready again). The simulators
of pods on a node that is down (`modelops cluster node down`) are stopped: the runtime dies with
the node.

Children never outlive the launcher: each is started with prctl(PR_SET_PDEATHSIG, SIGTERM), so
the kernel signals it when the launcher dies for any reason (even SIGKILL); on SIGTERM/SIGINT the
launcher stops them itself first.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import modelops
from modelops.k8s.client import async_client
from modelops.k8s.pod_status import (
    ContainerObservation,
    Termination,
    report_container,
    simulated_nodes,
)
from modelops.k8s.pods import PodInfo, watch_pods
from modelops.sim.knobs import KNOB_ENV_NAMES
from modelops.sim.launch_plan import (
    SimulatorKey,
    SimulatorSpec,
    desired_simulators,
    plan,
)

log = logging.getLogger("modelops.sim.launcher")

RESYNC_SECONDS = 5.0
NODE_REFRESH_MIN_SECONDS = 1.0
NODE_REFRESH_MAX_SECONDS = 5.0  # how soon a node that went down (or came back) is noticed
STATUS_SYNC_SECONDS = 10.0  # at most one re-assertion per container this often (the kubelet's)
STOP_GRACE_SECONDS = 5.0
RESTART_BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
STABLE_RUN_SECONDS = 60.0  # a run this long resets the backoff, as the kubelet does
PR_SET_PDEATHSIG = 1


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def die_with_parent_hook() -> Callable[[], None]:
    """A preexec_fn that makes the child receive SIGTERM when the launcher dies."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os._exit(1)

    return hook


def child_environment(spec: SimulatorSpec) -> dict[str, str]:
    """The launcher's environment minus its own knobs, plus the pod's knobs."""
    env = {k: v for k, v in os.environ.items() if k not in KNOB_ENV_NAMES}
    source_root = str(Path(modelops.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    env.update(spec.env)
    return env


async def http_ok(host: str, port: int, path: str, timeout_seconds: float) -> bool:
    """One kubelet-style httpGet probe: 200-399 is success, anything else failure."""
    writer = None
    try:
        async with asyncio.timeout(timeout_seconds):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )
            status_line = await reader.readline()
        parts = status_line.split()
        return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    except (OSError, TimeoutError, ValueError):
        return False
    finally:
        if writer is not None:
            writer.close()


class Reporter:
    """Writes observed container states to pod status, one write at a time per pod."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, set[str]] = {}

    def forget(self, key: SimulatorKey) -> None:
        uid, container = key
        users = self._users.get(uid, set())
        users.discard(container)
        if not users:
            self._users.pop(uid, None)
            self._locks.pop(uid, None)

    async def report(self, spec: SimulatorSpec, observation: ContainerObservation) -> bool:
        self._users.setdefault(spec.uid, set()).add(spec.container)
        lock = self._locks.setdefault(spec.uid, asyncio.Lock())
        try:
            async with lock:  # read-modify-write of the pod's container list
                await report_container(self._client, spec.namespace, spec.pod, observation)
        except Exception as error:  # the API may be briefly away; the next change retries
            log.warning("status of %s/%s not written: %s", spec.namespace, spec.pod, error)
            return False
        log.info(
            "pod %s/%s container %s ready=%s restarts=%d",
            spec.namespace,
            spec.pod,
            spec.container,
            observation.ready,
            observation.restart_count,
        )
        return True


class Supervisor:
    """Runs one simulator, restarts it when it crashes, probes its readiness."""

    def __init__(self, spec: SimulatorSpec, reporter: Reporter) -> None:
        self.spec = spec
        self._reporter = reporter
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._restart_count = 0
        self._last_termination: Termination | None = None
        self._started_at: datetime.datetime | None = None
        self._reported: bool | None = None
        self._observation: ContainerObservation | None = None  # the last one written
        self._writing = asyncio.Lock()
        self._synced_at = float("-inf")
        self._sync_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def sync(self, pod_ready: bool) -> None:
        """The status sync: when the pod's Ready (as the API shows it) is not what this
        container last reported, write the last observation again (rate-limited)."""
        if self._reported is None or pod_ready == self._reported or self._stopping.is_set():
            return
        if self._sync_task is not None and not self._sync_task.done():
            return
        if time.monotonic() - self._synced_at < STATUS_SYNC_SECONDS:
            return
        self._synced_at = time.monotonic()
        self._sync_task = asyncio.get_running_loop().create_task(self._reassert())

    async def _reassert(self) -> None:
        async with self._writing:
            observation = self._observation
            if observation is None or self._stopping.is_set():
                return
            spec = self.spec
            log.info(
                "re-asserting status of %s/%s container %s",
                spec.namespace,
                spec.pod,
                spec.container,
            )
            if not await self._reporter.report(spec, observation):
                self._reported = None  # unknown: the next probe writes again

    async def stop(self) -> None:
        self._stopping.set()
        if self._sync_task is not None:
            self._sync_task.cancel()
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "modelops.sim",
            *self.spec.args(),
            env=child_environment(self.spec),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            preexec_fn=die_with_parent_hook(),
        )

    async def _run(self) -> None:
        spec = self.spec
        failures = 0
        while not self._stopping.is_set():
            began = time.monotonic()
            self._started_at = _utcnow()
            try:
                self._process = await self._spawn()
            except OSError as error:  # cannot even start: back off as for a crash
                log.error("cannot start simulator for %s/%s: %s", spec.namespace, spec.pod, error)
                await self._back_off(RESTART_BACKOFF_SECONDS[-1])
                continue
            log.info(
                "started %s simulator for %s/%s on %s:%d (pid %d, models %s)",
                spec.engine,
                spec.namespace,
                spec.pod,
                spec.host,
                spec.port,
                self._process.pid,
                ",".join(spec.models),
            )
            prober = asyncio.get_running_loop().create_task(self._probe())
            code = await self._process.wait()
            prober.cancel()
            await asyncio.gather(prober, return_exceptions=True)
            if self._stopping.is_set():
                return
            finished = _utcnow()
            self._restart_count += 1
            # Kubernetes reports death by signal N as exit code 128 + N (SIGKILL: 137).
            exit_code = code if code >= 0 else 128 - code
            self._last_termination = Termination(exit_code, self._started_at, finished)
            stable = time.monotonic() - began >= STABLE_RUN_SECONDS
            failures = 1 if stable else failures + 1
            delay = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS)) - 1]
            log.warning(
                "simulator for %s/%s exited with %d; restarting in %.0fs",
                spec.namespace,
                spec.pod,
                code,
                delay,
            )
            await self._set_ready(False, waiting_reason="CrashLoopBackOff", force=True)
            await self._back_off(delay)

    async def _back_off(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _probe(self) -> None:
        probe = self.spec.probe
        if probe is None:
            # Without a readiness probe the kubelet calls a running container ready.
            await self._set_ready(True, force=self._restart_count > 0)
            return
        await asyncio.sleep(probe.initial_delay_seconds)
        ready = False
        successes = failures = 0
        while True:
            ok = await http_ok(self.spec.host, probe.port, probe.path, probe.timeout_seconds)
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if not ready and successes >= probe.success_threshold:
                ready = True
            elif ready and failures >= probe.failure_threshold:
                ready = False
            await self._set_ready(ready)
            await asyncio.sleep(probe.period_seconds)

    async def _set_ready(
        self, ready: bool, waiting_reason: str | None = None, force: bool = False
    ) -> None:
        if ready == self._reported and not force:
            return
        observation = ContainerObservation(
            container=self.spec.container,
            ready=ready,
            restart_count=self._restart_count,
            last_termination=self._last_termination,
            waiting_reason=waiting_reason,
            started_at=None if waiting_reason else self._started_at,
        )
        async with self._writing:
            written = await self._reporter.report(self.spec, observation)
            self._reported = ready if written else None
            if written:
                self._observation = observation


class NodeCache:
    """Which simulated nodes are up; listed again when an unknown node shows up (rate-limited)
    and every few seconds (a node goes down or comes back without any pod changing)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._nodes: dict[str, bool] = {}  # simulated node -> up
        self._listed_at = float("-inf")

    async def simulated(self, needed: set[str]) -> set[str]:
        age = time.monotonic() - self._listed_at
        unknown = needed - set(self._nodes)
        if (unknown and age >= NODE_REFRESH_MIN_SECONDS) or age >= NODE_REFRESH_MAX_SECONDS:
            try:
                self._nodes = await simulated_nodes(self._client)
                self._listed_at = time.monotonic()
            except Exception as error:
                log.warning("listing simulated nodes failed: %s", error)
        return {name for name, up in self._nodes.items() if up}


class Launcher:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._reporter = Reporter(client)
        self._nodes = NodeCache(client)
        self.supervisors: dict[SimulatorKey, Supervisor] = {}

    async def reconcile(self, pods: Mapping[str, PodInfo]) -> None:
        needed = {pod.node_name for pod in pods.values() if pod.node_name}
        desired = desired_simulators(pods, await self._nodes.simulated(needed))
        actions = plan(desired, {key: sup.spec for key, sup in self.supervisors.items()})
        stopping = [self.supervisors.pop(key) for key in actions.stop]
        for supervisor in stopping:
            log.info("stopping simulator for %s/%s", supervisor.spec.namespace, supervisor.spec.pod)
            self._reporter.forget(supervisor.spec.key)
        await asyncio.gather(*(supervisor.stop() for supervisor in stopping))
        for spec in actions.start:
            supervisor = Supervisor(spec, self._reporter)
            self.supervisors[spec.key] = supervisor
            supervisor.start()
        for key, supervisor in self.supervisors.items():
            pod = pods.get(key[0])
            if pod is not None:
                supervisor.sync(pod.ready)

    async def stop_all(self) -> None:
        supervisors = list(self.supervisors.values())
        self.supervisors.clear()
        await asyncio.gather(*(supervisor.stop() for supervisor in supervisors))

    async def run(self, stop: asyncio.Event) -> None:
        latest: dict[str, PodInfo] | None = None
        wake = asyncio.Event()

        async def follow() -> None:
            nonlocal latest
            async for snapshot in watch_pods(self._client):
                latest = snapshot
                wake.set()

        watcher = asyncio.get_running_loop().create_task(follow())
        stop_waiter = asyncio.get_running_loop().create_task(stop.wait())
        try:
            while not stop.is_set():
                waker = asyncio.get_running_loop().create_task(wake.wait())
                await asyncio.wait(
                    {waker, stop_waiter, watcher},
                    timeout=RESYNC_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waker.cancel()
                if watcher.done():
                    watcher.result()  # re-raise: the watch only ends on a bug
                    raise RuntimeError("pod watch ended")
                wake.clear()
                if latest is not None and not stop.is_set():
                    await self.reconcile(latest)
        finally:
            for task in (watcher, stop_waiter):
                task.cancel()
            await asyncio.gather(watcher, stop_waiter, return_exceptions=True)
            await self.stop_all()


async def launch(kubeconfig: str) -> int:
    client = async_client(kubeconfig)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    launcher = Launcher(client)
    log.info("simulator launcher watching pods (kubeconfig %s)", kubeconfig)
    try:
        await launcher.run(stop)
    finally:
        await client.close()
    log.info("simulator launcher stopped")
    return 0


def main(kubeconfig: str) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("httpx", "httpx2", "httpcore"):  # one INFO line per API request otherwise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if not Path(kubeconfig).is_file():
        print(f"modelops sim launcher: no kubeconfig at {kubeconfig}", file=sys.stderr)
        return 2
    return asyncio.run(launch(kubeconfig))
