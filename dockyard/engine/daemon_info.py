"""What the daemon says of itself, for both servers: `GET /version` and `GET /info` (`docker
version`, `docker info`), the API versions it speaks and the host and store it runs on."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

from dockyard import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from dockyard.store.store import Store

API_VERSION = "1.47"      # the newest Engine API version served
MIN_API_VERSION = "1.24"  # the oldest a client may ask for (Docker 25+ answers the same)


def version() -> dict[str, Any]:
    uname = os.uname()
    details = {"ApiVersion": API_VERSION, "Arch": "amd64", "BuildTime": "", "Experimental": "false",
               "GitCommit": "", "GoVersion": f"python{platform.python_version()}",
               "KernelVersion": uname.release, "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}
    return {
        "Platform": {"Name": "dockyard"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "", "GoVersion": details["GoVersion"], "Os": "linux", "Arch": "amd64",
        "KernelVersion": uname.release, "BuildTime": "",
    }


def info(store: Store, root: Path) -> dict[str, Any]:
    from dockyard.engine import containers, images
    from dockyard.runtime import host_support

    total, running, paused, stopped = containers.counts(store)
    uname = os.uname()
    return {
        "ID": _engine_id(root), "Containers": total, "ContainersRunning": running,
        "ContainersPaused": paused, "ContainersStopped": stopped,
        "Images": images.image_count(store), "Driver": "overlay2",
        # overlay2's lines: d_type as the root's file system gives it; dockyard's mounts keep
        # the upper directory a whole diff (runtime/rootfs.diffable_options), so its diff is
        # the native one; as root in the host's user namespace, no userxattr
        "DriverStatus": [["Backing Filesystem", _fs_name(root)], ["Supports d_type", _go_bool(_d_type(root))],
                         ["Native Overlay Diff", "true"], ["userxattr", "false"]],
        "DockerRootDir": str(root), "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                                                "Authorization": None, "Log": ["json-file"]},
        # what the host's cgroups offer (dockyard applies each through runc); kernel memory
        # limits, which dockyard does not apply, false
        **host_support.features(), "KernelMemory": False, "KernelMemoryTCP": False,
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0, "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs",
        "NEventsListener": 0, "KernelVersion": uname.release, **_operating_system(), "OSType": "linux", "Architecture": uname.machine,
        "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": [], "IndexConfigs": {"docker.io": {
                "Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}}},
        "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(), "Name": uname.nodename,
        "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {"runc": {"path": "runc"}}, "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": False, "Isolation": "", "InitBinary": "docker-init",
        "SecurityOptions": ["name=seccomp,profile=default"], "Warnings": None, "GenericResources": None,
        "HttpProxy": os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy") or "",
        "HttpsProxy": os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or "",
        "NoProxy": os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": _runc_commit(), "Expected": _runc_commit()},
        "InitCommit": {"ID": "", "Expected": ""},
    }


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _engine_id(root: Path) -> str:
    """The store's engine ID (`engine-id`, a random UUID made once, as dockerd 23+ keeps its
    own): a client tells two engines apart by it (dockyard said "dockyard" for every store)."""
    import uuid

    path = os.path.join(root, "engine-id")
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(str(uuid.uuid4()))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)    # never over one another process made meanwhile
        directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    with open(path, encoding="ascii") as f:
        return f.read().strip()


# moby's graphdriver FsNames: the file system a store is on, by its statfs magic
_FS_NAMES = {0x61756673: "aufs", 0x9123683E: "btrfs", 0x28CD3D45: "cramfs", 0xF15F: "ecryptfs",
             0xEF53: "extfs", 0xF2F52010: "f2fs", 0x47504653: "gpfs", 0x72B6: "jffs2", 0x3153464A: "jfs",
             0x6969: "nfs", 0x858458F6: "ramfs", 0x52654973: "reiserfs", 0x517B: "smb",
             0x73717368: "squashfs", 0x01021994: "tmpfs", 0xA501FCF5: "vxfs", 0x58465342: "xfs",
             0x2FC12FC1: "zfs", 0x794C7630: "overlayfs", 0x65735546: "fuse"}


def _fs_name(root: Path) -> str:
    """overlay2's "Backing Filesystem" of dockerd: the store root's file system."""
    import ctypes

    buf = ctypes.create_string_buffer(256)     # struct statfs; f_type is its first field (a long)
    if ctypes.CDLL(None, use_errno=True).statfs(os.fsencode(root), buf) != 0:
        return "<unknown>"
    return _FS_NAMES.get(ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF, "<unknown>")


def _d_type(root: Path) -> bool:
    """Whether the file system of `root` fills readdir's d_type (xfs made with ftype=0 does
    not; overlayfs needs it), as dockerd's overlay2 checks it: the type of the root's entries."""
    import ctypes

    class Dirent(ctypes.Structure):
        _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64), ("d_reclen", ctypes.c_ushort),
                    ("d_type", ctypes.c_ubyte), ("d_name", ctypes.c_char * 256)]

    libc = ctypes.CDLL(None, use_errno=True)
    libc.opendir.restype = ctypes.c_void_p
    libc.readdir.restype = ctypes.POINTER(Dirent)
    libc.readdir.argtypes = libc.closedir.argtypes = [ctypes.c_void_p]
    handle = libc.opendir(os.fsencode(root))
    if not handle:
        return False
    try:
        entry = libc.readdir(handle)
        return bool(entry) and entry.contents.d_type != 0   # DT_UNKNOWN
    finally:
        libc.closedir(handle)


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


def _operating_system() -> dict[str, str]:
    """The host's, as dockerd reads it: os-release's PRETTY_NAME (" (containerized)" after it
    when pid 1 is in a cgroup of its own) and VERSION_ID."""
    fields: dict[str, str] = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    key, sep, value = line.strip().partition("=")
                    if sep:
                        fields[key] = value.strip().strip("\"'")
            break
        except OSError:
            continue
    name = fields.get("PRETTY_NAME") or "Linux"
    try:
        with open("/proc/1/cgroup", encoding="utf-8", errors="replace") as f:
            if any(line.strip() and not line.rstrip("\n").endswith((":/", ":/init.scope")) for line in f):
                name += " (containerized)"
    except OSError:
        pass
    return {"OperatingSystem": name, "OSVersion": fields.get("VERSION_ID", "")}


_RUNC: list[str] = []


def _runc_commit() -> str:
    """runc's `commit:` of `runc --version` (dockerd's "runc version"), "N/A" when it has none;
    asked once a process."""
    if not _RUNC:
        import subprocess

        try:
            out = subprocess.run(["runc", "--version"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        _RUNC.append(next((line.partition(":")[2].strip() for line in out.splitlines()
                           if line.startswith("commit:")), "N/A"))
    return _RUNC[0]
