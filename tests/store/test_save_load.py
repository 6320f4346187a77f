"""`save` and `load`: Docker's archive format, read back by dockyard and by skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile

import pytest
import zstandard

from tests.store.helpers import make_tar, snapshot

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")


def _members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            if m.isfile():
                out[m.name] = tar.extractfile(m).read()
    return out


def test_save_writes_docker_25_layout(dockyard, busybox):
    data = dockyard("save", "busybox").stdout_bytes
    files = _members(data)
    manifest = json.loads(files["manifest.json"])
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    assert manifest[0]["Config"] == "blobs/sha256/" + busybox.split(":")[1]
    layer_path = manifest[0]["Layers"][0]
    config = json.loads(files[manifest[0]["Config"]])
    # A layer file's sha256 is its diff ID, which is what `docker load` and skopeo verify.
    assert "sha256:" + hashlib.sha256(files[layer_path]).hexdigest() == config["rootfs"]["diff_ids"][0]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    desc = index["manifests"][0]
    assert desc["annotations"]["io.containerd.image.name"] == "docker.io/library/busybox:latest"
    assert desc["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    oci_manifest = files["blobs/sha256/" + desc["digest"].split(":")[1]]
    assert hashlib.sha256(oci_manifest).hexdigest() == desc["digest"].split(":")[1]
    assert json.loads(files["repositories"]) == {"busybox": {"latest": layer_path.split("/")[-1]}}


def test_save_is_deterministic(dockyard, busybox):
    assert dockyard("save", "busybox").stdout_bytes == dockyard("save", "busybox").stdout_bytes


def test_round_trip_through_gzip_pipe(dockyard, busybox, tmp_path):
    archive = tmp_path / "bb.tar.gz"
    subprocess.run(f"{' '.join(_cmd(dockyard))} save busybox | gzip > {archive}", shell=True,
                   check=True, env=dockyard.env)
    dockyard("rmi", "busybox")
    assert dockyard("images", "-q").stdout == ""
    out = dockyard("load", "-i", str(archive)).stdout
    assert out == "Loaded image: busybox:latest\n"
    assert dockyard("images", "-q", "--no-trunc").stdout.strip() == busybox


def _cmd(dockyard):
    import sys
    return [sys.executable, "-m", "dockyard"]


def test_load_zstd_from_stdin_and_quiet(dockyard, busybox):
    data = zstandard.ZstdCompressor().compress(dockyard("save", "busybox").stdout_bytes)
    dockyard("rmi", "busybox")
    assert dockyard("load", "-q", input=data).stdout == ""
    assert dockyard("images", "-q", "--no-trunc").stdout.strip() == busybox


def test_save_several_images_shares_layers(dockyard, busybox):
    dockyard("tag", "busybox", "other:v2")
    data = dockyard("save", "busybox", "other:v2").stdout_bytes
    files = _members(data)
    manifest = json.loads(files["manifest.json"])
    assert [m["RepoTags"] for m in manifest] == [["busybox:latest", "other:v2"]]
    layers = [n for n in files if n.startswith("blobs/")]
    assert len(layers) == 3  # one layer, one config, one OCI manifest


def test_save_repository_name_means_all_its_tags(dockyard, busybox, busybox_tar):
    # Docker: `docker save busybox` saves every tag of the repository.
    dockyard("import", "-m", "second", str(busybox_tar), "busybox:two")
    manifest = json.loads(_members(dockyard("save", "busybox").stdout_bytes)["manifest.json"])
    tags = sorted(t for m in manifest for t in m["RepoTags"])
    assert tags == ["busybox:latest", "busybox:two"]


def test_save_unknown_image_writes_nothing(dockyard, busybox, tmp_path):
    out = tmp_path / "x.tar"
    r = dockyard("save", "-o", str(out), "nosuch", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: No such image: nosuch"     # the name as given, as dockerd's save
    assert not out.exists()


def test_output_into_a_missing_directory_is_refused_as_docker_does(dockyard, busybox, tmp_path):
    """`save -o nodir/x.tar` and `export -o ...`: the docker 20.10 CLI checks the directory before
    it asks the daemon for anything (so it answers the same with no daemon at all) and creates
    nothing; dockyard made the missing directories and wrote the file."""
    cid = dockyard("create", "busybox", "true").stdout.strip()
    for cmd, what in (("save", "busybox"), ("export", cid)):
        for out in (str(tmp_path / "nodir" / "x.tar"), "nodir/x.tar"):
            docker = subprocess.run(["/usr/bin/docker", "-H", f"unix://{tmp_path}/no.sock", cmd, "-o", out, what],
                                    cwd=tmp_path, capture_output=True, text=True)
            ours = dockyard(cmd, "-o", out, what, check=False, cwd=tmp_path)
            assert docker.returncode == 1 and ours.returncode != 0
            reason = docker.stderr.strip().split(": ", 1)[1]  # after "failed to save image: "
            assert reason.startswith("invalid output path: directory ")
            assert ours.stderr.strip() == f"Error: {reason}"
            assert not (tmp_path / "nodir").exists()
    dockyard("rm", cid)


def test_save_and_export_into_a_device_or_a_fifo_keep_it(dockyard, busybox, tmp_path):
    """`-o` naming a device or a fifo (`save -o /dev/null`) writes into it, as the docker 20.10
    CLI does; it was replaced by a regular file (the atomic write's rename), which for the
    host's /dev/null broke every process that reads or writes it."""
    import os
    import stat
    import threading

    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    dockyard("save", "-o", str(null), "busybox")
    cid = dockyard("create", "busybox", "true").stdout.strip()
    dockyard("export", "-o", str(null), cid)
    dockyard("rm", cid)
    assert stat.S_ISCHR(os.stat(null).st_mode) and os.stat(null).st_rdev == os.makedev(1, 3)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(fifo.read_bytes()))
    reader.start()
    dockyard("save", "-o", str(fifo), "busybox")
    reader.join(60)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert bytes(got) == dockyard("save", "busybox").stdout_bytes
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_load_docker_pre25_layout(dockyard, busybox_tar):
    """The layout Docker 1.10-24 writes: <v1 id>/layer.tar, <id>.json, manifest.json, repositories."""
    layer = busybox_tar.read_bytes()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "created": "2024-01-01T00:00:00Z",
                         "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "x"}],
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cfg_hex = hashlib.sha256(config).hexdigest()
    v1 = "a" * 64
    archive = make_tar([
        (v1, None), (f"{v1}/VERSION", b"1.0"), (f"{v1}/json", b"{}"), (f"{v1}/layer.tar", layer),
        (f"{cfg_hex}.json", config),
        ("manifest.json", json.dumps([{"Config": f"{cfg_hex}.json", "RepoTags": ["old:layout"],
                                       "Layers": [f"{v1}/layer.tar"]}]).encode()),
        ("repositories", json.dumps({"old": {"layout": v1}}).encode()),
    ])
    assert dockyard("load", input=archive).stdout == "Loaded image: old:layout\n"
    info = json.loads(dockyard("image", "inspect", "old:layout").stdout)[0]
    assert info["Id"] == "sha256:" + cfg_hex
    assert info["Config"]["Cmd"] == ["sh"]


