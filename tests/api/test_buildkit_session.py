"""The docker CLI's BuildKit session, bytes in, bytes out: the protobuf wire format, fsutil's
packets written into a directory (what a hostile client sends changes nothing outside it), and
BuildKit's progress as a StatusResponse. The session over a real docker CLI is tested in
tests/builder/graph/test_docker_cli.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.api import buildkit_session as bs
from dockyard.api import protowire as pw
from dockyard.builder.graph.progress import LogInfo, SolveStatus, StatusInfo, VertexInfo
from dockyard.errors import InvalidParameter


def test_varints_and_fields_round_trip() -> None:
    assert pw.varint(0) == b"\x00" and pw.varint(300) == b"\xac\x02"
    assert pw.varint(-1) == b"\xff" * 9 + b"\x01"
    data = pw.uint(1, 150) + pw.text(2, "testing") + pw.uint(3, 0) + pw.message(4, b"")
    assert data == b"\x08\x96\x01\x12\x07testing\x22\x00"  # the protobuf guide's examples; zero left out
    assert list(pw.fields(data)) == [(1, 150), (2, b"testing"), (4, b"")]
    assert pw.signed(list(pw.fields(pw.uint(5, -2)))[0][1]) == -2  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        list(pw.fields(b"\x12\x09short"))


def _stat(path: str, mode: int, linkname: str = "", size: int = 0, mtime_ns: int = 0) -> bytes:
    body = pw.text(1, path) + pw.uint(2, mode) + pw.uint(5, size) + pw.uint(6, mtime_ns) + pw.text(7, linkname)
    return pw.uint(1, bs.STAT) + pw.message(2, body)


class FakeStream:
    """The sender's side of DiffCopy: answers each REQ with the file's bytes in two pieces."""

    def __init__(self, stats: list[bytes], contents: dict[int, bytes]) -> None:
        self.incoming = list(stats) + [pw.uint(1, bs.STAT)]
        self.contents = contents
        self.sent: list[tuple[int, int]] = []

    def can_send(self, size: int) -> bool:
        return True

    def send(self, message: bytes, end: bool = False) -> None:
        kind, _stat, ident, _data = bs.parse_packet(message)
        self.sent.append((kind, ident))
        if kind == bs.REQ:
            data = self.contents[ident]
            self.incoming += [bs.packet(bs.DATA, ident, data[:3]), bs.packet(bs.DATA, ident, data[3:]),
                              bs.packet(bs.DATA, ident)]
        elif kind == bs.FIN:
            self.incoming.append(bs.packet(bs.FIN))

    def recv(self) -> bytes | None:
        return self.incoming.pop(0) if self.incoming else None

    def end(self) -> None:
        pass


def test_a_tree_is_written_with_modes_links_and_times(tmp_path: Path) -> None:
    stats = [_stat("d", bs.MODE_DIR | 0o750, mtime_ns=10**18), _stat("d/f", bs.MODE_SETUID | 0o755, size=7),
             _stat("d/hard", 0o644, linkname="d/f"), _stat("link", bs.MODE_SYMLINK | 0o777, "d/f"),
             _stat("pipe", bs.MODE_PIPE | 0o644), _stat("top", 0o600, size=2)]
    stream = FakeStream(stats, {1: b"content", 5: b"hi"})
    assert bs._receive(stream, tmp_path) == 9
    assert (tmp_path / "d" / "f").read_bytes() == b"content" and (tmp_path / "top").read_bytes() == b"hi"
    assert os.stat(tmp_path / "d" / "f").st_mode & 0o7777 == 0o4755
    assert os.stat(tmp_path / "d").st_mode & 0o7777 == 0o750 and os.stat(tmp_path / "d").st_mtime_ns == 10**18
    assert os.readlink(tmp_path / "link") == "d/f" and os.stat(tmp_path / "d" / "hard").st_nlink == 2
    assert not (tmp_path / "pipe").exists()
    assert stream.sent[-1] == (bs.FIN, 0) and sorted(i for k, i in stream.sent if k == bs.REQ) == [1, 5]


@pytest.mark.parametrize("stats", [
    [_stat("../escape", 0o644)],
    [_stat("/abs", 0o644)],
    [_stat("a/./b", 0o644)],
    [_stat("missing/parent", 0o644)],
    [_stat("up", bs.MODE_SYMLINK | 0o777, "/etc"), _stat("up/passwd", 0o644)],  # never through a symlink
    [_stat("h", 0o644, linkname="../../etc/passwd")],
])
def test_hostile_paths_are_refused_and_nothing_is_written_outside(tmp_path: Path, stats: list[bytes]) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InvalidParameter):
        bs._receive(FakeStream(stats, {}), dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not [p for p in dest.rglob("*") if p.is_file() and not p.is_symlink()]


def test_progress_is_a_buildkit_status_response() -> None:
    status = SolveStatus([VertexInfo("sha256:aa", "[1/2] RUN x", ["sha256:bb"], 1.5, 2.25, True)],
                         [StatusInfo("sending", "sha256:aa", 3, 9, 1.0)],
                         [LogInfo("sha256:aa", 2, b"out\n", 1.75)])
    fields = list(pw.fields(bs.status_response(status)))
    assert [n for n, _ in fields] == [1, 2, 3]  # vertexes, statuses, logs
    vertex = dict((n, v) for n, v in pw.fields(fields[0][1]))  # type: ignore[arg-type]
    assert vertex[1] == b"sha256:aa" and vertex[2] == b"sha256:bb" and vertex[3] == b"[1/2] RUN x" and vertex[4] == 1
    assert list(pw.fields(vertex[5])) == [(1, 1), (2, 500_000_000)]  # type: ignore[arg-type]
    log = dict((n, v) for n, v in pw.fields(fields[2][1]))  # type: ignore[arg-type]
    assert log[3] == 2 and log[4] == b"out\n"
