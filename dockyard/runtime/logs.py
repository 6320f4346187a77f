"""A container's log in Docker's json-file format: written by the container's monitor, read by
`logs` and `attach`, here and nowhere else.

One JSON object per line, compact as dockerd writes it (entry sizes, and so where rotation
falls, are dockerd's): `{"log":"text\\n","stream":"stdout","time":"...Z"}` with the time in
RFC 3339 and nanoseconds. A line of output is one entry; a partial line waits for its end, or
is written as it is once it reaches 16 KiB (as Docker splits long lines), or once the output
pauses (PARTIAL_IDLE): `attach` reads this log, and a prompt (`/ # `, `Name: `) must reach the
attached user before its line ends. dockerd's attach is a stream of its own, its json-file
waits for the newline; the bytes `logs` prints are the same, only `-t` shows the extra entry.

Rotation, as dockerd 20.10's json-file driver does it (`--log-opt max-size=10m max-file=3`): an
entry about to be written to a file that has reached max-size first rotates the log (so a file
passes max-size by at most one entry): `<log>.<max-file - 1>` is removed, each `<log>.<i>` becomes
`<log>.<i + 1>`, `<log>` becomes `<log>.1` and a new `<log>` is begun. With max-file 1 the old log
is still kept as `<log>.1` on disk, as dockerd keeps it, but only `<log>` is read. Readers walk the
files oldest first; a reader that reaches the end of a file the writer rotated away goes on with
the file written after it, found by its inode wherever the renames have moved it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import deque
from datetime import datetime, timezone
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from dockyard.dataclass import dataclass
from dockyard.errors import InvalidParameter

PARTIAL_FLUSH = 16 * 1024
PARTIAL_IDLE = 0.05   # s of silence after which a partial line is written as it is
READ_SIZE = 64 * 1024
FOLLOW_POLL = 0.02


@dataclass(compiled_init=True)  # one per line
class LogEntry:
    """One line (or partial line) of a container's log."""

    stream: str      # stdout | stderr
    data: bytes
    time: str        # RFC 3339 with nanoseconds


_second: tuple[datetime | None, str] = (None, "")   # the last second formatted, and its text


