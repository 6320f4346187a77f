"""A running container's health check (Dockerfile HEALTHCHECK, create's Config.Healthcheck), with
Docker's semantics (moby daemon/health.go): every Interval a probe runs in the container as an
exec does (`CMD` args exec'd, `CMD-SHELL` through `/bin/sh -c`); exit 0 is healthy, anything else
(a probe past its Timeout is killed) a failure; Retries failures in a row make it unhealthy,
failures within StartPeriod of the start do not count while it is still starting.

The state is Docker's State.Health ({Status, FailingStreak, Log: the last 5 probes}), kept in
the container's state.json (runtime/state.py), so any process's inspect sees it. The checker is
a thread of the container's monitor (runtime/monitor.py) when that monitor is a process of its
own (a detached container: `run -d`, `start`, anything through `dockyard serve`; not a
foreground `dockyard run` or a build's RUN, whose monitor shares its process): the monitor
starts it once the container runs and stops it when the container exits.
"""

from __future__ import annotations

import os
import select
import threading
import time
from pathlib import Path
from typing import Any

from dockyard.dataclass import dataclass
from dockyard.errors import DockyardError, InvalidParameter, NotFound
from dockyard.image.config import now_rfc3339
from dockyard.runtime.state import ContainerDir, ContainerRecord
from dockyard.store.events import Journal
from dockyard.store.store import Store

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
DEFAULT_INTERVAL = DEFAULT_TIMEOUT = 30_000_000_000  # ns
DEFAULT_RETRIES = 3
MIN_DURATION = 1_000_000                             # ns: dockerd refuses less (but 0)
MAX_LOG = 5                                          # probes kept in Health.Log
MAX_OUTPUT = 4096                                    # bytes of a probe's output kept
REAP_EVERY = 0.5                                     # seconds between reaps while waiting


@dataclass
class Check:
    """What to run and when (durations in nanoseconds, as Docker's HealthConfig has them)."""

    args: list[str]
    interval: int
    timeout: int
    start_period: int
    retries: int


def check_of(healthcheck: dict[str, Any] | None) -> Check | None:
    """The check a container's (merged) Healthcheck asks for; None when it has none: no Test,
    `NONE`, or a kind Docker does not know (dockerd runs nothing then either)."""
    test = list((healthcheck or {}).get("Test") or [])
    if not test or test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        return None
    args = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", *test[1:]]
    h = healthcheck or {}
    return Check(args=args, interval=h.get("Interval") or DEFAULT_INTERVAL,
                 timeout=h.get("Timeout") or DEFAULT_TIMEOUT, start_period=h.get("StartPeriod") or 0,
                 retries=h.get("Retries") if (h.get("Retries") or 0) > 0 else DEFAULT_RETRIES)


def validate(healthcheck: dict[str, Any]) -> None:
    """dockerd's checks of a create's Healthcheck (daemon/container.go), its words."""
    test = healthcheck.get("Test")
    if test is not None and not (isinstance(test, list) and all(isinstance(t, str) for t in test)):
        raise InvalidParameter("invalid Healthcheck.Test: want a list of strings")
    for key in ("Interval", "Timeout", "StartPeriod", "Retries"):
        value = healthcheck.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidParameter(f"invalid Healthcheck.{key}: want an integer")
    for key in ("Interval", "Timeout", "StartPeriod"):
        if 0 != (healthcheck.get(key) or 0) < MIN_DURATION:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")
    if (healthcheck.get("Retries") or 0) < 0:
        raise InvalidParameter("Retries in Healthcheck cannot be negative")


def starting(previous: dict[str, Any] | None) -> dict[str, Any]:
    """Health at a start: starting, no failures, the log of the last run kept (as dockerd)."""
    return {"Status": STARTING, "FailingStreak": 0, "Log": list((previous or {}).get("Log") or [])}


