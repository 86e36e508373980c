"""Fault tools of the local cluster: stop, start and restart one component, keeping all state.

Every component runs from the command saved in its record, with all its state on disk (etcd's
data dir, the PKI, the kubeconfig, the ports), so starting it again is starting the same
process again. A component stopped here is marked `stopped` (not `crashed`); its new record
replaces the old one, so nothing dead lingers in `modelops cluster status`.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import time

from modelops.localcluster import nodes as node_shapes
from modelops.localcluster.cluster import Cluster, ClusterError, _wait_http
from modelops.localcluster.pki import Pki
from modelops.localcluster.processes import ProcessRecord, is_running, log_tail, spawn, stop

# What users type -> the record's name (which is also the log file's name).
COMPONENTS = {
    "etcd": "etcd",
    "kube-apiserver": "kube-apiserver",
    "controller-manager": "kube-controller-manager",
    "scheduler": "kube-scheduler",
    "kwok": "kwok",
    "launcher": "sim-launcher",
    "operator": "operator",
    "router": "router",
}
START_TIMEOUT_SECONDS = 120.0
SETTLE_SECONDS = 1.0


def record_name(component: str) -> str:
    """The record name of a component, by its short or its full name."""
    if component in COMPONENTS:
        return COMPONENTS[component]
    if component in COMPONENTS.values():
        return component
    raise ClusterError(f"unknown component {component!r}; one of: {', '.join(COMPONENTS)}")


def _record(cluster: Cluster, component: str) -> ProcessRecord:
    name = record_name(component)
    for record in cluster.records():
        if record.name == name:
            return record
    raise ClusterError(
        f"cluster {cluster.name!r} runs no {name}"
        + (
            " (modelops dev up starts the operator and router)"
            if name in ("operator", "router")
            else ""
        )
    )


def stop_component(cluster: Cluster, component: str) -> bool:
    """Stop one component (SIGTERM, then SIGKILL); return whether it was running."""
    record = _record(cluster, component)
    was_running = is_running(record)
    stop(record)
    cluster.put_record(
        ProcessRecord(record.name, record.pid, record.start_ticks, record.log, record.command, True)
    )
    return was_running


def start(cluster: Cluster, component: str, *, timeout: float = START_TIMEOUT_SECONDS) -> bool:
    """Start a stopped or crashed component from its saved command and wait until it serves
    (where it has an endpoint to ask); return False when it was running already."""
    record = _record(cluster, component)
    if is_running(record):
        return False
    stop(record)  # orphans of a crashed leader (a launcher's simulators) go first
    fresh = spawn(record.name, record.command, cluster.logs / f"{record.name}.log")
    cluster.put_record(fresh)
    _wait_serving(cluster, fresh, timeout)
    return True


def restart(cluster: Cluster, component: str, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
    stop_component(cluster, component)
    start(cluster, component, timeout=timeout)


def _wait_serving(cluster: Cluster, record: ProcessRecord, timeout: float) -> None:
    ports = cluster.ports()
    context: ssl.SSLContext | None = None
    if record.name == "etcd":
        url = f"http://127.0.0.1:{ports['etcd']}/health"
    elif record.name == "kube-apiserver":
        pki = Pki(cluster.root / "pki")
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        url = f"https://127.0.0.1:{ports['apiserver']}/readyz"
    elif record.name in ("operator", "router") and record.name in ports:
        url = f"http://127.0.0.1:{ports[record.name]}/healthz"
    else:
        # No endpoint to ask: a component that dies within its first second failed to start.
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            _reap(record.pid)
            if not is_running(record):
                raise ClusterError(f"{record.name} exited at once:\n{log_tail(record)}")
            time.sleep(0.05)
        return
    _wait_http(url, context=context, record=record, timeout=timeout)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _simulated_node(cluster: Cluster, name: str) -> None:
    result = cluster.kubectl("get", "node", name, "-o", "jsonpath={.metadata.labels}", check=False)
    if result.returncode != 0:
        raise ClusterError(f"no node {name!r}: {result.stderr.strip()}")
    if f'"{node_shapes.SIMULATED_LABEL}":"true"' not in result.stdout:
        raise ClusterError(f"node {name!r} is not a simulated node of this cluster")


def node_down(cluster: Cluster, name: str) -> None:
    """As when the node's kubelet dies: KWOK stops renewing its Lease and Ready (the node
    lifecycle controller then marks it NotReady, taints it and evicts its pods), and the
    launcher stops the simulators of its pods (the runtimes die with the node)."""
    _simulated_node(cluster, name)
    cluster.kubectl("label", "node", name, f"{node_shapes.DOWN_LABEL}=true", "--overwrite")


def node_up(cluster: Cluster, name: str) -> None:
    """The kubelet is back: KWOK renews the Lease and marks the node Ready again."""
    _simulated_node(cluster, name)
    cluster.kubectl("label", "node", name, f"{node_shapes.DOWN_LABEL}-")
