"""A one-shot container: made, run once in the foreground and removed by the one caller that
needs it for seconds (a build step's RUN), at the cost of the OCI runtime and little more.

A full container (runtime/containers.py) is made to be listed, started, stopped and inspected
by other processes: a durable record, a hold on its image, a state file updated at each change, a
monitor, and a removal that renames it away. A build step's container is none of that to anyone
but its builder, so here:
- nothing is written outside this process's temp folder (store.workspace): its directory (the
  bundle: upper, work, init, merged, the spec, hosts/hostname/resolv.conf) is made there, and
  nothing of it is fsynced: a kill leaves it where the next start removes it, mounts detached
  first; it is never visible in `ps`; once unmounted it is removed in the background;
- the image is kept from the collector by the caller (a build's lease), not by a hold;
- `runc run` runs it in the foreground, one runtime process (no `run --detach` plus `delete`,
  no monitor): the runtime reaps the process, removes its own state and cgroup, and exits with
  the process's exit status;
- the overlay is mounted `volatile`: overlayfs otherwise syncs the whole upper file system when
  it is unmounted (the store's, with whatever else is being written on it). What the caller keeps
  of the upper directory (a layer) is written and made durable by the layer store.
A runtime killed mid-run (a kill of the process group) leaves its state: the runtime's name for
the container says whose it is, and the next one-shot container of any process deletes it
(runtime/owned.py). BuildKit mode's RUN (builder/graph/execute.py, its own spec) names its
runtime containers and mounts its overlay the same way.

The container is Docker's as `create` would make it (runtime/bundle.py writes the same spec and
files from the same record); the container events (create, start, die, destroy) are journaled as
dockerd's builder causes them. The record has the name of a container (a random one) but the
name is not reserved: no other container can see or want it in the seconds it lives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

from dockyard.archive.fstree import remove_path
from dockyard.atomic import temp_dir
from dockyard.digest import Digest
from dockyard.errors import DockyardError
from dockyard.image.config import ContainerConfig
from dockyard.runtime import bundle, leftover, owned, pipes, rootfs
from dockyard.runtime.containers import CreateOptions, new_record
from dockyard.runtime.names import random_name
from dockyard.runtime.oci import OciRuntime, for_store, logged_error
from dockyard.runtime.state import ContainerDir, ContainerRecord
from dockyard.store.events import Journal
from dockyard.store.store import Store

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Callable, Iterator

_PROXY_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                  signal.SIGUSR2)


class OneShot:
    """A made, not yet run, one-shot container (see `made`)."""

    def __init__(self, store: Store, record: ContainerRecord, cdir: ContainerDir,
                 diff_ids: list[Digest] | None, links: dict[Digest, str] | None = None) -> None:
        self.store = store
        self.diff_ids = diff_ids
        self.links = links
        self.record = record
        self.cdir = cdir
        self.runtime: OciRuntime = for_store(store.root, record.host.runtime)
        self.runtime_id = owned.runtime_id(store)
        self._proc: subprocess.Popen[bytes] | None = None
        self.mounted = False

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def upper(self) -> Path:
        return self.cdir.upper

    def _event(self, action: str, **extra: str) -> None:
        Journal(self.store.root).emit("container", action, self.record.id,
                                      self.record.event_attributes(**extra))

    def run(self, stdout: Callable[[bytes], None], stderr: Callable[[bytes], None],
            running: Callable[[], None] | None = None) -> int:
        """Run the container's command; its output goes to `stdout` and `stderr` as it comes;
        `running()` is called once the runtime is started (the caller's work behind it).
        Its exit status (128+N for a signal); StartError when it could not start (the
        runtime's message as dockerd words a create failure, nothing of it in the output).

        The runtime's own errors come on the same stderr as the process's: what comes on
        stderr before the runtime writes the pid file (the process started) is held, and is the
        runtime's error if it ends without one. On the main thread, the caller's signals are
        forwarded to the container (through the runtime) while it runs."""
        try:
            lowers = bundle.lowers(self.store, self.cdir, self.record, _init_layer(self.store),
                                   self.diff_ids, self.links)
            rootfs.mount_overlay(self.store.root, lowers,
                                 self.cdir.upper, self.cdir.work, self.cdir.merged, volatile=True)
            self.mounted = True
            bundle.write_files(self.cdir, self.record, fresh=True)
            bundle.write_spec(self.cdir, self.record, fresh=True, runtime_id=self.runtime_id)
        except DockyardError as exc:
            from dockyard.runtime.monitor import StartError  # a failure only: see tests/test_start_up.py

            raise StartError(str(exc), 125) from None
        pid_file = self.cdir.path / "init.pid"
        log_file = self.cdir.path / "runtime.log"
        held: list[bytes] = []
        announced = False

        def started() -> None:
            nonlocal announced
            announced = True
            self._event("start")

        def errors(data: bytes) -> None:
            if announced:
                stderr(data)
            else:
                held.append(data)

        def look() -> bool:
            """Whether the process started (the runtime wrote the pid file); the stderr held
            until then is its own, and goes out now."""
            if not pid_file.exists():
                return False
            started()
            if held:
                _pump_held(held, stderr)
                held.clear()
            return True

        # a name new in the bundle's folder wakes the look for the pid file (watched before the
        # runtime runs: none of its names is missed)
        with pipes.new_names(self.cdir.path) as watch:
            proc, out_r, err_r = pipes.spawn(
                [self.runtime.exe, "--root", str(self.runtime.state_root), "--log", str(log_file),
                 "--log-format", "json", "run", "--bundle", str(self.cdir.path),
                 "--pid-file", str(pid_file), self.runtime_id])
            self._proc = proc
            leftover.release()
            if running is not None:
                running()
            handlers: dict[int, object] = {}
            if threading.current_thread() is threading.main_thread():
                for sig in _PROXY_SIGNALS:
                    handlers[sig] = signal.signal(sig, lambda signum, _f: proc.send_signal(signum))
            try:
                pipes.drain({out_r: stdout, err_r: errors}, until=look, wake=watch)
                code = proc.wait()
            finally:
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)  # type: ignore[arg-type]
        self._proc = None
        if not pid_file.exists():
            message = logged_error(log_file) or b"".join(held).decode(errors="replace")
            from dockyard.runtime.monitor import create_error  # a failure only: see tests/test_start_up.py

            raise create_error(message, self.runtime.name)
        if not announced:  # it ran and ended before the pid file was seen
            started()
            if held:
                _pump_held(held, stderr)
        self._event("die", exitCode=str(code))
        return code

    def kill(self) -> None:
        """End a run that is still going (the caller gave up on it): the runtime's container is
        deleted by force, which kills its processes, and the runtime is waited for."""
        proc = self._proc
        if proc is None:
            return
        subprocess.run([self.runtime.exe, "--root", str(self.runtime.state_root), "delete",
                        "--force", self.runtime_id], capture_output=True)
        proc.wait()
        self._proc = None


def _pump_held(held: list[bytes], output: Callable[[bytes], None]) -> None:
    try:
        output(b"".join(held))
    except Exception:  # noqa: BLE001 - as _pump: the caller learns at its own next write
        pass


@contextmanager
def made(store: Store, opts: CreateOptions, diff_ids: list[Digest] | None = None,
         image_config: ContainerConfig | None = None,
         links: dict[Digest, str] | None = None) -> Iterator[OneShot]:
    """A one-shot container for the time of the block: made, run by the caller (`OneShot.run`:
    mounted then), then killed if it still runs, unmounted and removed. `diff_ids` and
    `image_config`: the image's layers and config, when the caller has them (the image is then
    not read from the store: a build's step image may still be being written); `links`: the
    caller's table of layers found unpacked (bundle.lower_dirs)."""
    owned.sweep(store)
    record = new_record(store, opts, random_name(), image_config)
    cdir = ContainerDir(store.tmp / record.id)
    cdir.path.mkdir(mode=0o710)
    shot = OneShot(store, record, cdir, diff_ids, links)
    try:
        for d in (cdir.upper, cdir.work, cdir.merged):
            d.mkdir(mode=0o755)
        shot._event("create")
        yield shot
    finally:
        try:
            shot.kill()
        finally:
            # unmounted and removed while the next step's runtime runs (its upper dir was read
            # in place; no later mount stands on it)
            leftover.leave(cdir.path, cdir.merged if shot.mounted else None)
            shot._event("destroy")


def _init_layer(store: Store) -> Path:
    """The init layer (runtime/rootfs.py) of this process's one-shot containers: the same for
    every container and never written (a lower directory), so made once, in the temp folder."""
    init = store.tmp / "oneshot-init"
    if not init.is_dir():
        fresh = temp_dir(store.tmp, "init-")
        os.chmod(fresh, 0o755)
        rootfs.make_init_layer(fresh)
        try:
            os.rename(fresh, init)
        except OSError:  # made meanwhile by another thread
            remove_path(fresh, ignore_errors=True)
    return init