def test_load_untagged_prints_id(dockyard, busybox):
    data = dockyard("save", busybox).stdout_bytes
    dockyard("rmi", "busybox")
    assert dockyard("load", input=data).stdout == f"Loaded image ID: {busybox}\n"


def test_load_retag_message(dockyard, busybox, busybox_tar):
    data = dockyard("save", "busybox").stdout_bytes
    other = dockyard("import", "-m", "other", str(busybox_tar), "busybox").stdout.strip()
    out = dockyard("load", input=data).stdout
    assert out == (f"The image busybox:latest already exists, renaming the old one with ID "
                   f"{other} to empty string\nLoaded image: busybox:latest\n")


def _rewrite(data: bytes, change) -> bytes:
    files = _members(data)
    change(files)
    return make_tar(list(files.items()))


@pytest.mark.parametrize("damage,expect", [
    ("truncate", "truncated"),
    ("layer", "digest"),
    ("config", "digest"),
    ("nomanifest", "no manifest.json or index.json"),
    ("garbage", "invalid"),
])
def test_bad_archives_change_nothing(dockyard, busybox, store_root, damage, expect):
    data = dockyard("save", "busybox").stdout_bytes
    dockyard("rmi", "busybox")
    if damage == "truncate":
        bad = data[: len(data) // 2]
    elif damage == "garbage":
        bad = b"\x00garbage" * 1000
    else:
        def change(files):
            manifest = json.loads(files["manifest.json"])
            if damage == "layer":
                path = manifest[0]["Layers"][0]
                files[path] = files[path][:-2048] + make_tar([("extra", b"boo")])[:2048]
            elif damage == "config":
                cfg = json.loads(files[manifest[0]["Config"]])
                cfg["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
                files[manifest[0]["Config"]] = json.dumps(cfg).encode()
            else:
                del files["manifest.json"]
                del files["index.json"]
        bad = _rewrite(data, change)
    before = snapshot(store_root)
    r = dockyard("load", input=bad, check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: ") and expect in r.stderr.lower(), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert snapshot(store_root) == before


def test_load_refuses_hostile_layer(dockyard, store_root):
    layer = make_tar([("../../escape", b"x")])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    archive = make_tar([("layer.tar", layer), ("c.json", config),
                        ("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["h:1"],
                                                       "Layers": ["layer.tar"]}]).encode())])
    before = snapshot(store_root)
    r = dockyard("load", input=archive, check=False)
    assert r.returncode == 1 and "path escapes the destination" in r.stderr
    assert snapshot(store_root) == before


