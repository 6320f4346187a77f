"""The one writer of the layers dockyard makes itself: a container's storage layer (an overlay
upper dir: `commit`, a build's RUN) or a tar a producer writes (a build's COPY/ADD/WORKDIR).

The tar goes to a temp file under the store's tmp/, hashed on its way (the producer hashes what it
writes, or the scanner checks and hashes it), and becomes the layer by one rename
(`LayerStore.adopt`, which makes it durable first). Layers that come from outside (load, import,
pull) enter through `LayerStore.ingest` and the transports instead.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

from dockyard.archive.diff import write_overlay_diff
from dockyard.atomic import Writeback, temp_file, write_back
from dockyard.archive.scan import ScanResult, scan_copy
from dockyard.errors import DockyardError
from dockyard.image.layer import EMPTY_TAR_DIFF_ID
from dockyard.store.layers import LayerStore, StoredLayer

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import BinaryIO, Callable

    # Writes a layer tar to the file it is given; returns the tar's ScanResult, or None for no layer.
    LayerProducer = Callable[[BinaryIO], "ScanResult | None"]

__all__ = ["HashBehind", "layer_from_directory", "write_layer"]


def write_layer(layers: LayerStore, produce: LayerProducer, *, publish: bool = True) -> StoredLayer | None:
    """The layer `produce` writes, stored; None when it writes none. `publish`: see
    LayerStore.adopt."""
    fd, name = temp_file(layers.tmp, "layer-", ".tar")
    try:
        # a 1 MiB buffer: a layer of many small files is written in 1 MiB writes, not two or
        # three per file (its header, its body, its padding)
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            result = produce(out)
            if result is None:
                return None
        return layers.adopt(Path(name), result, publish=publish)  # fsyncs it first, unless the layer is known
    finally:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def layer_from_directory(layers: LayerStore, upper: Path, *, keep_empty: bool = False,
                         publish: bool = True, read: Callable[[], None] | None = None) -> StoredLayer | None:
    """An overlay upper dir's changes as a layer; None when nothing changed (the empty tar), as
    Docker commits an empty diff as no layer, unless `keep_empty` (BuildKit keeps a step's
    empty layer). `publish`: see LayerStore.adopt. `read`: called once the upper dir has been
    read whole (its tar written), before the tar is hashed to its end and made durable (a
    commit resumes the container it paused there)."""
    return write_layer(layers, lambda out: _scanned_overlay_diff(upper, out, keep_empty, read),
                       publish=publish)


def _scanned_overlay_diff(upper: Path, out: BinaryIO, keep_empty: bool = False,
                          read: Callable[[], None] | None = None) -> ScanResult | None:
    """The diff's tar written straight into `out` (file bodies by sendfile(2): the kernel copies
    them, no byte passes through Python), while a second thread reads the same file back behind
    the writer and scans it (every entry checked, every byte hashed: the diff ID of exactly what
    was stored). Writing and hashing run on two cores; the hash, not a copy through a pipe, sets
    the pace."""
    trailing = _Trailing(out.fileno())
    if _is_small(upper):
        # A step that changed little (`RUN true` leaves a few directories): the tar is a few
        # KiB, written and then scanned on this thread; a scan thread would cost more to start
        # than the whole scan.
        write_overlay_diff(upper, out)
        out.flush()
        trailing.finish()
        if read is not None:
            read()
        result = scan_copy(io.BufferedReader(trailing, 1 << 16), _NULL)
    else:
        result = _written_with_scan_behind(upper, out, trailing, read)
    return None if result.diff_id == EMPTY_TAR_DIFF_ID and not keep_empty else result


def _written_with_scan_behind(upper: Path, out: BinaryIO, trailing: _Trailing,
                              read: Callable[[], None] | None = None) -> ScanResult:
    """write_overlay_diff into `out` while a thread scans what `trailing` reads back, and
    another starts the disk's writeback of what is written (a following atomic.Writeback). Once
    the tar is written, and while the scan finishes, this thread waits for the rest to reach the
    disk (without the journal commit: LayerStore.adopt's fsync makes it, with the layer's
    info.json), so adopt's fsync then waits for little."""
    found: dict[str, object] = {}

    def scan() -> None:
        try:
            found["result"] = scan_copy(io.BufferedReader(trailing, 1 << 16), _NULL)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            found["error"] = exc

    scanner = threading.Thread(target=scan, name="scan-diff", daemon=True)
    scanner.start()
    # every 32 MiB the file grows by is started, never waited for (the writer's sendfiles do
    # not tell: the thread looks at its size): see atomic.Writeback
    writeback = Writeback(out.fileno(), step=32 << 20, wait=False).follow(poll=Writeback.POLL)
    try:
        write_overlay_diff(upper, out)
        out.flush()
    except BaseException:
        trailing.abort()
        scanner.join()
        writeback.stop()
        raise
    trailing.finish()
    writeback.stop()
    try:
        if read is not None:
            read()
        write_back(out.fileno())
    finally:
        scanner.join()
    if "error" in found:
        raise found["error"]  # type: ignore[misc]
    result = found["result"]
    assert isinstance(result, ScanResult)
    return result


