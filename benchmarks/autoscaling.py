"""Autoscaling on the local cluster (operator + router + simulated runtimes), measured, beside
what the peers' defaults imply for the same load (issue 10).

    PYTHONPATH=operator .venv/bin/python benchmarks/autoscaling.py [--skip-scale-down]

1. Load step. A vLLM model (1 GPU per replica; each simulated pod generates 10 tokens/s and
   runs 4 requests at once, the rest queue as `vllm:num_requests_waiting`), autoscaled with
   minReplicas 1, maxReplicas 6, targetInFlight 4 and our default windows and interval, idles
   at 1 replica; then 16 closed-loop openai-client workers (max_tokens 20, ~2 s a request)
   through the router: 16 in flight need 4 replicas. Measured: seconds from the step to
   status.desiredReplicas = 4 and to status.readyReplicas = 4; the queue peak (the sum of the
   pods' waiting gauges, each ready pod's /metrics scraped every poll); client errors.
2. Noise. For 2 minutes the worker count changes every 5 s at random (seeded) in 13..16, so
   the need stays 4 replicas: the desiredReplicas changes (polled, and the operator's
   ScaledUp/ScaledDown Events, which a poll cannot miss). Target 0.
3. Drop. The load stops: seconds until desiredReplicas is back to 1 (our defaults: a 60 s
   scale-down window + 300 s stabilization, ~6 minutes; `--skip-scale-down` leaves it out).
4. Scale from zero. An Ollama model (no GPU) with minReplicas 0, maxReplicas 2 and
   scaleToZeroAfter 30s sits at 0 replicas; 20 concurrent first requests are held by the
   router. Measured: from the first request to the pod Ready (`kubectl get pods -w`, stamped
   here as each event arrives; lastTransitionTime has only second resolution), and from the
   pod Ready to each held request's answer (max, median); every request must get an answer.
5. Peers. The same step, noise and drop (as they happened here) fed through the peer models of
   `benchmarks/autoscaling_decision.py`: KubeAI (10 s tick, 10-minute average), HPA (15 s sync,
   300 s down-stabilization), production-stack's KEDA (15 s polling, 360 s cooldown), AIBrix KPA
   (180 s stable window); plus our own decision function on that trace.

The peers' figures are decision models (no metrics pipeline, no reconcile, no pod start);
ours are measured on the cluster, from the load step to the status the operator wrote. For a
peer, the pod start comes on top of its decision: the "ready" column adds the pod start
measured here. Times are observed by polling (resolution: the poll period, printed).

Bounded: every load loop has a deadline and a request cap; every wait has a deadline. Traffic
goes only to 127.0.0.1 (router) and to the pods' loopback IPs (127.x, their /metrics). The
machine has 2 cores and other local clusters may run beside this one: the output says how many
did and the load average of each phase.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import yaml
from openai.types.chat import ChatCompletionMessageParam
from prometheus_client.parser import text_string_to_metric_families

from autoscaling_decision import PEERS, TARGET, Trace, changes, first_time, ours
from modelops.api import telemetry as names
from modelops.api.spec import Autoscaling
from modelops.localcluster import cluster as localcluster
from modelops.localcluster import dev
from modelops.localcluster.toolchain import binary_path

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = dev.MODELS_NAMESPACE
MODEL_LABEL = "modelops.io/model"
VLLM_MODEL = "bench-vllm"
SLEEPY_MODEL = "bench-sleepy"
TARGET_IN_FLIGHT = 4
WORKERS = 16
NEEDED = WORKERS // TARGET_IN_FLIGHT
NOISE_LEVELS = (13, 16)  # ceil(13 / 4) = ceil(16 / 4) = 4 replicas
NOISE_SECONDS = 120
NOISE_EVERY = 5
NOISE_SEED = 10
WAKE_CLIENTS = 20
POLL_SECONDS = 0.5
INTERVAL = Autoscaling(enabled=True).interval_seconds
PEER_IDLE = 600.0  # idle seconds before the step in the peers' trace (KubeAI's average)
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me something"}]


# -- the cluster ---------------------------------------------------------------------------------


def http_text(url: str, timeout: float = 2.0) -> str:
    if not url.startswith("http://127."):
        raise ValueError(f"refusing a non-loopback address: {url}")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def router_status(router: str) -> dict[str, Any]:
    return dict(json.loads(http_text(f"{router}/status"))["models"])


def kubectl_json(cluster: localcluster.Cluster, *args: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl(*args, "-o", "json").stdout))


def apply(cluster: localcluster.Cluster, name: str, spec: dict[str, Any]) -> None:
    document = {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(document))


def md_status(cluster: localcluster.Cluster, name: str) -> dict[str, Any]:
    return dict(kubectl_json(cluster, "get", "-n", NAMESPACE, f"md/{name}").get("status") or {})


def wait(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> float:
    """Poll until `predicate` holds; return the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return time.monotonic()
        except (OSError, subprocess.CalledProcessError, KeyError, ValueError):
            pass  # not there yet (a model not yet in the router, a transient API error)
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def other_clusters(mine: localcluster.Cluster) -> int:
    parent = mine.root.parent
    if not parent.exists():
        return 0
    others = [localcluster.Cluster(p.name) for p in parent.iterdir() if p.name != mine.name]
    return sum(1 for c in others if localcluster.is_up(c))


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# -- what a poll sees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    t: float  # monotonic, when the poll had read everything
    desired: int | None
    ready: int
    waiting: float  # sum of vllm:num_requests_waiting over the ready pods read
    router_in_flight: float
    unreadable: int  # ready pods whose /metrics could not be read


