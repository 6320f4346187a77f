"""Named volumes of the `local` driver, laid out as Docker's:

    <root>/volumes/<name>/_data         the volume's content (bind-mounted into containers)
    <root>/volumes/<name>/volume.json   name, driver, created, labels, options, anonymous

A volume is visible once its record exists (written last, atomically). Names are Docker's
(`[a-zA-Z0-9][a-zA-Z0-9_.-]+`); an anonymous volume has a random 64-hex name. Who uses a
volume is the containers' business: removing and pruning take the users from the caller.

On its first use by a container, an empty volume gets the content the image has at the mount
point (Docker's copy-up; `nocopy` turns it off), copied with `cp -a` (owners, modes, times,
links, xattrs kept).

A volume made with the local driver's options (`--opt type=tmpfs --opt device=tmpfs`, `--opt
type=none --opt o=bind --opt device=/srv/data`, compose's `driver_opts`) is what they mount at
its _data, as dockerd's local driver: mounted when a container using it starts (and for its
copy-up), unmounted when the last one holding it stops. Who holds it are files named after the
containers in <name>/holders: a holder killed before its release is dropped once its container
is gone, and the volume's removal unmounts it first, whatever the holders said.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Callable

from dockyard.dataclass import asdict, dataclass, field, fields
from dockyard.errors import Conflict, InvalidParameter, NotFound, RuntimeFailure, go_quote
from dockyard.image.config import now_rfc3339
from dockyard.atomic import atomic_write
from dockyard.runtime.state import ContainerDir
from dockyard.store.locks import flock

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
Users = Callable[[str], list[str]]   # volume name -> IDs of the containers that use it


@dataclass
class Volume:
    """A volume's record (volumes/NAME.json)."""

    name: str
    created: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    mountpoint: str = ""

    def to_docker(self) -> dict[str, object]:
        return {"CreatedAt": _docker_time(self.created), "Driver": self.driver,
                "Labels": self.labels or None, "Mountpoint": self.mountpoint, "Name": self.name,
                "Options": self.options or None, "Scope": "local"}


def _docker_time(rfc3339: str) -> str:
    """Docker shows a volume's CreatedAt to the second with the zone (`...T03:04:05Z`)."""
    return rfc3339.split(".")[0] + "Z" if "." in rfc3339 else rfc3339


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidParameter(
            f"create {name}: {go_quote(name)} includes invalid characters for a local volume name, only "
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
            "use absolute path")
    if len(name.encode()) > 255:   # a volume is a folder of that name (dockerd's mkdir fails, 500)
        raise InvalidParameter(f"create {name}: file name too long")
    return name


_OPTIONS = ("type", "device", "o", "size")
_NEEDS = (("type", "device"), ("device", "type"), ("o", "device"))   # moby's mandatoryOpts


def check_options(name: str, options: dict[str, str]) -> None:
    """The local driver's options, refused in dockerd's words (its volume/local validateOpts):
    only type, device, o; type and device each with the other, o with device; no size (a
    quota, which needs an xfs store with project quotas)."""
    for key in options:
        if key not in _OPTIONS:
            raise InvalidParameter(f'create {name}: invalid option: "{key}"')
    if "size" in options:
        raise InvalidParameter(f"create {name}: quota size requested but no quota support")
    for key, needed in _NEEDS:
        if key in options and needed not in options:
            raise InvalidParameter(f'create {name}: missing required option: "{needed}"')


