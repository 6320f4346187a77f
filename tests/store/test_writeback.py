"""atomic.Writeback: a large file goes to the disk while it is written (sync_file_range(2):
each new step started, the step LAG steps back waited for, or, for a reader that must not
stall, only started), from the writer's thread or a thread of its own that follows the file's
size, its bytes unchanged; a small file asks for nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dockyard import atomic
from dockyard.atomic import Writeback


def recording(monkeypatch: pytest.MonkeyPatch, cache: str, real, what) -> list:  # noqa: ANN001
    """What atomic's libc function (kept in `cache`) is asked, as `what(*args)` makes it of
    each call, recorded on the way to the real call."""
    assert real is not None  # Linux has it
    seen: list = []

    def record(*args: int) -> int:
        seen.append(what(*args))
        return real(*args)

    monkeypatch.setattr(atomic, cache, [record])
    return seen


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """The ranges asked of the kernel, recorded on their way to the real call."""
    return recording(monkeypatch, "_sync_file_range", atomic._range_syncer(), lambda fd, o, n, flags: (o, n, flags))


def _write(f, piece: bytes, times: int, writeback: Writeback | None = None) -> None:  # noqa: ANN001
    """`piece` written `times` times to the unbuffered `f`, `writeback` advanced after each."""
    for _ in range(times):
        f.write(piece)
        if writeback is not None:
            writeback.advance(f.tell())


def test_a_large_file_is_written_back_step_by_step(tmp_path: Path, calls) -> None:  # noqa: ANN001
    piece = os.urandom(3 << 20)
    path = tmp_path / "big"
    with open(path, "wb", buffering=0) as f:
        _write(f, piece, 12, Writeback(f.fileno()))  # 36 MiB in 3 MiB writes
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(piece * 12).digest()
    started = [(o, n) for o, n, flags in calls if flags == 2]
    waited = [(o, n) for o, n, flags in calls if flags == 7]
    # contiguous steps of at least 8 MiB from the start, each waited for LAG steps later
    assert started[0][0] == 0 and all(n >= Writeback.STEP for _, n in started)
    assert all(a[0] + a[1] == b[0] for a, b in zip(started, started[1:]))
    assert waited == started[:len(waited)] and len(waited) == len(started) - Writeback.LAG
    order = [(o, flags) for o, _, flags in calls]
    for i, (offset, _) in enumerate(waited):  # step i is waited for once step i+LAG was started
        assert order.index((offset, 7)) > order.index((started[i + Writeback.LAG][0], 2))


def test_without_wait_steps_are_only_started(tmp_path: Path, calls) -> None:  # noqa: ANN001
    with open(tmp_path / "big", "wb") as f:
        f.write(os.urandom(40 << 20))
        f.flush()
        writeback = Writeback(f.fileno(), wait=False)
        for pos in range(1 << 20, 40 << 20, 1 << 20):
            writeback.advance(pos)
    assert calls and all(flags == 2 for _, _, flags in calls)
    assert [o for o, _, _ in calls] == [0, 8 << 20, 16 << 20, 24 << 20]


def test_a_small_file_asks_nothing(tmp_path: Path, calls) -> None:  # noqa: ANN001
    with open(tmp_path / "small", "wb", buffering=0) as f:
        _write(f, b"x" * (1 << 20), 1, Writeback(f.fileno()))
    assert calls == []
    assert (tmp_path / "small").stat().st_size == 1 << 20


def _resident(path: Path) -> int:
    """Bytes of the file in the page cache (util-linux fincore)."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def test_drop_leaves_each_step_out_of_the_cache_once_on_the_disk(tmp_path: Path, calls) -> None:  # noqa: ANN001
    piece = os.urandom(1 << 20)
    path = tmp_path / "big"
    with open(path, "wb", buffering=0) as f:
        _write(f, piece, 64, Writeback(f.fileno(), drop=True))
        # the steps waited for left the cache; what is not yet waited for may stay
        assert _resident(path) <= (Writeback.LAG + 1) * Writeback.STEP
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(piece * 64).digest()