def ready_pod_urls(items: list[dict[str, Any]], model: str) -> list[str]:
    urls = []
    for pod in items:
        if pod.get("kind") != "Pod" or pod["metadata"].get("labels", {}).get(MODEL_LABEL) != model:
            continue
        conditions = pod.get("status", {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        ip = pod.get("status", {}).get("podIP", "")
        ports = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])]
        if (
            ready
            and ip.startswith("127.")
            and ports
            and not pod["metadata"].get("deletionTimestamp")
        ):
            urls.append(f"http://{ip}:{ports[0]}/metrics")
    return urls


def gauge_sum(text: str, metric: str, labels: dict[str, str]) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def pods_waiting(urls: list[str]) -> tuple[float, int]:
    waiting, unreadable = 0.0, 0
    for url in urls:
        try:
            waiting += gauge_sum(http_text(url, timeout=1.0), names.VLLM_WAITING, {})
        except OSError:
            unreadable += 1
    return waiting, unreadable


def take_sample(cluster: localcluster.Cluster, router: str, model: str) -> Sample:
    items = kubectl_json(cluster, "get", "-n", NAMESPACE, "md,pods")["items"]
    mds = [i for i in items if i["kind"] == "ModelDeployment" and i["metadata"]["name"] == model]
    status = mds[0].get("status", {}) if mds else {}
    waiting, unreadable = pods_waiting(ready_pod_urls(items, model))
    router_text = http_text(f"{router}/metrics")
    in_flight = gauge_sum(router_text, names.ROUTER_MODEL_IN_FLIGHT, {names.LABEL_MODEL: model})
    return Sample(
        t=time.monotonic(),
        desired=status.get("desiredReplicas"),
        ready=int(status.get("readyReplicas") or 0),
        waiting=waiting,
        router_in_flight=in_flight,
        unreadable=unreadable,
    )


class Sampler:
    """Polls the model's status, its pods' queues and the router's in-flight gauge every
    POLL_SECONDS (at most `seconds`), in a thread; `samples` grows as it goes."""

    def __init__(self, cluster: localcluster.Cluster, router: str, model: str) -> None:
        self.cluster, self.router, self.model = cluster, router, model
        self.samples: list[Sample] = []
        self.failed_polls = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self, seconds: float = 1800.0) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                self.samples.append(take_sample(self.cluster, self.router, self.model))
            except (OSError, subprocess.CalledProcessError, ValueError, KeyError):
                self.failed_polls += 1
            self.stop.wait(max(0.0, POLL_SECONDS - (time.monotonic() - started)))

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.t <= end]

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def poll_period(samples: list[Sample]) -> str:
    gaps = [b.t - a.t for a, b in itertools.pairwise(samples)]
    if not gaps:
        return "-"
    return f"mean {statistics.fmean(gaps):.2f} s, max {max(gaps):.2f} s"


