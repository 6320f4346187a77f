"""A container's root filesystem: overlayfs over the image's unpacked layers.

    lowerdir = containers/<id>/init : l/<top layer> : ... : l/<bottom layer>
    upperdir = containers/<id>/upper   (the container's storage layer; commit diffs it)

The mount goes straight to mount(2) (ctypes) with absolute paths when they fit in the
one-page limit of mount(2) data (most images). Otherwise paths are relative to the store root
and the `mount` command runs with that as its working directory: with 26-character link names
(as Docker's overlay2) a 100-layer image needs ~3 KB of options; `cwd=` keeps the process's own
working directory untouched (an in-process chdir would race with threads of an API server), at
~3 ms for the extra process. Unmount goes straight to umount2(2).

The init layer is Docker's "-init" layer: empty files and directories where the runtime mounts
/proc, /sys, /dev, /etc/hosts, /etc/hostname, /etc/resolv.conf, so that creating those mount
points never lands in the storage layer (they would show in `diff` and in commits). Its entries
are Docker 20.10's (daemon/initlayer): directories 0755, empty files 0755 (/dev/console among
them), /etc/mtab a link to /proc/mounts, all root's; `export` shows them as dockerd's does.
"""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
from pathlib import Path

from dockyard.errors import RuntimeFailure

MNT_DETACH = 2
MS_BIND = 4096
MOUNT_DATA_MAX = 4096  # one page: the kernel copies at most this much of mount(2) data
_INIT_DIRS = ("proc", "sys", "dev", "dev/pts", "dev/shm", "etc")
_INIT_FILES = ("etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv", "dev/console")


def make_init_layer(init: Path) -> None:
    init.mkdir(mode=0o755, exist_ok=True)
    for d in _INIT_DIRS:
        (init / d).mkdir(mode=0o755, exist_ok=True)
        os.chmod(init / d, 0o755)  # whatever the umask
    for f in _INIT_FILES:
        (init / f).touch()
        os.chmod(init / f, 0o755)
    mtab = init / "etc" / "mtab"
    if not mtab.is_symlink():
        os.symlink("/proc/mounts", mtab)


def topmost_once(lowers: list[str]) -> list[str]:
    """A lowerdir list (topmost first) with each layer once, at its topmost place: overlayfs
    refuses a repeated lower (ELOOP), and an image may hold the same layer twice (two steps that
    changed the same thing in the same second, as BuildKit's RUNs often do). Dropping the lower
    copy changes nothing: everything it holds is decided by the copy above it."""
    seen: set[str] = set()
    out = []
    for low in lowers:
        if low not in seen:
            seen.add(low)
            out.append(low)
    return out


OVERLAY_PARAMETERS = Path("/sys/module/overlay/parameters")
_diffable: str | None = None


def diffable_options(parameters: Path = OVERLAY_PARAMETERS) -> str:
    """What keeps the upper directory a whole diff on a kernel whose overlay defaults say
    otherwise: with redirect_dir on, a directory of a lower layer renamed in the container is an
    upper directory holding only what changed (an xattr points at the rest, down in the lower
    layer); with metacopy on, a chown copies up a file without its data. Read as a layer (commit,
    a build step) either loses files. Docker's overlay2 then stops diffing the upper directory
    ("Native Overlay Diff: false"); dockyard mounts with those features off (`mv` of such a
    directory then copies it, as on kernels where they are off by default, Debian's)."""
    words = []
    for name in ("redirect_dir", "metacopy"):
        try:
            value = (parameters / name).read_text().strip()
        except OSError:
            continue    # a kernel without the feature
        if value not in ("N", "off", "nofollow"):
            words.append(f",{name}=off")
    return "".join(words)


def _diffable_once() -> str:
    """diffable_options of this kernel, read once per process."""
    global _diffable
    if _diffable is None:
        _diffable = diffable_options()
    return _diffable


