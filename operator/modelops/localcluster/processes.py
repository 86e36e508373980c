"""Background processes of the local cluster: start with logs, find again by pid, stop.

A process is remembered by pid *and* its start time (from /proc), so a recycled pid is
never mistaken for ours and never killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

# SIGKILL cannot be ignored; this only bounds the wait for the kernel to finish the job.
KILL_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    start_ticks: int
    log: str
    command: list[str]
    # Stopped on purpose (`modelops cluster stop`): not running, but not crashed either.
    stopped: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        # Records may come from another modelops version sharing the cache: ignore new keys.
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it are plain.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited
        return None
    return int(fields[19])


def is_running(record: ProcessRecord) -> bool:
    return start_ticks(record.pid) == record.start_ticks


def spawn(
    name: str, command: list[str], log_path: Path, env: dict[str, str] | None = None
) -> ProcessRecord:
    """Start `command` in its own session (so the whole group can be stopped), logging to a file.

    posix_spawn rather than Popen: these processes outlive the command that starts them, and
    nothing here waits on them except `stop`.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.posix_spawnp(
        command[0],
        command,
        dict(os.environ) if env is None else env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    ticks = start_ticks(pid)
    return ProcessRecord(name, pid, ticks if ticks is not None else -1, str(log_path), command)


def stop(record: ProcessRecord, *, grace_seconds: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after the grace period.

    Returns once the group is gone (or KILL_WAIT_SECONDS after the SIGKILL).
    """
    if not is_running(record):
        # Kill the orphans of a dead leader, if any (see _group_is_ours).
        if _group_is_ours(record):
            _kill_group(record.pid, signal.SIGKILL)
            _wait_gone(record, KILL_WAIT_SECONDS)
        return
    _kill_group(record.pid, signal.SIGTERM)
    if _wait_gone(record, grace_seconds):
        return
    if _group_is_ours(record):
        _kill_group(record.pid, signal.SIGKILL)
        _wait_gone(record, KILL_WAIT_SECONDS)


def _group_is_ours(record: ProcessRecord) -> bool:
    """A pid cannot be reused while a process group of that number exists. So when a live
    process holds our pid with other start ticks, our group is gone and the number (and any
    group it leads) belongs to someone else; a gone or zombie pid is still ours."""
    ticks = start_ticks(record.pid)
    return ticks is None or ticks == record.start_ticks


def _wait_gone(record: ProcessRecord, seconds: float) -> bool:
    """Poll (reaping our own child) until the leader and its group are gone."""
    deadline = time.monotonic() + seconds
    while True:
        _reap(record.pid)
        if not is_running(record) and not _group_alive(record.pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return any(_pgid_of(pid) == pgid for pid in _live_pids())


def _live_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _pgid_of(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[2])


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (avoids zombies)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def log_tail(record: ProcessRecord, lines: int = 20) -> str:
    try:
        text = Path(record.log).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