def scale_events(cluster: localcluster.Cluster, name: str) -> int:
    """ScaledUp + ScaledDown Events the operator posted for the model (repeats counted)."""
    selector = f"involvedObject.name={name}"
    items = kubectl_json(cluster, "get", "events", "-n", NAMESPACE, "--field-selector", selector)
    total = 0
    for event in items["items"]:
        if event.get("reason") in ("ScaledUp", "ScaledDown"):
            total += int((event.get("series") or {}).get("count") or event.get("count") or 1)
    return total


# -- closed-loop load ----------------------------------------------------------------------------


@dataclass
class Outcomes:
    ok: int = 0
    errors: list[tuple[float, str]] = field(default_factory=list)

    def errors_between(self, start: float, end: float) -> list[str]:
        return [message for t, message in self.errors if start <= t <= end]


class ClosedLoop:
    """`most` workers through the router; the first `active` of them each send one request
    after the other (so about `active` in flight). Bounded: `seconds` in all, and at most
    `cap` requests per worker."""

    def __init__(self, router: str, model: str, most: int, seconds: float, cap: int = 2000):
        self.client = openai.OpenAI(
            base_url=f"{router}/v1", api_key="unused", max_retries=0, timeout=60
        )
        self.model, self.cap = model, cap
        self.deadline = time.monotonic() + seconds
        self.active = 0
        self.outcomes = Outcomes()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._work, args=(i,)) for i in range(most)]

    def set_workers(self, count: int) -> None:
        self.active = count

    def _one(self) -> None:
        try:
            reply = self.client.chat.completions.create(
                model=self.model, messages=ASK, max_tokens=20
            )
            problem = None if reply.choices[0].message.content else "empty answer"
        except Exception as error:  # every failure a client sees is a finding
            problem = f"{type(error).__name__}: {error}"
        with self.lock:
            if problem is None:
                self.outcomes.ok += 1
            else:
                self.outcomes.errors.append((time.monotonic(), problem))

    def _work(self, index: int) -> None:
        sent = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline and sent < self.cap:
            if index >= self.active:
                self.stop.wait(0.05)
                continue
            self._one()
            sent += 1

    def __enter__(self) -> ClosedLoop:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)
        self.client.close()


# -- 1-3: step, noise, drop on the vLLM model ----------------------------------------------------


@dataclass
class StepRun:
    """What happened to the vLLM model; times are monotonic."""

    step: float = 0.0
    desired_at: float | None = None
    ready_at: float | None = None
    noise_start: float = 0.0
    noise_end: float = 0.0
    noise: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, workers)
    noise_events: int = 0
    drop: float = 0.0
    down_desired_at: float | None = None
    down_ready_at: float | None = None
    outcomes: Outcomes = field(default_factory=Outcomes)
    samples: list[Sample] = field(default_factory=list)
    failed_polls: int = 0
    load: dict[str, str] = field(default_factory=dict)  # load average by phase


def vllm_spec() -> dict[str, Any]:
    return {
        "engine": "vllm",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "resources": {"gpus": 1},
        "env": [
            {"name": "MODELOPS_SIM_TOKENS_PER_SECOND", "value": "10"},
            {"name": "MODELOPS_SIM_MAX_CONCURRENCY", "value": str(TARGET_IN_FLIGHT)},
        ],
        "autoscaling": {
            "enabled": True,
            "minReplicas": 1,
            "maxReplicas": 6,
            "targetInFlight": TARGET_IN_FLIGHT,
        },
    }


