"""overlay_changes == what `docker diff` prints (moby ChangesDirs of the merged trees)."""

from __future__ import annotations

import io
import os
import shutil
import stat
from pathlib import Path

from dockyard.archive.apply import apply_layer
from dockyard.archive.changes import Change, overlay_changes
from dockyard.archive.diff import write_overlay_diff

from .conftest import snapshot


def listing(changes: list[Change]) -> list[str]:
    return [str(c) for c in changes]


def build_lowers(tmp_path: Path) -> tuple[Path, Path]:
    """Two layer dirs in overlay form: bottom (lower1) and top (lower0)."""
    l1, l0 = tmp_path / "lower1", tmp_path / "lower0"
    for rel, content in {
        "bin/sh": "shell", "etc/passwd": "root:x:0:0\n", "etc/hosts": "127.0.0.1 localhost\n",
        "etc/keep": "k", "var/lib/data/x": "x", "var/lib/data/y": "y", "usr/share/doc/readme": "r",
        "opt/keep": "k",
    }.items():
        (l1 / rel).parent.mkdir(parents=True, exist_ok=True)
        (l1 / rel).write_text(content)
    os.chmod(l1 / "var" / "lib" / "data", 0o700)
    (l1 / "tmp").mkdir(mode=0o1777)
    (l0 / "opt").mkdir(parents=True)
    (l0 / "opt" / "l0file").write_text("from l0")
    (l0 / "usr" / "share" / "doc").mkdir(parents=True)
    os.mknod(l0 / "usr" / "share" / "doc" / "readme", stat.S_IFCHR, 0)  # deleted by l0
    return l1, l0


def test_real_overlay_matches_docker_diff_and_flattens(tmp_path: Path, overlay_mount) -> None:  # noqa: ANN001
    """The same operations run in a real Docker container (dockerd 20.10, overlay2) gave this
    `docker diff` (sorted); overlay_changes on that container's upper/lower dirs matched it line
    for line, including the opaque-dir case (C dir, D old entries, A new)."""
    l1, l0 = build_lowers(tmp_path)
    merged, upper = overlay_mount([l0, l1])
    with open(merged / "etc" / "passwd", "a") as f:
        f.write("me:x:1000:1000\n")
    os.unlink(merged / "etc" / "hosts")
    (merged / "newfile").write_text("n")
    (merged / "new" / "dir").mkdir(parents=True)
    (merged / "new" / "dir" / "f").write_text("f")
    shutil.rmtree(merged / "var" / "lib" / "data")
    (merged / "var" / "lib" / "data").mkdir()
    (merged / "var" / "lib" / "data" / "z").write_text("z")
    os.chmod(merged / "bin" / "sh", 0o600)
    os.unlink(merged / "opt" / "l0file")
    (merged / "usr" / "share" / "doc" / "readme").write_text("back again")

    assert listing(overlay_changes(upper, [l0, l1])) == [
        "C /bin", "C /bin/sh",
        "C /etc", "D /etc/hosts", "C /etc/passwd",
        "A /new", "A /new/dir", "A /new/dir/f",
        "A /newfile",
        "C /opt", "D /opt/l0file",
        "C /usr", "C /usr/share", "C /usr/share/doc", "A /usr/share/doc/readme",
        "C /var", "C /var/lib", "C /var/lib/data",
        "D /var/lib/data/x", "D /var/lib/data/y", "A /var/lib/data/z",
    ]

    # The upper dir as a layer, applied (naive whiteouts) over the flattened lowers, gives the
    # merged view the container saw.
    flat = tmp_path / "flat"
    flat.mkdir()
    for layer in (l1, l0, upper):
        buf = io.BytesIO()
        write_overlay_diff(layer, buf)
        apply_layer(io.BytesIO(buf.getvalue()), flat, whiteout_format="naive")
    assert snapshot(flat, with_dir_times=False) == snapshot(merged, with_dir_times=False)


