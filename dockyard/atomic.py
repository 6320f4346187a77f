"""File writes: crash-safe ones (write to a temp file in the same directory tree, fsync, rename),
the two primitives under them (`write_all`, `create_file`), and how a large one goes to the disk
while it is written (`Writeback`: when its pages are sent and dropped, and by which thread;
`WritebehindFile`: its write(2)s made by a thread of their own)."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dockyard.digest import small_sha256

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable


def fsync_dir(path: Path) -> None:
    _fsync(path, os.O_DIRECTORY)


def fsync_file(path: Path | str) -> None:
    """Make a file's data durable (before the rename that publishes it: a rename is often
    committed by the next fsync of anything on the file system, the data only by its own)."""
    _fsync(path, 0)


def _fsync(path: Path | str, flags: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: Path | str) -> None:
    """Make everything written to the file system holding `path` durable: one call for a tree
    of many files (an unpacked layer) instead of an fsync of each. Falls back to sync(2)."""
    import ctypes  # unpacking only: see the in-process budget, tests/test_start_up.py

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), os.fspath(path))
    except AttributeError:
        os.sync()
    finally:
        os.close(fd)


_SYNC_FILE_RANGE_WAIT_BEFORE, _SYNC_FILE_RANGE_WRITE, _SYNC_FILE_RANGE_WAIT_AFTER = 1, 2, 4
_sync_file_range: list = []  # [the libc function, or None where there is none], made on first use


def _libc_function(cache: list, name: str, *argtypes: str):  # noqa: ANN202 - a ctypes function or None
    """libc's `name` (arguments of those ctypes types, an int back), or None where there is
    none, made on first use and kept in `cache`."""
    if not cache:
        import ctypes  # large writes only: see the in-process budget, tests/test_start_up.py

        fn = getattr(ctypes.CDLL(None, use_errno=True), name, None)
        if fn is not None:
            fn.argtypes = [getattr(ctypes, t) for t in argtypes]
            fn.restype = ctypes.c_int
        cache.append(fn)
    return cache[0]


def _range_syncer():  # noqa: ANN202 - a ctypes function or None
    return _libc_function(_sync_file_range, "sync_file_range", "c_int", "c_int64", "c_int64", "c_uint")


_fallocate: list = []  # as _sync_file_range: [libc's fallocate, or None]
_FALLOC_FL_KEEP_SIZE = 1
PREALLOCATE_MIN = 64 << 10
PREALLOCATE_MAX = 128 << 20


def _fallocator():  # noqa: ANN202 - a ctypes function or None
    return _libc_function(_fallocate, "fallocate", "c_int", "c_int", "c_int64", "c_int64")


def preallocate(fd: int, size: int) -> None:
    """Reserve the blocks of a new file about to be written with `size` bytes (fallocate(2),
    FALLOC_FL_KEEP_SIZE: the file's size still grows with its writes), so its buffered writes
    find them in place instead of reserving and mapping each page as it comes (ext4's delayed
    allocation). 100 files of 5 MiB written in 1 MiB writes (a pulled layer's tree), system
    time, medians of three interleaved sets at load 3-10: 0.16 -> 0.11, 0.18 -> 0.15, 0.20 ->
    0.16 s (fallocate of each 1 MiB before its write saved nothing: 0.21). Files under
    PREALLOCATE_MIN ask nothing (a call for a few pages saves less than it costs). Only the
    Linux call, never glibc's posix_fallocate, which writes zeros where the file system lacks
    it; a failure (no such call, not supported, no space yet: the writes will say) is ignored.
    Never more than PREALLOCATE_MAX: `size` is a tar header's or a manifest's word, and a lie
    reserves no more than that until the file is removed."""
    if size < PREALLOCATE_MIN:
        return
    fn = _fallocator()
    if fn is not None:
        fn(fd, _FALLOC_FL_KEEP_SIZE, 0, min(size, PREALLOCATE_MAX))


def write_back(fd: int) -> None:
    """The file's dirty pages sent to the disk and waited for (sync_file_range(2) over the whole
    file), without the journal commit of an fsync: the fsync that must follow (durability needs
    it: the file's size and blocks) then has little left to write, and commits this file's
    metadata with whatever else is written by then in one journal commit. Does nothing where
    the call is missing; a failure only loses the head start."""
    fn = _range_syncer()
    if fn is not None:
        fn(fd, 0, 0, _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WRITE | _SYNC_FILE_RANGE_WAIT_AFTER)


def start_write_back(fd: int) -> None:
    """The writeback of a small file just written started, not waited for, before the fsync of
    something else it must not be durable before: that fsync's journal commit takes the file's
    blocks too, and the file's own fsync after it has nothing left to commit (one journal
    commit fewer). POSIX_FADV_DONTNEED starts the writeback of the file's dirty pages (then
    drops its clean ones: none yet, or a few bytes read once more), without the ctypes that
    sync_file_range needs (a build's start loads none: tests/test_start_up.py)."""
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


class Writeback:
    """When the pages of a large file being written go to the disk, and whether they stay in the
    page cache: the one home of it (who calls write(2) is another matter: WritebehindFile).
    Each new step of at least `step` bytes is started at once (sync_file_range(2),
    SYNC_FILE_RANGE_WRITE), so the disk works while the writer does, instead of in the fsync
    after it, and the kernel never throttles the writer for dirty pages (on this project's
    machines a 500 MiB write left to the flusher took 1.2-1.4 s, flushed every 32 MiB 0.37 s).
    Only a head start: the fsync that publishes the file is still needed (it then finds little
    left to do), and whoever makes the file durable waits for the rest. Does nothing where the
    call is missing; a failure only loses the head start.

    `wait`: each step also waits for the one LAG steps back (long since started: seldom a
    wait), so the file never holds more than LAG steps not yet on the disk. `drop` (with
    `wait`), for a file its writer will not read again: each step, once on the disk, leaves
    the page cache (POSIX_FADV_DONTNEED), so its pages are free again, still warm, for the
    writer's next writes. On these VMs a page the kernel has not used for a while costs a host
    fault at its first touch (free page reporting): 400 MiB written into new pages took 0.09 s
    of system time when they had just been freed, 0.39-0.66 s when not.

    Who makes the calls (and so who waits for the disk):
    - the writer's thread, `advance(pos)` once the file's bytes up to `pos` are written: a
      thread whose waits stall nobody (WritebehindFile's);
    - `follow()`: a thread of its own, so the writer never waits for the disk, nor does a
      reader behind it. It looks at the file's size when the writer's `advance` says a step is
      due (one wake a step), and, with `poll`, every `poll` seconds for a writer that cannot
      tell (sendfile(2)'s), until `stop()`. A commit's tar (polled, start only, 32 MiB steps:
      a writer that started and waited for its own steps stalled the hashing reader behind
      it; A/B of the layer writer on a commit's 500 MiB upper dir, 6 interleaved runs at load
      4, median 2.23 -> 1.88 s) and a pull's blob (`drop`: its download thread waited for the
      disk every 8 MiB, and for the block layer's writeback throttling, while the scan behind
      it starved; a thread that polled every 5 ms instead of being woken cost the pull ~1 % of
      its CPU)."""

    STEP = 8 << 20
    LAG = 4
    POLL = 0.005  # a following thread's look at the size of a file whose writer cannot tell

    def __init__(self, fd: int, *, step: int = STEP, wait: bool = True, drop: bool = False) -> None:
        self._fd, self._step, self._wait, self._drop = fd, step, wait, drop and wait
        self._steps: list[int] = [0]  # where the started steps end, the oldest not waited for first
        self._woken_at = 0  # following: the writer's position when it last woke the thread
        self._wake: threading.Event | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None

    def advance(self, pos: int) -> None:
        """The file's bytes up to `pos` are written."""
        if self._wake is None:
            self._advance(pos)
        elif pos - self._woken_at >= self._step:  # following: the thread makes the calls
            self._woken_at = pos
            self._wake.set()

    def _advance(self, pos: int) -> None:
        steps = self._steps
        if pos - steps[-1] < self._step:
            return
        fn = _range_syncer()
        if fn is None:
            return
        fn(self._fd, steps[-1], pos - steps[-1], _SYNC_FILE_RANGE_WRITE)
        steps.append(pos)
        if len(steps) > self.LAG + 1:
            start, end = steps[0], steps[1]
            if self._wait:
                fn(self._fd, start, end - start,
                   _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WRITE | _SYNC_FILE_RANGE_WAIT_AFTER)
                if self._drop:
                    os.posix_fadvise(self._fd, start, end - start, os.POSIX_FADV_DONTNEED)
            del steps[0]

    def follow(self, poll: float | None = None) -> Writeback:
        """From now on a thread of its own makes the calls, up to the file's size each time it
        looks (woken by `advance`, or every `poll` seconds); `stop` it once the writer is done
        (before the file is closed)."""
        if self._wake is None and _range_syncer() is not None:
            self._wake = wake = threading.Event()
            self._thread = threading.Thread(target=self._follow, args=(wake, poll), name="writeback", daemon=True)
            self._thread.start()
        return self

    def _follow(self, wake: threading.Event, poll: float | None) -> None:
        try:
            while True:
                wake.wait(poll)
                wake.clear()  # a wake after this finds the bytes it is for in the size below
                stopped = self._stopped
                # (once stopped, without waits: the steps written while it waited, started)
                self._advance(os.fstat(self._fd).st_size)
                if stopped:
                    return
        except OSError:
            pass  # only the head start is lost

    def _stop_waiting(self) -> None:
        self._wait = self._drop = False

    def stop(self) -> None:
        """The writer is done (or failed): no more waits for the disk (at most the one a
        following thread is in: the writer's caller, a pull's download slot, waited there for
        the disk's backlog, 0.04-1.1 s a pull at load 10); a following thread starts the steps
        written since it last looked, and is joined. The fsync that makes the file durable
        waits for the rest (a pulled blob's, blobs.make_durable, drops it from the cache too)."""
        self._stop_waiting()
        if self._thread is not None and self._wake is not None:
            self._stopped = True
            self._wake.set()
            self._thread.join()
            self._thread = None


_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def temp_file(folder: Path | str, prefix: str = "tmp", suffix: str = "") -> tuple[int, str]:
    """tempfile.mkstemp(suffix, prefix, folder): a new file only we may read and write (0600,
    O_EXCL, not followed through a symlink) under a random name; its descriptor and absolute
    path. Without tempfile, whose import loads shutil (with bz2, lzma, fnmatch), random and
    weakref: 12.9M instructions (callgrind), ~4 ms of each in-process build's start, which
    makes its lease, blobs and layers with these."""
    return _fresh(folder, prefix, suffix, lambda name: os.open(name, _TEMP_FLAGS, 0o600))


def temp_dir(folder: Path | str, prefix: str = "tmp") -> Path:
    """tempfile.mkdtemp(prefix=prefix, dir=folder) as a Path: a new directory only we may use
    (0700) under a random name (see temp_file)."""
    return Path(_fresh(folder, prefix, "", lambda name: os.mkdir(name, 0o700))[1])


def _fresh(folder: Path | str, prefix: str, suffix: str, make: Callable[[str], Any]) -> tuple[Any, str]:
    base = os.path.abspath(folder)
    for _ in range(100):  # tempfile tries 10000 names; a clash of 48 random bits is not expected twice
        name = os.path.join(base, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return make(name), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "No usable temporary file name found", base)


class WritebehindFile:
    """Who calls write(2): a thread of its own, for a writer with other work per byte (a load's
    sha256 and tar checks). `write` copies the bytes into one of BLOCKS blocks of BLOCK bytes
    and returns; the thread writes each full block to the file descriptor `fd` and sends it to
    the disk (Writeback.advance from that thread, its waits included: it knows where the file
    ends, and its waits hold back only the next block's write), while the writer hashes the
    next bytes; a block not yet full goes too when the thread has nothing else to write (a
    writer fed from a slow pipe keeps nothing back). The writer waits only when every block is
    still to be written: the disk's pace. A Writeback's own thread (`follow`) moves only the
    writeback off the writer; this moves the copy into the page cache too.
    `close` (the end of a `with` block) writes what is left, waits for it, closes `fd` and
    raises the thread's error, if any (the next `write` raises it as well)."""

    BLOCK = 1 << 20
    BLOCKS = 8

    def __init__(self, fd: int, spare: list[bytearray] | None = None) -> None:
        """`spare`: blocks to take before making new ones, and where they go back at `close`
        (a writer of several files in turn keeps the same pages: a new block costs a fault per
        page, ~3 % of a load's CPU)."""
        import queue  # large writes only: see the in-process budget, tests/test_start_up.py

        self._spare = spare if spare is not None else []
        self._fd = fd
        self._empty = queue.Empty
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._full: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        self._made = 0
        self._block: bytearray | None = None
        self._fill = 0
        self._room_end = 0
        self._abandon = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="writebehind", daemon=True)
        self._thread.start()

    def __enter__(self) -> "WritebehindFile":
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(abandon=kind is not None)

    def fileno(self) -> int:
        return self._fd

    def room(self, k: int) -> memoryview:
        """Up to `k` bytes (at least one) of the current block's free space, for the caller to
        fill and then `write` in order, which takes them without a copy (a load's scan reads
        a layer's body straight in here: a copy of every byte fewer)."""
        if self.error is not None:
            raise self.error
        if self._block is not None and self._fill == self.BLOCK:
            self._submit()
        if self._block is None:
            self._block, self._fill = self._next_free(), 0
        self._room_end = min(self.BLOCK, self._fill + k)
        return memoryview(self._block)[self._fill:self._room_end]

    def write(self, data) -> int:  # noqa: ANN001 - any bytes-like
        if self.error is not None:
            raise self.error
        view = memoryview(data).cast("B")
        n = len(view)
        if self._block is not None and view.obj is self._block:  # bytes `room` gave, filled in order
            if self._fill + n > self._room_end:
                raise ValueError("write of a block's bytes outside the room given")
            self._fill += n
            view = view[n:]
            if self._fill == self.BLOCK:
                self._submit()
        while view:
            if self._block is None:
                self._block, self._fill = self._next_free(), 0
            k = min(len(view), self.BLOCK - self._fill)
            self._block[self._fill:self._fill + k] = view[:k]
            self._fill += k
            view = view[k:]
            if self._fill == self.BLOCK:
                self._submit()
        if self._block is not None and self._free.qsize() == self._made - 1:
            self._submit()  # the thread is idle: bytes that trickle in go to the file as they come
        return n

    def flush(self) -> None:
        return None  # close writes and waits

    def _submit(self) -> None:
        if self._block is not None:
            self._full.put((self._block, self._fill))
            self._block = None

    def _next_free(self) -> bytearray:
        if self._made < self.BLOCKS:
            try:
                return self._free.get_nowait()
            except self._empty:
                self._made += 1
                return self._spare.pop() if self._spare else bytearray(self.BLOCK)
        block = self._free.get()
        if self.error is not None:
            raise self.error
        return block

    def _run(self) -> None:
        writeback, pos = Writeback(self._fd), 0
        while (item := self._full.get()) is not None:
            block, n = item
            if self.error is None and not self._abandon:
                try:
                    with memoryview(block) as view:
                        write_all(self._fd, view[:n])
                    pos += n
                    writeback.advance(pos)
                except BaseException as exc:  # noqa: BLE001 - the writer raises it
                    self.error = exc
            self._free.put(block)

    def close(self, *, abandon: bool = False) -> None:
        """`abandon`: the file will be removed; what is not written yet never is, and an error
        of the thread is not raised (the caller's own is on its way)."""
        if self._thread is None:
            return
        self._abandon = abandon
        try:
            if self._fill and self.error is None and not abandon:
                self._submit()
            self._full.put(None)
            self._thread.join()
        finally:
            self._thread = None
            self._block = None
            os.close(self._fd)
            while True:
                try:
                    self._spare.append(self._free.get_nowait())
                except self._empty:
                    break
        if self.error is not None and not abandon:
            raise self.error


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of `data` to `fd` (os.write may write fewer than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def create_file(path: Path | str, data: bytes, *, mode: int = 0o644) -> None:
    """Make `path` a new file (never an existing one) holding `data`, written in place, with
    `mode` whatever the umask; nothing is fsynced. For a new directory that nobody reads before
    it is whole, where a temp file and a rename buy nothing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        write_all(fd, data)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, tmp_dir: Path | None = None,
                 publish: bool = True, parents: bool = True) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new content, never half.
    `publish=False`, `parents=False`: see atomic_file."""
    with atomic_file(path, mode=mode, tmp_dir=tmp_dir, publish=publish, parents=parents) as f:
        f.write(data)


@contextmanager
def atomic_file(path: Path, *, mode: int = 0o644, tmp_dir: Path | None = None,
                publish: bool = True, parents: bool = True) -> Iterator[BinaryIO]:
    """Stream into a temp file; on success it is fsynced and renamed to `path`. The temp file is
    made in `tmp_dir` (on the same file system; the store gives its process's temp folder, so
    a kill leaves nothing beside `path`), else beside `path`. `publish=False` leaves out the
    fsync of the directory: the file is whole whenever it is there, but may be gone after a crash
    of the host until the caller fsyncs the directory (or anything else on the file system
    commits the rename). `parents=False`: a missing directory is FileNotFoundError, not made
    (a removed container's folder)."""
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(tmp_dir or path.parent, f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if publish:
        fsync_dir(path.parent)


def prepare_write(data: bytes, tmp_dir: Path, name: str, *, mode: int = 0o644) -> str:
    """`data` in a new temp file of `tmp_dir` (named after `name`) with its writeback started,
    not fsynced, for `commit_prepared` once what must be durable before it is. Written before
    that fsync (of anything on the file system), the fsync's journal commit takes its blocks
    too, and its own fsync then has nothing left to commit: one commit fewer than atomic_write
    after it. The caller removes the file if it is not committed."""
    fd, tmp = temp_file(tmp_dir, f".{name}.")
    try:
        write_all(fd, data)
        os.fchmod(fd, mode)
        start_write_back(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def commit_prepared(tmp: str, path: Path, *, publish: bool = True) -> None:
    """Replace `path` with the file `prepare_write` made, as atomic_write replaces it: its data
    durable, the rename, and (`publish`) the directory's fsync."""
    fsync_file(tmp)
    os.replace(tmp, path)
    if publish:
        fsync_dir(path.parent)


def discard_prepared(tmp: str | None) -> None:
    """A file `prepare_write` made that was not committed (or was: then there is none)."""
    if tmp is not None:
        _unlink_quietly(tmp)


def replace_file(path: Path, data: bytes, *, mode: int = 0o644, tmp_dir: Path | None = None) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new content, but not
    durably: nothing is fsynced, and a crash of the host may lose or tear it (for files made
    again at every use, or that are only hints). The temp file is made in `tmp_dir` (on the same
    file system), else beside `path`."""
    fd, tmp = temp_file(tmp_dir or path.parent, f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def replace_checked(path: Path, body: bytes, *, tmp_dir: Path | None = None) -> None:
    """`replace_file` of `body` headed by its sha256 and a newline: what a host crash tears,
    `read_checked` tells (for hints kept without an fsync)."""
    replace_file(path, small_sha256(body).hexdigest().encode() + b"\n" + body, tmp_dir=tmp_dir)


def read_checked(path: Path | str) -> bytes | None:
    """The body `replace_checked` wrote, or None: no file, or not whole."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    digest, _, body = data.partition(b"\n")
    return body if small_sha256(body).hexdigest().encode() == digest else None


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
