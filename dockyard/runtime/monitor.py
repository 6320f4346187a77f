"""The per-container monitor: starts the container through the OCI runtime, keeps its logs,
records its exit code, unmounts its rootfs, and removes it for `--rm`.

The container is created and started by one `runtime run --detach`. The monitor's process is
a child subreaper while a container runs: once the runtime returns, the container's init is
reparented to it, so it can waitpid() it like its own child
(containerd's shim does the same). The container has its own pid namespace, so its init is the
only process that comes back to us; the monitor waits for that pid only, never for "any child"
(a monitor in a thread of a server must not reap the children of other threads).
The subreaper flag is process-wide: runtime/subreaper counts its users (several monitors and
TTY execs may run in threads of one process).
The container's stdout/stderr are pipes (or a pty whose master comes over `--console-socket`)
read here and written to `<id>-json.log` in Docker's json-file format, one JSON object per line.

A detached container's monitor is its own process (`python -m dockyard.runtime.monitor ROOT ID
READY_FD`, in a new session, outliving the command that started it); it reports on READY_FD
`{"ok": true}` once the container runs, or `{"error": ..., "code": ...}`. A foreground `run`
runs the same monitor inside the CLI process, with the CLI's stdio attached.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import tty as ttymod
from pathlib import Path

from dockyard.atomic import write_all
from dockyard.dataclass import dataclass, replace
from dockyard.errors import DockyardError, NotFound
from dockyard.image.config import now_rfc3339
from dockyard.runtime import attach as attach_input
from dockyard.runtime import bundle, removal
from dockyard.runtime import health as health_mod
from dockyard.runtime.attach import FrameReader
from dockyard.runtime.console import ConsoleSocket
from dockyard.runtime.hostconfig import joined_container
from dockyard.runtime.logs import NO_LOG, PARTIAL_IDLE, LogWriter, limits, remove_files
from dockyard.runtime.oci import ENOTDIR_HINT, as_containerd_says, clean_message, exit_code_for, for_store
from dockyard.runtime.restart import Backoff, should_restart
from dockyard.runtime.state import CREATED, EXITED, RUNNING, ContainerDir, health_after_exit
from dockyard.runtime.subreaper import SUBREAPER as _SUBREAPER
from dockyard.store.events import Journal
from dockyard.store.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.network.hook import Starting

RESTART_POLL = 0.05   # seconds between looks at a stop while a restart waits
_PROXY_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                  signal.SIGUSR2)



class StartError(DockyardError):
    """The container could not be started; `code` is docker run's exit code for it,
    `container_code` the container's State.ExitCode: the same, but for ENOTDIR (the hint
    added), where dockerd records 127 and answers 400 (the user's configuration) while the
    docker CLI's run exits 125. A command not found (127) or not runnable (126, EACCES) is
    the user's configuration as well: 400."""

    def __init__(self, message: str, code: int = 125) -> None:
        super().__init__(message)
        self.code = code
        self.exit_code = code
        self.container_code = code
        if message.endswith(ENOTDIR_HINT):
            self.container_code, self.http_status = 127, 400
        elif code == 127 or (code == 126 and "permission denied" in message):
            self.http_status = 400   # dockerd's too: a command not found or not runnable (EACCES)


@dataclass
class Attach:
    """The caller's stdio, for a foreground container."""

    stdin: int | None
    stdout: int
    stderr: int




class Monitor:
    def __init__(self, store: Store, container_id: str) -> None:
        self.store = store
        self.cdir = ContainerDir(store.root / "containers" / container_id)
        self.record = self.cdir.read_record()
        self.runtime = for_store(store.root, self.record.host.runtime)
        self.pid = 0
        self._outputs: dict[int, str] = {}   # fd -> "stdout" | "stderr"
        self._master: int | None = None
        self._attach: Attach | None = None
        self._reaping = False            # holds the subreaper flag (start .. exit)
        self.reap_orphans = False        # also reap any other child at exit (own process only)
        self._log: LogWriter | None = None
        self._stdin_w: int | None = None      # the container's stdin pipe (OpenStdin, no TTY)
        self._listener: socket.socket | None = None   # attachers' input (runtime/attach.py)
        self._clients: dict[int, tuple[socket.socket, FrameReader]] = {}
        self.may_restart = False         # apply the restart policy (a monitor of its own only)
        self.restart_pending = False     # the container exited and its policy restarts it
        self._backoff = Backoff()
        self._started = 0.0              # time.monotonic() of the last start
        self._health: health_mod.Checker | None = None   # this run's health check

    # -- start ----------------------------------------------------------------------------
    def start(self, attach: Attach | None = None) -> int:
        """Create and start the container; returns its pid. Raises StartError."""
        self._attach = attach
        self.record = self.cdir.read_record()   # a restart runs with what changed meanwhile
        network = self._network()
        try:
            bundle.prepare(self.store, self.cdir, self.record if network is None else replace(
                self.record, host=replace(self.record.host, netns_path=str(network.netns),
                                          hooks=network.hooks())))
        except DockyardError as exc:
            self._fail(str(exc), 125)
        _SUBREAPER.acquire()
        self._reaping = True
        try:
            self._create(network)  # created and started (`run --detach`)
        except DockyardError as exc:
            self._delete_runtime_state()
            self._release_subreaper()
            self._close_outputs()
            removal.unmount(self.cdir)
            bundle.release_volumes(self.store, self.cdir, self.record)
            code = exc.code if isinstance(exc, StartError) else 125
            self._fail(str(exc), code, exc.container_code if isinstance(exc, StartError) else code)
        except BaseException:
            self._release_subreaper()
            raise
        self._volume_events("mount")
        # health checks reap the orphans their execs leave: only in a monitor's own process
        check = health_mod.check_of(self.record.config.healthcheck) if self.reap_orphans else None
        with self.cdir.update(durable=False) as state:  # a crash ends the run anyway
            state.status = RUNNING
            if check is not None:
                state.health = health_mod.starting(state.health)
            state.restarting = False
            state.paused = False
            state.pid = self.pid
            state.monitor_pid = os.getpid()
            state.started_at = now_rfc3339()
            state.exit_code = 0
            state.error = ""
            stopped_meanwhile = state.exit_on_next   # a restart that a stop or kill overtook
        self._started = time.monotonic()
        # the log exists once the state says running (a reader that finds the log and then a
        # state that is not running has read everything), and before the starter hears that
        # the container runs (a reader it starts finds the log)
        bounds = limits(self.record.host.log_driver, self.record.host.log_opts)
        if self.record.host.log_driver == NO_LOG:    # the last run's stream goes
            remove_files(self.cdir.log, bounds)
        self._log = LogWriter(self.cdir.log, bounds)
        if stopped_meanwhile:
            self._proxy(signal.SIGKILL, None)
        elif check is not None:
            self._health = health_mod.Checker(self.store, self.cdir, self.record, check, self.pid)
            self._health.start()
        return self.pid

    def _volume_events(self, action: str) -> None:
        """dockerd's `volume mount` (at a start, after the networks' connect) and `volume
        unmount` (after the exit) of each volume the container has, named or anonymous."""
        journal = Journal(self.store.root)
        for m in self.record.host.mounts:
            if m.type != "volume" or not m.name:
                continue
            attributes = {"container": self.record.id, "driver": "local"}
            if action == "mount":
                attributes.update({"destination": m.target, "propagation": "",
                                   "read/write": "false" if m.read_only else "true"})
            journal.emit("volume", action, m.name, attributes)

    def _release_subreaper(self) -> None:
        if self._reaping:
            self._reaping = False
            _SUBREAPER.release()

    def _delete_runtime_state(self) -> None:
        """`runtime delete`; `init.pid` marks a container the runtime may still know."""
        self.runtime.delete(self.record.id)
        try:
            (self.cdir.path / "init.pid").unlink()
        except FileNotFoundError:
            pass

    def _fail(self, message: str, code: int, container_code: int | None = None) -> None:
        with self.cdir.update() as state:
            state.status = CREATED if not state.started_at else EXITED
            state.restarting = False
            state.error = message
            state.exit_code = code if container_code is None else container_code
        raise StartError(message, code)

    def _network(self) -> "Starting | None":
        """The container's networks, joined here while the runtime creates it (hook.Starting),
        for a container on bridge networks (its record has the network hooks)."""
        if not self.record.host.hooks:
            return None
        from dockyard.runtime.network.hook import Starting, is_network_hooks   # bridge runs only

        if not is_network_hooks(self.record.host.hooks):
            return None
        return Starting(self.store.root, self.cdir.path, self.record.id)

    def _leave_networks(self) -> None:
        """Before the runtime's delete, whose poststop hook then has nothing left to undo."""
        network = self._network()
        if network is not None:
            from dockyard.runtime.network.hook import leave

            leave(self.store.root, self.cdir.path, self.record.id)

    def _create(self, network: "Starting | None" = None) -> None:
        if network is not None:
            network.begin()
        started = False
        try:
            self._create_container()
            started = True
        finally:
            if network is not None:
                network.end(started)

    def _create_container(self) -> None:
        pid_file = self.cdir.path / "init.pid"
        stdin_fd = None
        if self._attach is not None and self.record.open_stdin and not self.record.tty:
            stdin_fd = self._attach.stdin
        devnull = os.open(os.devnull, os.O_RDWR)
        stdin_r = None
        if self._attach is None and self.record.open_stdin and not self.record.tty:
            stdin_r, self._stdin_w = os.pipe()       # fed by attachers (detached container)
        try:
            if self.record.tty:
                self._create_tty(pid_file, devnull)
            else:
                self._create_pipes(pid_file, stdin_fd if stdin_fd is not None else
                                   stdin_r if stdin_r is not None else devnull)
        finally:
            os.close(devnull)
            if stdin_r is not None:
                os.close(stdin_r)
        self.pid = int(pid_file.read_text().strip())
        if self._attach is None and (self.record.open_stdin or self.record.tty):
            self._listener = attach_input.listen(self.record.id)   # input, terminal size

    def _create_pipes(self, pid_file: Path, stdin_fd: int) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = subprocess.run(
                self.runtime.run_detached_command(self.record.id, self.cdir.path, pid_file),
                stdin=stdin_fd, stdout=out_w, stderr=err_w)
        finally:
            os.close(out_w)
            os.close(err_w)
        self._outputs = {out_r: "stdout", err_r: "stderr"}
        if proc.returncode != 0:
            message = _read_available(err_r) + _read_available(out_r)
            self._close_outputs()
            raise create_error(message.decode(errors="replace"), self.runtime.name)

    def _create_tty(self, pid_file: Path, devnull: int) -> None:
        with ConsoleSocket() as console:
            err_r, err_w = os.pipe()
            proc = subprocess.Popen(
                self.runtime.run_detached_command(self.record.id, self.cdir.path, pid_file,
                                                  console.path),
                stdin=devnull, stdout=devnull, stderr=err_w)
            os.close(err_w)
            master = console.receive(proc)
            rc = proc.wait()
            message = _read_available(err_r)
            os.close(err_r)
            if rc != 0:
                if master is not None:
                    os.close(master)
                raise create_error(message.decode(errors="replace"), self.runtime.name)
            if master is None:
                raise StartError("the runtime sent no console", 125)
            self._master = master
            self._outputs = {master: "stdout"}
            if self._attach is not None:
                _copy_winsize(self._attach.stdout, master)

    def _close_outputs(self) -> None:
        for fd in list(self._outputs):
            try:
                os.close(fd)
            except OSError:
                pass
        self._outputs = {}

    # -- serve ----------------------------------------------------------------------------
    def serve(self) -> int:
        """Copy output to the log (and the attached caller) until the container exits.

        An attached caller's signals are forwarded to the container while it runs, when called
        on the main thread (only it may set handlers; elsewhere signals are not forwarded); the
        caller's handlers are put back afterwards."""
        log = self._log
        assert log is not None, "serve() before start()"
        old_term = None
        attach = self._attach
        handlers: dict[int, object] = {}
        if attach is not None:
            if threading.current_thread() is threading.main_thread():
                for sig in _PROXY_SIGNALS:
                    handlers[sig] = signal.signal(sig, self._proxy)
            if self.record.tty and attach.stdin is not None and os.isatty(attach.stdin):
                old_term = termios.tcgetattr(attach.stdin)
                ttymod.setraw(attach.stdin)
        stdin_open = (attach is not None and self.record.tty and self.record.open_stdin
                      and attach.stdin is not None)
        init_exit = self._init_exit_watch()
        try:
            while self._outputs:
                watch = list(self._outputs) + ([attach.stdin] if stdin_open and attach else [])
                if self._listener is not None:
                    watch += [self._listener.fileno(), *self._clients]
                if init_exit is not None:
                    watch.append(init_exit)
                try:
                    ready, _, _ = select.select(watch, [], [], PARTIAL_IDLE if log.pending() else None)
                except InterruptedError:
                    continue
                if not ready:   # the output paused with a partial line (a prompt): logged for attach
                    log.flush_partial()
                    continue
                for fd in ready:
                    if fd == init_exit:
                        # what the init left in a pid namespace it shares ends with it (containerd's
                        # shim kills them all then): else they would hold the output open
                        self.runtime.kill_all(self.record.id, "SIGKILL")
                        os.close(init_exit)
                        init_exit = None
                        continue
                    if self._listener is not None and fd == self._listener.fileno():
                        conn, _ = self._listener.accept()
                        self._clients[conn.fileno()] = (conn, FrameReader())
                        continue
                    if fd in self._clients:
                        self._client_input(fd)
                        continue
                    if attach is not None and fd == attach.stdin and stdin_open:
                        data = _read_some(fd)
                        if not data:
                            stdin_open = False
                        elif self._master is not None:
                            write_all(self._master, data)
                        continue
                    data = _read_some(fd)
                    if not data:
                        os.close(fd)
                        del self._outputs[fd]
                        continue
                    stream = self._outputs[fd]
                    log.write(stream, data)
                    if attach is not None:
                        try:
                            write_all(attach.stdout if stream == "stdout" else attach.stderr, data)
                        except OSError:
                            pass
            code = self._wait_init()
        finally:
            if init_exit is not None:
                os.close(init_exit)
            self._stop_health()
            self._close_input()
            self._release_subreaper()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
            log.close()
            if old_term is not None and attach is not None:
                termios.tcsetattr(attach.stdin, termios.TCSADRAIN, old_term)
        self._finish(code)
        return code

    def _init_exit_watch(self) -> int | None:
        """A pidfd readable once the init exits, for a container without a pid namespace of its
        own (--pid host, --pid container:NAME); None otherwise (its namespace ends with its init)."""
        mode = self.record.host.pid_mode
        if mode != "host" and not joined_container(mode):
            return None
        try:
            return os.pidfd_open(self.pid)
        except OSError:    # gone already: its exit is waited for below
            return None

    def _client_input(self, fd: int) -> None:
        """Frames from an attacher: stdin bytes, end of input, a terminal size."""
        conn, reader = self._clients[fd]
        try:
            data = conn.recv(65536)
            frames = reader.feed(data) if data else []
        except (OSError, ValueError):
            data, frames = b"", []
        for kind, payload in frames:
            target = (self._master if self.record.tty else self._stdin_w) if self.record.open_stdin else None
            try:
                if kind == b"i" and target is not None:
                    write_all(target, payload)
                elif kind == b"e" and self.record.stdin_once and self._stdin_w is not None:
                    os.close(self._stdin_w)     # StdinOnce: the first attacher's EOF is the end
                    self._stdin_w = None
                elif kind == b"r" and self._master is not None and len(payload) == 4:
                    rows, cols = struct.unpack(">HH", payload)
                    fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            except OSError:
                pass   # the container closed its stdin: its input goes nowhere
        if not data:
            del self._clients[fd]
            conn.close()

    def _close_input(self) -> None:
        for conn, _ in self._clients.values():
            conn.close()
        self._clients = {}
        if self._listener is not None:
            self._listener.close()
            attach_input.socket_path(self.record.id).unlink(missing_ok=True)
            self._listener = None
        if self._stdin_w is not None:
            os.close(self._stdin_w)
            self._stdin_w = None

    def _proxy(self, signum: int, _frame: object) -> None:
        try:
            self.runtime.kill(self.record.id, signal.Signals(signum).name)
        except DockyardError:
            pass

    def _stop_health(self) -> None:
        """No probe once the container exited (before the exit is recorded)."""
        if self._health is not None:
            self._health.stop()
            self._health = None

    def _wait_init(self) -> int:
        code = 255
        while True:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            code = os.waitstatus_to_exitcode(status)
            if code < 0:
                code = 128 - code
            break
        self._stop_health()     # its probe's runtime is a child: waited for before any reaping
        if self.reap_orphans:
            # reap any other orphans without blocking (a monitor in its own process only)
            while True:
                try:
                    other, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if other == 0:
                    break
        return code

    def _finish(self, code: int) -> None:
        """Record the exit: the container exited, or restarts (`restart_pending`) when its
        policy says so and the user did not stop or kill it. Its events come in dockerd's
        order: die, then what the clean-up undoes (network disconnect, volume unmount), then
        the state whoever waits for the exit (stop) reads."""
        Journal(self.store.root).emit("container", "die", self.record.id,
                                      self.record.event_attributes(exitCode=str(code)))
        self._leave_networks()
        self._delete_runtime_state()
        self.restart_pending = False
        try:
            removal.unmount(self.cdir)
            bundle.release_volumes(self.store, self.cdir, self.record)
            self._volume_events("unmount")
        finally:
            # what a kept container reports after a crash; --rm removes it right away
            try:
                with self.cdir.update(durable=not self.record.host.auto_remove) as state:
                    policy = self.cdir.read_record().host.restart   # `update` may have changed it
                    restart = (self.may_restart and not state.exit_on_next
                               and should_restart(policy, code, state.manually_stopped,
                                                  state.restart_count))
                    state.status = RUNNING if restart else EXITED
                    state.restarting = restart
                    state.restart_count += 1 if restart else 0
                    state.paused = False
                    state.pid = 0
                    state.exit_code = code
                    state.health = health_after_exit(state.health)
                    state.finished_at = now_rfc3339()
            except NotFound:
                restart = False   # removed meanwhile: nothing to record, nothing to restart
            self.restart_pending = restart
            if self.record.host.auto_remove:
                removal.destroy(self.store, self.cdir, volumes=True)

    def wait_restart(self) -> bool:
        """Wait out the policy's delay before a restart; False when a stop or a kill ended the
        restarts meanwhile (the container is then recorded as exited)."""
        deadline = time.monotonic() + self._backoff.next(time.monotonic() - self._started)
        while True:
            try:
                with self.cdir.update(durable=False) as state:
                    if state.exit_on_next or not state.restarting:
                        state.status, state.restarting = EXITED, False
                        return False
            except NotFound:
                return False   # removed while it waited (rm -f of a restarting container)
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, RESTART_POLL))


