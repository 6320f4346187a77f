"""The reference Docker daemon: Debian's dockerd 20.10 (docker.io) on its own paths.

Where Docker's behaviour is the question, a test runs the same input through this daemon and
through dockyard. The daemon gets its own data root, exec root, pidfile and socket under a fresh
temp directory, no iptables (it shares the machine), and is stopped by its pid. Without a
`Bridge` it has no bridge; with one (a bridge the test made, never docker0) its containers have
networking: docker-proxy publishes ports, user networks come from the bridge's own pool.
`/usr/bin/docker` is Debian's 20.10 CLI; builds use the classic builder (DOCKER_BUILDKIT=0).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import Result

DOCKER_CLI = "/usr/bin/docker"
RUNTIMES = Path(__file__).resolve().parent / "data" / "runtimes"
# `--runtime bounded-runc`: runc, with a privileged spec trimmed to this host's capability bounding
# set (dockerd 20.10 cannot start a privileged container where that set is not full)
BOUNDED_RUNC = "bounded-runc"


class Bridge:
    """A bridge made for a reference dockerd (`--bridge=NAME`) with its address, and the pool its
    user networks (compose's) are taken from; `remove` deletes it."""

    def __init__(self, name: str, address: str, pool: str) -> None:
        self.name, self.address, self.pool = name, address, pool
        self._lock: int | None = None

    @classmethod
    def claim(cls, slots: int = 7) -> "Bridge":
        """A bridge of its own for this test session: several sessions may run at once on one
        machine (one per worktree, and one per pytest-xdist worker of scripts/test.sh), each
        needs its own name, address and pool. Slot k (held by an flock until `remove`) is
        dyrefK on 10.215.K.1/24 with user networks in 10.214.(32K).0/19 (from 1: checkouts
        older than this took dyref0 and 10.214.0.0/16; 7 is the last whose pool is an address)."""
        import fcntl

        lock_dir = Path("/run/dockyard-tests")
        lock_dir.mkdir(exist_ok=True)
        for k in range(1, slots + 1):
            fd = os.open(lock_dir / f"ref-bridge-{k}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            bridge = cls(f"dyref{k}", f"10.215.{k}.1/24", f"10.214.{32 * k}.0/19")
            bridge._lock = fd
            return bridge
        raise RuntimeError(f"all {slots} reference bridge slots are taken")

    def create(self) -> "Bridge":
        self.remove()
        for args in (["link", "add", self.name, "type", "bridge"],
                     ["addr", "add", self.address, "dev", self.name], ["link", "set", self.name, "up"]):
            subprocess.run(["ip", *args], check=True, capture_output=True)
        return self

    def dockerd_args(self) -> list[str]:
        return [f"--bridge={self.name}", f"--default-address-pool=base={self.pool},size=24"]

    def remove(self) -> None:
        subprocess.run(["ip", "link", "del", self.name], capture_output=True)

    def release(self) -> None:
        """Remove the bridge and give its slot back."""
        self.remove()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


class DockerDaemon:
    """One running dockerd; `docker(...)` runs the 20.10 CLI against it."""

    def __init__(self, base: Path, network: Bridge | None = None) -> None:
        self.base = base
        self.network = network
        self.sock = base / "sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_BUILDKIT": "0",
                    "DOCKER_CONFIG": str(base / "config")}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        log = open(self.base / "log", "wb")  # noqa: SIM115 - the daemon writes it while it runs
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.base / "root"), "--exec-root", str(self.base / "exec"),
             "--pidfile", str(self.base / "pid"), "-H", f"unix://{self.sock}",
             *(self.network.dockerd_args() if self.network else ["--bridge=none"]),
             "--iptables=false", "--ip-masq=false", f"--add-runtime={BOUNDED_RUNC}={RUNTIMES / BOUNDED_RUNC}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}: {self.log_tail()}")
            if self.sock.exists() and self.docker("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"dockerd did not answer within {timeout:.0f}s: {self.log_tail()}")

    def restart(self) -> None:
        """Stop the daemon as a shutdown does (its containers stopped, not by the user) and
        start it again on the same data."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(60)
        self.start()

    def log_tail(self) -> str:
        try:
            return (self.base / "log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def docker(self, *args: str, input: bytes | None = None, check: bool = True,
               timeout: float = 120, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> Result:
        """`env` adds to (or overrides) the CLI's environment: {"DOCKER_BUILDKIT": "1"} builds
        with BuildKit instead of the classic builder."""
        proc = subprocess.run([DOCKER_CLI, *args], input=input, capture_output=True,
                              env={**self.env, **(env or {})}, timeout=timeout, cwd=cwd)
        result = Result(proc.returncode, proc.stdout.decode(errors="replace"),
                        proc.stderr.decode(errors="replace"), proc.stdout)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, **kwargs) -> Result:  # noqa: ANN003
        return self.docker(*args, **kwargs)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            left = self.docker("ps", "-aq", check=False).stdout.split()
            if left:  # (one command: the build containers of failed builds are often many)
                self.docker("rm", "-f", *left, check=False)
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        _unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)


def _unmount_under(base: Path) -> None:
    """Whatever the daemon left mounted under its directories (deepest first)."""
    prefix = str(base) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if line.split()[4].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def start_dockerd(network: Bridge | None = None) -> DockerDaemon | str:
    """A started daemon, or the one-line reason why there is none."""
    if os.geteuid() != 0:
        return "dockerd needs root"
    if shutil.which("dockerd") is None or not os.path.exists(DOCKER_CLI):
        return "dockerd or the docker 20.10 CLI is not installed (Debian's docker.io)"
    daemon = DockerDaemon(Path(tempfile.mkdtemp(prefix="dockyard-dockerd-", dir="/tmp")), network)
    try:
        daemon.start()
    except (RuntimeError, OSError) as exc:
        daemon.stop()
        return f"dockerd could not start: {str(exc).splitlines()[0]}"
    return daemon
