"""modelops.localcluster.components on a cluster state dir of real, short-lived children.

No Kubernetes binary runs here: the "components" are `sleep` processes saved under the
names of the real ones (a component without an HTTP endpoint is only checked to be alive).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import components
from modelops.localcluster.processes import ProcessRecord, is_running, stop

SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[localcluster.Cluster]:
    """A cluster whose scheduler and kwok are sleeping children (stopped afterwards)."""
    monkeypatch.setenv("MODELOPS_CACHE_DIR", str(tmp_path))
    cluster = localcluster.Cluster("unit")
    cluster.root.mkdir(parents=True)
    for name in ("kube-scheduler", "kwok"):
        cluster.add_process(name, SLEEP)
    try:
        yield cluster
    finally:
        for record in cluster.records():
            stop(record, grace_seconds=1)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(record.pid, os.WNOHANG)


def by_name(cluster: localcluster.Cluster) -> dict[str, ProcessRecord]:
    return {r.name: r for r in cluster.records()}


@pytest.mark.parametrize(
    ("typed", "record"),
    [
        ("etcd", "etcd"),
        ("controller-manager", "kube-controller-manager"),
        ("kube-controller-manager", "kube-controller-manager"),
        ("scheduler", "kube-scheduler"),
        ("launcher", "sim-launcher"),
        ("sim-launcher", "sim-launcher"),
        ("router", "router"),
    ],
)
def test_component_names_short_and_full(typed: str, record: str) -> None:
    assert components.record_name(typed) == record


def test_an_unknown_component_names_the_known_ones() -> None:
    with pytest.raises(localcluster.ClusterError, match="one of: etcd, kube-apiserver"):
        components.record_name("kubelet")


def test_a_component_the_cluster_does_not_run_is_an_error(state: localcluster.Cluster) -> None:
    with pytest.raises(localcluster.ClusterError, match=r"runs no operator .*modelops dev up"):
        components.stop_component(state, "operator")


def test_stop_marks_stopped_not_crashed_and_start_replaces_the_record(
    state: localcluster.Cluster,
) -> None:
    before = by_name(state)["kube-scheduler"]
    assert components.stop_component(state, "scheduler") is True
    stopped = by_name(state)["kube-scheduler"]
    assert not is_running(before)
    assert stopped.stopped
    assert stopped.pid == before.pid
    assert localcluster.crashed(state) == []
    report = localcluster.status(state)
    assert report["state"] == "degraded"
    assert {c["name"]: c["state"] for c in report["components"]} == {
        "kube-scheduler": "stopped",
        "kwok": "running",
    }
    assert components.stop_component(state, "scheduler") is False  # already stopped

    assert components.start(state, "scheduler") is True
    records = state.records()
    assert [r.name for r in records] == ["kube-scheduler", "kwok"]  # in place, no duplicate
    fresh = records[0]
    assert fresh.pid != before.pid
    assert is_running(fresh)
    assert not fresh.stopped
    assert fresh.command == before.command
    assert localcluster.status(state)["state"] == "running"
    assert components.start(state, "scheduler") is False  # a no-op while it runs


def test_a_crashed_component_is_reported_and_started_by_up(state: localcluster.Cluster) -> None:
    kwok = by_name(state)["kwok"]
    os.kill(kwok.pid, signal.SIGKILL)
    os.waitpid(kwok.pid, 0)
    assert [r.name for r in localcluster.crashed(state)] == ["kwok"]
    assert {c["name"]: c["state"] for c in localcluster.status(state)["components"]} == {
        "kube-scheduler": "running",
        "kwok": "crashed",
    }
    assert localcluster.up(state) is False  # running already: only what crashed is started
    assert localcluster.crashed(state) == []
    assert is_running(by_name(state)["kwok"])
    assert by_name(state)["kwok"].pid != kwok.pid
    assert len(state.records()) == 2


def test_restart_runs_a_new_process_from_the_same_command(state: localcluster.Cluster) -> None:
    before = by_name(state)["kwok"]
    components.restart(state, "kwok")
    after = by_name(state)["kwok"]
    assert after.pid != before.pid
    assert is_running(after)
    assert not is_running(before)
    assert after.command == before.command


def test_a_component_that_exits_at_once_is_an_error(state: localcluster.Cluster) -> None:
    components.stop_component(state, "scheduler")
    record = by_name(state)["kube-scheduler"]
    failing = [sys.executable, "-c", "import sys; print('bad flag'); sys.exit(3)"]
    state.put_record(
        ProcessRecord(record.name, record.pid, record.start_ticks, record.log, failing, True)
    )
    with pytest.raises(localcluster.ClusterError, match="kube-scheduler exited at once:\nbad flag"):
        components.start(state, "scheduler")


def test_add_process_replaces_a_dead_record_of_the_same_name(
    state: localcluster.Cluster,
) -> None:
    kwok = by_name(state)["kwok"]
    os.kill(kwok.pid, signal.SIGKILL)
    os.waitpid(kwok.pid, 0)
    state.add_process("kwok", SLEEP, 1234)
    assert [r.name for r in state.records()] == ["kube-scheduler", "kwok"]
    assert localcluster.crashed(state) == []
    assert state.ports()["kwok"] == 1234


def test_old_state_files_without_the_stopped_flag_load() -> None:
    record = ProcessRecord.from_json(
        {"name": "etcd", "pid": 1, "start_ticks": 2, "log": "l", "command": ["etcd"]}
    )
    assert record.stopped is False


def test_the_cli_names_every_component() -> None:
    from modelops.localcluster import cli

    assert ", ".join(components.COMPONENTS) == cli.COMPONENT_NAMES


def test_an_unknown_component_on_the_command_line_is_a_clear_error(
    state: localcluster.Cluster,
) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "modelops", "cluster", "restart", "kubelet", "--name", state.name],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
    )
    assert result.returncode == 1
    assert "unknown component 'kubelet'; one of: etcd," in result.stderr
    assert "Traceback" not in result.stderr
