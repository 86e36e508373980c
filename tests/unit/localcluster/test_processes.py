"""modelops.localcluster.processes on real, short-lived local children (no network).

Every process started here is killed (whole group) and reaped by the `spawned` fixture, even
when a test fails. Waits poll a condition against a bounded deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelops.localcluster.processes import (
    ProcessRecord,
    is_running,
    log_tail,
    spawn,
    start_ticks,
    stop,
)

LIMIT = 10.0  # seconds, upper bound for any wait


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in the process group."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def exited(pid: int) -> bool:
    """True once our child `pid` has exited (reaps it)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


@pytest.fixture
def spawned(tmp_path: Path) -> Iterator[Callable[..., ProcessRecord]]:
    records: list[ProcessRecord] = []

    def start(
        *command: str, name: str = "test", env: dict[str, str] | None = None
    ) -> ProcessRecord:
        record = spawn(name, list(command), tmp_path / "logs" / f"{name}.log", env)
        records.append(record)
        return record

    yield start
    for record in records:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group_members(record.pid):
                os.killpg(record.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(record.pid, 0)


def test_spawn_is_running_and_stop(spawned: Callable[..., ProcessRecord]) -> None:
    record = spawned("sleep", "30", name="sleeper")
    assert record.pid > 0
    assert record.start_ticks > 0
    assert start_ticks(record.pid) == record.start_ticks
    assert is_running(record)
    assert os.getpgid(record.pid) == record.pid  # its own group (and session)
    assert os.getsid(record.pid) == record.pid

    stop(record, grace_seconds=LIMIT)
    assert not is_running(record)
    assert start_ticks(record.pid) is None
    assert not Path(f"/proc/{record.pid}").exists()  # reaped by stop()


def test_record_json_round_trip(spawned: Callable[..., ProcessRecord]) -> None:
    record = spawned("sleep", "30")
    data = record.to_json()
    assert data["command"] == ["sleep", "30"]
    assert ProcessRecord.from_json(data) == record
    stop(record, grace_seconds=LIMIT)


def test_start_ticks_of_a_missing_pid() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert start_ticks(pid_max + 1) is None
    assert not is_running(ProcessRecord("gone", pid_max + 1, 1, "/nonexistent.log", ["x"]))


def test_an_exited_unreaped_child_is_not_running(spawned: Callable[..., ProcessRecord]) -> None:
    record = spawned("true")
    # It stays a zombie until reaped; a zombie has exited, so it is not running.
    wait_for(lambda: start_ticks(record.pid) is None, "the child to exit")
    assert not is_running(record)
    assert Path(f"/proc/{record.pid}").exists()  # still a zombie: nothing reaped it yet
    stop(record, grace_seconds=LIMIT)
    assert not Path(f"/proc/{record.pid}").exists()  # stop() reaped it


def test_command_names_with_spaces_and_parentheses(
    spawned: Callable[..., ProcessRecord], tmp_path: Path
) -> None:
    # /proc/<pid>/stat puts the command name in parentheses; it may contain both.
    odd = tmp_path / "a) b (c"
    odd.symlink_to("/bin/sleep")
    record = spawned(str(odd), "30")
    assert Path(f"/proc/{record.pid}/comm").read_text().strip() == "a) b (c"
    assert start_ticks(record.pid) == record.start_ticks
    assert is_running(record)
    stop(record, grace_seconds=LIMIT)
    assert not is_running(record)


# Answers SIGUSR1 with a log line: proof of life that a pending SIGKILL would prevent.
PROBE = """
import signal
signal.signal(signal.SIGUSR1, lambda *_: print("alive", flush=True))
print("ready", flush=True)
while True:
    signal.pause()
"""


def test_a_recycled_pid_is_not_ours(spawned: Callable[..., ProcessRecord]) -> None:
    record = spawned(sys.executable, "-c", PROBE)
    wait_for(lambda: "ready" in log_tail(record), "the probe to start")
    recycled = ProcessRecord(record.name, record.pid, record.start_ticks + 1, record.log, ["old"])
    assert not is_running(recycled)
    # Stopping the stale record must leave the process that now has the pid (and leads a
    # group of that number) alone.
    stop(recycled, grace_seconds=LIMIT)
    os.kill(record.pid, signal.SIGUSR1)
    wait_for(lambda: "alive" in log_tail(record), "the probe to answer")
    assert is_running(record)
    stop(record, grace_seconds=LIMIT)
    assert not is_running(record)


def test_stop_kills_the_whole_process_group(spawned: Callable[..., ProcessRecord]) -> None:
    record = spawned("sh", "-c", "sleep 30 & sleep 30")
    # The shell, its background sleep and (unless the shell execs it) the foreground one.
    wait_for(lambda: len(group_members(record.pid)) >= 2, "the shell's children")
    members = group_members(record.pid)
    stop(record, grace_seconds=LIMIT)
    assert not is_running(record)
    assert not group_members(record.pid)
    assert all(start_ticks(pid) is None for pid in members)


def test_stop_after_the_leader_died_kills_its_orphans(
    spawned: Callable[..., ProcessRecord],
) -> None:
    record = spawned("sh", "-c", "sleep 30 & exit 0")
    wait_for(lambda: start_ticks(record.pid) is None, "the shell to exit")
    wait_for(lambda: len(group_members(record.pid)) == 1, "the orphaned sleep")
    (orphan,) = group_members(record.pid)
    assert orphan != record.pid
    stop(record, grace_seconds=LIMIT)
    assert start_ticks(orphan) is None
    assert not group_members(record.pid)
    assert not Path(f"/proc/{record.pid}").exists()  # the zombie shell was reaped


def test_stop_escalates_to_sigkill_after_the_grace_period(
    spawned: Callable[..., ProcessRecord],
) -> None:
    # The shell ignores SIGTERM, and so does the sleep it starts (SIG_IGN is inherited).
    record = spawned("sh", "-c", "trap '' TERM; echo armed; sleep 30; sleep 30")
    wait_for(lambda: "armed" in log_tail(record), "the trap to be set")
    started = time.monotonic()
    stop(record, grace_seconds=0.3)
    assert time.monotonic() - started >= 0.3
    # stop() returns once the group is really gone, and has reaped its own child.
    assert not is_running(record)
    assert not group_members(record.pid)
    assert not Path(f"/proc/{record.pid}").exists()


def test_spawn_logs_stdout_and_stderr_and_log_tail(spawned: Callable[..., ProcessRecord]) -> None:
    script = 'for i in 1 2 3 4 5; do echo out$i; done; echo err >&2; echo "$GREETING"'
    record = spawned("sh", "-c", script, env={"PATH": os.environ["PATH"], "GREETING": "hello"})
    wait_for(lambda: exited(record.pid), "the script to finish")
    assert log_tail(record).splitlines() == ["out1", "out2", "out3", "out4", "out5", "err", "hello"]
    assert log_tail(record, lines=2) == "err\nhello"
    assert Path(record.log).parent.name == "logs"  # spawn created the directory


def test_spawn_appends_to_an_existing_log(
    spawned: Callable[..., ProcessRecord], tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "again.log"
    log.parent.mkdir()
    log.write_text("earlier run\n")
    record = spawned("sh", "-c", "echo later run", name="again")
    wait_for(lambda: exited(record.pid), "the script to finish")
    assert log_tail(record) == "earlier run\nlater run"


def test_log_tail_without_a_log() -> None:
    assert log_tail(ProcessRecord("x", 1, 1, "/nonexistent/x.log", ["x"])) == ""