_HOOK_FAILED = re.compile(r"error running hook #\d+: error running hook: exit status \d+, stdout: .*?, stderr: (.*)$")


def create_error(stderr: str, runtime: str) -> StartError:
    message = clean_message(stderr) or f"{runtime} create failed"
    hook = _HOOK_FAILED.search(message)
    if hook and hook.group(1).strip():
        # our network hook's own error (a port already allocated, a subnet taken): dockerd
        # meets these before its task exists and says them alone, as the hook does
        text = hook.group(1).replace("\\n", "\n").strip()
        return StartError(text.splitlines()[-1], 125)
    # started with `run --detach`; its failures are create's (Docker's message names create)
    run_failed = f"{runtime} run failed: "
    if message.startswith(run_failed):
        message = f"{runtime} create failed: " + message[len(run_failed):]
    # dockerd 20.10 with containerd 1.6: `failed to create shim task: OCI runtime create failed:
    # runc create failed: ...: unknown`, and its hint for ENOTDIR
    text = "failed to create shim task: " + as_containerd_says(f"OCI runtime create failed: {message}")
    if "not a directory" in message.lower():
        return StartError(text, 125)
    return StartError(text, exit_code_for(message))


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the pty's last slave is closed
        return b""


def _read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
    os.set_blocking(fd, True)
    return b"".join(chunks)


