"""json-file's rotated files walked by what there is, not by max-file: `--log-opt
max-file=99999999999` (dockerd takes it) made each `logs` and each rotation try that many names."""

from __future__ import annotations

import threading
from pathlib import Path

from dockyard.runtime.logs import LogFiles, LogWriter, Rotation, read_entries, remove_files


def test_a_huge_max_file_walks_only_the_files_there_are(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    path = tmp_path / "c" / "c-json.log"
    limits = Rotation(max_size=100, max_file=99_999_999_999)
    read: list[bytes] = []

    def write_rotate_read() -> None:
        writer = LogWriter(path, limits)
        for i in range(30):                  # ~60 bytes an entry: a rotation every other line
            writer.write("stdout", b"line-%d\n" % i)
        writer.close()
        files = LogFiles(path, limits)
        log = files.open_oldest()
        with log:
            read.extend(e.data for e in read_entries(files, log))
        remove_files(path, limits)

    worker = threading.Thread(target=write_rotate_read, daemon=True)
    worker.start()
    worker.join(60)   # not a timing: without the bound it tries 10^11 names
    assert read == [b"line-%d\n" % i for i in range(30)]
    assert list((tmp_path / "c").iterdir()) == []


def test_lines_are_json_file_entries(tmp_path: Path) -> None:
    """Each line is dockerd's json-file entry, json.dumps's bytes (written out by hand: the
    dict's encoder and a strftime per line were most of `run`'s cost for a chatty command):
    lines split across writes, escapes, invalid UTF-8, a partial last line, rising times."""
    import json

    path = tmp_path / "c-json.log"
    writer = LogWriter(path)
    data = b"".join(b"%d\n" % i for i in range(3000)) + 'é\t"\\\x01\u2028 <>&'.encode() + b"\xff\nend"
    for start in range(0, len(data), 1000):
        writer.write("stderr", data[start:start + 1000])
    writer.close()
    lines = path.read_bytes().splitlines()
    entries = [json.loads(line) for line in lines]
    assert "".join(e["log"] for e in entries) == data.decode("utf-8", "replace")
    assert [e["log"] for e in entries[-2:]] == ['é\t"\\\x01\u2028 <>&\ufffd\n', "end"]
    for line, entry in zip(lines, entries):
        assert line == json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()
        assert entry["stream"] == "stderr" and len(entry["time"]) == len("2026-01-02T03:04:05.123456000Z")
    times = [e["time"] for e in entries]
    assert times == sorted(times)


def test_a_paused_partial_line_is_written_whole_characters_only(tmp_path: Path) -> None:
    """The monitor writes a partial line once the output pauses (a prompt, for attach): as it
    is, but a UTF-8 character cut at its end waits for its other bytes; then the line's rest."""
    import json

    path = tmp_path / "c-json.log"
    writer = LogWriter(path)
    writer.write("stdout", "/ # \u00e9".encode()[:-1])
    assert writer.pending()
    writer.flush_partial()
    assert not writer.pending()   # only the cut character's first byte waits
    writer.write("stdout", "\u00e9".encode()[1:] + b"x\ny")
    writer.close()
    assert [json.loads(line)["log"] for line in path.read_bytes().splitlines()] == ["/ # ", "\u00e9x\n", "y"]
