"""Overlay mount data: absolute paths straight to mount(2) when they fit, else None (the
`mount` command then runs in the store root with relative paths; see test_image_with_many_layers)."""

from __future__ import annotations

from pathlib import Path

from dockyard.runtime.rootfs import MOUNT_DATA_MAX, _absolute_options


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
