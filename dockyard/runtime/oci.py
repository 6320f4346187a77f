"""Driving an OCI runtime binary (crun or runc) with its state kept under `<store root>/runc`.

Choice: `--runtime NAME`, else `DOCKYARD_RUNTIME`, else `"default-runtime"` in
`<store root>/daemon.json` (as Docker's daemon.json), else crun when installed (runc first on hybrid cgroup
hosts, which crun refuses), else runc. State: `<store root>/runc` (or `/crun`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from dockyard.dataclass import dataclass
from dockyard.errors import InvalidParameter, RuntimeFailure
from dockyard.programs import which

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

KNOWN = ("crun", "runc")


def choose_runtime(store_root: Path, requested: str = "") -> str:
    name = requested or os.environ.get("DOCKYARD_RUNTIME", "")
    if not name:
        try:
            name = json.loads((store_root / "daemon.json").read_text()).get("default-runtime", "")
        except (FileNotFoundError, ValueError, AttributeError):
            name = ""
    if not name:
        order = ("runc", "crun") if _hybrid_cgroups() else KNOWN
        name = next((n for n in order if _installed(n)), "runc")
    if name not in KNOWN:
        raise InvalidParameter(f"unknown or invalid runtime name: {name}")
    if not _installed(name):
        raise InvalidParameter(f"runtime {name} is not installed")
    return name


_FOUND: dict[tuple[str, str], str] = {}   # (name, PATH) of runtimes found installed -> path


def _installed(name: str) -> bool:
    """Whether `name` is on PATH; a runtime once found is not looked for again (a PATH search
    is ~10 stats, and every container, a build's RUN steps too, asks twice). One not found is
    looked for each time: it may be installed meanwhile."""
    return _path_of(name) is not None


def _path_of(name: str) -> str | None:
    """Where `name` is on PATH (see _installed), None when it is not."""
    key = (name, os.environ.get("PATH", ""))
    path = _FOUND.get(key)
    if path is None:
        path = which(name)
        if path is None:
            return None
        _FOUND[key] = os.path.abspath(path)
    return _FOUND[key]


_HYBRID: list[bool] = []   # the answer of _hybrid_cgroups, once known


def _hybrid_cgroups() -> bool:
    """cgroup v1 controllers with a v2 hierarchy beside them: crun refuses that, runc copes.
    The host's layout, fixed while it runs: looked at once per process (a stat in cgroupfs per
    container otherwise, twice per build step)."""
    if not _HYBRID:
        _HYBRID.append(Path("/sys/fs/cgroup/unified/cgroup.controllers").exists())
    return _HYBRID[0]


def for_store(store_root: Path, requested: str = "") -> "OciRuntime":
    """The runtime of a container; each runtime keeps its state in its own dir under the store.
    Run by its path as found on PATH (what exec would find by its name): a process that runs
    many (a build's RUN steps) does not search PATH again at every start, one failed exec per
    directory before the runtime's."""
    name = choose_runtime(store_root, requested)
    return OciRuntime(name, store_root / name, _path_of(name) or name)


@dataclass(frozen=True)
class OciRuntime:
    """An OCI runtime binary (crun or runc) with its own state root."""

    name: str        # crun | runc
    state_root: Path  # --root
    path: str = ""   # the binary to run (its path, found once); "" for `name` on PATH

    @property
    def exe(self) -> str:
        """What to exec: the binary's path, else its name."""
        return self.path or self.name

    def _cmd(self, *args: str) -> list[str]:
        return [self.exe, "--root", str(self.state_root), *args]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(self._cmd(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        if check and proc.returncode != 0:
            raise RuntimeFailure(clean_message(proc.stderr.decode(errors="replace")) or
                                 f"{self.name} {args[0]} failed")
        return proc

    def run_detached_command(self, container_id: str, bundle: Path, pid_file: Path,
                             console_socket: str | None = None) -> list[str]:
        """`run --detach`: create and start in one runtime process (one exec fewer than
        create + start); it returns once the container's process runs, or fails as create
        would (the runtime checks the executable before starting it)."""
        args = ["run", "--detach", "--bundle", str(bundle), "--pid-file", str(pid_file)]
        if console_socket:
            args += ["--console-socket", console_socket]
        return self._cmd(*args, container_id)

    def start(self, container_id: str) -> None:
        self._run("start", container_id)

    def kill(self, container_id: str, signal: str) -> None:
        self._run("kill", container_id, signal)

    def kill_all(self, container_id: str, signal: str) -> None:
        """Every process of the container's cgroup, its init ended or not (`kill --all`)."""
        self._run("kill", "--all", container_id, signal, check=False)

    def pause(self, container_id: str) -> None:
        self._run("pause", container_id)

    def resume(self, container_id: str) -> None:
        self._run("resume", container_id)

    def delete(self, container_id: str) -> None:
        self._run("delete", "--force", container_id, check=False)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """`update --resources -`: new cgroup limits for a running container."""
        proc = subprocess.run(self._cmd("update", "--resources", "-", container_id),
                              input=json.dumps(resources).encode(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        if proc.returncode != 0:
            raise RuntimeFailure(clean_message(proc.stderr.decode(errors="replace")) or
                                 f"{self.name} update failed")

    def state(self, container_id: str) -> dict[str, Any] | None:
        proc = self._run("state", container_id, check=False)
        if proc.returncode != 0:
            return None
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return None

    def exec_command(self, container_id: str, process_file: Path, log_file: Path,
                     pid_file: Path | None = None, detach: bool = False) -> list[str]:
        """`exec` with the runtime's own errors going to `log_file` (JSON lines), not stderr;
        `pid_file` gets the (host) pid of the process it runs. `detach`: the runtime returns
        once the process runs. The container ID comes last."""
        return [self.exe, "--root", str(self.state_root), "--log", str(log_file),
                "--log-format", "json", "exec", "--process", str(process_file),
                *(["--pid-file", str(pid_file)] if pid_file is not None else []),
                *(["--detach"] if detach else []), container_id]


def logged_error(log_file: Path) -> str:
    """The last error the runtime logged (`--log-format json`), or ""."""
    message = ""
    try:
        with open(log_file, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal"):
                    message = str(entry.get("msg", ""))
    except FileNotFoundError:
        pass
    return message


def clean_message(stderr: str) -> str:
    """The runtime's error without its log decoration (`time=... level=error msg="..."`)."""
    lines = [l.strip() for l in stderr.strip().splitlines() if l.strip()]
    if not lines:
        return ""
    line = lines[-1]
    if 'msg="' in line:
        line = line.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    for prefix in ("ERRO[0000] ", "Error: "):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line


# what dockerd 20.10 adds to a start error that says ENOTDIR (translateContainerdStartErr): a
# file bound onto a directory of the image, or a directory onto a file
ENOTDIR_HINT = ("Are you trying to mount a directory onto a file (or vice-versa)? Check if the "
                "specified host path exists and is the expected type")


def as_containerd_says(message: str) -> str:
    """The runtime's error as dockerd 20.10 passes it on from containerd 1.6: the gRPC code's
    name (`unknown`) after it, and for ENOTDIR dockerd's hint after that."""
    message += ": unknown"
    if "not a directory" in message.lower():
        message += f": {ENOTDIR_HINT}"
    return message


def exit_code_for(message: str) -> int:
    """docker run's exit codes for a process that cannot start: 127 not found, 126 not runnable."""
    low = message.lower()
    if "executable file not found" in low or "no such file or directory" in low:
        return 127
    if "permission denied" in low or "exec format error" in low or "is a directory" in low:
        return 126
    return 125