def test_a_following_writeback_starts_what_another_thread_writes(tmp_path: Path, calls) -> None:  # noqa: ANN001
    """Writeback.follow without wait, polling (a commit's tar, written by sendfile too: its
    writer cannot tell where it is): from a thread of its own, each step the file grew by is
    started (SYNC_FILE_RANGE_WRITE only: it never
    waits for the disk), in order, without gaps; write_back then sends the rest and waits for
    it; the bytes are unchanged."""
    step = 32 << 20
    data = os.urandom(1 << 20) * (3 * step // (1 << 20) + 1)
    path = tmp_path / "big"
    with open(path, "wb", buffering=0) as f:
        following = Writeback(f.fileno(), step=step, wait=False).follow(poll=Writeback.POLL)
        for i in range(0, len(data), 1 << 20):
            f.write(data[i:i + (1 << 20)])
            if (i + (1 << 20)) % step == 0:   # the thread sees each whole step before the next
                for _ in range(2000):
                    if calls and calls[-1][0] + calls[-1][1] >= i + (1 << 20):
                        break
                    os.sched_yield()
                    time.sleep(0.001)
        following.stop()
        started = list(calls)
        atomic.write_back(f.fileno())
    assert [flags for _, _, flags in started] == [2] * len(started) and len(started) >= 3
    assert started[0][0] == 0 and all(a[0] + a[1] == b[0] for a, b in zip(started, started[1:]))
    assert all(length >= step for _, length, _ in started)
    assert calls[len(started):] == [(0, 0, 7)]   # wait before, write, wait after: the whole file
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_a_following_writeback_waits_for_the_disk_on_a_thread_of_its_own(tmp_path: Path,  # noqa: ANN001
                                                                          monkeypatch) -> None:
    """Writeback.follow with wait and drop (a pull's blob), woken by the writer's advance: the
    steps (each 8 MiB or more started, the step LAG back waited for), every call made by
    another thread than the writer's; stop() does not wait for the disk: once it has begun, the thread makes no other
    wait than the one it is in (here the thread is held in its first wait until stop has
    begun: that wait is the only one); the bytes are unchanged."""
    in_wait, stopping = threading.Event(), threading.Event()
    real = atomic._range_syncer()

    def record(fd: int, offset: int, length: int, flags: int) -> tuple[int, int, int, int]:
        if flags == 7:
            in_wait.set()
            assert stopping.wait(30), "stop() never began"
        return (threading.get_ident(), offset, length, flags)

    seen = recording(monkeypatch, "_sync_file_range", real, record)
    stop_waiting = Writeback._stop_waiting

    def stop_then_release(self: Writeback) -> None:
        stop_waiting(self)
        stopping.set()

    monkeypatch.setattr(Writeback, "_stop_waiting", stop_then_release)
    piece = os.urandom(1 << 20)
    path = tmp_path / "big"
    with open(path, "wb", buffering=0) as f:
        following = Writeback(f.fileno(), drop=True).follow()
        for i in range(64):
            f.write(piece)
            following.advance(f.tell())
            if i % 8 == 7:  # a step at a time, so the thread sees LAG of them before all 64 MiB
                for _ in range(2000):
                    if sum(n for _, _, n, flags in seen if flags == 2) >= (i + 1) << 20 or in_wait.is_set():
                        break
                    time.sleep(0.001)
        assert in_wait.wait(30), "the thread never waited for a step"
        following.stop()
        assert following._thread is None
    assert seen and threading.get_ident() not in {who for who, _, _, _ in seen}
    started = [(o, n) for _, o, n, flags in seen if flags == 2]
    waited = [(o, n) for _, o, n, flags in seen if flags == 7]
    assert started[0][0] == 0 and all(a[0] + a[1] == b[0] for a, b in zip(started, started[1:]))
    assert all(n >= Writeback.STEP for _, n in started)
    assert waited == started[:1]  # step 0, once step LAG was started; none after stop began
    order = [(o, flags) for _, o, _, flags in seen]
    assert order.index((0, 7)) > order.index((started[Writeback.LAG][0], 2))
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(piece * 64).digest()


def test_preallocate_reserves_a_large_file_without_changing_its_size(tmp_path: Path,  # noqa: ANN001
                                                                      monkeypatch) -> None:
    """atomic.preallocate: fallocate(2) with FALLOC_FL_KEEP_SIZE for a file of at least
    PREALLOCATE_MIN, capped at PREALLOCATE_MAX (the size is a header's word); nothing for a
    small one; the file's size is what is written, whatever was reserved."""
    seen = recording(monkeypatch, "_fallocate", atomic._fallocator(), lambda fd, mode, o, n: (mode, o, n))
    path = tmp_path / "f"
    with open(path, "wb") as f:
        atomic.preallocate(f.fileno(), 4 << 20)
        f.write(b"x" * (1 << 20))  # fewer bytes than reserved: the size is still the bytes'
    assert path.stat().st_size == 1 << 20 and path.read_bytes() == b"x" * (1 << 20)
    with open(tmp_path / "g", "wb") as f:
        atomic.preallocate(f.fileno(), atomic.PREALLOCATE_MIN - 1)
        atomic.preallocate(f.fileno(), 1 << 40)
    assert seen == [(1, 0, 4 << 20), (1, 0, atomic.PREALLOCATE_MAX)]
    assert (tmp_path / "g").stat().st_size == 0


def test_writebehind_keeps_the_order_of_copied_and_filled_bytes(tmp_path: Path) -> None:
    """WritebehindFile: bytes written (copied into its blocks) and bytes read straight into the
    room it gives (taken without a copy) reach the file in the order written, across blocks; a
    write of a block's bytes beyond the room given is refused; its blocks serve the next file."""
    from dockyard.atomic import WritebehindFile

    data = os.urandom(3 * WritebehindFile.BLOCK + 12345)
    spare: list[bytearray] = []
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    pos, turn = 0, 0
    with WritebehindFile(fd, spare) as out:
        while pos < len(data):
            k = min(len(data) - pos, 100_000 + 7 * turn)
            if turn % 2:
                out.write(data[pos:pos + k])
            else:
                room = out.room(k)
                k = len(room)
                room[:] = data[pos:pos + k]
                out.write(room[: k // 2])  # filled in two writes, in order
                out.write(room[k // 2:])
            pos += k
            turn += 1
        room = out.room(10)
        with pytest.raises(ValueError):
            out.write(memoryview(room.obj)[: WritebehindFile.BLOCK])
    assert (tmp_path / "f").read_bytes() == data
    assert spare and all(len(b) == WritebehindFile.BLOCK for b in spare)
