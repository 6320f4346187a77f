"""`dockyard import`: a rootfs tar (any compression) becomes a one-layer image."""

from __future__ import annotations

import bz2
import gzip
import tarfile
import hashlib
import http.server
import json
import lzma
import threading
from functools import partial
from pathlib import Path

import pytest
import zstandard

from tests.store.helpers import make_tar, snapshot

COMPRESSORS = {
    "plain": lambda b: b,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("kind", list(COMPRESSORS))
def test_import_any_compression_gives_the_same_layer(dockyard, busybox_tar, tmp_path, kind):
    raw = busybox_tar.read_bytes()
    src = tmp_path / f"rootfs.{kind}"
    src.write_bytes(COMPRESSORS[kind](raw))
    image_id = dockyard("import", str(src), "base:1").stdout.strip()
    assert image_id.startswith("sha256:")
    info = json.loads(dockyard("image", "inspect", "base:1").stdout)[0]
    # Docker keeps the uncompressed input bytes as the layer: its diff ID is their sha256.
    assert info["RootFS"]["Layers"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    assert info["Id"] == image_id


def test_import_history_says_imported_from_stdin(dockyard, busybox_tar):
    # Docker: the CLI uploads a local file's bytes, so the daemon records "Imported from -".
    dockyard("import", "-", "viastdin", input=busybox_tar.read_bytes())
    dockyard("import", str(busybox_tar), "viafile")
    for name in ("viastdin", "viafile"):
        out = dockyard("history", "--no-trunc", "--format", "json", name).stdout
        rows = [json.loads(line) for line in out.splitlines()]
        assert len(rows) == 1
        assert rows[0]["Comment"] == "Imported from -"
        assert rows[0]["ID"].startswith("sha256:")
        assert rows[0]["Size"] == "1.98MB"


def test_import_message_and_changes(dockyard, busybox_tar):
    dockyard("import", "-m", "my rootfs", "-c", "ENV A=1", "-c", "CMD [\"sh\"]",
             "-c", "EXPOSE 8080", "-c", "WORKDIR /srv", "-c", "LABEL k=v",
             "-c", "USER nobody", "-c", "VOLUME /data", "-c", "ENTRYPOINT [\"/bin/env\"]",
             str(busybox_tar), "changed")
    info = json.loads(dockyard("image", "inspect", "changed").stdout)[0]
    cfg = info["Config"]
    assert info["Comment"] == "my rootfs"
    assert cfg["Env"] == ["A=1"]
    assert cfg["Cmd"] == ["sh"]
    assert cfg["Entrypoint"] == ["/bin/env"]
    assert cfg["ExposedPorts"] == {"8080/tcp": {}}
    assert cfg["WorkingDir"] == "/srv"
    assert cfg["Labels"] == {"k": "v"}
    assert cfg["User"] == "nobody"
    assert cfg["Volumes"] == {"/data": {}}


def test_import_refuses_a_change_docker_refuses(dockyard, busybox_tar, store_root):
    before = snapshot(store_root)
    r = dockyard("import", "-c", "RUN true", str(busybox_tar), "x", check=False)
    assert r.returncode != 0
    assert r.stderr.strip() == "Error: RUN is not a valid change command"
    assert snapshot(store_root) == before


def test_import_from_url(dockyard, busybox_tar):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(busybox_tar.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{busybox_tar.name}"
        dockyard("import", url, "fromurl")
    finally:
        server.shutdown()
    rows = [json.loads(x) for x in dockyard("history", "--format", "json", "fromurl").stdout.splitlines()]
    assert rows[0]["Comment"] == f"Imported from {url}"


@pytest.mark.parametrize("name,message", [
    # As the docker 28 CLI words it.
    ("Foo:bar", "invalid reference format: repository name must be lowercase"),
    ("a::b", "invalid reference format"),
    ("x:" + "t" * 129, "invalid reference format"),
])
def test_invalid_name_refused_before_any_work(dockyard, busybox_tar, store_root, name, message):
    before = snapshot(store_root)
    r = dockyard("import", str(busybox_tar), name, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error: {message}"
    assert snapshot(store_root) == before


def _import_fails(dockyard, store_root, data: bytes, expect: str, tmp_path: Path):
    path = tmp_path / "bad.tar"
    path.write_bytes(data)
    before = snapshot(store_root)
    r = dockyard("import", str(path), "bad", check=False)
    assert r.returncode == 1, r.stdout
    assert r.stderr.startswith("Error: ") and expect in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert snapshot(store_root) == before
    assert dockyard("images", "-q").stdout == ""


def _symlink(target):
    def mod(info):
        info.type = __import__("tarfile").SYMTYPE
        info.linkname = target
    return mod


def _hardlink(target):
    def mod(info):
        info.type = __import__("tarfile").LNKTYPE
        info.linkname = target
    return mod


@pytest.mark.parametrize("entries,expect", [
    ([("../evil", b"x")], "path escapes the destination"),
    ([("a/../../evil", b"x")], "path escapes the destination"),
    ([("/etc/evil", b"x")], "absolute path"),
    ([("link", _hardlink("../../etc/passwd"))], "hard link"),
])
def test_hostile_tar_refused(dockyard, store_root, tmp_path, entries, expect):
    _import_fails(dockyard, store_root, make_tar(entries), expect, tmp_path)


def test_absolute_symlink_target_is_fine(dockyard, tmp_path):
    # Docker allows absolute symlink targets: they resolve inside the container's root.
    path = tmp_path / "ok.tar"
    path.write_bytes(make_tar([("bin", None), ("bin/sh", _symlink("/bin/busybox"))]))
    dockyard("import", str(path), "ok")


def test_a_symlink_climbing_above_the_root_is_fine(dockyard, tmp_path):
    # So is a relative one that climbs above the root: dockerd 20.10 imports d/link ->
    # ../../../etc (compared by hand; its chrooted unpack resolves it inside the root, as the
    # kernel does in the container; tests/interop/test_container_ops commits, saves and loads
    # one on both engines). The link is kept as it was written.
    path = tmp_path / "climb.tar"
    path.write_bytes(make_tar([("d", None), ("d/link", _symlink("../../../etc"))]))
    dockyard("import", str(path), "climb")
    store = dockyard.store
    with store.image(store.resolve("climb")).layers[-1].open() as stream:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            assert {m.name: m.linkname for m in tar if m.issym()} == {"d/link": "../../../etc"}


def test_truncated_and_corrupt_input_refused(dockyard, store_root, busybox_tar, tmp_path):
    raw = busybox_tar.read_bytes()
    _import_fails(dockyard, store_root, raw[: len(raw) // 2 + 100], "truncated tar", tmp_path)
    gz = gzip.compress(raw)
    _import_fails(dockyard, store_root, gz[: len(gz) // 2], "", tmp_path)
    _import_fails(dockyard, store_root, b"this is not a tar archive at all" * 40, "", tmp_path)


def test_missing_file(dockyard):
    r = dockyard("import", "/nonexistent/x.tar", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: open /nonexistent/x.tar: no such file or directory"
