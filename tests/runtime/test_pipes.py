"""runtime/pipes.drain: a foreground process's stdout and stderr read to their end on the
calling thread (a build step's runtime)."""

from __future__ import annotations

import os
import select
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


MAKES_A_FILE = """
import os, select, sys
folder = sys.argv[1]
with open(os.path.join(folder, ".made"), "w") as f:   # as runc writes its pid file
    f.write("1")
os.rename(os.path.join(folder, ".made"), os.path.join(folder, "made"))
ready, _, _ = select.select([0], [], [], 20)           # until the parent answers (or gives up)
sys.exit(0 if ready and os.read(0, 1) == b"y" else 1)
"""


def test_until_is_asked_when_a_name_appears_in_the_watched_folder(tmp_path) -> None:
    # The one-shot container's look for its runtime's pid file: with a `new_names` descriptor,
    # drain asks `until` again when a name appears in the folder, not every `interval` (an hour
    # here). The process waits for the answer that only `until` gives once it saw the file: had
    # drain waited for the interval, the process would give up after 20 s and exit 1.
    seen: list[bool] = []
    with pipes.new_names(tmp_path) as watch:
        assert watch is not None
        answer_r, answer_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        proc = subprocess.Popen([sys.executable, "-c", MAKES_A_FILE, str(tmp_path)], stdin=answer_r,
                                stdout=out_w, stderr=err_w)
        for fd in (answer_r, out_w, err_w):
            os.close(fd)

        def until() -> bool:
            seen.append((tmp_path / "made").exists())
            if seen[-1]:
                os.write(answer_w, b"y")
            return seen[-1]

        try:
            pipes.drain({out_r: lambda d: None, err_r: lambda d: None}, until=until, interval=3600,
                        wake=watch)
        finally:
            os.close(answer_w)
    assert proc.wait() == 0
    assert seen[0] is False and seen[-1] is True and seen.count(True) == 1   # then no more asked


def _has_news(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_a_watch_ends_with_its_block_and_the_next_folder_is_watched_alone(tmp_path) -> None:
    # new_names keeps its inotify instance for the next block (closing one costs a step ~14 ms
    # of the kernel's grace period): the next block gets it without the last one's watch or
    # events, so a name in the old folder never wakes the next step's look.
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    with pipes.new_names(first) as watch:
        assert watch is not None and not _has_news(watch)
        (first / "pid").write_text("1")
        assert _has_news(watch)
    with pipes.new_names(second) as again:
        assert again == watch               # the same instance, handed on
        assert not _has_news(again)         # the last block's event is gone with it
        (first / "late").write_text("1")
        assert not _has_news(again)         # the old folder is no longer watched
        os.rename(second / ".." / "first" / "late", second / "moved")
        assert _has_news(again)             # a name renamed into the new one is news


def _inotify_instances() -> set[int]:
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "anon_inode:inotify":
                fds.add(int(name))
        except OSError:
            pass
    return fds


def test_instances_kept_are_bounded(tmp_path) -> None:
    # Steps at once (serve's builds) each take an instance; once they end, at most IDLE_MAX stay
    # open for the next ones (the user's instances are limited, and shared by every program).
    others = _inotify_instances() - set(pipes._idle)
    blocks = []
    fds = []
    for i in range(pipes.IDLE_MAX + 3):
        folder = tmp_path / str(i)
        folder.mkdir()
        block = pipes.new_names(folder)
        fds.append(block.__enter__())
        blocks.append(block)
    assert None not in fds and len(set(fds)) == len(fds)   # one instance each, none shared
    assert set(fds) <= _inotify_instances()
    for block in blocks:
        block.__exit__(None, None, None)
    assert len(_inotify_instances() - others) == pipes.IDLE_MAX
