"""A loop-mounted ext4 whose power can be cut: the disk as it is at that instant, without a flush.

`PowerCutDisk.cut()` copies the image file while the file system stays mounted: what ext4 has
written to the loop device (data written back, journal commits, which an fsync forces) is in the
copy; what sits only in ext4's page cache (data never fsynced and not yet written back: writeback
waits up to 30 s) is not. Mounting the copy replays its journal, as the next boot would. This
loses unsynced data exactly as a power cut does (a rename committed by some later fsync while the
renamed file's delayed-allocation data was never written shows as an empty file), and needs no
device mapper (dm-flakey/dm-log-writes are not in every kernel: not in this machine's).
The file system is mounted with commit=600, so only fsyncs commit the journal during a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class PowerCutDisk:
    def __init__(self, folder: Path, size_mb: int = 256) -> None:
        self.folder = folder
        self.image = folder / "disk.img"
        self.mnt = folder / "mnt"
        self.mounts: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(size_mb << 20)
        _run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(self.image))
        self._mount(self.image, self.mnt, "commit=600")

    def _mount(self, image: Path, at: Path, options: str = "") -> None:
        at.mkdir(parents=True, exist_ok=True)
        _run("mount", "-o", f"loop{',' + options if options else ''}", str(image), str(at))
        self.mounts.append(at)

    def cut(self, name: str = "after") -> Path:
        """The disk after a power cut now: a copy, mounted (its journal replayed) at the path
        returned. The original stays mounted and usable."""
        copy = self.folder / f"{name}.img"
        with open(self.image, "rb") as src, open(copy, "wb") as dst:
            size = os.fstat(src.fileno()).st_size
            offset = 0
            while offset < size:  # only the allocated parts: the image is mostly holes
                try:
                    data = os.lseek(src.fileno(), offset, os.SEEK_DATA)
                except OSError:
                    break
                hole = os.lseek(src.fileno(), data, os.SEEK_HOLE)
                os.copy_file_range(src.fileno(), dst.fileno(), hole - data, data, data)
                offset = hole
            dst.truncate(size)
        at = self.folder / name
        self._mount(copy, at)
        return at

    def close(self) -> None:
        for at in reversed(self.mounts):
            _unmount_all_under(at)
            if subprocess.run(["umount", str(at)], capture_output=True).returncode != 0:
                # Busy: this test process may hold a file of the store open (a Store's temp
                # folder lock). Detached now, gone when the last user lets go.
                subprocess.run(["umount", "-l", str(at)], capture_output=True)
        self.mounts.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def _unmount_all_under(base: Path) -> None:
    prefix = str(base) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
