"""BuildKit mode's progress: the solve status stream and the ways buildx prints it.

The solver reports to a `Progress`: vertices start and complete (done, cached or failed),
sub-statuses (`transferring context: 2B done`), and the output of RUN steps. Each report is a
`SolveStatus` (the shape of BuildKit's SolveStatus: vertexes, statuses, logs), handed to a
display:
- `plain` (buildx `--progress=plain`): `#5 [deps 2/3] RUN ...`, output lines as
  `#5 0.061 text` (seconds since the step started), `#5 CACHED`, `#5 DONE 0.4s`,
  `#5 ERROR: ...`; a step interrupted by another's output gets `#5 ...`, then resumes;
- `tty`: a live view redrawn in place (`[+] Building 1.2s (5/8)`, one line per step, the last
  lines of running steps' output);
- `quiet`: nothing (the image ID is printed by the caller);
- `rawjson`: each SolveStatus as one JSON line (what the daemon streams to a client, too);
- `auto`: `tty` on a terminal, else `plain`.
On failure `error_report` writes buildx's summary: the failed step's last output lines between
`------` rules, and the Dockerfile lines around the instruction.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from dockyard.errors import DockyardError, InvalidParameter

# Light (no dataclasses, typing, datetime, shutil): a client of `dockyard serve` displays the
# daemon's statuses with this module, at every start (tests/client/test_budget.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, TextIO

PROGRESS_MODES = ("auto", "plain", "tty", "quiet", "rawjson")
ERROR_LOG_LINES = 10


def _ts(value: float | None) -> str | None:
    """A time as BuildKit's statuses carry it (RFC 3339 in UTC, nanoseconds), to the
    microsecond rounded half to even, as datetime.fromtimestamp rounds it."""
    if value is None:
        return None
    seconds = int(value) if value >= 0 else int(value) - 1
    micro = round((value - seconds) * 1e6)
    if micro >= 1_000_000:
        seconds, micro = seconds + 1, micro - 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds)) + f"{micro:06d}" + "000Z"


def _parse_ts(text: str | None) -> float | None:
    """The seconds since 1970 of a time _ts wrote (`Z`, any fraction)."""
    if not text:
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    date, sep, clock = head.partition("T")
    ymd, hms = date.split("-"), clock.split(":")
    if not sep or len(ymd) != 3 or len(hms) != 3 or not all(p.isdigit() for p in ymd + hms):
        raise ValueError(f"time data {text!r} does not match format '%Y-%m-%dT%H:%M:%S'")
    year, month, day = (int(p) for p in ymd)
    hour, minute, second = (int(p) for p in hms)
    # days from 1970-01-01 to the date (proleptic Gregorian: the civil-from-days inverse)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return float(days * 86400 + hour * 3600 + minute * 60 + second) + (float("0." + frac) if frac else 0.0)


class _Record:
    """Equality and repr by attributes, as dataclasses would give them (not loaded here)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({vars(self)!r})"


class VertexInfo(_Record):
    def __init__(self, digest: str, name: str, inputs: list[str] | None = None, started: float | None = None,
                 completed: float | None = None, cached: bool = False, error: str = "") -> None:
        self.digest = digest
        self.name = name
        self.inputs = [] if inputs is None else inputs
        self.started = started
        self.completed = completed
        self.cached = cached
        self.error = error

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": self.digest, "name": self.name}
        if self.inputs:
            out["inputs"] = self.inputs
        if self.started is not None:
            out["started"] = _ts(self.started)
        if self.completed is not None:
            out["completed"] = _ts(self.completed)
        if self.cached:
            out["cached"] = True
        if self.error:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VertexInfo":
        return cls(str(d.get("digest", "")), str(d.get("name", "")), list(d.get("inputs") or []),
                   _parse_ts(d.get("started")), _parse_ts(d.get("completed")),
                   bool(d.get("cached")), str(d.get("error") or ""))