class Checker:
    """The probes of one run of a container, in a thread of its monitor."""

    def __init__(self, store: Store, cdir: ContainerDir, record: ContainerRecord, check: Check,
                 init_pid: int) -> None:
        self.store, self.cdir, self.record, self.check = store, cdir, record, check
        self.init_pid = init_pid       # the container's init: its monitor waits for it
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"health {record.id[:12]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No probe after this; one under way is waited for (its container is gone or going,
        so it ends) and its result dropped."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while self._wait(self.check.interval / 1e9):
            began = time.monotonic()
            result = self._probe()
            reap_orphans(self.init_pid)
            if self._stop.is_set():
                return
            self._record(result, counts=(began - self._started) * 1e9 >= self.check.start_period)

    def _wait(self, seconds: float) -> bool:
        """Sleep until the next probe, reaping orphans meanwhile; False once stopped."""
        deadline = time.monotonic() + seconds
        while True:
            reap_orphans(self.init_pid)
            left = deadline - time.monotonic()
            if left <= 0:
                return not self._stop.is_set()
            if self._stop.wait(min(left, REAP_EVERY)):
                return False

    def _probe(self) -> dict[str, Any]:
        """One probe as Docker runs it: an exec, with its events; stdout and stderr together,
        the first MAX_OUTPUT bytes kept ("..." after them when there was more)."""
        # loaded by a monitor whose container has a check (runtime.containers and its imports)
        from dockyard.runtime.exec import ExecOptions, ExecTimeout, command_text, exec_in

        journal, cmd = Journal(self.store.root), self.check.args
        exec_id = os.urandom(32).hex()
        attributes = self.record.event_attributes(execID=exec_id)
        journal.emit("container", f"exec_create: {command_text(cmd)}", self.record.id, attributes)
        start = now_rfc3339()
        journal.emit("container", f"exec_start: {command_text(cmd)}", self.record.id, attributes)
        read_fd, write_fd = os.pipe()
        output = _Output(read_fd)
        code: int
        try:
            try:
                code = exec_in(self.store, self.record.id, ExecOptions(cmd=list(cmd)),
                               stdout=write_fd, stderr=write_fd, timeout=self.check.timeout / 1e9)
            finally:
                os.close(write_fd)
            text = output.finish()
        except ExecTimeout:
            from dockyard.dockerfile.durations import go_duration

            output.finish()
            code, text = -1, f"Health check exceeded timeout ({go_duration(self.check.timeout)})"
        except DockyardError as exc:
            output.finish()
            code, text = -1, str(exc)
        finally:
            os.close(read_fd)
        if code >= 0:
            journal.emit("container", "exec_die", self.record.id,
                         self.record.event_attributes(execID=exec_id, exitCode=str(code)))
        return {"Start": start, "End": now_rfc3339(), "ExitCode": code, "Output": text}

    def _record(self, result: dict[str, Any], counts: bool) -> None:
        """The result into the container's Health (moby's handleProbeResult); an event when the
        status changes. `counts`: the probe began after the start period (a failure before it
        does not count while the container is still starting)."""
        try:
            with self.cdir.update(durable=False) as state:   # a crash ends the run anyway
                health = state.health or starting(None)
                old = health["Status"]
                health["Log"] = (list(health.get("Log") or []) + [result])[-MAX_LOG:]
                if result["ExitCode"] == 0:
                    health["FailingStreak"], health["Status"] = 0, HEALTHY
                elif counts or old != STARTING:
                    health["FailingStreak"] = health.get("FailingStreak", 0) + 1
                    if health["FailingStreak"] >= self.check.retries:
                        health["Status"] = UNHEALTHY
                state.health = health
        except NotFound:
            return   # removed while the probe ran (rm -f): nothing to record
        if health["Status"] != old:
            Journal(self.store.root).emit("container", f"health_status: {health['Status']}",
                                          self.record.id, self.record.event_attributes())


def reap_orphans(keep: int) -> None:
    """Reap this process's exited children but `keep`. A monitor is a child subreaper, so it
    inherits the runtime's intermediate processes of every exec it runs (and a killed probe's):
    left as zombies they would pile up (one or two per probe), and those in the container's pid
    namespace hold its init's exit (the kernel waits for them to be reaped). Only a monitor in a
    process of its own runs health checks: every other child there is a finished probe's."""
    for children in Path("/proc/self/task").glob("*/children"):
        try:
            pids = [int(p) for p in children.read_text().split()]
        except OSError:
            continue
        for pid in pids:
            if pid != keep:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass


class _Output:
    """A probe's output, read while it runs (a probe that writes much must not block on a full
    pipe), keeping the first MAX_OUTPUT bytes."""

    def __init__(self, fd: int) -> None:
        self._fd, self._kept, self._more = fd, bytearray(), False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        # until end of output, or once the probe ended and nothing more is there (a process it
        # left in the background may hold the pipe open)
        while True:
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if not ready:
                if self._done.is_set():
                    return
                continue
            data = os.read(self._fd, 65536)
            if not data:
                return
            room = MAX_OUTPUT - len(self._kept)
            self._kept += data[:max(room, 0)]
            self._more = self._more or len(data) > room

    def finish(self) -> str:
        self._done.set()
        self._thread.join()
        return self._kept.decode(errors="replace") + ("..." if self._more else "")
