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