def deploy_vllm(cluster: localcluster.Cluster, router: str) -> None:
    apply(cluster, VLLM_MODEL, vllm_spec())
    cluster.kubectl(
        "wait", "-n", NAMESPACE, "--for=condition=Ready", f"md/{VLLM_MODEL}", "--timeout=180s"
    )
    wait(lambda: router_status(router)[VLLM_MODEL]["available"], 60, "the router serving it")
    wait(lambda: md_status(cluster, VLLM_MODEL).get("desiredReplicas") == 1, 60, "1 desired")


def seen_at(sampler: Sampler, predicate: Callable[[Sample], bool], timeout: float) -> float:
    """The time of the first new sample for which `predicate` holds."""
    count = len(sampler.samples)

    def found() -> bool:
        return any(predicate(s) for s in sampler.samples[count:])

    wait(found, timeout, "a sample", every=0.05)
    return next(s.t for s in sampler.samples[count:] if predicate(s))


def load_step(run: StepRun, sampler: Sampler, load: ClosedLoop) -> None:
    run.step = time.monotonic()
    load.set_workers(WORKERS)
    run.desired_at = seen_at(sampler, lambda s: (s.desired or 0) >= NEEDED, 180)
    run.ready_at = seen_at(sampler, lambda s: s.ready >= NEEDED, 240)
    run.load["step"] = load_average()


def noisy_period(
    run: StepRun, cluster: localcluster.Cluster, sampler: Sampler, load: ClosedLoop
) -> None:
    rng = random.Random(NOISE_SEED)
    events_before = scale_events(cluster, VLLM_MODEL)
    run.noise_start = time.monotonic()
    while time.monotonic() < run.noise_start + NOISE_SECONDS:
        workers = rng.randint(*NOISE_LEVELS)
        load.set_workers(workers)
        run.noise.append((time.monotonic(), workers))
        time.sleep(max(0.0, min(NOISE_EVERY, run.noise_start + NOISE_SECONDS - time.monotonic())))
    run.noise_end = time.monotonic()
    run.noise_events = scale_events(cluster, VLLM_MODEL) - events_before
    run.load["noise"] = load_average()


def scale_down(run: StepRun, sampler: Sampler) -> None:
    run.down_desired_at = seen_at(sampler, lambda s: s.desired == 1, 600)
    run.down_ready_at = seen_at(sampler, lambda s: s.ready == 1, 120)
    run.load["drop"] = load_average()


def vllm_runs(cluster: localcluster.Cluster, router: str, skip_scale_down: bool) -> StepRun:
    deploy_vllm(cluster, router)
    run = StepRun()
    with Sampler(cluster, router, VLLM_MODEL) as sampler:
        time.sleep(3 * INTERVAL)  # idle samples in every window before the step
        with ClosedLoop(router, VLLM_MODEL, WORKERS, seconds=600) as load:
            load_step(run, sampler, load)
            noisy_period(run, cluster, sampler, load)
            load.set_workers(0)
            run.drop = time.monotonic()
        run.outcomes = load.outcomes
        if not skip_scale_down:
            scale_down(run, sampler)
        run.samples, run.failed_polls = list(sampler.samples), sampler.failed_polls
    return run


# -- 4: scale from zero on the Ollama model ------------------------------------------------------


@dataclass
class WakeRun:
    first_request: float = 0.0
    held: float | None = None  # when the router's holding gauge showed every request
    pod_ready: float | None = None
    router_usable: float | None = None
    answers: list[float] = field(default_factory=list)  # monotonic, per answered request
    errors: list[str] = field(default_factory=list)
    asleep_again: float | None = None  # after the last answer
    load: str = ""


def sleepy_spec() -> dict[str, Any]:
    return {
        "engine": "ollama",
        "model": "phi3:mini",
        "replicas": 0,
        "resources": {"gpus": 0, "cpu": "1"},
        "autoscaling": {
            "enabled": True,
            "minReplicas": 0,
            "maxReplicas": 2,
            "scaleToZeroAfter": "30s",
        },
    }