def _copy_winsize(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def spawn_detached(store: Store, container_id: str) -> None:
    """Start a container under its own monitor process; returns once it runs. Raises StartError."""
    cdir = ContainerDir(store.root / "containers" / container_id)
    ready_r, ready_w = os.pipe()
    with open(cdir.path / "monitor.log", "ab") as mlog:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard.runtime.monitor", str(store.root), container_id,
             str(ready_w)],
            stdin=subprocess.DEVNULL, stdout=mlog, stderr=mlog, pass_fds=(ready_w,),
            start_new_session=True, close_fds=True)
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as f:
        report = f.read()
    try:
        message = json.loads(report) if report else None
    except ValueError:
        message = None
    if message is None:
        proc.wait()
        raise StartError(f"container monitor failed (see {cdir.path / 'monitor.log'})", 125)
    if "error" in message:
        proc.wait()
        raise StartError(message["error"], int(message.get("code", 125)))
    # The monitor stays. Whoever started it reaps it when it ends: a thread waits for it, so
    # a long-lived starter (`dockyard serve`) keeps no zombie per container; a short-lived one
    # (the CLI) exits first and leaves the monitor to init.
    threading.Thread(target=proc.wait, name=f"reap monitor {proc.pid}", daemon=True).start()


def _main(argv: list[str]) -> int:
    root, container_id, ready = Path(argv[0]).resolve(), argv[1], int(argv[2])
    os.chdir("/")  # pin no directory of the starter's
    store = Store(root)
    monitor = Monitor(store, container_id)
    monitor.reap_orphans = True
    try:
        monitor.start()
    except StartError as exc:
        os.write(ready, json.dumps({"error": str(exc), "code": exc.code}).encode())
        os.close(ready)
        return 1
    except BaseException as exc:  # noqa: BLE001 - the starter must hear about any failure
        os.write(ready, json.dumps({"error": f"monitor: {exc}", "code": 125}).encode())
        os.close(ready)
        raise
    # the start's event, here before the monitor can record the die: the starter's own, after
    # this said ready, came after the die of a process that ended at once (`docker run busybox
    # true`), where dockerd's events say start, die
    Journal(store.root).emit("container", "start", container_id, monitor.record.event_attributes())
    os.write(ready, b'{"ok": true}')
    os.close(ready)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    monitor.may_restart = True
    monitor.serve()
    while monitor.restart_pending and monitor.wait_restart():
        try:
            monitor.start()
        except StartError as exc:
            print(f"restart failed: {exc}", file=sys.stderr, flush=True)
            return 1
        Journal(store.root).emit("container", "start", container_id,
                                 monitor.record.event_attributes())
        monitor.serve()
    return 0


if __name__ == "__main__":
    for s in (signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    raise SystemExit(_main(sys.argv[1:]))
