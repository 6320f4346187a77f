"""Overlay mount data: absolute paths straight to mount(2) when they fit, else None (the
`mount` command then runs in the store root with relative paths; see test_image_with_many_layers);
the options that keep the upper directory a whole diff."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from dockyard.runtime.rootfs import MOUNT_DATA_MAX, _absolute_options, diffable_options


def test_absolute_options_name_every_directory(tmp_path: Path) -> None:
    root = tmp_path / "store"
    data = _absolute_options(root, ["containers/c/init", "l/AAAA"], root / "containers/c/upper",
                             root / "containers/c/work")
    assert data == (f"lowerdir={root}/containers/c/init:{root}/l/AAAA,"
                    f"upperdir={root}/containers/c/upper,workdir={root}/containers/c/work").encode()


def test_absolute_options_give_way_when_they_cannot_be_said(tmp_path: Path) -> None:
    odd = tmp_path / "a:b"
    assert _absolute_options(odd, ["l/A"], odd / "u", odd / "w") is None
    root = tmp_path / "store"
    many = [f"l/{i:026d}" for i in range(MOUNT_DATA_MAX // 26)]
    assert _absolute_options(root, many, root / "u", root / "w") is None


def _overlay(tmp_path: Path, options: str) -> tuple[Path, Path]:
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for d in (lower / "dir", upper, work, merged):
        d.mkdir(parents=True)
    (lower / "dir" / "kept").write_text("a file of the lower layer\n")
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={upper},workdir={work}{options}", str(merged)], check=True)
    return merged, upper


def test_the_upper_directory_stays_a_whole_diff_whatever_the_kernels_defaults(tmp_path: Path) -> None:
    """A kernel whose overlay has redirect_dir (or metacopy) on by default makes an upper
    directory that is no diff: a renamed directory of a lower layer is an upper directory with a
    pointer to the rest (the layer a commit makes lost `kept`), a chown a file without its data.
    dockerd's overlay2 then stops diffing the upper directory; dockyard mounts with both off.
    Shown with this kernel's options said explicitly (its defaults are off: the module's
    parameters are the host's, not a test's to flip)."""
    params = tmp_path / "parameters"
    params.mkdir()
    assert diffable_options(params) == ""                       # a kernel without the features
    (params / "redirect_dir").write_text("Y\n")
    (params / "metacopy").write_text("N\n")
    assert diffable_options(params) == ",redirect_dir=off"
    (params / "metacopy").write_text("Y\n")
    options = diffable_options(params)
    assert options == ",redirect_dir=off,metacopy=off"
    try:
        merged, upper = _overlay(tmp_path / "on", ",redirect_dir=on")
        os.rename(merged / "dir", merged / "moved")              # the hazard, on this kernel
        assert (merged / "moved" / "kept").exists() and not (upper / "moved" / "kept").exists()
        merged, upper = _overlay(tmp_path / "off", options)
        with pytest.raises(OSError) as failed:
            os.rename(merged / "dir", merged / "moved")          # mv copies it then: a whole diff
        assert failed.value.errno == errno.EXDEV
        os.chown(merged / "dir" / "kept", 1000, 1000)
        assert (upper / "dir" / "kept").read_text() == "a file of the lower layer\n"
    finally:
        for point in (tmp_path / "on" / "merged", tmp_path / "off" / "merged"):
            subprocess.run(["umount", str(point)], capture_output=True)