def holding(router: str, model: str) -> float:
    text = http_text(f"{router}/metrics")
    return gauge_sum(text, names.ROUTER_MODEL_HOLDING, {names.LABEL_MODEL: model})


@contextmanager
def pod_ready_watch(cluster: localcluster.Cluster, model: str) -> Iterator[list[float]]:
    """Streams `kubectl get pods -w`; the list gets the monotonic time at which each event
    showing a Ready pod of `model` arrived (the first is the one that matters)."""
    template = '{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}'
    command = [str(binary_path("kubectl")), "--kubeconfig", str(cluster.kubeconfig)]
    command += ["get", "pods", "-n", NAMESPACE, "-l", f"{MODEL_LABEL}={model}", "-w"]
    command += ["-o", f"jsonpath={template}", "--request-timeout=0"]
    seen: list[float] = []
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.split()[1:] == ["True"]:
                seen.append(time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield seen
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)


@contextmanager
def router_usable_watch(router: str, model: str, seconds: float = 240) -> Iterator[list[float]]:
    """The router's /status polled every 20 ms (bounded); the list gets the time at which
    it first reported the model available."""
    seen: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if router_status(router)[model]["available"]:
                    seen.append(time.monotonic())
                    return
            except (OSError, KeyError, ValueError):
                pass
            stop.wait(0.02)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=10)


def ask_once(client: openai.OpenAI, index: int) -> float:
    reply = client.chat.completions.create(
        model=SLEEPY_MODEL, messages=[{"role": "user", "content": f"hello {index}"}], max_tokens=8
    )
    if not reply.choices[0].message.content:
        raise ValueError("empty answer")
    return time.monotonic()


def deploy_sleepy(cluster: localcluster.Cluster, router: str) -> None:
    apply(cluster, SLEEPY_MODEL, sleepy_spec())
    wait(lambda: SLEEPY_MODEL in router_status(router), 60, "the router listing the model")
    wait(lambda: md_status(cluster, SLEEPY_MODEL).get("desiredReplicas") == 0, 60, "0 desired")
    if router_status(router)[SLEEPY_MODEL]["available"]:
        raise SystemExit("the model at zero has a usable endpoint")
    time.sleep(2 * INTERVAL)  # a few idle decisions at zero, as a model asleep would have