def test_load_missing_file(dockyard):
    r = dockyard("load", "-i", "/nonexistent.tar", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: open /nonexistent.tar: no such file or directory"


@needs_skopeo
def test_skopeo_reads_what_dockyard_saves(dockyard, busybox, tmp_path):
    archive = tmp_path / "bb.tar"
    dockyard("save", "-o", str(archive), "busybox")
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"],
                                     check=True, capture_output=True).stdout)
    assert info["Layers"] == json.loads(dockyard("image", "inspect", "busybox").stdout)[0]["RootFS"]["Layers"]
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{tmp_path / 'oci'}:bb"],
                   check=True, capture_output=True)
    index = json.loads((tmp_path / "oci" / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "bb"


@needs_skopeo
@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_dockyard_loads_what_skopeo_writes(dockyard, busybox, tmp_path, transport):
    archive = tmp_path / "bb.tar"
    dockyard("save", "-o", str(archive), "busybox")
    out = tmp_path / f"{transport}.tar"
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{archive}",
                    f"{transport}:{out}:skopeo/bb:v1"], check=True, capture_output=True)
    expected = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--config",
                                          f"{transport}:{out}"], check=True,
                                         capture_output=True).stdout or b"{}")
    raw_config = subprocess.run(["skopeo", "inspect", "--config", "--raw", f"{transport}:{out}"],
                                check=True, capture_output=True).stdout
    expected_id = "sha256:" + hashlib.sha256(raw_config).hexdigest()
    assert expected["rootfs"]["diff_ids"]
    dockyard("rmi", "busybox")
    assert dockyard("load", "-i", str(out)).stdout == "Loaded image: skopeo/bb:v1\n"
    assert dockyard("images", "-q", "--no-trunc", "skopeo/bb").stdout.strip() == expected_id
    # And the loaded image saves again to the same layer bytes.
    files = _members(dockyard("save", "skopeo/bb:v1").stdout_bytes)
    manifest = json.loads(files["manifest.json"])
    layer = files[manifest[0]["Layers"][0]]
    assert "sha256:" + hashlib.sha256(layer).hexdigest() == expected["rootfs"]["diff_ids"][0]