def log_time() -> str:
    """Now, as dockerd's json-file stamps a line (nanoseconds, here to the microsecond). The
    date and time of day are formatted once a second (one tuple, replaced whole: monitors on
    other threads read it): strftime per line was a fifth of the cost of logging a line."""
    global _second
    now = datetime.now(timezone.utc)
    second = now.replace(microsecond=0)
    last = _second
    if last[0] != second:
        last = _second = (second, now.strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{last[1]}{now.microsecond:06d}000Z"


def since_time(value: str, what: str = "since") -> str:
    """The API's `since` or `until` (the docker CLI sends `SECONDS[.NANOSECONDS]`) as a log
    time: log times have one width, so they compare with it as text."""
    sec, _, frac = value.partition(".")
    if not sec.isdigit() or not (frac.isdigit() or not frac) or len(frac) > 9:
        raise InvalidParameter(f"invalid value for {what}: {value!r}")
    when = datetime.fromtimestamp(int(sec), timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{frac:0<9}Z"


# -- options ---------------------------------------------------------------------------------------
_HUMAN_SIZE = re.compile(r"(\d+(\.\d+)*) ?([kmgtp])?i?b?", re.IGNORECASE | re.ASCII)
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_INT = re.compile(r"[+-]?\d+", re.ASCII)
_GO_FALSE = {"0", "f", "F", "false", "FALSE", "False"}     # strconv.ParseBool's false
# the json-file driver's options dockerd knows (dockyard implements max-size and max-file, and
# takes compress=false as the no-op it is)
_KNOWN = {"max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}


@dataclass(frozen=True)
class Rotation:
    """json-file's max-size (bytes, -1: unlimited) and max-file (the files `logs` reads)."""

    max_size: int = -1
    max_file: int = 1


def _init_error(reason: str) -> InvalidParameter:
    return InvalidParameter(f"failed to initialize logging driver: {reason}")


def _human_size(text: str) -> int:
    """go-units FromHumanSize: decimal units (`10m` is 10,000,000 bytes), a fraction truncated."""
    m = _HUMAN_SIZE.fullmatch(text)
    if m is None:
        raise _init_error(f"invalid size: '{text}'")
    try:
        size = float(m.group(1))
    except ValueError:   # 1.2.3
        raise _init_error(f'strconv.ParseFloat: parsing "{m.group(1)}": invalid syntax') from None
    return int(size * _DECIMAL[(m.group(3) or "").lower()])


def _atoi(text: str) -> int:
    if _INT.fullmatch(text) is None:
        raise _init_error(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(1 << 63) <= value < 1 << 63:
        raise _init_error(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


def rotation(options: dict[str, str]) -> Rotation:
    """The json-file options (a container's LogConfig.Config), checked with dockerd's messages;
    options dockyard does not implement (compress, labels, env, tag...) are refused."""
    for key in options:
        if key not in _KNOWN:
            raise InvalidParameter(f"unknown log opt '{key}' for json-file log driver")
    max_size, max_file = -1, 1
    if "max-size" in options:
        max_size = _human_size(options["max-size"])
        if max_size <= 0:
            raise _init_error("max-size must be a positive number")
    if "max-file" in options:
        max_file = _atoi(options["max-file"])
        if max_file < 1:
            raise _init_error("max-file cannot be less than 1")
    for key in sorted(options):
        if key in ("max-size", "max-file") or (key == "compress" and options[key] in _GO_FALSE):
            continue
        raise InvalidParameter(f"log option {key} is not supported by dockyard "
                               "(json-file's max-size and max-file only)")
    return Rotation(max_size, max_file)


NO_LOG = "none"
# the `none` driver's log is only the stream attachers follow (attach reads the log): at most two
# files of 1 MiB (an attacher more than a file behind loses what it skipped), replaced at each
# start (remove_files), never read by `logs` (refused, as dockerd's)
_STREAM_ONLY = Rotation(max_size=1 << 20, max_file=2)


def limits(driver: str, options: dict[str, str]) -> Rotation:
    """How a container's log files rotate: its json-file options, or the none driver's bounds."""
    return _STREAM_ONLY if driver == NO_LOG else rotation(options)


def remove_files(path: Path, bounds: Rotation) -> None:
    """A log's files gone (the none driver's, at a start); readers holding one read on."""
    for n in range(min(max(bounds.max_file - 1, 1), _highest_rotated(path)), 0, -1):
        rotated(path, n).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def rotated(path: Path, n: int) -> Path:
    """The n-th newest rotated file of a log (`<log>.1` is the one before `<log>`)."""
    return path.with_name(f"{path.name}.{n}")


def _highest_rotated(path: Path) -> int:
    """The highest n of the log's rotated files there are (0: none). The walks over `<log>.n`
    stop there, not at max-file, which may be 99999999999: each `logs` and each rotation tried
    that many names, a serve thread spinning for hours, and the monitor too once the log
    rotated (the container's output then stopped). dockerd 20.10 does the same; its files are
    the same, only the names that cannot be there are no longer tried."""
    prefix = path.name + "."
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return 0
    found = [int(n[len(prefix):]) for n in names
             if n.startswith(prefix) and n[len(prefix):].isascii() and n[len(prefix):].isdigit()]
    return max(found, default=0)


# -- writer ----------------------------------------------------------------------------------------
class LogWriter:
    """json-file: one entry per line of output; a partial line waits for its end (or 16 KiB)."""

    def __init__(self, path: Path, limits: Rotation = Rotation()) -> None:
        self._path = path
        self._limits = limits
        self._f: BinaryIO = open(path, "ab")
        self._size = os.fstat(self._f.fileno()).st_size
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._partial[stream] + data
        start = 0   # (each line sliced out once: cutting the rest after each line copied the
        while (nl := buf.find(b"\n", start)) >= 0:   # chunk once per line, N^2 for short lines)
            self._entry(stream, buf[start:nl + 1])
            start = nl + 1
        buf = buf[start:]
        if len(buf) >= PARTIAL_FLUSH:
            self._entry(stream, buf)
            buf = b""
        self._partial[stream] = buf
        self._f.flush()

    def pending(self) -> bool:
        """A partial line waits that flush_partial() would write."""
        return any(_whole(buf) for buf in self._partial.values())

    def flush_partial(self) -> None:
        """The output paused: the partial lines written as they are (a UTF-8 character cut at
        the end waits for its other bytes)."""
        for stream, buf in self._partial.items():
            if cut := _whole(buf):
                self._entry(stream, buf[:cut])
                self._partial[stream] = buf[cut:]
        self._f.flush()

    def _entry(self, stream: str, data: bytes) -> None:
        # json.dumps({"log": ..., "stream": ..., "time": ...}, ensure_ascii=False, compact), its
        # bytes written out: the dict's encoder cost as much again as the line's own encoding
        line = (f'{{"log":{encode_basestring(data.decode("utf-8", "replace"))},"stream":"{stream}",'
                f'"time":"{log_time()}"}}\n').encode()
        if 0 < self._limits.max_size <= self._size:
            self._rotate()
        self._f.write(line)
        self._size += len(line)

    def _rotate(self) -> None:
        """dockerd's order: the oldest removed, the others shifted, the log renamed `.1` (readers
        holding it read it to its end), then a new log. Each step is one rename: a crash leaves
        the files each reader can still walk (a name missing is skipped)."""
        self._f.close()
        last = self._limits.max_file - 1
        if last >= 1:
            rotated(self._path, last).unlink(missing_ok=True)
            for i in range(min(last, _highest_rotated(self._path) + 1), 1, -1):
                _rename(rotated(self._path, i - 1), rotated(self._path, i))
        _rename(self._path, rotated(self._path, 1))
        self._f = open(self._path, "wb")
        self._size = 0

    def close(self) -> None:
        for stream, buf in self._partial.items():
            if buf:
                self._entry(stream, buf)
        self._f.close()


def _whole(buf: bytes) -> int:
    """The length of `buf` without a UTF-8 character cut at its end."""
    for back in range(1, min(4, len(buf)) + 1):
        byte = buf[-back]
        if byte < 0x80:
            return len(buf)
        if byte >= 0xC0:   # the character's first byte: how long it is
            return len(buf) if back >= (2 if byte < 0xE0 else 3 if byte < 0xF0 else 4) else len(buf) - back
    return len(buf)   # no first byte within 4: not UTF-8, written as it is


def _rename(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        pass


# -- readers ---------------------------------------------------------------------------------------
def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _path_ident(path: Path) -> tuple[int, int] | None:
    try:
        return _ident(os.stat(path))
    except FileNotFoundError:
        return None


class LogFiles:
    """A log's files as readers walk them: the rotated ones oldest first, then the current one.
    A file the reader holds keeps its inode (no reuse while open), so it is found again by it."""

    def __init__(self, path: Path, limits: Rotation = Rotation()) -> None:
        self.path = path
        self._readable = limits.max_file - 1        # rotated files `logs` reads
        self._kept = max(self._readable, 1)         # rotated files on disk

    def open_oldest(self) -> BinaryIO | None:
        for n in range(min(self._readable, _highest_rotated(self.path)), 0, -1):
            try:
                return open(rotated(self.path, n), "rb")
            except FileNotFoundError:
                continue
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            return None

    def is_current(self, log: BinaryIO) -> bool:
        return _path_ident(self.path) == _ident(os.fstat(log.fileno()))

    def exists(self) -> bool:
        return self.path.exists() or any(rotated(self.path, n).exists()
                                         for n in range(1, min(self._kept, _highest_rotated(self.path)) + 1))

    def successor(self, log: BinaryIO) -> BinaryIO | None:
        """The file begun right after `log` was rotated away (`log` is complete then: the writer
        closed it before the rename), or None while that is not known (a rotation under way).
        Renames go oldest first, so while `log` is `<log>.n` its successor is `<log>.n-1` (or
        `<log>`): checked before and after opening it. A `log` removed meanwhile (the reader
        fell max-file rotations behind; its successors may be gone too) goes on with the oldest."""
        me = _ident(os.fstat(log.fileno()))
        # ascending: `log` only moves up, it cannot be passed (one past the highest there is: it
        # may move up once while this looks)
        for n in range(1, min(self._kept, _highest_rotated(self.path) + 1) + 1):
            if _path_ident(rotated(self.path, n)) != me:
                continue
            try:
                nxt = open(rotated(self.path, n - 1) if n > 1 else self.path, "rb")
            except FileNotFoundError:
                return None
            if _path_ident(rotated(self.path, n)) == me:
                return nxt
            nxt.close()
            return None
        if self._readable < 1:           # max-file 1: only `<log>` is read
            try:
                return open(self.path, "rb")
            except FileNotFoundError:
                return None
        return self.open_oldest()


def _parse(line: bytes) -> LogEntry:
    entry = json.loads(line)
    return LogEntry(entry.get("stream", "stdout"),
                    entry.get("log", "").encode("utf-8", "surrogateescape"),
                    entry.get("time", ""))


def read_entries(files: LogFiles, log: BinaryIO, *, more: Callable[[], bool] | None = None,
                 cancel: threading.Event | None = None, tail: int | None = None) -> Iterator[LogEntry]:
    """The entries of an open log file and of the files written after it. With `more` (true
    while the writer may still write, i.e. the container runs), new entries are waited for;
    once `more()` is false what is left is read and the iteration ends. `cancel` ends it at once
    (a server that stops). `tail` keeps only the last N of the entries there when the reading
    first reaches the end, then passes on every new one (`docker logs -f --tail N`). Holding the
    open file keeps the entries readable after the container is removed. Closes the files it
    opened; the caller closes `log`."""
    pending = b""
    first = log
    held = deque(maxlen=tail) if tail is not None else None
    try:
        while True:
            data = log.read(READ_SIZE)
            if data:
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    if held is None:
                        yield _parse(line)
                    else:
                        held.append(line)    # parsed once kept: N entries, not the whole log
                continue
            if cancel is not None and cancel.is_set():
                return
            if not files.is_current(log):
                if (data := log.read()):      # rotated away: complete, read to its end
                    pending += data
                    continue
                nxt = files.successor(log)
                if nxt is not None:
                    if log is not first:
                        log.close()
                    log, pending = nxt, b""
                    continue
                if not files.exists():
                    break
                time.sleep(FOLLOW_POLL)       # a rotation under way
                continue
            if held is not None:             # the end as it was: the tail, then what comes
                yield from map(_parse, held)
                held = None
            if more is None:
                return
            if not more():
                data = log.read()
                if data:
                    pending += data
                    continue
                if files.is_current(log):
                    return
                continue                      # rotated after all: go on with the next file
            time.sleep(FOLLOW_POLL)
        if held:                              # the files went (the container was removed)
            yield from map(_parse, held)
    finally:
        if log is not first:
            log.close()