def mount_options(store_root: Path, lowers: list[str], upper: Path, work: Path) -> str:
    """The overlay mount data; `lowers` are paths relative to the store root, topmost first."""
    rel_upper = os.path.relpath(upper, store_root)
    rel_work = os.path.relpath(work, store_root)
    opts = f"lowerdir={':'.join(lowers)},upperdir={rel_upper},workdir={rel_work}{_diffable_once()}"
    if len(opts) >= MOUNT_DATA_MAX:
        raise RuntimeFailure(f"image has too many layers to mount ({len(lowers) - 1})")
    return opts


def _absolute_options(store_root: Path, lowers: list[str], upper: Path, work: Path) -> bytes | None:
    """The mount data with absolute paths, or None when it does not fit or cannot be said
    (a store root with the option separators in its path)."""
    root = os.path.abspath(store_root)
    if any(c in root for c in ",:\\"):
        return None
    lows = ":".join(os.path.join(root, low) for low in lowers)
    opts = os.fsencode(f"lowerdir={lows},upperdir={os.path.abspath(upper)},"
                       f"workdir={os.path.abspath(work)}{_diffable_once()}")
    return opts if len(opts) < MOUNT_DATA_MAX else None


def mount_overlay(store_root: Path, lowers: list[str], upper: Path, work: Path, target: Path,
                  volatile: bool = False) -> None:
    """`volatile` (Linux 5.10): the mount never syncs its upper file system, as it otherwise
    does when unmounted (for an upper directory nobody needs after a crash); a kernel without
    it mounts without."""
    opts = mount_options(store_root, lowers, upper, work) + (",volatile" if volatile else "")
    target.mkdir(exist_ok=True)
    data = _absolute_options(store_root, lowers, upper, work)
    if data is not None and volatile:
        data = data + b",volatile" if len(data) + 9 < MOUNT_DATA_MAX else None
    if data is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"overlay", os.fsencode(target), b"overlay", ctypes.c_ulong(0), data) != 0:
            err = ctypes.get_errno()
            if volatile and err == errno.EINVAL:
                return mount_overlay(store_root, lowers, upper, work, target)
            raise RuntimeFailure(f"error mounting the container's root filesystem: "
                                 f"mount overlay on {target}: {os.strerror(err)}")
        return
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)],
                          cwd=store_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0 and volatile:
        return mount_overlay(store_root, lowers, upper, work, target)
    if proc.returncode != 0:
        raise RuntimeFailure(
            f"error mounting the container's root filesystem: {proc.stderr.decode().strip()}")


def mount_tmpfs(target: Path, options: str) -> None:
    """A tmpfs at `target` (made if missing), nosuid, nodev, noexec: a container's /dev/shm
    that others may bind (--ipc shareable)."""
    target.mkdir(exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    flags = 0x2 | 0x4 | 0x8   # MS_NOSUID | MS_NODEV | MS_NOEXEC
    if libc.mount(b"shm", os.fsencode(target), b"tmpfs", ctypes.c_ulong(flags), options.encode()) != 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"mount tmpfs on {target}: {os.strerror(err)}")