# An upper dir whose tar is scanned inline: at most this many entries, this many file bytes.
_SMALL_ENTRIES = 64
_SMALL_BYTES = 256 << 10


def _is_small(upper: Path) -> bool:
    """Whether the upper dir holds at most _SMALL_ENTRIES entries and _SMALL_BYTES of file
    content: a walk that stops at the first entry beyond either bound. What cannot be read is
    left to the writer to report (False)."""
    entries = size = 0
    pending = [os.fspath(upper)]
    try:
        while pending:
            with os.scandir(pending.pop()) as it:
                for entry in it:
                    entries += 1
                    if entries > _SMALL_ENTRIES:
                        return False
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        size += entry.stat(follow_symlinks=False).st_size
                        if size > _SMALL_BYTES:
                            return False
    except OSError:
        return False
    return True


class HashBehind:
    """The sha256 of a file this process is writing, taken by a thread of its own that reads
    the file back behind the writer (from the page cache: hashlib releases the GIL, so the
    hash runs on another core than the writer's work). It reads a whole chunk at a time (or
    what is left once the writer is done): a thread that woke for every few KiB written took
    the GIL from the writer thousands of times. `finish` once everything is written (and
    flushed) gives the hex digest; `abort` if the writer fails."""

    def __init__(self, fd: int) -> None:
        from dockyard.digest import CHUNK, Sha256

        self._fd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)  # the writer's may be write-only
        self._hash = Sha256()
        self._chunk = CHUNK
        self._done = threading.Event()
        self._aborted = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = threading.Thread(target=self._run, name="hash-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd, chunk, update = self._fd, self._chunk, self._hash.update
        view = memoryview(bytearray(chunk))
        pos = 0
        try:
            while not self._aborted:
                done = self._done.is_set()
                ready = os.fstat(fd).st_size - pos
                if ready >= chunk or (done and ready > 0):
                    n = os.preadv(fd, [view[:min(ready, chunk)]], pos)
                    if n <= 0:
                        raise DockyardError("the layer's file shrank while it was hashed")
                    update(view[:n])
                    pos += n
                elif done:
                    return
                else:
                    self._done.wait(0.002)
        except BaseException as exc:  # noqa: BLE001 - raised by finish
            self._error = exc

    def _stop(self) -> None:
        if self._thread is not None:
            self._done.set()
            self._thread.join()
            self._thread = None
            os.close(self._fd)

    def finish(self) -> str:
        self._stop()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()

    def abort(self) -> None:
        self._aborted = True
        self._stop()


class _Trailing(io.RawIOBase):
    """The bytes of a file another thread is appending to, read from the start as they land
    (a write is readable through the page cache once it returns); EOF once the writer says it
    is done and everything was read. (Sending the file to the disk while it is written, as a
    pull does, made this slower, from this thread or the writer's: A/B of 5-8 runs each; from a
    thread of its own that never waits, a following atomic.Writeback, it is faster.)"""

    def __init__(self, fd: int) -> None:
        self._fd, self._pos = fd, 0
        self._done = threading.Event()
        self._aborted = False

    def readable(self) -> bool:
        return True

    def finish(self) -> None:
        self._done.set()

    def abort(self) -> None:
        self._aborted = True
        self._done.set()

    def readinto(self, buf) -> int:  # noqa: ANN001 - buffer protocol
        while True:
            if self._aborted:
                raise DockyardError("the layer's writer failed")
            done = self._done.is_set()
            n = os.preadv(self._fd, [buf], self._pos)
            if n:
                self._pos += n
                return n
            if done:
                return 0
            self._done.wait(0.001)


class _NullSink:
    def write(self, data: bytes) -> int:
        return len(data)


_NULL = _NullSink()