def test_unchanged_copy_up_is_not_listed(tmp_path: Path) -> None:
    """A file copied up with identical stat (e.g. chown to the same owner) is no change, and a
    directory is not compared by mtime or size (moby statDifferent)."""
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "d").mkdir(parents=True)
    (lower / "d" / "f").write_text("same")
    (upper / "d").mkdir(parents=True)
    shutil.copy2(lower / "d" / "f", upper / "d" / "f")
    os.utime(upper / "d", (1, 1))
    assert overlay_changes(upper, [lower]) == []
    os.utime(upper / "d" / "f", (5, 5))
    assert listing(overlay_changes(upper, [lower])) == ["C /d", "C /d/f"]


def test_subsecond_mtime_rule(tmp_path: Path) -> None:
    """sameFsTime: same second and one side without nanoseconds counts as equal (tar layers
    round mtimes to seconds)."""
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    (lower / "f").write_text("x")
    (upper / "f").write_text("x")
    os.utime(lower / "f", ns=(0, 100 * 10**9))
    os.utime(upper / "f", ns=(0, 100 * 10**9 + 123))
    assert overlay_changes(upper, [lower]) == []
    os.utime(lower / "f", ns=(0, 100 * 10**9 + 5))
    assert listing(overlay_changes(upper, [lower])) == ["C /f"]


def test_type_changes_and_capabilities(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    (lower / "was-file").write_text("x")
    (lower / "was-dir").mkdir()
    (lower / "was-dir" / "inner").write_text("x")
    (lower / "cap").write_text("x")
    # file -> dir: C, and its content is all new
    (upper / "was-file").mkdir()
    (upper / "was-file" / "child").write_text("c")
    # dir -> file: C, nothing listed below
    (upper / "was-dir").write_text("now a file")
    # same stat, different security.capability: C
    shutil.copy2(lower / "cap", upper / "cap")
    os.setxattr(upper / "cap", "security.capability", b"\x01\x00\x00\x02" + bytes(16))
    # a whiteout for something that never existed: nothing
    os.mknod(upper / "never", stat.S_IFCHR, 0)
    assert listing(overlay_changes(upper, [lower])) == [
        "C /cap", "C /was-dir", "C /was-file", "A /was-file/child"]


def test_opaque_directory_in_a_lower_hides_lowest(tmp_path: Path) -> None:
    bottom, top, upper = tmp_path / "bottom", tmp_path / "top", tmp_path / "upper"
    (bottom / "d").mkdir(parents=True)
    (bottom / "d" / "hidden").write_text("h")
    (top / "d").mkdir(parents=True)
    os.setxattr(top / "d", "trusted.overlay.opaque", b"y")
    (top / "d" / "visible").write_text("v")
    (upper / "d").mkdir(parents=True)
    (upper / "d" / "hidden").write_text("new")  # did not exist in the merged lower view
    os.mknod(upper / "d" / "visible", stat.S_IFCHR, 0)
    assert listing(overlay_changes(upper, [top, bottom])) == ["C /d", "A /d/hidden", "D /d/visible"]


def test_empty_upper_and_no_lowers(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "a" / "b").mkdir(parents=True)
    (upper / "a" / "b" / "c").write_text("x")
    empty = tmp_path / "empty-upper"
    empty.mkdir()
    assert overlay_changes(empty, [upper]) == []
    assert listing(overlay_changes(upper, [])) == ["A /a", "A /a/b", "A /a/b/c"]


def test_diff_size_counts_inodes_once_and_symlink_targets(tmp_path: Path) -> None:
    from dockyard.archive.changes import diff_size

    upper = tmp_path / "upper"
    (upper / "d").mkdir(parents=True)
    (upper / "d" / "f").write_bytes(b"x" * 1000)
    os.link(upper / "d" / "f", upper / "hl")
    os.symlink("/some/target", upper / "s")  # 12 bytes
    os.symlink("/dir-target", upper / "d" / "dirlink")  # 11 bytes
    os.mknod(upper / "wh", stat.S_IFCHR, 0)
    assert diff_size(upper) == 1000 + 12 + 11
