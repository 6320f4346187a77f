"""The local store: blobs, layers, image records, tags and holds under one root.

    <root>/blobs/sha256/<hex>      configs, manifests, compressed layers
    <root>/layers/, <root>/l/      see layers.py
    <root>/images/<hex>.json       image records (see images.py)
    <root>/repositories.json       names (see tags.py)
    <root>/holds/<name>            an image kept alive by a user of it (a container)
    <root>/tmp/<pid>-<random>/     each process's temp files, same filesystem (see workspace.py)
    <root>/locks/                  flock files (see locks.py)
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path

from dockyard.atomic import atomic_write, discard_prepared, fsync_dir
from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest
from dockyard.errors import Conflict, DockyardError, InvalidParameter, InvalidReference, NotFound, go_quote
from dockyard.image.config import ImageConfig, now_rfc3339, rfc3339_ns
from dockyard.image.image import Image
from dockyard.reference import Reference, parse_normalized, parse_reference
from dockyard.store import reserve, workspace
from dockyard.store.blobs import BlobStore
from dockyard.store.buildcache import BuildCache
from dockyard.store.events import Journal
from dockyard.store.images import ImageRecord, ImageRecords
from dockyard.store.layers import LayerStore, StoredLayer
from dockyard.store.locks import flock, try_flock
from dockyard.store.tags import TagStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import ContextManager
    from dockyard.store.filesums import FileSums
    from dockyard.store.leases import Lease

_HEX = set("0123456789abcdef")
# The tag time as older stores wrote it into the stamp file (now_rfc3339: UTC, nanoseconds, `Z`).
_TAG_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z\Z"  # compiled when first used (re's cache), not at each start
_STAMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


def default_root() -> Path:
    env = os.environ.get("DOCKYARD_ROOT")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/dockyard")
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data_home) / "dockyard"


@dataclass
class DeleteReport:
    """What `rmi` did, in the order Docker prints it."""

    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def to_docker(self) -> list[dict[str, str]]:
        """The Engine API's items (DELETE /images/NAME, a prune's ImagesDeleted)."""
        return [{"Untagged": u} for u in self.untagged] + [{"Deleted": d} for d in self.deleted]


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_root = root / "tmp"
        self.lock_dir = root / "locks"
        self.blobs = BlobStore(root / "blobs", self.tmp_root)
        self.layers = LayerStore(root, self.blobs, self.tmp_root, self.lock_dir)
        self.records = ImageRecords(root / "images", self.tmp_root)
        self.tags = TagStore(root / "repositories.json", self.tmp_root)
        self.holds_dir = root / "holds"
        self.build_cache = BuildCache(root, self.tmp_root)
        # The two locks a build takes at every step, as strings (no Path join each time).
        self._gc_lock = os.fspath(self.lock_dir / "gc.lock")
        self._meta_lock = os.fspath(self.lock_dir / "meta.lock")
        for d in (root, self.tmp_root, self.lock_dir, root / "images", root / "layers", root / "l"):
            _ensure_dir(d)
        if workspace.remove_dead(self.tmp_root) or os.path.exists(self.collect_marker):
            self.collect_if_free()
        reserve.ensure(self.lock_dir)

    @property
    def collect_marker(self) -> str:
        """A file that says a collection is owed: a process died mid-way (its temp folder was
        left), or a collection kept what only a live lease still needed (store.gc)."""
        return f"{os.fspath(self.lock_dir)}/collect-pending"

    def collect_if_free(self) -> None:
        """Run the collector (thorough) if no other process holds the gc lock now; if one does,
        the marker stays and a later start, lease end or collection does it (store.gc)."""
        with try_flock(self._gc_lock) as locked:
            if not locked:
                open(self.collect_marker, "ab").close()
                return
            from dockyard.store import gc  # see collect

            with self.meta_lock():
                gc.collect(self, thorough=True)

    def collect(self, *, thorough: bool = False) -> list[Digest]:
        """Run the garbage collector now (store.gc); the layers it deleted."""
        # Not at the top: the collector (with the leases' reader) is loaded where it runs, not by
        # every command that opens the store (a cached build: tests/test_start_up.py)
        from dockyard.store import gc

        with flock(self._gc_lock), self.meta_lock():
            return gc.collect(self, thorough=thorough)

    @property
    def tmp(self) -> Path:
        """This process's temp folder, on the store's file system (store.workspace): what a
        killed process leaves there is removed at the next start."""
        return workspace.folder(self.tmp_root)

    def file_sums(self, context: Path) -> "FileSums":
        """The per-file checksums kept for the context directory `context` (store/filesums.py)."""
        from dockyard.store.filesums import FileSums

        return FileSums(self.root, os.fspath(context))

    # -- locks --------------------------------------------------------------------------------
    def ingesting(self) -> ContextManager[None]:
        """Hold while writing new content, so GC cannot remove it before it is referenced."""
        return flock(self._gc_lock, shared=True)

    def meta_lock(self) -> ContextManager[None]:
        return flock(self._meta_lock)

    # -- images -------------------------------------------------------------------------------
    def add_image(self, raw_config: bytes, layers: list[StoredLayer],
                  parent: Digest | None = None, publish: bool = True,
                  durable_first: Callable[[], None] | None = None) -> Image:
        """Make an image visible; its layers must already be stored. Idempotent. The config
        blob and the record are written in one hold of the gc lock (shared), in which the layers
        are checked to be there: a collection cannot come between them, and an image is never
        recorded without its layers (an operation that used them without a lease may have lost
        them: it fails rather than leave a broken image). With `publish=False` the image is
        visible and whole, but a crash of the host may lose it (its record: the config blob is
        durable before the record is written) until `publish_images`: for the images a build
        makes at each step, published once when the build ends. A name made durable publishes
        first (`tag`, `add_repo_digest`); a child's durable record is in the same directory,
        which its fsync publishes. (A container made from a step image while its build runs
        holds it without publishing it: after a crash of the host in that window its record may
        be gone, as after `rmi -f`; the hold keeps its config and layers.) `durable_first`: what
        must be durable before the image (a step's new layer's folder name: LayerStore.publish_dir),
        called once the image's files are written and before their fsyncs, so that one journal
        commit takes them all (BlobStore.put_bytes)."""
        image = Image(raw_config, tuple(layers))
        if [l.diff_id for l in layers] != image.config.diff_ids:
            raise InvalidParameter("layers do not match the image config's diff IDs")
        with self.ingesting():
            for layer in layers:
                if not self.layers.exists(layer.diff_id):
                    raise NotFound(f"layer {layer.diff_id} was removed while the image was made")
            record = ImageRecord(image.id, parent, now_rfc3339())
            # the record's file is written before the blob is made durable: one journal commit
            # takes both (ImageRecords.prepare); it is renamed into place only after the blob
            prepared = None if self.records.exists(image.id) else self.records.prepare(record)
            try:
                self.blobs.put_bytes(raw_config, durable_first=durable_first)
                with self.meta_lock():
                    if not self.records.exists(image.id):
                        self.records.put(record, publish=publish, prepared=prepared)
                        prepared = None
            finally:
                discard_prepared(prepared)
        return image

    def publish_images(self) -> None:
        """Make the images added with `publish=False` (by any process) durable: one fsync of
        the records' directory."""
        self.records.publish_dir()

    def lease(self) -> Lease:
        """Keep what an operation uses (`with store.lease() as lease: lease.keep_image(id)`)
        from the collector until the block ends (store.leases)."""
        from dockyard.store.leases import Lease  # see collect

        return Lease(self)

    def image(self, image_id: Digest) -> Image:
        if not self.records.exists(image_id):
            raise NotFound(f"No such image: {image_id}")
        raw = self.blobs.read(image_id)
        config = ImageConfig.parse(raw)
        image = Image(raw, tuple(self.layers.get(d) for d in config.diff_ids))
        # Image.config is a cached_property, kept in the instance dict: seeded with the parse
        # done here for the layers, it is not parsed a second time (every build's FROM).
        vars(image)["config"] = config
        return image

    def image_ids(self) -> list[Digest]:
        return self.records.ids()

    def diff_ids(self, image_id: Digest) -> list[Digest] | None:
        """The layers an image's config names, or None when its config is gone or broken
        (`dockyard system check` says why): what the collector, df and the build cache's
        accounting count an image by."""
        try:
            return ImageConfig.parse(self.blobs.read(image_id)).diff_ids
        except (DockyardError, ValueError):
            return None

    def parent(self, image_id: Digest) -> Digest | None:
        return self.records.get(image_id).parent

    def set_parent(self, image_id: Digest, parent: Digest | None) -> None:
        """Make `parent` the image's parent (Docker's SetParent: a classic `--cache-from` build
        links a pulled image to the chain it rebuilt); its other metadata stays."""
        with self.meta_lock():
            record = self.records.get(image_id)
            if record.parent != parent:
                self.records.reparent(ImageRecord(image_id, parent, record.added), record.parent)

    # -- names --------------------------------------------------------------------------------
    def tag(self, image_id: Digest, ref: Reference) -> None:
        """Name the image `ref` (a tag). A name with a digest is refused: see `add_repo_digest`."""
        if ref.digest is not None:
            raise InvalidReference("refusing to create a tag with a digest reference")
        with self.meta_lock():
            # checked under the lock an image's deletion holds: checked before it, a concurrent
            # rmi could delete the image in between, and the name would point at nothing
            if not self.records.exists(image_id):
                raise NotFound(f"No such image: {image_id}")
            # A name that already points at the image (a rebuild) leaves repositories.json as it
            # is: no rewrite, no fsync. The tag time is set either way, as Docker's TagImage does.
            if self.tags.get(ref) != image_id:
                # the new names are written before the fsync that publishes the image, whose
                # journal commit then takes their blocks too (atomic.prepare_write)
                prepared = self.tags.prepare_set(ref, image_id)
                try:
                    self.publish_images()  # the name is durable: the image it names first (add_image)
                    self.tags.commit(prepared)
                    prepared = None
                finally:
                    discard_prepared(prepared)
            self._stamp_tag_time(image_id)
        Journal(self.root).emit("image", "tag", str(image_id), {"name": str(ref)})

    def _tag_time_path(self, image_id: Digest) -> Path:
        return self.root / "images" / f".tagged-{image_id.hex}"

    def _stamp_tag_time(self, image_id: Digest) -> None:
        """Set the image's tag time (Docker's LastTagTime) to now.

        Every tag sets it, so every build with -t, cached or not. The time is kept as the mtime of
        an empty stamp file (as systemd keeps a persistent timer's last run), not as its content:
        writing content atomically takes a temp file and a rename, ~0.15 ms on ext4 without
        fsync and ~1 ms with, while setting an mtime is one inode update, which a reader sees
        whole or not at all and which a crash cannot leave half done (it may lose the newest
        time: nothing depends on it, it is shown by inspect). The name itself, in
        repositories.json, stays fully durable. O_TRUNC empties a stamp an older store wrote
        with the time as content; until the utime it reads as the truncation time."""
        ns = time.time_ns() // 1000 * 1000  # microseconds, as now_rfc3339 writes times
        fd = os.open(self._tag_time_path(image_id), _STAMP_FLAGS, 0o644)
        try:
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)

    # -- registry manifests of an image (kept so a push sends the pulled bytes again) ----------
    def _manifests_path(self, image_id: Digest) -> Path:
        return self.root / "images" / f".manifests-{image_id.hex}"

    def add_manifest(self, image_id: Digest, data: bytes) -> Digest:
        """Keep the exact bytes of a registry manifest whose config is `image_id`."""
        with self.ingesting():
            return self._add_manifest(image_id, data)

    def _add_manifest(self, image_id: Digest, data: bytes) -> Digest:
        digest = self.blobs.put_bytes(data)
        with self.meta_lock():
            if not self.records.exists(image_id):   # deleted meanwhile: its file would be left
                raise NotFound(f"No such image: {image_id}")
            known = self.manifests(image_id)
            if digest not in known:
                text = json.dumps([str(d) for d in [*known, digest]])
                atomic_write(self._manifests_path(image_id), text.encode(), tmp_dir=self.tmp)
        return digest

    # -- what a build step copied (its sources' file list, for `build --explain-cache`) --------
    def _step_sources_path(self, image_id: Digest) -> Path:
        return self.root / "images" / f".sources-{image_id.hex}"

    def put_step_sources(self, image_id: Digest, data: bytes) -> None:
        """Keep the file list of the sources the step that made `image_id` copied; it goes
        with the image."""
        atomic_write(self._step_sources_path(image_id), data)

    def step_sources(self, image_id: Digest) -> bytes | None:
        try:
            return self._step_sources_path(image_id).read_bytes()
        except FileNotFoundError:
            return None

    def add_repo_digest(self, image_id: Digest, name: Reference, manifest: bytes) -> Digest:
        """Record `name@<digest of manifest>` for the image (Docker's RepoDigests), keeping the
        manifest's bytes. The digest is computed here from the bytes, never taken on anyone's
        word, so `run name@digest` finds only an image whose manifest we hold (a pulled or
        pushed one: its caller has checked that the manifest leads to the image); an archive's
        names can carry no digest (`tag` refuses them)."""
        if not self.records.exists(image_id):
            raise NotFound(f"No such image: {image_id}")
        digest = self.add_manifest(image_id, manifest)
        ref = name.trimmed().with_digest(digest)
        with self.meta_lock():
            if not self.records.exists(image_id):   # as in tag: deleted meanwhile
                raise NotFound(f"No such image: {image_id}")
            if self.tags.get(ref) != image_id:
                self.publish_images()  # as tag
                self.tags.set(ref, image_id)
        return digest

    def manifests(self, image_id: Digest) -> list[Digest]:
        try:
            return [Digest.parse(d) for d in json.loads(self._manifests_path(image_id).read_bytes())]
        except FileNotFoundError:
            return []

    def last_tag_time(self, image_id: Digest) -> str | None:
        """When the image was last tagged (RFC 3339, nanoseconds), None when never. The stamp's
        mtime (see `_stamp_tag_time`); a stamp with content is an older store's, holding the time
        as text (None if it is not one)."""
        path = self._tag_time_path(image_id)
        try:
            st = os.stat(path)
            if st.st_size == 0:
                return rfc3339_ns(st.st_mtime_ns)
            text = path.read_bytes().decode("ascii")
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        return text if re.match(_TAG_TIME, text) else None

    def references(self, image_id: Digest) -> list[Reference]:
        return self.tags.references_to(image_id)

    def resolve(self, text: str) -> Digest:
        """An image by full ID, name, or unique ID prefix, as Docker looks images up."""
        image_id = self.find(text)
        if image_id is None:
            raise NotFound(f"No such image: {_display_name(text)}")
        return image_id

    def find(self, text: str) -> Digest | None:
        if text.startswith("sha256:"):
            hexpart = text[7:]
            if len(hexpart) == 64 and set(hexpart) <= _HEX:  # a full ID: no listing of all
                d = Digest("sha256", hexpart)
                return d if self.records.exists(d) else None
            return self._by_prefix(hexpart) if hexpart and set(hexpart) <= _HEX else None
        if len(text) == 64 and set(text) <= _HEX:
            d = Digest("sha256", text)
            return d if self.records.exists(d) else None
        try:
            ref = parse_normalized(text)
        except InvalidParameter:
            ref = None
        if ref is not None:
            found = self.tags.get(ref)
            if found is not None and self.records.exists(found):
                return found
            if ref.digest is not None and ref.tag is None:
                # name@digest: also match any tag entry by repository digest
                found = self.tags.get(ref)
                if found:
                    return found
        if text and set(text) <= _HEX:
            return self._by_prefix(text)
        return None

    def _by_prefix(self, prefix: str) -> Digest | None:
        matches = [d for d in self.records.ids() if d.hex.startswith(prefix)]
        if len(matches) > 1:
            raise Conflict(f"ambiguous image ID prefix: {prefix}")
        return matches[0] if matches else None

    # -- holds (containers keep their image) ------------------------------------------------
    def hold(self, name: str, image_id: Digest, holder: Path | None = None) -> None:
        """Keep `image_id` for `name`. With `holder` (a path under the store's root), the hold
        is void once that path does not exist: the caller makes the holder appear (and later
        go, before `release`) in the same `ingesting` hold as the hold itself, so the collector
        (store.gc) never sees a live one half made, and drops what a killed one left."""
        text = str(image_id) if holder is None else f"{image_id}\n{holder.relative_to(self.root)}"
        atomic_write(self.holds_dir / name, text.encode(), tmp_dir=self.tmp)

    def release(self, name: str) -> None:
        try:
            (self.holds_dir / name).unlink()
        except FileNotFoundError:
            pass

    def holds(self) -> dict[str, tuple[Digest, Path | None]]:
        """Every hold: its name -> (the image, its holder path if it has one)."""
        try:
            names = os.listdir(self.holds_dir)
        except FileNotFoundError:
            return {}
        out = {}
        for name in names:
            try:
                image, _, holder = (self.holds_dir / name).read_text().strip().partition("\n")
            except FileNotFoundError:
                continue
            out[name] = (Digest.parse(image), self.root / holder if holder else None)
        return out

    def holders(self, image_id: Digest) -> list[str]:
        return sorted(name for name, (held, _) in self.holds().items() if held == image_id)

    def held_images(self) -> set[Digest]:
        return {held for held, _ in self.holds().values()}

    # -- removal ------------------------------------------------------------------------------
    def remove(self, text: str, *, force: bool = False, prune: bool = True,
               running: Callable[[str], bool] = lambda container_id: False) -> DeleteReport:
        """`docker rmi`, with Docker's rules (daemon/images/image_delete.go): a name is untagged
        (and the image deleted when nothing else needs it); an ID deletes the image. `running`
        tells which of the containers holding an image run (a running one is a hard conflict).

        A name that is the image's only reference (one tag, and digests of its repository) is
        not untagged while a container uses the image, unless forced: the check comes first, so
        the user keeps the name."""
        report = DeleteReport()
        with flock(self._gc_lock), self.meta_lock():
            reserve.release_if_low(self.lock_dir)  # a full disk: room for the writes below
            image_id = self.resolve(text)
            refs = self.references(image_id)
            if _is_name(text, image_id):
                holders = self.holders(image_id)
                if not force and _single_reference(refs) and holders:
                    raise Conflict(
                        f"conflict: unable to remove repository reference {go_quote(text)} (must force) - "
                        f"container {holders[0][:12]} is using its referenced image {image_id.short}")
                ref = parse_normalized(text)
                if ref.digest is None and ref.tag is None:
                    ref = ref.with_tag("latest")
                self.tags.delete(ref)
                report.untagged.append(ref.familiar)
                refs = [r for r in refs if r != ref]
                if ref.digest is None and not any(r.name == ref.name and r.digest is None for r in refs):
                    # The repository's last tag went: its digest references go with it.
                    for r in [r for r in refs if r.name == ref.name]:
                        self.tags.delete(r)
                        report.untagged.append(r.familiar)
                    refs = [r for r in refs if r.name != ref.name]
                if refs:
                    return report
                self._delete_image(image_id, report, force=force, prune=prune, quiet=True, running=running)
            else:
                if _single_reference(refs):
                    conflict = self._delete_conflict(image_id, force=force, references=False, running=running)
                    if conflict is not None:
                        raise conflict
                    for r in refs:
                        self.tags.delete(r)
                        report.untagged.append(r.familiar)
                self._delete_image(image_id, report, force=force, prune=prune, quiet=False, running=running)
            from dockyard.store import gc  # see collect

            report.deleted += [str(d) for d in gc.collect(self)]
        reserve.ensure(self.lock_dir)
        return report

    def _delete_conflict(self, image_id: Digest, *, force: bool, references: bool,
                         running: Callable[[str], bool]) -> _DeleteConflict | None:
        """Docker's checkImageDeleteConflict: child images and running containers always stop a
        deletion; references (when asked) and stopped containers only without force."""
        if self.records.children(image_id):
            return _DeleteConflict(image_id, True, False, "image has dependent child images")
        holders = self.holders(image_id)
        for holder in holders:
            if running(holder):
                return _DeleteConflict(image_id, True, True,
                                       f"image is being used by running container {holder[:12]}")
        if force:
            return None
        if references and self.references(image_id):
            return _DeleteConflict(image_id, False, False, "image is referenced in multiple repositories")
        if holders:
            return _DeleteConflict(image_id, False, True,
                                   f"image is being used by stopped container {holders[0][:12]}")
        return None

    def _delete_image(self, image_id: Digest, report: DeleteReport, *, force: bool, prune: bool,
                      quiet: bool, running: Callable[[str], bool]) -> None:
        """Docker's imageDeleteHelper: delete the image (and, with `prune`, its parents that
        nothing else needs). A `quiet` conflict leaves the image as it is, without an error,
        unless the image is dangling and unused (then the user must hear why it stays)."""
        conflict = self._delete_conflict(image_id, force=force, references=True, running=running)
        if conflict is not None:
            dangling = not self.references(image_id) and not self.records.children(image_id)
            if quiet and (not dangling or conflict.used):
                return
            raise conflict
        for r in self.references(image_id):
            self.tags.delete(r)
            report.untagged.append(r.familiar)
        if self.holders(image_id):
            # Forced past a stopped container: Docker deletes the image and the container keeps
            # its layers; here a container starts from its image's record, which therefore
            # stays (untagged) until the container is removed.
            return
        self._delete_chain(image_id, report, prune)

    def _delete_chain(self, image_id: Digest, report: DeleteReport, prune: bool) -> None:
        """Delete the image's record (and, with `prune`, its untagged unused parents'); the
        collector that runs next deletes the blobs and layers nothing needs any more."""
        current: Digest | None = image_id
        while current is not None:
            parent = self.records.get(current).parent
            self.records.delete(current, parent)
            for path in (self._manifests_path(current), self._tag_time_path(current),
                         self._step_sources_path(current)):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
            report.deleted.append(str(current))
            if not prune or parent is None or not self.records.exists(parent):
                break
            if self.references(parent) or self.records.children(parent) or self.holders(parent):
                break
            current = parent
        fsync_dir(self.records.root)  # the records are gone for good before their content goes


