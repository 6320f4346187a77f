""".dockerignore through real builds: every case of tests/data/dockerignore/cases.txt (recorded
from the docker CLI; exceptions, `**`, escapes...) becomes a context, `COPY . /` copies it and
the built layer must hold exactly the files Docker would have sent. Excluded files are never read.
"""

from __future__ import annotations

import os
import tarfile
from collections import defaultdict
from pathlib import Path

import pytest

from dockyard.engine.build import BuildOptions
from dockyard.engine.build import build_image
from dockyard.errors import DockyardError
from dockyard.store.store import Store

CASES_FILE = Path(__file__).parent.parent / "data" / "dockerignore" / "cases.txt"


def _groups() -> dict[str, list[tuple[str, bool]]]:
    groups: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for line in CASES_FILE.read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("# "):
            continue
        patterns, path, expected, *marks = line.split(" ; ")
        # "cli-walk": matched as included, but the docker CLI's walk skips its directory
        groups[patterns].append((path, expected == "excluded" or "cli-walk" in marks))
    return groups


def layer_files(store: Store, image_id) -> set[str]:  # noqa: ANN001
    image = store.image(image_id)
    names: set[str] = set()
    for layer in image.layers:
        with layer.open() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            names.update(m.name.rstrip("/") for m in tar if not m.isdir())
    return names


def build_dir(store: Store, context: Path, dockerfile: str, tmp: Path, **options) -> str:  # noqa: ANN003
    df = tmp / "Dockerfile.outside"
    df.write_text(dockerfile)
    result = build_image(store, str(context), BuildOptions(**options), dockerfile=str(df))
    return result.image_id


GROUPS = _groups()


@pytest.mark.parametrize("patterns", sorted(GROUPS), ids=range(len(GROUPS)))
def test_dockerignore_case_through_copy(patterns: str, tmp_path: Path, store: Store) -> None:
    cases = GROUPS[patterns]
    paths = [p for p, _ in cases]
    context = tmp_path / "ctx"
    context.mkdir()
    files = []
    for path in paths:
        if any(other.startswith(path + "/") for other in paths):
            (context / path).mkdir(parents=True, exist_ok=True)
        else:
            (context / path).parent.mkdir(parents=True, exist_ok=True)
            (context / path).write_text(path)
            files.append(path)
    (context / ".dockerignore").write_text("\n".join(patterns.split(" , ")) + "\n")
    try:
        image_id = build_dir(store, context, "FROM scratch\nCOPY . /\n", tmp_path)
    except DockyardError as exc:
        # Everything excluded: `COPY .` still copies the (empty) root; only a real error fails.
        pytest.fail(f"build failed for {patterns!r}: {exc}")
    got = layer_files(store, image_id) - {".dockerignore"}
    expected = {p for p, excluded in cases if not excluded and p in files}
    assert got & set(files) == expected


def test_excluded_files_are_never_read(tmp_path: Path, store: Store) -> None:
    """Excluded entries are not opened: a FIFO (which would block any reader forever) and an
    unreadable file in .dockerignore do not disturb the build."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "ok").write_text("ok")
    secret = context / "secret"
    secret.write_text("x")
    os.chmod(secret, 0)
    (context / ".dockerignore").write_text("secret\n")
    fifo = context / "pipe"
    os.mkfifo(fifo)  # opening a FIFO for reading would block the build forever
    (context / ".dockerignore").write_text("secret\npipe\n")
    image_id = build_dir(store, context, "FROM scratch\nCOPY . /\n", tmp_path)
    assert layer_files(store, image_id) == {"ok", ".dockerignore"}


def test_ignored_source_named_in_copy_is_not_found(tmp_path: Path, store: Store) -> None:
    """Docker: COPY of an excluded path fails as if it did not exist."""
    context = tmp_path / "ctx"
    (context / "d").mkdir(parents=True)
    (context / "d" / "f").write_text("f")
    (context / ".dockerignore").write_text("d/f\n")
    with pytest.raises(DockyardError, match="file not found in build context or excluded by "
                       r".dockerignore: stat d/f: file does not exist"):
        build_dir(store, context, "FROM scratch\nCOPY d/f /\n", tmp_path)
