"""The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
KWOK and the simulator launcher, all on 127.0.0.1 with free ports, under one state dir."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelops.localcluster import nodes as node_shapes
from modelops.localcluster.pki import Pki, write_pki
from modelops.localcluster.processes import ProcessRecord, is_running, log_tail, spawn, stop
from modelops.localcluster.toolchain import binary_path, cache_root

STAGES_FILE = Path(__file__).parent / "kwok-stages.yaml"
# The stage line that keeps probed pods not Ready until the launcher's probe passes.
PROBED_NOT_READY = '{{ if .readinessProbe }}{{ $ready = "False" }}{{ end }}'
# Room for thousands of Services (a /24 ran out at ~250 ModelDeployments in the scale test).
SERVICE_CIDR = "10.96.0.0/12"
# Endpoints and EndpointSlices reject loopback addresses, and every simulated pod IP is one,
# so these controllers would only loop on validation errors. The router watches Pods instead.
DISABLED_CONTROLLERS = (
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
)

# Shortened node-failure timings (docs/local-cluster.md, "Faults"); KWOK renews a Lease
# every quarter of its duration, so a node misses several renewals before it is NotReady.
NODE_LEASE_SECONDS = 20
NODE_MONITOR_GRACE_SECONDS = 30
EVICTION_TOLERATION_SECONDS = 30


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class Cluster:
    """A named local cluster and the files under its state dir."""

    name: str = "dev"

    @property
    def root(self) -> Path:
        return cache_root() / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def records(self) -> list[ProcessRecord]:
        return [ProcessRecord.from_json(p) for p in self._state().get("processes", [])]

    def _state(self) -> dict[str, Any]:
        if not self.state_file.exists():
            return {}
        return dict(json.loads(self.state_file.read_text()))

    def pod_network(self) -> int:
        """n of this cluster's 127.<n>.0.0/16 pod network."""
        return int(self._state().get("podNetwork", node_shapes.FIRST_POD_NETWORK))

    def _save(self, records: Sequence[ProcessRecord], ports: dict[str, int], network: int) -> None:
        state = {"processes": [r.to_json() for r in records], "ports": ports, "podNetwork": network}
        self.state_file.write_text(json.dumps(state, indent=2))

    def ports(self) -> dict[str, int]:
        return dict(self._state().get("ports", {}))

    def add_process(self, name: str, command: list[str], port: int | None = None) -> ProcessRecord:
        """Start one more background process that `down` will stop with the rest; it replaces
        an earlier record of that name (a dead one must not linger as crashed)."""
        record = spawn(name, command, self.logs / f"{name}.log")
        self.put_record(record, port)
        return record

    def put_record(self, record: ProcessRecord, port: int | None = None) -> None:
        """Save `record` in place of the one of the same name (or after the others)."""
        records = self.records()
        names = [r.name for r in records]
        if record.name in names:
            records[names.index(record.name)] = record
        else:
            records.append(record)
        ports = self.ports() | ({record.name: port} if port is not None else {})
        self._save(records, ports, self.pod_network())

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary_path("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_kubeconfig(path: Path, pki: Pki, server: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "modelops-local",
                "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "modelops-admin",
                "user": {
                    "client-certificate": str(pki.admin_cert),
                    "client-key": str(pki.admin_key),
                },
            }
        ],
        "contexts": [
            {
                "name": "modelops-local",
                "context": {"cluster": "modelops-local", "user": "modelops-admin"},
            }
        ],
        "current-context": "modelops-local",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def _wait_http(
    url: str, *, context: ssl.SSLContext | None, record: ProcessRecord, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if not is_running(record):
            raise ClusterError(f"{record.name} exited during start-up:\n{log_tail(record)}")
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as error:
            last_error = str(error)
        time.sleep(0.2)
    raise ClusterError(
        f"{record.name} not ready at {url} after {timeout:.0f}s ({last_error}):\n{log_tail(record)}"
    )


def _commands(cluster: Cluster, pki: Pki, ports: dict[str, int]) -> dict[str, list[str]]:
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    kubeconfig = str(cluster.kubeconfig)
    return {
        "etcd": [
            str(binary_path("etcd")),
            "--name=modelops",
            f"--data-dir={cluster.root / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-cluster=modelops=http://127.0.0.1:{ports['etcd-peer']}",
            "--unsafe-no-fsync",
            "--log-level=warn",
            "--quota-backend-bytes=4294967296",
        ],
        "kube-apiserver": [
            str(binary_path("kube-apiserver")),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={pki.apiserver_cert}",
            f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            # Pods leave a NotReady/unreachable node after 30 s, not 300 s (the toleration
            # the DefaultTolerationSeconds admission plugin gives every pod).
            f"--default-not-ready-toleration-seconds={EVICTION_TOLERATION_SECONDS}",
            f"--default-unreachable-toleration-seconds={EVICTION_TOLERATION_SECONDS}",
            "--profiling=false",
            "--v=0",
        ],
        "kube-controller-manager": [
            str(binary_path("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            "--secure-port=0",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            "--controllers=" + ",".join(["*", *(f"-{c}" for c in DISABLED_CONTROLLERS)]),
            # Faults within a test's patience: a node is NotReady 30 s after its last Lease
            # renewal (default 50 s), checked every 2 s (default 5 s).
            f"--node-monitor-grace-period={NODE_MONITOR_GRACE_SECONDS}s",
            "--node-monitor-period=2s",
            "--profiling=false",
            # The default 20 QPS makes the controller manager the bottleneck when hundreds of
            # workloads are created at once (a scale test); a local cluster can afford more.
            "--kube-api-qps=300",
            "--kube-api-burst=600",
        ],
        "kube-scheduler": [
            str(binary_path("kube-scheduler")),
            f"--kubeconfig={kubeconfig}",
            "--secure-port=0",
            "--leader-elect=false",
            "--profiling=false",
            "--kube-api-qps=300",
            "--kube-api-burst=600",
        ],
        "kwok": [
            str(binary_path("kwok")),
            f"--kubeconfig={kubeconfig}",
            f"--config={cluster.root / 'kwok-stages.yaml'}",
            # A node labelled down is left alone: its Lease and Ready lapse as when its
            # kubelet dies (modelops cluster node down).
            "--manage-nodes-with-label-selector="
            f"{node_shapes.SIMULATED_LABEL}=true,!{node_shapes.DOWN_LABEL}",
            "--node-ip=127.0.0.1",
            f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ],
    }


def _launcher_command(cluster: Cluster) -> list[str] | None:
    if importlib.util.find_spec("modelops.sim.launcher") is None:
        return None
    return [
        sys.executable,
        "-m",
        "modelops",
        "sim",
        "launcher",
        "--kubeconfig",
        str(cluster.kubeconfig),
    ]


def crashed(cluster: Cluster) -> list[ProcessRecord]:
    """Components that died on their own (not those stopped on purpose)."""
    return [r for r in cluster.records() if not r.stopped and not is_running(r)]


def component_state(record: ProcessRecord) -> str:
    if is_running(record):
        return "running"
    return "stopped" if record.stopped else "crashed"


def is_up(cluster: Cluster) -> bool:
    records = cluster.records()
    return bool(records) and all(is_running(r) for r in records)


def up(
    cluster: Cluster,
    shapes: Sequence[node_shapes.NodeShape] = node_shapes.DEFAULT_SHAPES,
    *,
    timeout: float = 120.0,
    simulate_runtimes: bool = True,
) -> bool:
    """Start everything; return False when it was already running (then only components
    that crashed are started again, with their state).

    `simulate_runtimes=False` runs no simulator launcher and lets KWOK mark every pod
    Ready at once: a control-plane-only mode for scale tests of the operator.
    """
    if cluster.records():
        # Running already: bring back what crashed (its state is all on disk), no more.
        from modelops.localcluster import components

        for record in crashed(cluster):
            components.start(cluster, record.name, timeout=timeout)
        return False
    if cluster.root.exists():
        shutil.rmtree(cluster.root)
    siblings = cluster.root.parent.iterdir() if cluster.root.parent.exists() else iter(())
    others = [Cluster(p.name) for p in siblings if p.name != cluster.name]
    network = node_shapes.pod_network(c.pod_network() for c in others if c.records())
    cluster.root.mkdir(parents=True)
    pki = write_pki(cluster.root / "pki")
    ports = {name: free_port() for name in ("etcd", "etcd-peer", "apiserver", "kwok")}
    _write_kubeconfig(cluster.kubeconfig, pki, f"https://127.0.0.1:{ports['apiserver']}")
    stages = STAGES_FILE.read_text()
    if not simulate_runtimes:
        stages = stages.replace(PROBED_NOT_READY, "")
    (cluster.root / "kwok-stages.yaml").write_text(stages)
    commands = _commands(cluster, pki, ports)
    launcher = _launcher_command(cluster) if simulate_runtimes else None
    if launcher:
        commands["sim-launcher"] = launcher
    records: list[ProcessRecord] = []
    try:
        for name, command in commands.items():
            record = spawn(name, command, cluster.logs / f"{name}.log")
            records.append(record)
            cluster._save(records, ports, network)
            if name == "etcd":
                _wait_http(
                    f"http://127.0.0.1:{ports['etcd']}/health",
                    context=None,
                    record=record,
                    timeout=timeout,
                )
            elif name == "kube-apiserver":
                context = ssl.create_default_context(cafile=str(pki.ca_cert))
                context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
                _wait_http(
                    f"https://127.0.0.1:{ports['apiserver']}/readyz",
                    context=context,
                    record=record,
                    timeout=timeout,
                )
        add_nodes(cluster, shapes)
        _wait_nodes_ready(cluster, records, timeout)
    except BaseException:
        for record in reversed(records):
            stop(record)
        raise
    return True


def add_nodes(cluster: Cluster, shapes: Sequence[node_shapes.NodeShape]) -> list[str]:
    """Create simulated nodes of the given shapes; each gets an unused pod CIDR."""
    existing = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    used = [n["spec"].get("podCIDR", "") for n in existing]
    cidrs = node_shapes.free_pod_cidrs(cluster.pod_network(), used)
    manifests = node_shapes.node_manifests(shapes, cidrs)
    document = {"apiVersion": "v1", "kind": "List", "items": manifests}
    cluster.kubectl("create", "-f", "-", input=json.dumps(document))
    return [m["metadata"]["name"] for m in manifests]


def _wait_nodes_ready(cluster: Cluster, records: list[ProcessRecord], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in records:
            if not is_running(record):
                raise ClusterError(f"{record.name} exited during start-up:\n{log_tail(record)}")
        result = cluster.kubectl(
            "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=5s", check=False
        )
        if result.returncode == 0:
            return
    raise ClusterError(f"nodes not Ready after {timeout:.0f}s; see {cluster.logs}/kwok.log")


def down(cluster: Cluster) -> list[str]:
    """Stop every process of the cluster and remove its state; return what was stopped."""
    stopped = []
    for record in reversed(cluster.records()):
        if is_running(record):
            stopped.append(record.name)
        stop(record)
    if cluster.root.exists():
        shutil.rmtree(cluster.root)
    return stopped


def status(cluster: Cluster) -> dict[str, Any]:
    """What runs: each component's pid and state, and where the kubeconfig is."""
    records = cluster.records()
    states = {r.name: component_state(r) for r in records}
    return {
        "cluster": cluster.name,
        "state": "absent"
        if not records
        else ("running" if set(states.values()) == {"running"} else "degraded"),
        "kubeconfig": str(cluster.kubeconfig) if records else None,
        "components": [
            {
                "name": r.name,
                "pid": r.pid,
                "running": states[r.name] == "running",
                "state": states[r.name],
                "log": r.log,
            }
            for r in records
        ],
    }
