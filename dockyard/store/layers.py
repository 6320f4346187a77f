"""Layers on disk, keyed by diff ID.

    layers/<hex>/info.json   {"diff_id", "size", "tar_size", "source": {...}, "compressed": [...]}
    layers/<hex>/layer.tar   the uncompressed tar, byte for byte what came in (sha256 = diff ID)
    layers/<hex>/diff/       the unpacked tree with overlayfs whiteouts (made on first use)
    layers/<hex>/link        the short name of diff/ under l/ (overlay's mount options are short)
    layers/<hex>/sums        the content digests of its files its writer knew (`put_sums`)
    layers/<hex>/members     where its tar has each file it took from a build context (`put_members`)
    layers/<hex>/tree        how diff/ was made: the boot ID of the host that unpacked it without
                             syncing it, or `synced` (older versions: `unsynced`, the boot ID)
    l/<short> -> ../layers/<hex>/diff

A layer directory appears by one rename of a fully written temp directory, so a killed process
leaves either nothing or a whole layer. A layer whose content came as a compressed blob (a pull)
keeps that blob instead of layer.tar and decompresses it on demand (a pull unpacks its tree on the
way: copy.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dockyard.archive.fstree import remove_path
from dockyard.atomic import (
    atomic_write, create_file, fsync_dir, fsync_file, read_checked, replace_checked, replace_file, start_write_back,
    syncfs, temp_dir, temp_file,
)
from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest, verify
from dockyard.errors import DockyardError, NotFound
from dockyard.store import workspace
from dockyard.store.blobs import BlobStore, is_file, make_durable
from dockyard.store.locks import flock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO
    from dockyard.archive.scan import ScanResult

_LINK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"  # string.ascii_uppercase + digits
_SYNCED = "synced"   # a tree record's word for a tree made durable (no boot ID to trust it by)


def _read_link(layer_dir: Path) -> str:
    """The short link name a layer's `link` file holds, "" when none (or not whole: not written
    with an fsync, a power cut may leave it empty)."""
    try:
        with open(f"{os.fspath(layer_dir)}/link", "rb") as f:
            link = f.read().decode("ascii", "replace")
    except FileNotFoundError:
        return ""
    return link if len(link) == 26 and all(c in _LINK_ALPHABET for c in link) else ""


def _durable_info(work: Path, info: dict, make_data_durable: Callable[[], None]) -> None:
    """The layer's info.json written in `work` (this process's new folder: written in place, no
    reader sees the folder before it is renamed), then the layer's data made durable
    (`make_data_durable`: its fsync), then the info and the folder. The info's writeback is
    started before the data's fsync, so the one journal commit that fsync makes takes the
    info's blocks and the folder's names too, and the fsyncs after it find little or nothing
    left to do (three commits a layer were two: A/B in that commit's message)."""
    info_path = work / "info.json"
    create_file(info_path, json.dumps(info).encode())
    fd = os.open(info_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        start_write_back(fd)
        make_data_durable()
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(work)


def short_link(diff_id: Digest) -> str:
    """The name of a layer's tree under l/: 26 characters of A-Z0-9 (as Docker's overlay2 names
    them) made from the diff ID (134 of its bits), so a try after a crash names the same."""
    n = int(diff_id.hex[:34], 16)
    out = []
    for _ in range(26):
        n, r = divmod(n, 36)
        out.append(_LINK_ALPHABET[r])
    return "".join(out)


@dataclass(frozen=True)
class CompressedForm:
    """A compressed blob of a layer (from a pull, or made once for a push)."""

    digest: Digest
    size: int
    media_type: str

    def to_dict(self) -> dict:
        return {"digest": str(self.digest), "size": self.size, "media_type": self.media_type}

    @classmethod
    def from_dict(cls, data: dict) -> "CompressedForm":
        return cls(Digest.parse(data["digest"]), int(data["size"]), data["media_type"])


@dataclass(frozen=True)
class StoredLayer:
    """A layer in the store; implements the `image.layer.Layer` protocol."""

    store: "LayerStore" = field(repr=False, compare=False)
    diff_id: Digest
    size: int            # uncompressed tar bytes
    content_size: int    # Docker's notion of the layer size (file bytes)
    source: CompressedForm | None = None  # content kept only as this blob (no layer.tar)
    compressed: tuple[CompressedForm, ...] = ()

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        with self.store.open_tar(self) as stream:
            yield stream


_boot: list[str | None] = []


def boot_id() -> str | None:
    """This boot of the host (the kernel's random boot_id), None where it cannot be read."""
    if not _boot:
        try:
            with open("/proc/sys/kernel/random/boot_id", "rb") as f:
                _boot.append(f.read().decode().strip() or None)
        except OSError:
            _boot.append(None)
    return _boot[0]


class LayerStore:
    def __init__(self, root: Path, blobs: BlobStore, tmp_root: Path, locks: Path) -> None:
        self.root = root / "layers"
        self.links = root / "l"
        self.blobs = blobs
        self.tmp_root = tmp_root
        self.locks = locks

    @property
    def tmp(self) -> Path:
        """This process's temp folder (store.workspace), on the store's file system."""
        return workspace.folder(self.tmp_root)

    # -- lookup -------------------------------------------------------------------------------
    def dir(self, diff_id: Digest) -> Path:
        return self.root / diff_id.hex

    def _info_name(self, diff_id: Digest) -> str:
        """The layer's info.json as a string path (looked up at every cached build step)."""
        return f"{os.fspath(self.root)}/{diff_id.hex}/info.json"

    def exists(self, diff_id: Digest) -> bool:
        return is_file(self._info_name(diff_id))

    def get(self, diff_id: Digest) -> StoredLayer:
        try:
            with open(self._info_name(diff_id), "rb") as f:
                info = json.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"layer {diff_id} not found") from None
        return StoredLayer(
            store=self,
            diff_id=Digest.parse(info["diff_id"]),
            size=int(info["tar_size"]),
            content_size=int(info["size"]),
            source=CompressedForm.from_dict(info["source"]) if info.get("source") else None,
            compressed=tuple(CompressedForm.from_dict(c) for c in info.get("compressed", [])),
        )

    def all(self) -> list[Digest]:
        if not self.root.is_dir():
            return []
        out = []
        for entry in self.root.iterdir():
            if (entry / "info.json").is_file():
                out.append(Digest("sha256", entry.name))
        return out

    @contextmanager
    def open_tar(self, layer: StoredLayer) -> Iterator[BinaryIO]:
        if layer.source is None:
            with open(self.dir(layer.diff_id) / "layer.tar", "rb") as f:
                yield f
            return

        # The decompressors (isal, zstandard) for a pulled layer only: see the in-process budget,
        # tests/test_start_up.py
        from dockyard.archive.compression import open_decompressed

        with self.blobs.open(layer.source.digest) as raw:
            yield open_decompressed(raw)

    # -- ingestion ----------------------------------------------------------------------------
    def ingest(self, stream: BinaryIO, expected: Digest | None = None) -> StoredLayer:
        """Store an uncompressed layer tar from a stream; verifies it against `expected`."""
        path, result = self.receive(stream)
        try:
            if expected is not None:
                verify(expected, result.diff_id, "layer")
            return self.adopt(path, result)
        finally:
            path.unlink(missing_ok=True)

    def receive(self, stream: BinaryIO) -> tuple[Path, ScanResult]:
        """Write an uncompressed layer tar from a stream into this process's temp folder,
        checked and hashed on its way, made durable, for `adopt`. Nothing of the store is
        touched, so no lock is needed while a slow client sends it."""
        # the tar reader's checks: a layer written, not a store opened (tests/test_start_up.py)
        from dockyard.archive.scan import scan_copy

        fd, name = temp_file(self.tmp, "layer-", ".tar")
        try:
            with os.fdopen(fd, "wb") as f:
                result = scan_copy(stream, f)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return Path(name), result

    def adopt(self, tar_path: Path, result: ScanResult, *, publish: bool = True) -> StoredLayer:
        """Take an already scanned layer tar file (in the store's tmp dir) by renaming it. The
        tar and its info.json are durable, by name, in the layer's folder before that folder is
        renamed into layers/. `publish=False` leaves out the fsync of layers/ after the rename
        (as atomic_file's): the layer is there and whole, but a crash of the host may lose it
        until `publish_dir` (or any fsync of layers/), which the caller must call before
        anything durable names the layer (a classic build's writer calls it before the step's
        image record). A layer found stored already is made durable here when `publish`:
        another process may have renamed it in without that fsync yet."""
        if self.exists(result.diff_id):
            if publish:
                fsync_dir(self.root)
            return self.get(result.diff_id)
        work = temp_dir(self.tmp, "layer-")
        try:
            os.rename(tar_path, work / "layer.tar")
            info = {"diff_id": str(result.diff_id), "size": result.content_size,
                    "tar_size": result.tar_size, "source": None, "compressed": []}
            return self._place(work, result.diff_id, info, publish)
        finally:
            remove_path(work, ignore_errors=True)

    def publish_dir(self) -> None:
        """Make the layers `adopt(publish=False)` renamed in (by any process) durable."""
        fsync_dir(self.root)

    def prepare_compressed(self, blob_tmp: Path, form: CompressedForm, result: ScanResult, *,
                           durable: bool = False) -> Path:
        """What publishing a verified compressed blob (a temp file under tmp/) whose content
        scanned as `result` needs durable, made so ahead (by a pull's layer thread, while other
        layers still download): the blob's data (unless `durable`: its writer made it so, with
        blobs.make_durable), and the layer's folder with its info.json, in this process's temp
        folder, in one journal commit (`_durable_info`; an info.json written atomically after
        the blob's fsync made three). Returns that folder, for `publish_compressed` (or the
        caller's removal)."""
        work = temp_dir(self.tmp, "layer-")
        try:
            _durable_info(work, {"diff_id": str(result.diff_id), "size": result.content_size,
                                 "tar_size": result.tar_size, "source": form.to_dict(),
                                 "compressed": [form.to_dict()]},
                          (lambda: None) if durable else (lambda: make_durable(blob_tmp, drop=True)))
        except BaseException:
            remove_path(work, ignore_errors=True)
            raise
        return work

    def publish_compressed(self, prepared: list[tuple[Path, CompressedForm, ScanResult, Path]]) -> None:
        """Layers `prepare_compressed` made (blob temp file, its form, its scan, the layer's
        folder) published in a batch, with one fsync per folder: every blob renamed into place,
        then their folder synced; then every layer that points at one, then the layers' folder
        synced (a kill in between leaves spare blobs). A layer stored already (by another
        process) gets the blob as one more compressed form."""
        self.blobs.publish([(blob_tmp, form.digest) for blob_tmp, form, _, _ in prepared])
        placed = []
        for _, form, result, work in prepared:
            if self.exists(result.diff_id):
                self.add_compressed(result.diff_id, form)
            elif self._rename(work, result.diff_id):
                placed.append(result.diff_id)
        if placed:
            fsync_dir(self.root)

    def _place(self, work: Path, diff_id: Digest, info: dict, publish: bool = True) -> StoredLayer:
        """`work` (this process's new folder holding layer.tar, whoever wrote it) with its
        info.json becomes the layer's folder once both files and their names are durable
        (`_durable_info`)."""
        # whoever wrote the tar: its data is durable before it is published
        _durable_info(work, info, lambda: fsync_file(work / "layer.tar"))
        if self._rename(work, diff_id) and publish:
            fsync_dir(self.root)
        return self.get(diff_id)

    def _rename(self, work: Path, diff_id: Digest) -> bool:
        """`work` becomes the layer's folder; False when another process stored the same layer
        first (the content is identical)."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(work, self.dir(diff_id))
        except OSError:
            if not self.exists(diff_id):
                raise
            return False
        return True

    def add_compressed(self, diff_id: Digest, form: CompressedForm) -> None:
        """Remember a compressed blob of a layer (so a second push compresses nothing)."""
        with flock(self.locks / "layers.lock"):
            path = self.dir(diff_id) / "info.json"
            info = json.loads(path.read_bytes())
            forms = [c for c in info.get("compressed", []) if c["digest"] != str(form.digest)]
            forms.append(form.to_dict())
            info["compressed"] = forms
            atomic_write(path, json.dumps(info).encode(), tmp_dir=self.tmp)

    # -- unpacked form for containers -------------------------------------------------------
    def put_sums(self, diff_id: Digest, digests: dict[str, str]) -> None:
        """Keep the sha256 of the content of the layer's files (by path in the layer) as the
        layer's writer knew them, for `unpacked(like=)` of a later layer. The sha256 of the body
        heads the file: a torn or damaged one is no digests; no fsync (a lost one is none)."""
        self._put_hint(diff_id, "sums", digests)

    def sums(self, diff_id: Digest) -> dict[str, str]:
        """What `put_sums` kept for the layer ({} when nothing, or nothing whole)."""
        return self._hint(diff_id, "sums")

    def put_members(self, diff_id: Digest, members: dict[str, list]) -> None:
        """Keep where the layer's tar has the members of the context files its writer knew
        (name -> [offset, length, key]: builder/copy/reuse.py), for a later layer of the same
        COPY to copy them from layer.tar byte for byte; kept as `put_sums` keeps digests."""
        self._put_hint(diff_id, "members", members)

    def members(self, diff_id: Digest) -> dict[str, list]:
        """What `put_members` kept for the layer ({} when nothing, or nothing whole)."""
        return self._hint(diff_id, "members")

    def _put_hint(self, diff_id: Digest, name: str, value: dict) -> None:
        try:
            replace_checked(self.dir(diff_id) / name, json.dumps(value, separators=(",", ":")).encode(),
                            tmp_dir=self.tmp)
        except OSError:
            pass

    def _hint(self, diff_id: Digest, name: str) -> dict:
        body = read_checked(self.dir(diff_id) / name)
        if body is None:
            return {}
        try:
            found = json.loads(body)
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}

    def unpacked(self, diff_id: Digest, like: Digest | None = None,
                 sums: tuple[dict[str, str], dict[str, str]] | None = None) -> Path:
        """The layer's tree (overlay whiteout format), unpacked on first use; returns diff/.
        `like`: a layer whose tree, when it is unpacked, probably holds many of this one's files
        (the last layer the same COPY made): those found equal are hard-linked from it
        (archive/apply.py) rather than written again; `sums`: both layers' content digests
        (`put_sums`), so that equal digests need no comparing.

        Unpacked in this process's temp folder (a kill leaves it there, for the next start to
        remove), then published in three steps, each of which a kill may follow: the `link`
        file names the layer's short link under l/ (a name chosen once: a second try takes it
        again, so no link is ever left that no layer names); diff/ comes by a rename; last the
        short link, whose existence says the tree is whole (it leads to diff/, so it is never
        dead for the collector to take).

        The tree is not synced: it is made again from layer.tar (durable) whenever it may be
        torn. Before diff/ appears, the `tree` record names the host's boot ID; a tree whose
        record names another boot (the host went down since: what was not yet written back
        may be lost) counts as not unpacked, and is unpacked again. Within one boot, the page
        cache holds whatever a killed process wrote. Without a boot ID, one syncfs instead, and
        the record says `synced`. Nothing here is fsynced: the records are only trusted whole
        (their sha256 heads them) and a tree without a whole record counts as not unpacked, so
        what a power cut loses of them is a tree made again; the link's name follows from the
        diff ID, so a lost `link` names the same short link again."""
        layer_dir = self.dir(diff_id)
        diff = layer_dir / "diff"
        if self._link_of(layer_dir) is not None:
            return diff
        layer = self.get(diff_id)
        with flock(self.locks / f"unpack-{diff_id.hex}.lock"):
            if self._link_of(layer_dir) is not None:
                return diff

            from dockyard.archive.apply import apply_layer  # unpacking only (the in-process budget)

            work = temp_dir(self.tmp, "diff-")
            try:
                os.chmod(work, 0o755)
                alike = self.dir(like) / "diff" if like is not None and like != diff_id and \
                    self.is_unpacked(like) else None
                with self.open_tar(layer) as stream:
                    apply_layer(stream, work, whiteout_format="overlay", like=alike,
                                sums=sums if alike is not None else None)
            except BaseException:
                remove_path(work, ignore_errors=True)
                raise
            self._publish_tree(diff_id, work)
            return diff

    def new_tree(self) -> Path:
        """An empty directory in this process's temp folder, for a layer's tree made while its
        tar is written (archive.apply.LayerTree); `adopt_tree` publishes it."""
        work = temp_dir(self.tmp, "diff-")
        os.chmod(work, 0o755)
        return work

    def adopt_tree(self, diff_id: Digest, work: Path) -> Path:
        """The layer's tree from `work` (`new_tree`, made whole as the layer's tar was written:
        the tree `unpacked` would make of it), published as `unpacked` publishes one; when the
        layer is unpacked already, `work` is removed. Returns diff/."""
        layer_dir = self.dir(diff_id)
        diff = layer_dir / "diff"
        with flock(self.locks / f"unpack-{diff_id.hex}.lock"):
            if self._link_of(layer_dir) is not None:
                remove_path(work, ignore_errors=True)
                return diff
            self._publish_tree(diff_id, work)
        return diff

    def _publish_tree(self, diff_id: Digest, work: Path) -> None:
        """`work`, a whole unpacked tree, becomes the layer's diff/ (under the unpack lock)."""
        layer_dir = self.dir(diff_id)
        diff = layer_dir / "diff"
        try:
            link = self._named_link(layer_dir)
            if diff.exists():
                remove_path(diff)   # (an older boot's) first: never a stale diff/ with a new record
            boot = boot_id()
            if boot is None:
                syncfs(work)        # the files are durable before diff/ appears
            (layer_dir / "unsynced").unlink(missing_ok=True)   # an older version's record
            # before diff/ appears; not fsynced: a tree whose record is lost or torn is not trusted
            replace_checked(layer_dir / "tree", (boot or _SYNCED).encode(), tmp_dir=self.tmp)
            os.rename(work, diff)
        except BaseException:
            remove_path(work, ignore_errors=True)
            raise
        self.links.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(f"../layers/{diff_id.hex}/diff", self.links / link)
        except FileExistsError:
            pass  # made by a try that was killed after it (the same target)

    def is_unpacked(self, diff_id: Digest) -> bool:
        """The layer's tree is there, whole."""
        return self._link_of(self.dir(diff_id)) is not None

    def _link_of(self, layer_dir: Path) -> str | None:
        """The short link of an unpacked layer, None while it is not (wholly) unpacked."""
        link = _read_link(layer_dir)
        if not link or not os.path.isdir(self.links / link):
            return None
        made = read_checked(f"{os.fspath(layer_dir)}/tree")
        if made is None:
            try:                         # an older version's record: the boot ID, fsynced
                with open(f"{os.fspath(layer_dir)}/unsynced", "rb") as f:
                    made = f.read()
            except FileNotFoundError:
                return None              # no whole record: not trusted
        made_in = made.decode(errors="replace")
        return link if made_in == _SYNCED or made_in == boot_id() else None

    def _named_link(self, layer_dir: Path) -> str:
        """The layer's short link name: the one an earlier try (or an older version) chose, or
        the one its diff ID gives."""
        link = _read_link(layer_dir)
        if not link:
            link = short_link(Digest("sha256", layer_dir.name))
            replace_file(layer_dir / "link", link.encode(), tmp_dir=self.tmp)  # see unpacked
        return link

    def link_name(self, diff_id: Digest) -> str:
        """Short name under l/ of an unpacked layer (call `unpacked` first)."""
        return _read_link(self.dir(diff_id))

    # -- deletion (under the gc lock) ---------------------------------------------------------
    def detach(self, diff_id: Digest) -> Path | None:
        """First step of deleting a layer: its directory is moved, whole, into this process's
        temp folder (one rename: the layer is whole or gone at every instant, and what a kill
        leaves is removed at the next start). Returns where it went; `dispose` finishes, after
        the caller has made the renames durable (see store.gc)."""
        trash = temp_dir(self.tmp, "trash-")
        try:
            os.rename(self.dir(diff_id), trash / "layer")
        except FileNotFoundError:
            os.rmdir(trash)
            return None
        return trash

    def dispose(self, trash: Path) -> None:
        """Second step: what lived outside the layer's directory (its compressed blobs, its
        short link under l/), then the directory itself."""
        layer_dir = trash / "layer"
        try:
            (self.links / (layer_dir / "link").read_text()).unlink(missing_ok=True)
        except (FileNotFoundError, ValueError):
            pass
        try:
            info = json.loads((layer_dir / "info.json").read_bytes())
        except (FileNotFoundError, ValueError):
            info = {}
        for form in info.get("compressed", []) if isinstance(info, dict) else []:
            try:
                self.blobs.delete(Digest.parse(form["digest"]))
            except (KeyError, TypeError, ValueError, DockyardError):
                continue
        remove_path(trash, ignore_errors=True)
