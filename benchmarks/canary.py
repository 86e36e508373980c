"""How fast a bad canary is rolled back, what clients see meanwhile, and how long a good
rollout takes: measured on a local cluster (operator + router + simulators), beside the
reaction that Flagger's and Argo Rollouts' defaults imply.

    PYTHONPATH=operator .venv/bin/python benchmarks/canary.py [--rate 10] [--min-requests 20]

A bad version answers 30 % of requests with HTTP 500 (MODELOPS_SIM_ERROR_RATE=0.3). The
first step sends 10 % of the traffic to it. The earliest any analysis can know is the
minRequests-th canary request; the figure that matters is how long after that the router
stops sending traffic to the canary, and how many failures clients saw.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import openai
import yaml
from prometheus_client.parser import text_string_to_metric_families

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import dev

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = dev.MODELS_NAMESPACE
ASK = [{"role": "user", "content": "Say something"}]


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def canary_requests(router: str, model: str) -> int:
    with urllib.request.urlopen(f"{router}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0
    for family in text_string_to_metric_families(text):
        if family.name == "modelops_router_model_requests":
            for sample in family.samples:
                labels = sample.labels
                mine = labels.get("model") == model and labels.get("track") == "canary"
                if sample.name.endswith("_total") and mine:
                    total += int(sample.value)
    return total


def has_canary_track(router: str, model: str) -> bool:
    tracks = http_json(f"{router}/status")["models"].get(model, {}).get("tracks", [])
    return any(t["name"] == "canary" and t["weight"] > 0 for t in tracks)


class Load:
    """`rate` requests per second, every third streamed; counts what clients see fail."""

    def __init__(self, router: str, model: str, rate: float, seconds: float) -> None:
        self.client = openai.OpenAI(
            base_url=f"{router}/v1", api_key="unused", max_retries=0, timeout=30
        )
        self.model, self.rate, self.seconds = model, rate, seconds
        self.sent = 0
        self.failed = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.driver = threading.Thread(target=self._drive)

    def _one(self, stream: bool) -> None:
        try:
            if stream:
                chunks = self.client.chat.completions.create(
                    model=self.model, messages=ASK, max_tokens=8, stream=True
                )
                ok = bool("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
            else:
                reply = self.client.chat.completions.create(
                    model=self.model, messages=ASK, max_tokens=8
                )
                ok = bool(reply.choices[0].message.content)
        except Exception:
            ok = False
        with self.lock:
            self.sent += 1
            self.failed += 0 if ok else 1

    def _drive(self) -> None:
        deadline = time.monotonic() + self.seconds
        index = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            thread = threading.Thread(target=self._one, args=(index % 3 == 0,))
            thread.start()
            self.threads.append(thread)
            index += 1
            self.stop.wait(1 / self.rate)

    def __enter__(self) -> Load:
        self.driver.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.driver.join()
        for thread in self.threads:
            thread.join(timeout=40)
        self.client.close()


def manifest(name: str, min_requests: int, env: list[dict[str, str]]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "modelops.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "engine": "ollama",
                "model": "phi3:mini",
                "resources": {"gpus": 0, "cpu": "1"},
                "env": env,
                "rollout": {
                    "steps": [{"weight": 10, "pause": "5s"}, {"weight": 50}, {"weight": 100}],
                    "analysis": {"minRequests": min_requests},
                },
            },
        }
    )


def status_of(cluster: localcluster.Cluster, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", "md", name, "-n", NAMESPACE, "-o", "json").stdout
    return dict(json.loads(out).get("status") or {})


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def deploy(cluster: localcluster.Cluster, router: str, name: str, minimum: int) -> None:
    """The model Ready and served by the router, before its rollout."""
    cluster.kubectl("apply", "--server-side", "-f", "-", input=manifest(name, minimum, []))
    cluster.kubectl(
        "wait", "-n", NAMESPACE, "--for=condition=Ready", f"md/{name}", "--timeout=120s"
    )
    wait(
        lambda: http_json(f"{router}/status")["models"].get(name, {}).get("available"), 60, "router"
    )


def bad_rollout(
    cluster: localcluster.Cluster, router: str, rate: float, minimum: int
) -> dict[str, float]:
    name = "bench-bad"
    deploy(cluster, router, name, minimum)
    with Load(router, name, rate, 180) as load:
        time.sleep(2)
        bad = manifest(name, minimum, [{"name": "MODELOPS_SIM_ERROR_RATE", "value": "0.3"}])
        cluster.kubectl("apply", "--server-side", "-f", "-", input=bad)
        wait(lambda: canary_requests(router, name) > 0, 120, "the first canary request")
        first = time.monotonic()
        reached = None
        while has_canary_track(router, name):
            if reached is None and canary_requests(router, name) >= minimum:
                reached = time.monotonic()
            time.sleep(0.02)
            if time.monotonic() - first > 300:
                raise SystemExit("no rollback within 300 s")
        gone = time.monotonic()
        if reached is None:
            reached = gone
        time.sleep(1)
    failed = status_of(cluster, name).get("failedRollout", {})
    print(f"  rolled back: {failed.get('message')}")
    return {
        "to_min_requests": reached - first,
        "after_min_requests": gone - reached,
        "first_traffic_to_rollback": gone - first,
        "client_failures": float(load.failed),
        "requests": float(load.sent),
    }


def good_rollout(
    cluster: localcluster.Cluster, router: str, rate: float, minimum: int
) -> dict[str, float]:
    name = "bench-good"
    deploy(cluster, router, name, minimum)
    old = status_of(cluster, name)["stable"]["revision"]
    with Load(router, name, rate, 300) as load:
        time.sleep(2)
        start = time.monotonic()
        new = manifest(name, minimum, [{"name": "MODELOPS_SIM_SEED", "value": "7"}])
        cluster.kubectl("apply", "--server-side", "-f", "-", input=new)

        def done() -> bool:
            status = status_of(cluster, name)
            return status.get("stable", {}).get("revision") != old and "canary" not in status

        wait(done, 300, "the promotion")
        total = time.monotonic() - start
    return {"total": total, "client_failures": float(load.failed), "requests": float(load.sent)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--min-requests", type=int, default=20)
    args = parser.parse_args(argv)
    cluster = localcluster.Cluster(f"bench-canary-{uuid.uuid4().hex[:6]}")
    localcluster.up(cluster)
    try:
        port = dev.up(
            cluster, crds_dir=REPO / "crds", examples_dir=None, router_port=localcluster.free_port()
        )
        router = f"http://127.0.0.1:{port}"
        bad = bad_rollout(cluster, router, args.rate, args.min_requests)
        good = good_rollout(cluster, router, args.rate, args.min_requests)
    finally:
        localcluster.down(cluster)
    rate, share, error_rate = args.rate, 0.10, 0.3

    # What the peers' defaults imply for the same bad canary (they retry nothing, so every
    # canary failure reaches a client): Flagger analyses once per `interval` (1m in its docs)
    # and rolls back after `threshold` failed checks (5 in its docs); Argo Rollouts runs an
    # AnalysisRun per its `interval` (commonly 1m-5m) with failureLimit 0 at best.
    def peer(seconds: float) -> tuple[float, float]:
        return seconds, rate * share * error_rate * seconds

    flagger_first, flagger_first_errors = peer(60.0)
    flagger_docs, flagger_docs_errors = peer(300.0)
    argo, argo_errors = peer(60.0)
    print()
    print(f"Bad canary at {rate:g} req/s, first step {share:.0%}, minRequests {args.min_requests}:")
    print(f"{'':32} {'rollback after 1st canary req':>30} {'client-visible errors':>22}")
    ours = bad["first_traffic_to_rollback"]
    print(f"{'modelops':32} {ours:>29.1f}s {bad['client_failures']:>22.0f}")
    print(f"{'  of which after minRequests':32} {bad['after_min_requests']:>29.2f}s")
    print(f"{'Flagger, 1 check of 60 s':32} {flagger_first:>29.0f}s {flagger_first_errors:>21.0f}+")
    print(f"{'Flagger docs (5 x 60 s)':32} {flagger_docs:>29.0f}s {flagger_docs_errors:>21.0f}+")
    print(f"{'Argo Rollouts, 60 s AnalysisRun':32} {argo:>29.0f}s {argo_errors:>21.0f}+")
    ratio = flagger_first / bad["first_traffic_to_rollback"]
    print(f"ratio: Flagger's first possible rollback / ours = {ratio:.1f}x")
    print(f"({bad['requests']:.0f} requests sent during the bad rollout)")
    print()
    print(
        f"Good rollout (10% 5s, 50%, 100%): {good['total']:.1f}s from apply to promotion, "
        f"{good['client_failures']:.0f} client-visible errors of {good['requests']:.0f} requests"
    )
    print(f"Flagger with its docs' 3 steps x 60 s interval: >= 180 s ({180 / good['total']:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
