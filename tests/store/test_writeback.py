"""atomic.Writeback: a large file goes to the disk while it is written (sync_file_range(2):
each new 8 MiB step started, the one before it waited for), its bytes unchanged; a small file
asks for nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dockyard import atomic
from dockyard.atomic import Writeback, WritebackFile


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """The ranges asked of the kernel, recorded on their way to the real call."""
    real = atomic._range_syncer()
    assert real is not None  # Linux has sync_file_range
    seen: list[tuple[int, int, int]] = []

    def record(fd: int, offset: int, length: int, flags: int) -> int:
        seen.append((offset, length, flags))
        return real(fd, offset, length, flags)

    monkeypatch.setattr(atomic, "_sync_file_range", [record])
    return seen


def test_a_large_file_is_written_back_step_by_step(tmp_path: Path, calls) -> None:  # noqa: ANN001
    piece = os.urandom(3 << 20)
    path = tmp_path / "big"
    with open(path, "wb") as f:
        out = WritebackFile(f)
        for _ in range(12):  # 36 MiB in 3 MiB writes
            out.write(piece)
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(piece * 12).digest()
    started = [(o, n) for o, n, flags in calls if flags == 2]
    waited = [(o, n) for o, n, flags in calls if flags == 7]
    # contiguous steps of at least 8 MiB from the start, each waited for once the next began
    assert started[0][0] == 0 and all(n >= Writeback.STEP for _, n in started)
    assert all(a[0] + a[1] == b[0] for a, b in zip(started, started[1:]))
    assert waited == started[:len(waited)] and len(waited) == len(started) - 1


def test_a_small_file_asks_nothing(tmp_path: Path, calls) -> None:  # noqa: ANN001
    with open(tmp_path / "small", "wb") as f:
        WritebackFile(f).write(b"x" * (1 << 20))
    assert calls == []
    assert (tmp_path / "small").stat().st_size == 1 << 20