class StatusInfo(_Record):
    def __init__(self, id: str, vertex: str, current: int = 0, total: int = 0, timestamp: float = 0.0,  # noqa: A002
                 started: float | None = None, completed: float | None = None) -> None:
        self.id = id
        self.vertex = vertex
        self.current = current
        self.total = total
        self.timestamp = timestamp
        self.started = started
        self.completed = completed

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "vertex": self.vertex, "timestamp": _ts(self.timestamp)}
        if self.current:
            out["current"] = self.current
        if self.total:
            out["total"] = self.total
        if self.started is not None:
            out["started"] = _ts(self.started)
        if self.completed is not None:
            out["completed"] = _ts(self.completed)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StatusInfo":
        return cls(str(d.get("id", "")), str(d.get("vertex", "")), int(d.get("current") or 0),
                   int(d.get("total") or 0), _parse_ts(d.get("timestamp")) or 0.0,
                   _parse_ts(d.get("started")), _parse_ts(d.get("completed")))


class LogInfo(_Record):
    def __init__(self, vertex: str, stream: int, data: bytes, timestamp: float) -> None:
        self.vertex = vertex
        self.stream = stream
        self.data = data
        self.timestamp = timestamp

    def to_dict(self) -> dict[str, Any]:
        # a log's bytes on the wire (rawjson, serve) in base64, by binascii, what base64's
        # b64encode and b64decode call: base64 itself loads struct and re (with enum), which a
        # client-mode build's start then paid (tests/client/test_budget.py)
        import binascii

        return {"vertex": self.vertex, "stream": self.stream,
                "data": binascii.b2a_base64(self.data, newline=False).decode(), "timestamp": _ts(self.timestamp)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LogInfo":
        import binascii  # as in to_dict

        return cls(str(d.get("vertex", "")), int(d.get("stream") or 1),
                   binascii.a2b_base64(d.get("data") or ""), _parse_ts(d.get("timestamp")) or 0.0)


class SolveStatus(_Record):
    def __init__(self, vertexes: list[VertexInfo] | None = None, statuses: list[StatusInfo] | None = None,
                 logs: list[LogInfo] | None = None) -> None:
        self.vertexes = [] if vertexes is None else vertexes
        self.statuses = [] if statuses is None else statuses
        self.logs = [] if logs is None else logs

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.vertexes:
            out["vertexes"] = [v.to_dict() for v in self.vertexes]
        if self.statuses:
            out["statuses"] = [s.to_dict() for s in self.statuses]
        if self.logs:
            out["logs"] = [l.to_dict() for l in self.logs]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SolveStatus":
        return cls([VertexInfo.from_dict(v) for v in d.get("vertexes") or []],
                   [StatusInfo.from_dict(s) for s in d.get("statuses") or []],
                   [LogInfo.from_dict(l) for l in d.get("logs") or []])


class SolveFailed(DockyardError):
    """A step failed: its message, plus what buildx prints about it (the step's name, its last
    output lines, the Dockerfile lines of its instruction)."""

    def __init__(self, message: str, step: str | None = None, lines: list[str] | None = None,
                 excerpt: list[str] | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.lines = lines or []
        self.excerpt = excerpt or []


class Display:
    """Where solve statuses go."""

    def update(self, status: SolveStatus) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass

    def error_report(self, failed: VertexInfo | None, message: str,
                     excerpt: list[str] | None, lines: list[str] | None = None) -> None:
        """buildx's summary of a failure (the step's last output lines, the Dockerfile lines)."""


class Progress:
    """The solver's side: thread-safe reports, each passed on as a SolveStatus."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self._lock = threading.Lock()
        self.vertexes: dict[str, VertexInfo] = {}
        self._statuses: dict[tuple[str, str], StatusInfo] = {}
        self.logs: dict[str, list[bytes]] = {}

    def _send(self, status: SolveStatus) -> None:
        self.display.update(status)

    def add(self, digest: str, name: str, inputs: list[str] | None = None) -> None:
        """Announce a vertex (it prints nothing until it starts)."""
        with self._lock:
            if digest in self.vertexes:
                return
            v = VertexInfo(digest, name, list(inputs or []))
            self.vertexes[digest] = v
            self._send(SolveStatus(vertexes=[_copy(v)]))

    def start(self, digest: str) -> None:
        with self._lock:
            v = self.vertexes[digest]
            if v.started is None:
                v.started = time.time()
                self._send(SolveStatus(vertexes=[_copy(v)]))

    def complete(self, digest: str, *, cached: bool = False, error: str = "") -> None:
        with self._lock:
            v = self.vertexes[digest]
            now = time.time()
            if v.started is None:
                v.started = now
            v.completed = now
            v.cached = cached
            v.error = error
            self._send(SolveStatus(vertexes=[_copy(v)]))

    def log(self, digest: str, stream: int, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            self.logs.setdefault(digest, []).append(data)
            self._send(SolveStatus(logs=[LogInfo(digest, stream, data, time.time())]))

    def status(self, digest: str, sid: str, *, current: int = 0, total: int = 0,
               done: bool = False) -> None:
        with self._lock:
            now = time.time()
            s = self._statuses.get((digest, sid))
            if s is None:
                s = self._statuses[(digest, sid)] = StatusInfo(sid, digest, started=now)
            s.current, s.total, s.timestamp = current, total, now
            if done:
                s.completed = now
            self._send(SolveStatus(statuses=[StatusInfo(**vars(s))]))

    def feed(self, status: SolveStatus) -> None:
        """A status that arrived from a daemon (client mode)."""
        with self._lock:
            for v in status.vertexes:
                self.vertexes[v.digest] = _copy(v)
            for l in status.logs:
                self.logs.setdefault(l.vertex, []).append(l.data)
            self._send(status)

    def close(self) -> None:
        self.display.close()

    def failed(self) -> VertexInfo | None:
        for v in self.vertexes.values():
            if v.error:
                return v
        return None

    def last_lines(self, digest: str, count: int = ERROR_LOG_LINES) -> list[str]:
        text = b"".join(self.logs.get(digest, [])).decode("utf-8", "replace")
        lines = text.splitlines()
        return lines[-count:]


def _copy(v: VertexInfo) -> VertexInfo:
    return VertexInfo(v.digest, v.name, list(v.inputs), v.started, v.completed, v.cached, v.error)


def _log_time(seconds: float) -> str:
    prec = 3 if seconds < 10 else 2 if seconds < 100 else 1
    return f"{max(seconds, 0.0):.{prec}f}"


def _human_bytes(n: int) -> str:
    """go-units' HumanSize in the %.2f form buildx prints statuses with."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.2f}{unit}" if unit != "B" else f"{n}B"
        n /= 1000  # type: ignore[assignment]
    return f"{n}B"


class _PlainVertex:
    def __init__(self, index: int, info: VertexInfo) -> None:
        self.index = index
        self.info = info
        self.partial = b""
        self.partial_ts = 0.0
        self.printed_statuses: dict[str, float] = {}


class PlainDisplay(Display):
    """buildx's plain printer: one block of `#N` lines per step, a blank line between blocks."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._lock = threading.Lock()
        self.by_digest: dict[str, _PlainVertex] = {}
        self.current: str | None = None
        self.first = True
        self.next_index = 0

    def _vertex(self, info: VertexInfo) -> _PlainVertex:
        pv = self.by_digest.get(info.digest)
        if pv is None:
            self.next_index += 1
            pv = self.by_digest[info.digest] = _PlainVertex(self.next_index, info)
        return pv

    def _write(self, text: str) -> None:
        self.out.write(text)

    def _switch(self, pv: _PlainVertex) -> None:
        if self.current == pv.info.digest:
            return
        if self.current is not None:
            old = self.by_digest[self.current]
            self._flush_partial(old)
            self._write(f"#{old.index} ...\n")
        if self.first:
            self.first = False
        else:
            self._write("\n")
        self._write(f"#{pv.index} {pv.info.name}\n")
        self.current = pv.info.digest

    def _log_line(self, pv: _PlainVertex, line: bytes, ts: float) -> None:
        started = pv.info.started if pv.info.started is not None else ts
        self._write(f"#{pv.index} {_log_time(ts - started)} {_text(line)}\n")

    def _flush_partial(self, pv: _PlainVertex) -> None:
        if pv.partial:
            self._log_line(pv, pv.partial, pv.partial_ts)
            pv.partial = b""

    def update(self, status: SolveStatus) -> None:
        with self._lock:
            for info in status.vertexes:
                pv = self._vertex(info)
                pv.info = info
                if info.started is None:
                    continue
                self._switch(pv)
                if info.completed is not None:
                    self._finish(pv)
            for s in status.statuses:
                pv = self.by_digest.get(s.vertex)
                if pv is None:
                    continue
                self._switch(pv)
                done = s.completed is not None
                # As buildx shows them at its refresh rate: a status that completes quickly
                # is one line, `... done`; a long one shows again every few seconds.
                last = pv.printed_statuses.get(s.id)
                if not done and (last is not None or s.timestamp - (s.started or s.timestamp) < 0.2) \
                        and (last is None or s.timestamp - last < 5):
                    continue
                pv.printed_statuses[s.id] = s.timestamp
                size = f" {_human_bytes(s.current)}" if s.current and not s.total else (
                    f" {_human_bytes(s.current)} / {_human_bytes(s.total)}" if s.total else "")
                end = s.completed if s.completed is not None else s.timestamp
                tm = ""
                if s.started is not None and end - s.started > 0.01:
                    tm = f" {end - s.started:.1f}s"
                self._write(f"#{pv.index} {s.id}{size}{tm}{' done' if done else ''}\n")
            for log in status.logs:
                pv = self.by_digest.get(log.vertex)
                if pv is None:
                    continue
                self._switch(pv)
                data = pv.partial + log.data
                *lines, rest = data.split(b"\n")
                for line in lines:
                    self._log_line(pv, line, pv.partial_ts if pv.partial else log.timestamp)
                    pv.partial = b""
                if rest and not pv.partial:
                    pv.partial_ts = log.timestamp
                pv.partial = rest
            self.out.flush()

    def _finish(self, pv: _PlainVertex) -> None:
        info = pv.info
        self._flush_partial(pv)
        if info.error:
            self._write(f"#{pv.index} ERROR: {info.error}\n")
        elif info.cached:
            self._write(f"#{pv.index} CACHED\n")
        else:
            elapsed = (info.completed or 0) - (info.started or 0)
            self._write(f"#{pv.index} DONE {elapsed:.1f}s\n")
        self.current = None

    def error_report(self, failed: VertexInfo | None, message: str,
                     excerpt: list[str] | None, lines: list[str] | None = None) -> None:
        _write_error_report(self.out, failed, message, excerpt, lines)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace").rstrip("\r")


def _write_error_report(out: TextIO, failed: VertexInfo | None, message: str,
                        excerpt: list[str] | None, lines: list[str] | None) -> None:
    if failed is not None:
        out.write("------\n")
        out.write(f" > {failed.name}:\n")
        for line in lines or []:
            out.write(line + "\n")
        out.write("------\n")
    if excerpt:
        for line in excerpt:
            out.write(line + "\n")
    out.flush()


class QuietDisplay(Display):
    def update(self, status: SolveStatus) -> None:
        pass


class RawJsonDisplay(Display):
    """Each SolveStatus as one line of JSON (buildx --progress=rawjson)."""

    def __init__(self, out: TextIO) -> None:
        import json  # for this display only: the light client's other displays load no json (nor re)

        self.out = out
        self._lock = threading.Lock()
        self._dumps = json.dumps

    def update(self, status: SolveStatus) -> None:
        with self._lock:
            self.out.write(self._dumps(status.to_dict(), separators=(",", ":")) + "\n")
            self.out.flush()


class CallbackDisplay(Display):
    """Hands each SolveStatus to a function (the daemon's JSON message stream)."""

    def __init__(self, send: Callable[[SolveStatus], None]) -> None:
        self.send = send

    def update(self, status: SolveStatus) -> None:
        self.send(status)


class _TtyVertex:
    def __init__(self, info: VertexInfo) -> None:
        self.info = info
        self.statuses: dict[str, StatusInfo] = {}
        self.tail: list[str] = []
        self.partial = ""


class TtyDisplay(Display):
    """A live view redrawn in place, as buildx's tty mode: the header with the elapsed time and
    the count of finished steps, one line per started step, running steps' last output lines."""

    TAIL = 6

    def __init__(self, out: TextIO, interval: float = 0.1) -> None:
        self.out = out
        self._lock = threading.Lock()
        self.order: list[str] = []
        self.by_digest: dict[str, _TtyVertex] = {}
        self.start = time.time()
        self.drawn = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval,), daemon=True)
        self._thread.start()

    def update(self, status: SolveStatus) -> None:
        with self._lock:
            for info in status.vertexes:
                tv = self.by_digest.get(info.digest)
                if tv is None:
                    tv = self.by_digest[info.digest] = _TtyVertex(info)
                tv.info = info
                if info.started is not None and info.digest not in self.order:
                    self.order.append(info.digest)
            for s in status.statuses:
                tv = self.by_digest.get(s.vertex)
                if tv is not None:
                    tv.statuses[s.id] = s
            for log in status.logs:
                tv = self.by_digest.get(log.vertex)
                if tv is None:
                    continue
                text = tv.partial + log.data.decode("utf-8", "replace")
                *lines, tv.partial = text.split("\n")
                tv.tail = (tv.tail + [l.rstrip("\r") for l in lines])[-self.TAIL:]

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._draw()

    def _lines(self, width: int) -> list[str]:
        now = time.time()
        done = sum(1 for tv in self.by_digest.values() if tv.info.completed is not None)
        title = "Building" if any(tv.info.completed is None for tv in self.by_digest.values()
                                  if tv.info.started is not None) else "Building"
        finished = all(tv.info.completed is not None for tv in self.by_digest.values()
                       if tv.info.started is not None) and self._stop.is_set()
        header = f"[+] {title} {now - self.start:.1f}s ({done}/{len(self.by_digest)})"
        if finished:
            header += " FINISHED"
        lines = [header]
        for digest in self.order:
            tv = self.by_digest[digest]
            info = tv.info
            end = info.completed if info.completed is not None else now
            elapsed = f"{end - (info.started or end):.1f}s"
            prefix = " => "
            name = info.name
            if info.cached:
                name = "CACHED " + name
            if info.error:
                name = "ERROR " + name
            lines.append(_fit(prefix + name, elapsed, width))
            for s in tv.statuses.values():
                s_end = s.completed if s.completed is not None else now
                text = f" => => {s.id}" + (f" {_human_bytes(s.current)}" if s.current else "")
                lines.append(_fit(text, f"{s_end - (s.started or s_end):.1f}s", width))
            if info.completed is None or info.error:
                for line in tv.tail:
                    lines.append(_fit(f" => => # {line}", "", width))
        return lines

    def _draw(self) -> None:
        with self._lock:
            import shutil  # a terminal's view only

            width = shutil.get_terminal_size((80, 24)).columns
            lines = self._lines(width)
            out = []
            if self.drawn:
                out.append(f"\x1b[{self.drawn}A")
            for line in lines:
                out.append("\x1b[K" + line + "\n")
            self.out.write("".join(out))
            self.out.flush()
            self.drawn = len(lines)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._draw()

    def error_report(self, failed: VertexInfo | None, message: str,
                     excerpt: list[str] | None, lines: list[str] | None = None) -> None:
        _write_error_report(self.out, failed, message, excerpt, lines)


def _fit(text: str, right: str, width: int) -> str:
    room = max(width - len(right) - 1, 10)
    if len(text) > room:
        text = text[: room - 3] + "..."
    return text.ljust(room) + " " + right if right else text


def make_display(mode: str, out: TextIO | None = None) -> Display:
    out = out if out is not None else sys.stderr
    if mode not in PROGRESS_MODES:
        raise InvalidParameter(f'invalid progress mode "{mode}": use auto, plain, tty, quiet or rawjson')
    if mode == "auto":
        mode = "tty" if _is_terminal(out) else "plain"
    if mode == "tty":
        if not _is_terminal(out):
            raise InvalidParameter("failed to get console: not a terminal (use --progress=plain)")
        return TtyDisplay(out)
    if mode == "plain":
        return PlainDisplay(out)
    if mode == "rawjson":
        return RawJsonDisplay(out)
    return QuietDisplay()


def _is_terminal(out: TextIO) -> bool:
    try:
        return os.isatty(out.fileno()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, OSError, ValueError):
        return False


def dockerfile_excerpt(text: str, filename: str, first: int, last: int, context: int = 4) -> list[str]:
    """buildx's excerpt: `Dockerfile:3`, a rule, numbered lines with `>>>` on the failing
    instruction's lines, a rule."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    start = max(first - context, 1)
    end = min(last + context, len(lines))
    width = max(len(str(end)), 4)
    out = [f"{filename}:{first}" if first == last else f"{filename}:{first}-{last}", "-" * 20]
    for n in range(start, end + 1):
        mark = ">>>" if first <= n <= last else "   "
        out.append(f"{str(n).rjust(width)} | {mark} {lines[n - 1]}".rstrip())
    out.append("-" * 20)
    return out