def wait_held(router: str, futures: list[Any], seconds: float = 60) -> float | None:
    """When the router's holding gauge shows every request (None: some were answered first,
    or not within `seconds`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not any(f.done() for f in futures):
        try:
            if holding(router, SLEEPY_MODEL) >= WAKE_CLIENTS:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.02)
    return None


def wake_from_zero(cluster: localcluster.Cluster, router: str) -> WakeRun:
    deploy_sleepy(cluster, router)
    run = WakeRun()
    client = openai.OpenAI(base_url=f"{router}/v1", api_key="unused", max_retries=0, timeout=180)
    with (
        pod_ready_watch(cluster, SLEEPY_MODEL) as ready_times,
        router_usable_watch(router, SLEEPY_MODEL) as usable_times,
        ThreadPoolExecutor(WAKE_CLIENTS) as pool,
    ):
        time.sleep(1.5)  # the watch is established (it prints nothing while there is no pod)
        run.first_request = time.monotonic()
        futures = [pool.submit(ask_once, client, i) for i in range(WAKE_CLIENTS)]
        run.held = wait_held(router, futures)
        for future in futures:
            try:
                run.answers.append(future.result(timeout=240))
            except Exception as error:  # a lost request is the finding
                run.errors.append(f"{type(error).__name__}: {error}")
        wait(lambda: ready_times, 10, "the watch's Ready event")
        run.pod_ready = ready_times[0]
        run.router_usable = usable_times[0] if usable_times else None
    client.close()
    run.load = load_average()
    asleep = wait(
        lambda: (
            (s := md_status(cluster, SLEEPY_MODEL)).get("desiredReplicas") == 0
            and not s.get("readyReplicas")
        ),
        150,
        "back to zero",
        every=0.5,
    )
    run.asleep_again = asleep - max(run.answers, default=asleep)
    return run


# -- 5: the peers' decision models on the same trace ---------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """The load as it happened here, in seconds from the step (worker counts)."""

    noise_start: float
    noise: tuple[tuple[float, int], ...]
    drop: float

    def workers(self, since_step: float) -> int:
        if since_step < 0 or since_step >= self.drop:
            return 0
        level = WORKERS
        for start, count in self.noise:
            if start <= since_step:
                level = count
        return level


def timeline_of(run: StepRun) -> Timeline:
    return Timeline(
        noise_start=run.noise_start - run.step,
        noise=tuple((t - run.step, n) for t, n in run.noise),
        drop=run.drop - run.step,
    )


SUSTAINED = Timeline(noise_start=float("inf"), noise=(), drop=float("inf"))


@dataclass(frozen=True)
class Figures:
    up: float | None  # step -> the needed count decided
    down: float | None  # drop -> back to 1
    flips: int  # changes during the noisy period
    peak: int  # the most replicas decided while the load lasted


def run_model(model: Callable[[Callable[[float], float]], Trace], line: Timeline) -> Figures:
    """Mean over step phases 0..14 s against the model's ticks (as autoscaling_decision does).
    The models divide by their TARGET; the load is scaled so that TARGET means our 4."""
    ups: list[float] = []
    downs: list[float] = []
    flips = peak = 0
    scale = TARGET / TARGET_IN_FLIGHT
    for offset in range(15):
        step = PEER_IDLE + offset
        trace = model(lambda t, s=step: scale * line.workers(t - s))  # type: ignore[misc]
        up = first_time(trace, step, lambda n: n >= NEEDED)
        down = first_time(trace, step + line.drop, lambda n: n <= 1)
        if up is not None and up < line.drop:
            ups.append(up)
        if down is not None:
            downs.append(down)
        flips = max(flips, changes(trace, step + line.noise_start, step + line.drop))
        peak = max([peak, *(n for t, n in trace if step <= t < step + line.drop)])
    mean_up = statistics.fmean(ups) if len(ups) == 15 else None
    mean_down = statistics.fmean(downs) if len(downs) == 15 and line.drop < 1e9 else None
    return Figures(mean_up, mean_down, flips, peak)


# -- the report ----------------------------------------------------------------------------------


def secs(value: float | None, width: int = 8) -> str:
    return f"{'never':>{width}}" if value is None else f"{value:{width - 2}.1f} s"


def ratio(peer: float | None, mine: float | None) -> str:
    if peer is None or mine is None or mine <= 0:
        return f"{'-':>6}"
    return f"{peer / mine:5.1f}x"


def since(t: float | None, origin: float) -> float | None:
    return None if t is None else t - origin


def intervals(value: float | None) -> str:
    return "" if value is None else f"({value / INTERVAL:.1f} intervals of {INTERVAL} s)"


def trajectory(samples: list[Sample], origin: float, end: float) -> str:
    steps: list[str] = []
    last: tuple[int | None, int] | None = None
    for s in samples:
        if origin <= s.t <= end and (s.desired, s.ready) != last:
            last = (s.desired, s.ready)
            steps.append(f"{s.t - origin:.1f}s {s.desired}/{s.ready}")
    return ", ".join(steps)


def desired_changes(samples: list[Sample], start: float, end: float) -> int:
    values = [s.desired for s in samples if start <= s.t <= end]
    return sum(1 for a, b in itertools.pairwise(values) if a != b)


def report_step(run: StepRun) -> None:
    up = since(run.desired_at, run.step)
    ready = since(run.ready_at, run.step)
    during = [s for s in run.samples if run.step <= s.t <= (run.ready_at or run.step)]
    peak = max(during, key=lambda s: s.waiting, default=None)
    print(f"1. load step 0 -> {WORKERS} closed-loop workers (needs {NEEDED} replicas of 4 slots):")
    print(f"   desiredReplicas {NEEDED}: {secs(up)} {intervals(up)}")
    print(f"   readyReplicas   {NEEDED}: {secs(ready)} {intervals(ready)}")
    print(f"   desired/ready after the step: {trajectory(run.samples, run.step, run.noise_start)}")
    if peak is not None:
        in_flight = max(s.router_in_flight for s in during)
        print(
            f"   queue peak: {peak.waiting:.0f} waiting (sum over the pods' "
            f"vllm:num_requests_waiting) at {peak.t - run.step:.1f}s with {peak.ready} ready; "
            f"router in flight peak {in_flight:.0f}"
        )
    print(
        f"   client errors during the step: {len(run.outcomes.errors_between(0, run.noise_start))}"
    )


def report_noise(run: StepRun) -> None:
    levels = [n for _, n in run.noise]
    flips = desired_changes(run.samples, run.noise_start, run.noise_end)
    noisy = [s for s in run.samples if run.noise_start <= s.t <= run.noise_end]
    waiting = max((s.waiting for s in noisy), default=0.0)
    seconds = run.noise_end - run.noise_start
    span = f"levels {min(levels)}..{max(levels)} (seed {NOISE_SEED})"
    print(f"2. noise: {len(levels)} changes of the worker count in {seconds:.0f} s, {span}:")
    print(f"   {levels}")
    print(
        f"   desiredReplicas changes: {flips} polled, {run.noise_events} ScaledUp/ScaledDown "
        f"Events (target 0); queue peak {waiting:.0f} waiting"
    )
    errors = run.outcomes.errors_between(run.noise_start, run.noise_end)
    print(f"   client errors during the noise: {len(errors)}")


def report_drop(run: StepRun, skipped: bool) -> None:
    if skipped:
        print("3. load stopped: scale-down not measured (--skip-scale-down)")
        return
    down = since(run.down_desired_at, run.drop)
    ready = since(run.down_ready_at, run.drop)
    print(f"3. load stopped: desiredReplicas 1 after {secs(down)} {intervals(down)}")
    print(f"   readyReplicas 1 after {secs(ready)}")
    end = run.down_ready_at or run.drop
    print(f"   desired/ready after the drop: {trajectory(run.samples, run.drop, end)}")


def report_totals(run: StepRun) -> None:
    errors = run.outcomes.errors
    print(
        f"   all phases: {run.outcomes.ok} answered, {len(errors)} client errors; polls "
        f"{len(run.samples)} ({poll_period(run.samples)}), {run.failed_polls} failed"
    )
    for _, message in errors[:5]:
        print(f"     error: {message[:200]}")


def report_wake(run: WakeRun) -> None:
    print(f"4. scale from zero: {WAKE_CLIENTS} concurrent first requests to an Ollama model at 0")
    if run.held is None:
        print("   the router's holding gauge never showed all of them held")
    else:
        print(f"   all held by the router after {(run.held - run.first_request) * 1000:.0f} ms")
    if run.pod_ready is None:
        print("   the pod never became Ready")
        return
    print(f"   first request -> pod Ready (watch event): {run.pod_ready - run.first_request:.2f} s")
    if run.router_usable is not None:
        usable = (run.router_usable - run.pod_ready) * 1000
        print(f"   pod Ready -> router /status usable: {usable:.0f} ms (20 ms polls)")
    waits = sorted(t - run.pod_ready for t in run.answers)
    if waits:
        print(
            f"   pod Ready -> answer: median {statistics.median(waits) * 1000:.0f} ms, "
            f"max {waits[-1] * 1000:.0f} ms, min {waits[0] * 1000:.0f} ms (aim < 1000 ms)"
        )
    print(f"   answered {len(run.answers)} of {WAKE_CLIENTS}, lost {len(run.errors)}")
    for message in run.errors[:5]:
        print(f"     error: {message[:200]}")
    if run.asleep_again is not None:
        print(f"   back to 0 replicas {run.asleep_again:.0f} s after the last answer (30s idle)")
    print(f"   load average (1/5/15 min): {run.load}")


def report_peers(run: StepRun, skipped: bool) -> None:
    line = timeline_of(run)
    pod_start = (run.ready_at - run.desired_at) if run.ready_at and run.desired_at else None
    mine_up = since(run.desired_at, run.step)
    mine_ready = since(run.ready_at, run.step)
    mine_down = None if skipped else since(run.down_desired_at, run.drop)
    mine_flips = desired_changes(run.samples, run.noise_start, run.noise_end)
    noise = line.drop - line.noise_start
    trace = f"0 -> {WORKERS} workers, noise {noise:.0f} s, drop {line.drop:.0f} s after the step"
    print(f"5. the same trace ({trace}) beside the peers' defaults")
    print("   peers: decision models (benchmarks/autoscaling_decision.py), means over 15 step")
    print(
        "   phases; their 'ready' adds the pod start measured here, "
        f"{secs(pod_start).strip()}; ratios are peer / ours measured"
    )
    header = f"   {'':50} {'to 4':>8} {'ratio':>6} {'ready 4':>8} {'back to 1':>9} {'ratio':>6}"
    print(f"{header} {'changes':>8}")
    print(
        f"   {'modelops, measured on the cluster':50} {secs(mine_up)} {'':6} {secs(mine_ready)} "
        f"{'skipped' if skipped else secs(mine_down, 9):>9} {'':6} {mine_flips:8d}"
    )
    rows = {"modelops, our decision model on this trace": ours, **PEERS}
    notes: list[str] = []
    for name, model in rows.items():
        got = run_model(model, line)
        ready = got.up + pod_start if got.up is not None and pod_start is not None else None
        if got.up is None:
            sustained = run_model(model, SUSTAINED).up
            notes.append(
                f"{name}: at most {got.peak} during this load; to 4 under a lasting load after "
                f"{secs(sustained).strip()}"
            )
        down = secs(got.down, 9) if got.peak > 1 else f"{'stays 1':>9}"
        down_ratio = ratio(got.down, mine_down) if got.peak > 1 else f"{'-':>6}"
        print(
            f"   {name:50} {secs(got.up)} {ratio(got.up, mine_up)} {secs(ready)} "
            f"{down} {down_ratio} {got.flips:8d}"
        )
    for note in notes:
        print(f"   never = not within this load; {note}")


# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skip-scale-down", action="store_true", help="leave out phase 3")
    args = parser.parse_args(argv)
    cluster = localcluster.Cluster(f"bench-autoscale-{uuid.uuid4().hex[:6]}")
    started = time.monotonic()
    localcluster.up(cluster)
    try:
        others = other_clusters(cluster)
        print(
            f"local cluster {cluster.name} up; other local clusters running: {others}; "
            f"{os.cpu_count()} cores; load average {load_average()}",
            flush=True,
        )
        port = dev.up(
            cluster, crds_dir=REPO / "crds", examples_dir=None, router_port=localcluster.free_port()
        )
        router = f"http://127.0.0.1:{port}"
        step = vllm_runs(cluster, router, args.skip_scale_down)
        wake = wake_from_zero(cluster, router)
        others_after = other_clusters(cluster)
    finally:
        localcluster.down(cluster)
    defaults = Autoscaling(enabled=True)
    print()
    print(
        f"our defaults: interval {defaults.interval_seconds} s, scale-up window "
        f"{defaults.scale_up.window_seconds} s (stabilization "
        f"{defaults.scale_up.stabilization_window_seconds} s, step {defaults.scale_up.max_step}),"
        f" scale-down window {defaults.scale_down.window_seconds} s, stabilization "
        f"{defaults.scale_down.stabilization_window_seconds} s, step {defaults.scale_down.max_step}"
    )
    report_step(step)
    report_noise(step)
    report_drop(step, args.skip_scale_down)
    report_totals(step)
    print(f"   load average (1/5/15 min) after step/noise/drop: {step.load}")
    report_wake(wake)
    report_peers(step, args.skip_scale_down)
    print(
        f"\ncontention: {others_after} other local cluster(s) running at the end; "
        f"{time.monotonic() - started:.0f} s in all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
