"""The byte streams `copy` moves layers with, each checking what passes through it:

- `verified_chunks`: a blob's chunks, hashed and counted; a wrong digest or size raises at the end;
- `Compressing`: a layer compressed by a worker thread while the uploader sends it (its digest is
  known at the end), optionally checking the diff ID of what it reads;
- `Relayed`: a blob read from one source and sent on, verified on the way;
- `download_scanned`: a blob written to a file while a second thread decompresses and scans the
  same bytes (the diff ID and the tar's safety), so the two stages run on two cores; the scan
  can unpack the layer's tree on its way, and may end after the download (`Scanning`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from dockyard.archive.compression import compressing_writer, open_decompressed
from dockyard.archive.scan import ScanResult, scan_copy, scan_unpack
from dockyard.atomic import Writeback, preallocate
from dockyard.digest import CHUNK, Digest, HashingReader, HashingWriter, verify
from dockyard.errors import DigestMismatch
from dockyard.transport.adapter import StreamedBlob
from dockyard.transport.pipe import Pipe, PipeClosed

COALESCE = 1 << 20


def coalesce(chunks: Iterator[bytes], size: int = COALESCE) -> Iterator[bytes]:
    """Network reads come in 64 KiB pieces; hashing, writing and handing over 1 MiB at a time
    costs a sixteenth of the calls (one extra copy, far cheaper than the syscalls it saves)."""
    parts: list[bytes] = []
    held = 0
    for chunk in chunks:
        parts.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(parts)
            parts, held = [], 0
    if parts:
        yield b"".join(parts)


def verified_chunks(chunks: Iterator[bytes], digest: Digest, size: int | None,
                    what: str = "blob") -> Iterator[bytes]:
    """`chunks` passed on; at their end the digest (and the size, when given) must match."""
    hasher = hashlib.new(digest.algorithm)
    total = 0
    for chunk in chunks:
        hasher.update(chunk)
        total += len(chunk)
        yield chunk
    verify(digest, Digest(digest.algorithm, hasher.hexdigest()), what)
    if size is not None and total != size:
        raise DigestMismatch(f"{what} {digest}: {total} bytes, expected {size}")


class Checked:
    """A readable stream whose sha256 and length must be `diff_id` and `size` (when given) once it
    is read to its end; a mismatch raises there, before the reader can take the stream as whole."""

    def __init__(self, stream: BinaryIO, diff_id: Digest, size: int | None, what: str) -> None:
        self._reader = HashingReader(stream)
        self._diff_id, self._size, self._what = diff_id, size, what
        self._checked = False

    def read(self, n: int = -1) -> bytes:
        data = self._reader.read(n)
        if not data or n < 0:
            self._check()
        return data

    def _check(self) -> None:
        if self._checked:
            return
        self._checked = True
        actual = self._reader.digest
        if actual != self._diff_id:
            raise DigestMismatch(f"{self._what}: content has digest {actual}, expected {self._diff_id}")
        if self._size is not None and self._reader.size != self._size:
            raise DigestMismatch(f"{self._what}: {self._reader.size} bytes, expected {self._size}")


class Compressing:
    """A layer compressed by a worker thread while the uploader sends it (deterministic: the same
    layer and level give the same bytes, so a retry or a later push makes the same digest)."""

    def __init__(self, open_layer: Callable[[], BinaryIO], kind: str) -> None:
        self._open, self._kind = open_layer, kind
        self._pipe = Pipe(depth=8)
        self._hashing = HashingWriter(self._pipe)  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self._run, name="compress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._open() as src:
                out = compressing_writer(self._hashing, self._kind)  # type: ignore[arg-type]
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                out.close()
            self._pipe.close()
        except PipeClosed:
            return
        except BaseException as exc:  # noqa: BLE001 - raised again in the uploading thread
            self._pipe.fail(exc)

    def chunks(self) -> Iterator[bytes]:
        yield from self._pipe.chunks()
        self._thread.join()
        self.digest, self.size = self._hashing.digest, self._hashing.size

    def cancel(self) -> None:
        self._pipe.cancel()
        self._thread.join()


class Relayed:
    """A blob's chunks from a source, sent on as they arrive and verified against `digest`."""

    def __init__(self, chunks: Iterator[bytes], digest: Digest, size: int) -> None:
        self._chunks = verified_chunks(coalesce(chunks), digest, size)
        self.digest, self.size = digest, size

    def chunks(self) -> Iterator[bytes]:
        return self._chunks

    def cancel(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class Drained:
    """A streamed blob (`Compressing`, `Relayed`) that calls `drained` once its last chunk was
    taken: an upload's bytes are all sent, its answer may still be on its way. Its digest and
    size are the blob's, known then."""

    def __init__(self, blob: StreamedBlob, drained: Callable[[], None]) -> None:
        self._blob, self._drained = blob, drained

    def chunks(self) -> Iterator[bytes]:
        yield from self._blob.chunks()
        self.digest, self.size = self._blob.digest, self._blob.size
        self._drained()

    def cancel(self) -> None:
        self._blob.cancel()


class Scanning:
    """The scan of a downloaded blob, which may still be on its last MiBs (at most the pipe's
    depth) when the download is over: `result` waits for it."""

    def __init__(self, thread: threading.Thread, out: dict[str, object]) -> None:
        self._thread, self._out = thread, out

    def result(self) -> ScanResult:
        """The scan's result; raises its error (a bad tar, a decompression error)."""
        self._thread.join()
        if "error" in self._out:
            raise self._out["error"]  # type: ignore[misc]
        result = self._out["result"]
        assert isinstance(result, ScanResult)
        return result


def download_scanned(chunks: Iterator[bytes], digest: Digest, size: int, path: Path,
                     on_progress: Callable[[int], None], tree: Path | None = None) -> Scanning:
    """Write a compressed (or plain) layer blob to `path` while a second thread
    decompresses and scans the same bytes, unpacking the layer's tree (overlay whiteouts, as
    the store's `unpacked` makes it) into the empty directory `tree` when given, so the layer
    is never decompressed again for its first container. Returns once the blob is whole and
    matches `digest` and `size` (else raises, the scan stopped), its scan perhaps still on the
    last MiBs the pipe holds: the caller's `result()` waits for it and raises unless the
    content is a safe tar (its diff ID is the caller's to check: until then `tree` is only a
    temp folder's). So the download's slot is free for the next layer while this one's scan
    ends and the store makes it durable. Durability is the store's: it fsyncs what it adopts."""
    pipe = Pipe(depth=8)  # 1 MiB pieces: at most ~8 MiB in flight per layer
    scanned: dict[str, object] = {}
    scanner = threading.Thread(target=_scan, args=(pipe, scanned, tree), name=f"scan-{digest.short}",
                               daemon=True)
    scanner.start()
    try:
        with open(path, "wb") as f:
            preallocate(f.fileno(), size)
            # the blob's pages leave the cache once on the disk: the scan has its bytes, nothing
            # here reads them again, and the tree's writes reuse the pages (see Writeback); the
            # waits for the disk are a thread's of its own, not this one's (the scan's feeder)
            writeback = Writeback(f.fileno(), drop=True).follow()
            try:
                tee = _Tee(f, pipe)
                sent = 0
                for chunk in verified_chunks(coalesce(chunks), digest, None):
                    tee.write(chunk)
                    sent += len(chunk)
                    writeback.advance(sent)
                    on_progress(sent)
            finally:
                writeback.stop()
        if sent != size:  # a descriptor's size is mandatory: 0 means an empty blob
            raise DigestMismatch(f"blob {digest}: {sent} bytes, the manifest says {size}")
        _close_quietly(pipe)
    except BaseException as exc:
        pipe.fail(exc)
        scanner.join()
        raise
    return Scanning(scanner, scanned)


def _scan(pipe: Pipe, out: dict[str, object], tree: Path | None) -> None:
    try:
        content = open_decompressed(pipe.reader())
        if tree is None:
            with open(os.devnull, "wb") as target:
                out["result"] = scan_copy(content, target)  # type: ignore[arg-type]
        else:
            out["result"] = scan_unpack(content, tree)
    except BaseException as exc:  # noqa: BLE001 - handed to the downloading thread
        out["error"] = exc
    finally:
        pipe.cancel()


class _Tee:
    """Writes to the file and, while the scanner still listens, into the pipe."""

    def __init__(self, f: BinaryIO, pipe: Pipe) -> None:
        self._f, self._pipe, self._piping = f, pipe, True

    def write(self, data: bytes) -> int:
        self._f.write(data)
        if self._piping:
            try:
                self._pipe.write(data)
            except PipeClosed:
                self._piping = False
        return len(data)


def _close_quietly(pipe: Pipe) -> None:
    try:
        pipe.close()
    except PipeClosed:
        pass


def file_at(path: Path, offset: int) -> BinaryIO:
    """The file's bytes from `offset` on (an upload resumes where the registry stopped)."""
    f = open(path, "rb")
    f.seek(offset)
    return f


class BytesAt:
    """`file_at` for a small in-memory blob (a config)."""

    def __init__(self, data: bytes, offset: int) -> None:
        self._data = memoryview(data)[offset:]

    def read(self, n: int = -1) -> bytes:
        out, self._data = self._data[: n if n >= 0 else None], self._data[n if n >= 0 else len(self._data):]
        return bytes(out)

    def __enter__(self) -> "BytesAt":
        return self

    def __exit__(self, *exc: object) -> None:
        return None
