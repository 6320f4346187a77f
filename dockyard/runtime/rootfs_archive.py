"""Files in and out of a container's root filesystem (`docker cp`, the archive API), done by a
child process chrooted into that root: no path the container controls (a symlink to /, `..`,
a directory swapped for a link while the copy runs) can lead outside it (moby's chrootarchive,
after CVE-2018-15664).

    python -m dockyard.runtime.rootfs_archive stat|get|put ROOT PATH [--no-overwrite-dir-non-dir]
        [--owner=UID:GID]
        [--volumes=JSON]

ROOT is `/proc/PID/root` of a running container (its mounts, volumes included, as it sees them)
or its mounted rootfs, where the child first bind mounts the container's volumes and binds
(`--volumes`: [source, target, read-only] each) in a mount namespace of its own, as dockerd
mounts them to copy from or into a stopped container; each target is resolved inside the chroot,
so a link in the rootfs cannot place a mount outside it. `stat` prints Docker's PathStat JSON; `get` writes a tar of PATH (entries
named after PATH's last element) to stdout; `put` extracts the tar on stdin into the directory
PATH. Failures exit 2 (no such path) or 3 (bad request), with the message on stderr.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import stat
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

# Imported before the chroot: nothing may be imported after it.
from dockyard.archive.apply import apply_layer, no_overwrite_dir_non_dir as refuse_dir_swaps
from dockyard.archive.diff import write_resource
from dockyard.errors import DockyardError, InvalidParameter, NotFound

_GO_MODE = {stat.S_IFDIR: 1 << 31, stat.S_IFLNK: 1 << 27, stat.S_IFBLK: 1 << 26,
            stat.S_IFIFO: 1 << 25, stat.S_IFSOCK: 1 << 24, stat.S_IFCHR: (1 << 26) | (1 << 21)}
NOT_FOUND, BAD = 2, 3
_CLONE_NEWNS, _MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x20000, 1, 32, 4096, 16384, 1 << 18


def go_file_mode(mode: int) -> int:
    """Go's os.FileMode of a stat mode (the archive API's `mode`)."""
    out = stat.S_IMODE(mode) & 0o777 | _GO_MODE.get(stat.S_IFMT(mode), 0)
    if mode & stat.S_ISUID:
        out |= 1 << 23
    if mode & stat.S_ISGID:
        out |= 1 << 22
    if mode & stat.S_ISVTX:
        out |= 1 << 20
    return out


def _go_time(seconds: float) -> str:
    ns = int(round(seconds * 1e9))
    moment = datetime.fromtimestamp(ns // 10**9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ns % 10**9:09d}".rstrip("0")
    return f"{moment}{'.' + frac if frac else ''}Z"


def _clean(path: str) -> str:
    """The container path as Docker reads it: absolute, a trailing `/` or `/.` kept."""
    if not path:
        raise InvalidParameter("path is required")
    full = "/" + os.path.normpath("/" + path).lstrip("/")
    if path.endswith("/.") or path == ".":
        return full.rstrip("/") + "/."
    if path.endswith("/") and full != "/":
        return full + "/"
    return full


def _stat(path: str) -> dict[str, Any]:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container") from None
    except NotADirectoryError:
        raise NotFound(f"Could not find the file {path} in container") from None
    target = ""
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)
    name = os.path.basename(path.rstrip("/")) or "/"
    if path.endswith("/."):
        name = "."
    return {"name": name, "size": st.st_size, "mode": go_file_mode(st.st_mode),
            "mtime": _go_time(st.st_mtime), "linkTarget": target}


def _get(path: str, out: BinaryIO, opaque: list[str]) -> None:
    _stat(path)
    if path.endswith("/."):
        resource, name = path[:-2] or "/", "."
    else:
        resource = path.rstrip("/") or "/"
        # the root is named "/" and its entries "/bin"..., as dockerd names them (the docker CLI
        # rebases the entries from the stat's name, "/": named "./bin", they landed beside the
        # destination, in DEST. and the like)
        name = os.path.basename(resource) or "/"
        if path.endswith("/") and not os.path.isdir(resource):
            raise InvalidParameter(f"not a directory: {path}")
    devices = set()
    for mount_point in opaque:
        try:
            st = os.lstat(mount_point)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            devices.add(st.st_dev)
    write_resource(Path(resource), name, out, opaque_devices=frozenset(devices))


def _put(path: str, source: BinaryIO, no_overwrite_dir_non_dir: bool,
         owner: tuple[int, int] | None = None) -> None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"Could not find the file {path} in container") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidParameter("extraction point is not a directory")

    # owners as the tar has them, or `owner` for every entry (`cp -a` into a container with a
    # USER: engine/container_files.put)
    apply_layer(source, Path(path), whiteout_format="none", owner=owner,
                check=refuse_dir_swaps(path) if no_overwrite_dir_non_dir else None)


def _libc_call(name: str, *args: Any) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _mount_volumes(root: str, volumes: list[list[Any]]) -> None:
    """Bind mount each [source, target, read_only] at its target inside `root`, shallow targets
    first, in this process's own mount namespace; leaves the process chrooted into `root`. Each
    target is resolved (and made when missing, a directory or an empty file as its source is,
    as dockerd makes it) while chrooted, the mount made from outside the chroot."""
    _libc_call("unshare", _CLONE_NEWNS)
    _libc_call("mount", None, b"/", None, _MS_REC | _MS_PRIVATE, None)
    outside = os.open("/", os.O_PATH | os.O_DIRECTORY)
    dirs = {source: os.path.isdir(source) for source, _, _ in volumes}
    os.chroot(root)
    for source, target, read_only in sorted(volumes, key=lambda v: _clean(v[1]).count("/")):
        os.chdir("/")
        where = os.path.realpath(_clean(target))
        if not os.path.lexists(where):
            if dirs[source]:
                os.makedirs(where, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(where), exist_ok=True)
                os.close(os.open(where, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755))
            where = os.path.realpath(where)
        os.fchdir(outside)
        os.chroot(".")
        point = os.path.join(root, where.lstrip("/")).encode()
        _libc_call("mount", source.encode(), point, None, _MS_BIND | _MS_REC, None)
        if read_only:
            _libc_call("mount", None, point, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_REC, None)
        os.chroot(root)
    os.close(outside)


def child_main(argv: list[str]) -> int:
    action, root, path = argv[0], argv[1], _clean(argv[2])
    try:
        volumes = [json.loads(a[len("--volumes="):]) for a in argv[3:] if a.startswith("--volumes=")]
        if volumes and volumes[0]:
            _mount_volumes(root, volumes[0])
        else:
            os.chroot(root)
        os.chdir("/")
        if action == "stat":
            sys.stdout.write(json.dumps(_stat(path)))
        elif action == "get":
            _get(path, sys.stdout.buffer, [a[len("--opaque="):] for a in argv[3:] if a.startswith("--opaque=")])
            sys.stdout.buffer.flush()
        elif action == "put":
            owner = [a[len("--owner="):] for a in argv[3:] if a.startswith("--owner=")]
            _put(path, sys.stdin.buffer, "--no-overwrite-dir-non-dir" in argv[3:],
                 tuple(map(int, owner[0].split(":"))) if owner else None)  # type: ignore[arg-type]
        else:
            raise InvalidParameter(f"unknown action {action}")
    except NotFound as exc:
        sys.stderr.write(str(exc))
        return NOT_FOUND
    except DockyardError as exc:
        sys.stderr.write(str(exc))
        return BAD
    except OSError as exc:
        sys.stderr.write(f"{exc.strerror or exc}: {path}")
        return BAD
    return 0


# -- the caller's side -------------------------------------------------------------------------
Volume = tuple[str, str, bool]     # source on the host, target in the container, read-only


def _command(action: str, root: Path, path: str, volumes: Sequence[Volume]) -> list[str]:
    return [sys.executable, "-m", __name__, action, str(root), path,
            *([f"--volumes={json.dumps(list(volumes))}"] if volumes else [])]


def _raise(code: int, message: bytes) -> None:
    text = message.decode(errors="replace").strip()
    if code == NOT_FOUND:
        raise NotFound(text)
    raise InvalidParameter(text or f"archive helper failed ({code})")


def stat_path(root: Path, path: str, volumes: Sequence[Volume] = ()) -> dict[str, Any]:
    proc = subprocess.run(_command("stat", root, path, volumes), stdin=subprocess.DEVNULL,
                          capture_output=True, cwd="/")
    if proc.returncode != 0:
        _raise(proc.returncode, proc.stderr)
    return json.loads(proc.stdout)


# the kernel's file systems a running container has mounted (its /proc, /sys, cgroups, /dev/pts,
# /dev/mqueue): dockerd archives the container's rootfs and volumes as mounted in its own mount
# namespace, where these are the rootfs's empty directories; so are they in dockyard's tar
_KERNEL_FS = frozenset({"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "securityfs",
                        "debugfs", "tracefs", "bpf", "pstore", "configfs", "fusectl"})


@contextmanager
def running_root(pid: int, rootfs: Path) -> Iterator[Path | None]:
    """The root of a running container's process `pid` (`/proc/PID/root`), held open for the
    block as a path the archive's children enter (`/proc/<this process>/fd/N`): what they read
    or write stays the container's when it exits meanwhile (`/proc/PID/root` then named
    nothing: 'No such file or directory' for a file that is there, and a pid used again would
    name another process's root). None when the process is no longer the container's: its root
    is not `rootfs`'s, the overlay the container runs on (it exited)."""
    try:
        fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield None
        return
    try:
        held, expected = os.fstat(fd), os.stat(rootfs)
        ours = (held.st_dev, held.st_ino) == (expected.st_dev, expected.st_ino)
    except OSError:
        ours = False
    try:
        yield Path(f"/proc/{os.getpid()}/fd/{fd}") if ours else None
    finally:
        os.close(fd)


