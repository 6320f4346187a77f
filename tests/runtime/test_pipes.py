"""runtime/pipes.drain: a foreground process's stdout and stderr read to their end on the
calling thread (a build step's runtime)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from dockyard.runtime import pipes

WRITER = """
import os, sys
for i in range(64):
    os.write(1, b"o" * 10000)
    os.write(2, b"e" * 10000)
"""


def _started(script: str) -> tuple[subprocess.Popen, int, int]:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=out_w, stderr=err_w)
    os.close(out_w)
    os.close(err_w)
    return proc, out_r, err_r


def test_both_pipes_are_read_whole_on_this_thread() -> None:
    proc, out_r, err_r = _started(WRITER)
    out: list[bytes] = []
    err: list[bytes] = []
    threads = threading.active_count()
    pipes.drain({out_r: out.append, err_r: err.append})
    assert threading.active_count() == threads
    assert proc.wait() == 0
    assert b"".join(out) == b"o" * 640_000
    assert b"".join(err) == b"e" * 640_000


def test_a_failing_output_drops_the_rest_and_the_writer_never_blocks() -> None:
    proc, out_r, err_r = _started(WRITER)
    err: list[bytes] = []

    def broken(data: bytes) -> None:
        raise BrokenPipeError("the client went away")

    pipes.drain({out_r: broken, err_r: err.append})
    assert proc.wait() == 0   # 640 KB on stdout, ten times a pipe's capacity: read and dropped
    assert b"".join(err) == b"e" * 640_000


def test_until_is_asked_until_it_is_true() -> None:
    proc, out_r, err_r = _started("import time; time.sleep(0.2)")
    asked: list[int] = []

    def until() -> bool:
        asked.append(1)
        return len(asked) >= 3

    pipes.drain({out_r: lambda d: None, err_r: lambda d: None}, until=until, interval=0.01)
    assert proc.wait() == 0
    assert len(asked) == 3   # asked at the start, then at each tick until true, then no more
