"""Apply (extract) an OCI/Docker layer tar onto a directory, safely.

Behaviour follows moby/go-archive `UnpackLayer` + `createTarFile`:
- An existing path is removed and replaced, except a directory met by a directory entry (then
  only its metadata changes).
- Whiteouts (OCI image spec, layer.md): `.wh.NAME` deletes NAME; `.wh..wh..opq` makes its
  directory opaque. In "overlay" format (a layer dir used as an overlayfs lower) they become what
  overlayfs understands: a 0/0 character device NAME, and the xattr `trusted.overlay.opaque=y`
  (Docker's overlayWhiteoutConverter.ConvertRead). In "naive" format (flattening layers onto one
  plain directory) the whiteout removes NAME, and an opaque marker removes everything in the
  directory that this layer did not itself write (Docker's AUFS-format unpack). Other `.wh..wh.`
  names (AUFS metadata) are ignored, as Docker does.
- Owners are numeric (uid/gid from the header, names ignored); chown is done before chmod so
  setuid/setgid bits survive; symlinks are lchown'ed and never followed; xattrs come from PAX
  `SCHILY.xattr.*`; times are set after the content, directories' at the very end.
- Returns the layer's size as Docker counts it: overlay2's `ApplyDiff` returns
  `directory.Size(diffDir)`, the st_size of every non-directory counted once per inode, i.e. the
  regular files' bytes plus the symlinks' target lengths (checked against `docker history` of a
  committed layer). That is the layer "Size" summed by `docker images`. The stream is read to its
  end so that a digest computed by a wrapping reader covers the whole tar.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO, Callable

from dockyard.archive.tarreader import BLK, CHR, DIR, FIFO, LNK, REG, SYM, Entry, TarReader
from dockyard.archive.tarsafe import Policy, RootResolver, check_entry, clean_hardlink_target, clean_name
from dockyard.errors import DockyardError, InvalidArchive

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_FORMATS = ("overlay", "naive", "none")
_HOST_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM}
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def apply_layer(
    stream: BinaryIO,
    dest: Path,
    *,
    whiteout_format: str = "overlay",
    allow_devices: bool | None = None,
    owner: tuple[int, int] | None = None,
    check: Callable[[Entry], None] | None = None,
) -> int:
    """Extract the (decompressed) layer tar `stream` into the existing directory `dest`.

    `whiteout_format`: "overlay" (layer dirs under overlayfs), "naive" (flattening onto a plain
    dir), or "none": `.wh.` names are ordinary files (Docker's `Untar`, used by ADD of a local
    tar archive, does not interpret whiteouts).
    `allow_devices`: create device nodes and FIFOs; default: only when running as root (Docker
    skips them when it cannot create them).
    `owner`: (uid, gid) given to every entry instead of the header's (ADD --chown).
    `check`: called with each entry before it is applied; raises to refuse it (stricter rules
    of a caller, e.g. build contexts).
    Raises `InvalidArchive` naming the entry on bad input.
    Never writes outside `dest`. Returns the layer size as Docker counts it (file bytes plus
    symlink target lengths).
    """
    if whiteout_format not in WHITEOUT_FORMATS:
        raise ValueError(f"unknown whiteout format {whiteout_format!r}")
    if allow_devices is None:
        allow_devices = os.geteuid() == 0
    applier = _Applier(Path(dest), Policy(allow_devices=allow_devices), whiteout_format, owner, check)
    return applier.run(TarReader(stream))


class _Applier:
    def __init__(self, dest: Path, policy: Policy, whiteout_format: str, owner: tuple[int, int] | None,
                 check: Callable[[Entry], None] | None = None) -> None:
        self.check = check
        if not dest.is_dir():
            raise DockyardError(f"extraction target {dest} is not a directory")
        self.resolver = RootResolver(dest)
        self.policy = policy
        self.naive = whiteout_format == "naive"
        self.whiteouts = whiteout_format != "none"
        self.owner = owner
        self.dir_times: list[tuple[str, int, int]] = []
        self.written: set[str] = set()  # real relative paths written by this layer (naive opaque)
        self.size = 0

    def run(self, reader: TarReader) -> int:
        for entry in reader:
            if self.check is not None:
                self.check(entry)
            try:
                self._apply(entry, reader)
            except InvalidArchive:
                raise
            except OSError as e:
                if e.errno in _HOST_ERRNOS:
                    raise DockyardError(f"cannot extract {entry.name!r}: {e.strerror}") from None
                raise InvalidArchive(f"cannot extract {entry.name!r}: {e.strerror or e}") from None
        reader.drain()
        for path, atime, mtime in reversed(self.dir_times):
            try:
                os.utime(path, ns=(atime, mtime), follow_symlinks=False)
            except FileNotFoundError:
                pass  # removed by a later whiteout
        return self.size

    # -- one entry -------------------------------------------------------------------------
    def _apply(self, entry: Entry, reader: TarReader) -> None:
        if entry.type == REG:
            self.size += entry.size
        elif entry.type == SYM:
            self.size += len(os.fsencode(entry.linkname))
        rel = clean_name(entry.name)
        if rel is None:
            return  # the root itself: skipped, as Docker does
        if self.whiteouts and rel.startswith(WHITEOUT_META_PREFIX) and rel != WHITEOUT_OPAQUE:
            return  # AUFS metadata dirs (.wh..wh.plnk/...): skipped as Docker does
        head_rel, base = rel.rpartition("/")[0], rel.rpartition("/")[2]
        if self.whiteouts and base.startswith(WHITEOUT_PREFIX):
            self._whiteout(entry, rel, head_rel, base)
            return
        check_entry(entry, self.policy)
        parent, base = self.resolver.parent(rel, entry=entry.name)
        real = f"{parent}/{base}" if parent else base
        path = self.resolver.abspath(parent, base)
        if self.naive:
            self.written.add(real)

        # Directories, files and symlinks are created first and room is made only when the
        # name is taken (EEXIST; O_EXCL and symlink() never follow a symlink there): what was
        # there is replaced as below, and an extraction into an empty directory (a build
        # context, a new layer) saves an lstat per entry.
        if entry.type == DIR:
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                self._make_room(path, True)
                if not os.path.lexists(path):
                    os.mkdir(path, 0o700)
        elif entry.type == REG:
            self._write_file(path, entry, reader)
            return
        elif entry.type == SYM:
            try:
                os.symlink(entry.linkname, path)
            except FileExistsError:
                self._make_room(path, False)
                os.symlink(entry.linkname, path)
        else:
            self._make_room(path, False)
        if entry.type == LNK:
            self._hardlink(path, entry)
            return  # the inode's metadata is the target's (Docker keeps the target's mode)
        elif entry.type == FIFO:
            os.mkfifo(path, 0o600)
        elif entry.type in (CHR, BLK):
            kind = stat.S_IFCHR if entry.type == CHR else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(entry.devmajor, entry.devminor))

        uid, gid = self.owner if self.owner is not None else (entry.uid, entry.gid)
        os.chown(path, uid, gid, follow_symlinks=False)
        for key, value in sorted(entry.xattrs.items()):
            self._setxattr(path, key, value, entry)
        if entry.type != SYM:
            os.chmod(path, entry.mode)
        atime = entry.atime_ns if entry.atime_ns is not None else entry.mtime_ns
        if entry.type == DIR:
            self.dir_times.append((path, atime, entry.mtime_ns))
        else:
            os.utime(path, ns=(atime, entry.mtime_ns), follow_symlinks=False)

    def _make_room(self, path: str, is_dir: bool) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if is_dir:
                return
            shutil.rmtree(path)
            self.resolver.invalidate()
        else:
            os.unlink(path)
            if stat.S_ISLNK(st.st_mode):
                self.resolver.invalidate()

    def _write_file(self, path: str, entry: Entry, reader: TarReader) -> None:
        """A regular file: content, then owner, xattrs, mode and times, all through the file
        descriptor the content was written with (what `_apply` does by path for the others)."""
        try:
            fd = os.open(path, _CREATE, 0o600)
        except FileExistsError:
            self._make_room(path, False)
            fd = os.open(path, _CREATE, 0o600)
        try:
            while True:
                chunk = reader.read_body()
                if not chunk:
                    break
                while chunk:
                    n = os.write(fd, chunk)
                    chunk = chunk[n:]
            uid, gid = self.owner if self.owner is not None else (entry.uid, entry.gid)
            os.fchown(fd, uid, gid)
            for key, value in sorted(entry.xattrs.items()):
                self._setxattr(fd, key, value, entry)
            os.fchmod(fd, entry.mode)
            atime = entry.atime_ns if entry.atime_ns is not None else entry.mtime_ns
            os.utime(fd, ns=(atime, entry.mtime_ns))
        finally:
            os.close(fd)

    def _hardlink(self, path: str, entry: Entry) -> None:
        target_rel = clean_hardlink_target(entry.name, entry.linkname)
        tparent, tbase = self.resolver.parent(target_rel, create=False, entry=entry.name)
        target = self.resolver.abspath(tparent, tbase)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            raise InvalidArchive(f"hard link {entry.name!r} -> {entry.linkname!r}: target does not exist") from None
        if stat.S_ISDIR(st.st_mode):
            raise InvalidArchive(f"hard link {entry.name!r} -> {entry.linkname!r}: target is a directory")
        if target == path:
            return
        os.link(target, path, follow_symlinks=False)

    @staticmethod
    def _setxattr(path: str | int, key: str, value: bytes, entry: Entry) -> None:
        """On `path` (never followed) or an open file descriptor."""
        if key.startswith("trusted.overlay."):
            return  # overlay's own state: only our whiteout handling may set it
        try:
            if isinstance(path, int):
                os.setxattr(path, key, value)
            else:
                os.setxattr(path, key, value, follow_symlinks=False)
        except OSError as e:
            # Like Docker: attributes the filesystem cannot hold (ENOTSUP), or that are not
            # allowed on this kind of file (EPERM: user.* on symlinks) are skipped.
            if e.errno not in (errno.ENOTSUP, errno.EPERM):
                raise

    # -- whiteouts -------------------------------------------------------------------------
    def _whiteout(self, entry: Entry, rel: str, head_rel: str, base: str) -> None:
        parent = self.resolver.resolve_dir(head_rel, create=True, entry=entry.name)
        dir_path = self.resolver.abspath(parent)
        if base == WHITEOUT_OPAQUE:
            if self.naive:
                self._clear_dir(parent)
            else:
                os.setxattr(dir_path, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): ignored as Docker does
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", "..") or "/" in name:
            raise InvalidArchive(f"invalid whiteout entry {entry.name!r}")
        path = self.resolver.abspath(parent, name)
        self._make_room(path, False)
        if not self.naive:
            # As overlayfs itself and Docker's ConvertRead: mode 0 (no permission bits), owner
            # from the header; we also keep the header's mtime.
            os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
            os.chown(path, entry.uid, entry.gid, follow_symlinks=False)
            os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)

    def _clear_dir(self, parent: str) -> None:
        """Naive opaque: remove everything under the directory that this layer did not write
        (recursively, like Docker's walk over `unpackedPaths`)."""
        prefix = f"{parent}/" if parent else ""
        dir_path = self.resolver.abspath(parent)
        for name in os.listdir(dir_path):
            real = prefix + name
            path = os.path.join(dir_path, name)
            if real not in self.written:
                self._make_room(path, False)
                self.resolver.invalidate()
            elif stat.S_ISDIR(os.lstat(path).st_mode):
                self._clear_dir(real)
