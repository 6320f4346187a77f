"""What glibc's malloc keeps of the memory a process frees: one choice per process, by what the
process is. A short transfer (a CLI pull or push) keeps its freed chunks for the next ones, which
saves page faults, and ends soon anyway; a long-running server (`dockyard serve`) must give back
what a request freed, or it holds each arena's high-water mark for good. The first choice made
wins: serve makes its own at its start, before any transfer could make the other. Where there is
no glibc, nothing changes."""

from __future__ import annotations

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt(3) parameters
_chosen: list[str] = []                         # "keep" or "give back", once chosen
_libc: list = []                                # [glibc's functions, or None], once looked up


def _glibc():  # noqa: ANN202 - the ctypes library, or None
    if not _libc:
        import ctypes  # the choosers only: see the in-process budget, tests/test_start_up.py

        lib = ctypes.CDLL(None)
        _libc.append(lib if hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") else None)
    return _libc[0]


def _choose(choice: str, mmap_threshold: int, trim_threshold: int) -> None:
    if _chosen:
        return
    _chosen.append(choice)
    lib = _glibc()
    if lib is not None:
        lib.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
        lib.mallopt(_M_TRIM_THRESHOLD, trim_threshold)


def keep_freed_chunks() -> None:
    """For a short-lived transfer (a pipe's first use): a pipe's MiB chunks are made by one thread
    (a socket read, a compressor's block) and freed by the other; glibc mmaps a chunk over its
    threshold (128 KiB until a free raises it) and trims a thread's arena once 2 MiB at its top
    are free, so chunks kept landing on fresh pages: a fault and a zeroed page per 4 KiB, and an
    munmap (a TLB shootdown on the other cores) per chunk. Chunks up to 4 MiB now come from the
    arenas, which keep up to 64 MiB free: the peak is still what the transfer holds at once. Not
    in a server that chose to give back (give_back_freed)."""
    _choose("keep", 4 << 20, 64 << 20)


def give_back_freed() -> None:
    """For a long-running server, at its start: fixed thresholds (chunks over 4 MiB mmapped, an
    arena's top trimmed past 4 MiB free). glibc's own are dynamic: each free of a large mmapped
    chunk raises them, up to 32 MiB mmap and 64 MiB kept free at the top of each thread's arena
    (up to 8 per core), so a server kept, after its large requests, tens of MB it had freed. The
    transfers' MiB chunks still come from the arenas: at 256 KiB each was mmapped and faulted
    anew, and a 300 MiB `docker load` through serve took 0.54 -> 0.70 s of its CPU."""
    _choose("give back", 4 << 20, 4 << 20)


def trim() -> None:
    """In a server that gives back: return the free pages inside the arenas (malloc_trim(0)),
    which the top-of-arena threshold does not reach (a live chunk above them). Called when a
    long request ends; it costs a walk of the free lists, so not after every small one."""
    if _chosen == ["give back"]:
        lib = _glibc()
        if lib is not None:
            lib.malloc_trim(0)
