"""RUN: one process in a temporary container over the previous step's image, with runc, and the
container's changes as a layer tar.

A thin adapter until `dockyard/runtime` lands (its engineer writes the general container API; the
builder needs only "run this command on this image's layers and give me the diff").
Docker behaviour matched:
- An init layer between the image and the container's writable layer holds the mount points and
  /etc/hosts, /etc/resolv.conf, /etc/hostname, /.dockerenv, so they never show in the diff.
- VOLUME directories and the WORKDIR are created in the container before the command runs (they
  show in the diff, as in Docker's).
- The process gets the config's Env plus the build args, runs as USER (names resolved in the
  image), in WORKDIR; stdout and stderr go to the build output.
- `--network host|none`; the default (Docker's bridge) is the host's network here.
Nothing is left mounted or registered with runc when `run_step` returns or raises.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dockyard.archive.diff import write_overlay_diff
from dockyard.archive.scan import ScanResult, scan_copy
from dockyard.build.rootfs import writable_root
from dockyard.build.users import exec_user
from dockyard.digest import CHUNK, Digest
from dockyard.errors import RuntimeFailure
from dockyard.store.layers import StoredLayer
from dockyard.store.store import Store

RUNC_ROOT = "/run/dockyard-build-runc"
_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
         "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
         "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
_INIT_DIRS = ("dev", "dev/pts", "dev/shm", "dev/mqueue", "proc", "sys", "etc")
_INIT_FILES = ("etc/hosts", "etc/resolv.conf", "etc/hostname", ".dockerenv")


@dataclass
class RunSpec:
    args: list[str]
    env: list[str]
    user: str = ""
    workdir: str = ""
    volumes: list[str] = field(default_factory=list)
    network: str = "default"


@dataclass
class RunResult:
    exit_code: int
    layer: StoredLayer | None  # None: the command changed nothing (an empty layer)


def new_container_id() -> str:
    return secrets.token_hex(32)


def _lower_stat(store: Store, diff_ids: list[Digest], rel: str) -> os.stat_result | None:
    for diff_id in reversed(diff_ids):
        try:
            return os.lstat(store.layers.unpacked(diff_id) / rel)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return None


def _make_init_layer(store: Store, diff_ids: list[Digest], path: Path, hostname: str) -> Path:
    """Mount points and files the runtime binds over, with the image's own directory metadata
    where the image has the directory (so a copy-up writes the image's, not ours)."""
    for rel in _INIT_DIRS:
        d = path / rel
        d.mkdir(exist_ok=True)
        st = _lower_stat(store, diff_ids, rel)
        if st is not None and stat.S_ISDIR(st.st_mode):
            os.chown(d, st.st_uid, st.st_gid)
            os.chmod(d, stat.S_IMODE(st.st_mode))
    for rel in _INIT_FILES:
        (path / rel).touch()
    for rel in ("etc",):
        st = _lower_stat(store, diff_ids, rel)
        if st is not None:
            os.utime(path / rel, ns=(st.st_atime_ns, st.st_mtime_ns))
    return path


def _host_files(work: Path, hostname: str) -> dict[str, Path]:
    hosts = work / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                     f"127.0.1.1\t{hostname}\n")
    name = work / "hostname"
    name.write_text(hostname + "\n")
    resolv = work / "resolv.conf"
    try:
        shutil.copyfile("/etc/resolv.conf", resolv)
    except OSError:
        resolv.write_text("")
    return {"/etc/hosts": hosts, "/etc/hostname": name, "/etc/resolv.conf": resolv}


def _nofile() -> int:
    """Docker gives containers 1048576 open files; never more than this process may have."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1048576 if hard == resource.RLIM_INFINITY else min(hard, 1048576)


def _spec(rootfs: Path, spec: RunSpec, uid: int, gid: int, gids: tuple[int, ...], hostname: str,
          binds: dict[str, Path]) -> dict:
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if spec.network == "none":
        namespaces.append({"type": "network"})
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    ]
    for dest, src in binds.items():
        mounts.append({"destination": dest, "type": "bind", "source": str(src), "options": ["rbind", "rprivate"]})
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid, "additionalGids": list(gids)},
            "args": spec.args,
            "env": spec.env,
            "cwd": spec.workdir or "/",
            "capabilities": {k: list(_CAPS) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": _nofile(), "soft": _nofile()}],
            "noNewPrivileges": False,
        },
        "root": {"path": str(rootfs), "readonly": False},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                            "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def _mkdir_in(rootfs: Path, path: str) -> None:
    """mkdir -p inside the container's rootfs, never following a symlink out of it."""
    from dockyard.build.context import resolve_in_context

    target = resolve_in_context(rootfs, path)
    target.mkdir(parents=True, exist_ok=True)


def run_step(store: Store, diff_ids: list[Digest], spec: RunSpec, container_id: str,
             output: Callable[[bytes], None]) -> RunResult:
    """Run `spec` on the layers `diff_ids`; the changes become a layer in the store (or None)."""
    work = Path(tempfile.mkdtemp(prefix="build-run-", dir=store.tmp))
    hostname = container_id[:12]
    runc_id = f"dockyard-build-{container_id[:24]}"
    try:
        init = work / "init"
        init.mkdir()
        os.chmod(init, 0o755)
        _make_init_layer(store, diff_ids, init, hostname)
        binds = _host_files(work, hostname)
        with writable_root(store, diff_ids, init) as (merged, upper):
            user = exec_user(merged, spec.user)
            for volume in spec.volumes:
                _mkdir_in(merged, volume)
            if spec.workdir:
                _mkdir_in(merged, spec.workdir)
            bundle = work / "bundle"
            bundle.mkdir()
            config = _spec(merged, spec, user.uid, user.gid, user.additional_gids, hostname, binds)
            (bundle / "config.json").write_text(json.dumps(config))
            try:
                proc = subprocess.Popen(
                    ["runc", "--root", RUNC_ROOT, "run", "--bundle", str(bundle), runc_id],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            except FileNotFoundError:
                raise RuntimeFailure("runc is not installed") from None
            assert proc.stdout is not None
            try:
                while True:
                    chunk = proc.stdout.read1(CHUNK)  # type: ignore[attr-defined]
                    if not chunk:
                        break
                    output(chunk)
                code = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                subprocess.run(["runc", "--root", RUNC_ROOT, "delete", "--force", runc_id],
                               capture_output=True)
            if code != 0:
                return RunResult(code, None)
            layer = _commit_upper(store, upper, work)
        return RunResult(0, layer)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _commit_upper(store: Store, upper: Path, work: Path) -> StoredLayer | None:
    """The writable layer's changes as a layer (None when nothing changed)."""
    if not any(upper.iterdir()):
        return None
    tar_path = Path(tempfile.mkstemp(prefix="run-layer-", dir=store.tmp)[1])
    try:
        with open(tar_path, "wb") as f:
            write_overlay_diff(upper, f)
        with open(tar_path, "rb") as f, open(os.devnull, "wb") as null:
            result: ScanResult = scan_copy(f, null)
        return store.layers.adopt(tar_path, result)
    finally:
        try:
            os.unlink(tar_path)
        except FileNotFoundError:
            pass
