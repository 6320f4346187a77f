"""Layer waste (`dockyard image waste`, `build --waste`, `GET /images/{name}/waste`): files a
layer adds that a later layer deletes (whiteouts, opaque directories) or overwrites."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dockyard.archive.waste import Wasted, find_waste
from tests.conftest import Dockyard


def layer(*entries: tuple[str, int | None]) -> io.BytesIO:
    """A layer tar: (name, size) is a file of `size` bytes, (name, None) a directory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, size in entries:
            info = tarfile.TarInfo(name)
            if size is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = size
                tar.addfile(info, io.BytesIO(b"x" * size))
    out.seek(0)
    return out


def test_deleted_overwritten_and_kept_files() -> None:
    wasted = find_waste([
        layer(("etc", None), ("etc/a", 10), ("etc/b", 20), ("keep", 5), ("tmp", None), ("tmp/big", 1000)),
        layer(("etc", None), ("etc/a", 11), ("tmp", None), ("tmp/.wh.big", 0)),
        layer(("etc", None), ("etc/.wh.b", 0), ("etc/a", 12)),
    ])
    assert wasted == [Wasted("/tmp/big", 1000, 0, 1), Wasted("/etc/b", 20, 0, 2),
                      Wasted("/etc/a", 11, 1, 2), Wasted("/etc/a", 10, 0, 1)]


def test_a_removed_directory_takes_its_files() -> None:
    wasted = find_waste([
        layer(("d", None), ("d/x", 3), ("d/sub", None), ("d/sub/y", 4)),
        layer((".wh.d", 0)),
    ])
    assert sorted(wasted, key=lambda w: w.path) == [Wasted("/d/sub/y", 4, 0, 1), Wasted("/d/x", 3, 0, 1)]


def test_opaque_directory_hides_only_the_lower_layers() -> None:
    wasted = find_waste([
        layer(("d", None), ("d/old", 7), ("d/sub", None), ("d/sub/deep", 2)),
        layer(("d", None), ("d/.wh..wh..opq", 0), ("d/new", 9)),
        layer(("d", None), ("d/new", 1)),
    ])
    assert sorted(wasted, key=lambda w: w.path) == [
        Wasted("/d/new", 9, 1, 2), Wasted("/d/old", 7, 0, 1), Wasted("/d/sub/deep", 2, 0, 1)]


def test_type_changes_and_same_layer_repeats() -> None:
    wasted = find_waste([
        layer(("f", 6), ("d", None), ("d/in", 8), ("g", 1), ("g", 2)),  # g twice in one layer: no waste
        layer(("f", None), ("f/now-a-dir", 0), ("d", 0)),               # file -> dir, dir -> file
    ])
    assert sorted(wasted, key=lambda w: w.path) == [Wasted("/d/in", 8, 0, 1), Wasted("/f", 6, 0, 1)]
    assert find_waste([layer(("a", 1)), layer(("b", 1))]) == []


DOCKERFILE = """\
FROM busybox
RUN dd if=/dev/zero of=/big bs=1024 count=300 2>/dev/null && mkdir /cache && echo 12345 > /cache/c
COPY conf /etc/app.conf
RUN rm /big && chmod 600 /etc/app.conf
RUN rm -r /cache
"""


@pytest.fixture
def built(dockyard: Dockyard, busybox: str, tmp_path: Path) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "conf").write_text("conf\n")
    dockyard("build", "-t", "wasteful", str(ctx))
    return str(ctx)


def test_image_waste_json_and_table(dockyard: Dockyard, built: str) -> None:
    items = json.loads(dockyard("image", "waste", "--format", "json", "wasteful").stdout)
    by_path = {i["path"]: i for i in items}
    assert set(by_path) == {"/big", "/etc/app.conf", "/cache/c"}
    assert by_path["/big"]["bytes"] == 300 * 1024
    assert by_path["/big"]["added_in"].startswith("/bin/sh -c dd if=/dev/zero")
    assert by_path["/big"]["removed_in"] == "/bin/sh -c rm /big && chmod 600 /etc/app.conf"
    assert by_path["/etc/app.conf"] == {  # chmod copies the whole file up: the old copy is waste
        "path": "/etc/app.conf", "bytes": 5, "added_in": by_path["/etc/app.conf"]["added_in"],
        "removed_in": by_path["/big"]["removed_in"], "added_layer": 2, "removed_layer": 3}
    assert "COPY file:" in by_path["/etc/app.conf"]["added_in"]
    assert by_path["/cache/c"] == {**by_path["/cache/c"], "bytes": 6, "added_layer": 1, "removed_layer": 4}
    assert [i["path"] for i in items] == ["/big", "/cache/c", "/etc/app.conf"]  # largest first
    table = dockyard("image", "waste", "wasteful").stdout.splitlines()
    assert table[0].split() == ["PATH", "SIZE", "ADDED", "IN", "REMOVED", "IN"]
    assert table[1].startswith("/big ") and "307kB" in table[1] and "RUN dd if=/dev/zero" in table[1]
    assert table[-1] == "Total: 307kB wasted in 3 files"


def test_waste_errors(dockyard: Dockyard, busybox: str) -> None:
    r = dockyard("image", "waste", "nothing:here", check=False)
    assert r.returncode != 0 and r.stderr.startswith("Error: No such image: nothing:here")
    r = dockyard("image", "waste", "--format", "yaml", "busybox", check=False)
    assert r.returncode != 0 and r.stderr.strip() == "Error: unknown format 'yaml': want table or json"
    assert dockyard("image", "waste", "busybox").stdout.splitlines()[-1] == "Total: 0B wasted in 0 files"


def test_build_waste_in_process_and_through_serve(dockyard: Dockyard, built: str, tmp_path: Path) -> None:
    import shutil
    import tempfile

    from tests.api.conftest import start_server

    here = dockyard("build", "--waste", built).stdout
    assert here.splitlines()[-1] == "Total: 307kB wasted in 3 files"
    sock_dir = Path(tempfile.mkdtemp(prefix="dy-waste-", dir="/tmp"))
    server = start_server(dockyard.root, sock_dir)
    try:
        client = Dockyard(tmp_path / "client")
        client.env["DOCKYARD_HOST"] = server.url
        refused = client("build", "--waste", built, check=False)
        listed = json.loads(client("image", "waste", "--format", "json", "wasteful").stdout)
    finally:
        server.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert refused.returncode != 0 and "--waste is not supported as a client" in refused.stderr
    assert listed == json.loads(dockyard("image", "waste", "--format", "json", "wasteful").stdout)