def subpath_source(mountpoint: str, subpath: str, staging: Path) -> str:
    """Where a volume mount with a subpath (API 1.45's VolumeOptions.Subpath) is bound from, at
    each start: `staging`, a bind of that path inside the volume, which must exist, and never of
    a path outside it, whatever links the volume holds. Refused in moby's words (its
    internal/safepath): the host's resolution of the path must exist ("cannot access path") and
    stay in the volume ("path ... escapes base ..."). What is bound is resolved inside the
    volume's root as a container's paths are (runtime/users.resolve_in_root: a link is followed
    as if the volume were `/`), opened (O_PATH, the last component not followed), checked again
    by the descriptor's own path, and bound by the descriptor: a container writing the volume
    that swaps a folder for a link meanwhile cannot send the runtime's bind out of it, as moby
    binds its descriptor too."""
    from dockyard.runtime.rootfs import bind_descriptor
    from dockyard.runtime.users import resolve_in_root

    base = os.path.realpath(mountpoint)
    combined = os.path.join(base, subpath)
    try:
        plain = os.path.realpath(combined, strict=True)
    except OSError as exc:
        raise NotFound(f"cannot access path {combined}: lstat {combined}: "
                       f"{os.strerror(exc.errno or errno.ENOENT).lower()}") from None
    if not _inside(plain, base):
        raise InvalidParameter(f"path {subpath} escapes base {base}")
    source = resolve_in_root(Path(base), subpath)
    try:
        fd = os.open(str(source), os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (OSError, TypeError):
        raise NotFound(f"cannot access path {combined}: lstat {combined}: no such file or directory") from None
    try:
        kind = os.fstat(fd).st_mode
        if stat.S_ISLNK(kind) or not _inside(os.readlink(f"/proc/self/fd/{fd}"), base):
            raise InvalidParameter(f"path {subpath} escapes base {base}")
        staging.parent.mkdir(exist_ok=True)
        if stat.S_ISDIR(kind):
            staging.mkdir(exist_ok=True)
        else:
            staging.touch()
        bind_descriptor(fd, staging)
    finally:
        os.close(fd)
    return str(staging)


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def users_of(root: Path) -> Users:
    """volume name -> IDs of the containers whose record mounts it (running or not, as Docker
    counts)."""
    def of(name: str) -> list[str]:
        out = []
        try:
            entries = sorted((root / "containers").iterdir())
        except FileNotFoundError:
            return out
        for entry in entries:
            try:
                record = ContainerDir(entry).read_record()
            except (FileNotFoundError, ValueError):
                continue
            if any(m.type == "volume" and m.name == name for m in record.host.mounts):
                out.append(entry.name)
        return out
    return of


def names_in(mounts: list) -> list[str]:   # noqa: ANN001 - a record's host.mounts
    """The names of the volumes among a container's mounts."""
    return [m.name for m in mounts if m.type == "volume" and m.name]


def hold_all(root: Path, holder: str, names: list[str]) -> None:
    """A container starts: Volumes.hold of each of its volumes."""
    volumes = Volumes(root)
    for name in names:
        volumes.hold(name, holder)


def release_all(root: Path, holder: str, names: list[str]) -> None:
    """A container's run ended (or its killed monitor's was cleaned): Volumes.release of each."""
    volumes = Volumes(root)
    containers = root / "containers"
    for name in names:
        volumes.release(name, holder, lambda other: (containers / other).is_dir())


_DISCARDED = ".discarded-"   # a removed volume's folder while it is deleted


class Volumes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "volumes"
        self._lock = root / "locks" / "volumes.lock"

    def data(self, name: str) -> Path:
        return self.dir / name / "_data"

    def _read(self, name: str) -> Volume | None:
        try:
            raw = json.loads((self.dir / name / "volume.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        except OSError as e:
            if e.errno == errno.ENAMETOOLONG:   # no volume has such a name
                return None
            raise
        names = {f.name for f in fields(Volume)}
        known = {k: v for k, v in raw.items() if k in names}
        volume = Volume(**known)
        volume.mountpoint = str(self.data(name))
        return volume

    def create(self, name: str | None = None, *, driver: str = "local",
               labels: dict[str, str] | None = None, options: dict[str, str] | None = None) -> Volume:
        """A new volume, or the existing one of that name (Docker's create is idempotent)."""
        if driver not in ("", "local"):
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
        anonymous = not name
        name = name or os.urandom(32).hex()
        validate_name(name)
        check_options(name, options or {})
        with flock(self._lock):
            existing = self._read(name)
            if existing is not None:
                return existing
            self._discard(name)   # a folder without its record: what a crash in rm left
            volume = Volume(name, now_rfc3339(), labels=dict(labels or {}), options=dict(options or {}),
                            anonymous=anonymous)
            self.data(name).mkdir(parents=True, exist_ok=True)
            os.chmod(self.data(name), 0o755)
            record = asdict(volume)
            record.pop("mountpoint")
            atomic_write(self.dir / name / "volume.json", json.dumps(record).encode())
        volume.mountpoint = str(self.data(name))
        return volume

    def get(self, name: str) -> Volume:
        volume = self._read(name) if name and "/" not in name else None
        if volume is None:
            raise NotFound(f"get {name}: no such volume")
        return volume

    def all(self) -> list[Volume]:
        try:
            names = sorted(p.name for p in self.dir.iterdir())
        except FileNotFoundError:
            return []
        return [v for v in map(self._read, names) if v is not None]

    def remove(self, name: str, users: Users, *, force: bool = False) -> None:
        with flock(self._lock):
            volume = self._read(name)
            if volume is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            using = users(name)
            if using:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(using)}]")
            # the record first: a crash in the middle leaves no half volume visible
            (self.dir / name / "volume.json").unlink()
            self._unmount(name)   # never the files of what its options mounted
            self._discard(name)
            for left in self.dir.glob(f"{_DISCARDED}*"):   # what a crash left of earlier ones
                shutil.rmtree(left, ignore_errors=True)

    def hold(self, name: str, holder: str) -> None:
        """A container starting with the volume: what its options mount is mounted (if it is
        not yet), and `holder` counted until its release. Nothing for a plain volume."""
        volume = self._read(name)
        if volume is None or not volume.options:
            return
        with flock(self._lock):
            self._mount(volume)
            holders = self.dir / name / "holders"
            holders.mkdir(exist_ok=True)
            (holders / holder).touch()

    def release(self, name: str, holder: str, exists: Callable[[str], bool]) -> None:
        """`holder` stopped: the volume is unmounted when no holder is left (holders whose
        container no longer `exists` are dropped: a holder killed before its release)."""
        holders = self.dir / name / "holders"
        if not holders.is_dir():
            return
        with flock(self._lock):
            left = False
            for entry in list(holders.iterdir()):
                if entry.name == holder or not exists(entry.name):
                    entry.unlink(missing_ok=True)
                else:
                    left = True
            if not left:
                self._unmount(name)

    def _mount(self, volume: Volume) -> None:
        """Mount what the volume's options say at its _data, unless mounted (under the lock)."""
        from dockyard.runtime.rootfs import is_mounted, mount_with_options

        target = self.data(volume.name)
        if is_mounted(target):
            return
        options = volume.options
        try:
            mount_with_options(options["device"], target, options["type"], options.get("o", ""))
        except RuntimeFailure as exc:
            raise RuntimeFailure(f"error while mounting volume '{target}': failed to mount local "
                                 f"volume: {exc}") from None

    def _unmount(self, name: str) -> None:
        from dockyard.runtime.rootfs import unmount

        unmount(self.data(name))

    def _discard(self, name: str) -> None:
        """A volume's folder renamed out of its name (one step), then removed: a removal killed
        midway left what it had not yet deleted under the name, and a later create of that
        name took it up, the old volume's files in the new one (57,643 of 60,000 after a kill
        -9 of `volume rm`). Called under the lock; names never begin with a dot."""
        trash = self.dir / f"{_DISCARDED}{os.urandom(8).hex()}"
        try:
            os.rename(self.dir / name, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def remove_anonymous(self, names: list[str], leaving: str = "") -> None:
        """Remove the anonymous ones of a removed container's volumes (`docker rm -v`, `run
        --rm`), unless another container mounts one (--volumes-from): dockerd leaves those.
        `leaving`: the container being removed, which does not count as a user."""
        counted = users_of(self.root)

        def users(name: str) -> list[str]:
            return [c for c in counted(name) if c != leaving]
        for name in names:
            volume = self._read(name)
            if volume is None or not volume.anonymous:
                continue
            try:
                self.remove(name, users)
            except (Conflict, NotFound):
                continue

    def prune(self, users: Users, *, anonymous_only: bool,
              keep: Callable[[Volume], bool] = lambda v: False) -> tuple[list[str], int]:
        """Remove unused volumes (only anonymous ones unless told otherwise, as API >= 1.42);
        the names removed and the bytes freed."""
        removed, freed = [], 0
        for volume in self.all():
            if (anonymous_only and not volume.anonymous) or keep(volume):
                continue
            size = self.size(volume.name)
            try:
                self.remove(volume.name, users)
            except (Conflict, NotFound):
                continue
            removed.append(volume.name)
            freed += size
        return removed, freed

    def size(self, name: str) -> int:
        total = 0
        for dirpath, dirnames, filenames in os.walk(self.data(name)):
            for entry in filenames + dirnames:
                try:
                    st = os.lstat(os.path.join(dirpath, entry))
                except FileNotFoundError:
                    continue
                if not os.path.isdir(os.path.join(dirpath, entry)) or os.path.islink(
                        os.path.join(dirpath, entry)):
                    total += st.st_size
        return total

    def copy_up(self, name: str, source: Path) -> None:
        """The image's content at a mount point into an empty volume (first use)."""
        volume = self._read(name)
        with flock(self._lock):
            if volume is None or not volume.options:
                self._copy_into(name, source, self.data(name))
                return
            # into what the options mount, as moby's copy-up mounts the volume for it
            mounted_here = not (self.dir / name / "holders").is_dir() or not any((self.dir / name / "holders").iterdir())
            self._mount(volume)
            try:
                self._copy_into(name, source, self.data(name))
            finally:
                if mounted_here:
                    self._unmount(name)

    def copy_up_subpath(self, name: str, subpath: str, source: Path, staging: Path) -> None:
        """copy_up into the folder `subpath` of the volume when it is empty, through a bind of it
        at `staging` (subpath_source: checked, and refused, as at a start)."""
        from dockyard.runtime.rootfs import unmount

        with flock(self._lock):
            try:
                target = Path(subpath_source(str(self.data(name)), subpath, staging))
            except NotFound as exc:     # not a 404 at create: the docker CLI would pull the image
                raise InvalidParameter(str(exc)) from None
            try:
                if target.is_dir():
                    self._copy_into(name, source, target)
            finally:
                unmount(target)
                if target.is_dir():
                    target.rmdir()
                else:
                    target.unlink()

    def _copy_into(self, name: str, source: Path, target: Path) -> None:
        if any(target.iterdir()) or not source.is_dir() or source.is_symlink():
            return
        proc = subprocess.run(["cp", "-a", "--", f"{source}/.", f"{target}/"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        if proc.returncode != 0:
            raise RuntimeFailure(f"copying the image's content into volume {name}: "
                                 + proc.stderr.decode(errors="replace").strip())
        st = source.stat()
        os.chown(target, st.st_uid, st.st_gid)
        os.chmod(target, st.st_mode & 0o7777)