def bind_descriptor(fd: int, target: Path) -> None:
    """Bind what the open descriptor `fd` (O_PATH) names at `target` (a file or folder of its
    kind), not a path: whatever the path's components became since it was opened."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(f"/proc/self/fd/{fd}".encode(), os.fsencode(target), None, ctypes.c_ulong(MS_BIND), None) != 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"bind mount on {target}: {os.strerror(err)}")


# mount(8)'s option words as flags (moby/sys/mount's ParseOptions reads them so): the word sets
# the flag, or clears it (True); any other word goes to the file system as data
_OPTION_FLAGS = {
    "defaults": (False, 0), "ro": (False, 0x1), "rw": (True, 0x1), "nosuid": (False, 0x2),
    "suid": (True, 0x2), "nodev": (False, 0x4), "dev": (True, 0x4), "noexec": (False, 0x8),
    "exec": (True, 0x8), "sync": (False, 0x10), "async": (True, 0x10), "remount": (False, 0x20),
    "mand": (False, 0x40), "nomand": (True, 0x40), "dirsync": (False, 0x80),
    "noatime": (False, 0x400), "atime": (True, 0x400), "nodiratime": (False, 0x800),
    "diratime": (True, 0x800), "bind": (False, MS_BIND), "rbind": (False, MS_BIND | 0x4000),
    "relatime": (False, 0x200000), "norelatime": (True, 0x200000),
    "strictatime": (False, 0x1000000), "nostrictatime": (True, 0x1000000),
}
# propagation words: a mount call of their own after the mount itself
_PROPAGATION = {"unbindable": 1 << 17, "runbindable": 1 << 17 | 0x4000, "private": 1 << 18,
                "rprivate": 1 << 18 | 0x4000, "slave": 1 << 19, "rslave": 1 << 19 | 0x4000,
                "shared": 1 << 20, "rshared": 1 << 20 | 0x4000}


def mount_with_options(device: str, target: Path, fstype: str, options: str) -> None:
    """mount(2) as mount(8) and moby's mount.Mount do it from an option string (`bind,ro`,
    `size=1m,uid=1000`): flags from the known words, the rest as data; a read-only bind is
    remounted read-only, propagation set after. Failures in moby's words: `mount
    DEVICE:TARGET, flags: 0x1000, data: x: no such file or directory`."""
    flags, data, propagation = 0, [], 0
    for word in filter(None, options.split(",")):
        if word in _PROPAGATION:
            propagation |= _PROPAGATION[word]
        elif word in _OPTION_FLAGS:
            clear, flag = _OPTION_FLAGS[word]
            flags = flags & ~flag if clear else flags | flag
        else:
            data.append(word)
    text = ",".join(data)
    libc = ctypes.CDLL(None, use_errno=True)

    def call(op: str, source: str, kind: str, bits: int, extra: str) -> None:
        if libc.mount(source.encode() or None, os.fsencode(target), kind.encode() or None,
                      ctypes.c_ulong(bits), extra.encode() or None) != 0:
            err = os.strerror(ctypes.get_errno())
            where = f"{source}:{target}" if source else str(target)
            raise RuntimeFailure(f"{op} {where}" + (f", flags: {bits:#x}" if bits else "")
                                 + (f", data: {extra}" if extra else "") + f": {err[:1].lower()}{err[1:]}")
    call("mount", device, fstype, flags, text)
    if propagation:
        call("mount", "", "", propagation, "")
    if flags & (MS_BIND | 0x1) == MS_BIND | 0x1:   # a bind is made read-only by a remount
        call("remount-ro", "", "", flags | 0x20, "")


def unmount_each(folder: Path) -> None:
    """Unmount each entry of `folder` (binds of runtime/volumes.subpath_source), then remove it."""
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        unmount(entry)
        if entry.is_dir() and not entry.is_symlink():
            entry.rmdir()
        else:
            entry.unlink(missing_ok=True)


def is_mounted(target: Path) -> bool:
    want = os.fsencode(os.path.realpath(target))
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and _unescape(fields[4]) == want:
                return True
    return False


def _unescape(raw: bytes) -> bytes:
    return raw.replace(b"\\040", b" ").replace(b"\\011", b"\t").replace(b"\\012", b"\n").replace(b"\\134", b"\\")


def unmount(target: Path) -> None:
    """Unmount if mounted (lazily when busy); never raises for "not mounted". umount2 until it
    says there is no mount there (EINVAL): a path can be mounted over more than once, and asking
    umount2 is cheaper than reading mountinfo (every mount of the host) first."""
    libc = ctypes.CDLL(None, use_errno=True)
    path = os.fsencode(target)
    while True:
        if libc.umount2(path, 0) == 0:
            continue
        err = ctypes.get_errno()
        if err == errno.EBUSY:
            if libc.umount2(path, MNT_DETACH) == 0:
                continue
            err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return
        raise RuntimeFailure(f"unmount {target}: {os.strerror(err)}")