def _kernel_mounts(root: Path, mountinfo: Path | None = None) -> list[str]:
    """The mount points of kernel file systems in the mount namespace of /proc/PID/root
    (`mountinfo`: that of a root held open, running_root)."""
    if mountinfo is None:
        if root.parent.parent != Path("/proc"):
            return []
        mountinfo = root.parent / "mountinfo"
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) >= 5 and rest.split(" ", 1)[0] in _KERNEL_FS:
            out.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[4]))
    return out


def get_archive(root: Path, path: str, out: BinaryIO, volumes: Sequence[Volume] = (),
                mountinfo: Path | None = None) -> None:
    """The tar of `path` into `out`, streamed (the child's stdout is read in 64 KiB pieces)."""
    command = _command("get", root, path, volumes) + [f"--opaque={m}" for m in _kernel_mounts(root, mountinfo)]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while data := proc.stdout.read(65536):
            out.write(data)
    finally:
        proc.stdout.close()
        err = proc.stderr.read()
        code = proc.wait()
    if code != 0:
        _raise(code, err)


def put_archive(root: Path, path: str, source: BinaryIO, *, no_overwrite_dir_non_dir: bool = False,
                volumes: Sequence[Volume] = (), owner: tuple[int, int] | None = None) -> None:
    """Extract the tar read from `source` into directory `path`, streamed into the child;
    `owner`: (uid, gid) of every entry instead of the tar's."""
    command = _command("put", root, path, volumes) + (["--no-overwrite-dir-non-dir"] if no_overwrite_dir_non_dir else [])
    if owner is not None:
        command.append(f"--owner={owner[0]}:{owner[1]}")
    proc = subprocess.Popen(command, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
    assert proc.stdin is not None and proc.stderr is not None
    try:
        while data := source.read(65536):
            try:
                proc.stdin.write(data)
            except BrokenPipeError:
                break   # the child failed: its message says why
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read()
        code = proc.wait()
    if code != 0:
        _raise(code, err)


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1:]))