def _ensure_dir(path: Path) -> None:
    """`mkdir(parents=True, exist_ok=True)` with one stat when the directory exists, as it nearly
    always does: `dockyard serve` opens the store for every request (mkdir's EEXIST path costs
    two syscalls and an exception)."""
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            return
    except (FileNotFoundError, NotADirectoryError):
        pass
    path.mkdir(parents=True, exist_ok=True)


def _is_name(text: str, image_id: Digest) -> bool:
    """Was the image named (by reference) rather than by an ID or an ID prefix?"""
    if text.startswith("sha256:") or image_id.hex.startswith(text):
        return False
    return True


def _single_reference(refs: list[Reference]) -> bool:
    """Docker's isSingleReference: at most one tag, and every reference in one repository."""
    tags = [r for r in refs if r.digest is None]
    if not refs or len(tags) > 1:
        return False
    return len({r.name for r in refs}) == 1


class _DeleteConflict(Conflict):
    """Docker's imageDeleteConflict: `hard` ones cannot be forced; `used`: by a container."""

    def __init__(self, image_id: Digest, hard: bool, used: bool, message: str) -> None:
        super().__init__(f"conflict: unable to delete {image_id.short} "
                         f"({'cannot be forced' if hard else 'must be forced'}) - {message}")
        self.used = used


def _display_name(text: str) -> str:
    try:
        return parse_normalized(text).familiar
    except InvalidParameter:
        return text


__all__ = ["Store", "DeleteReport", "default_root", "parse_reference"]
