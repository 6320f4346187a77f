"""`docker cp` both ways (Debian's 20.10 CLI) and the SDK's archive calls, against dockyard serve
and dockerd: files, directories, `-a`, `-L`, a running and a stopped container, symlinks that
point out of the container never reaching the host."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import docker
import pytest

from tests.interop.conftest import Engine


def test_cp_both_ways(engine: Engine, tmp_path: Path) -> None:
    cid = engine.docker("run", "-d", "busybox", "sh", "-c",
                        "mkdir -p /data/sub && echo one > /data/sub/f && ln -s / /data/root && "
                        "ln -s /data/sub/f /data/link && exec sleep 60").stdout.decode().strip()
    try:
        engine.docker("exec", cid, "test", "-f", "/data/sub/f")
        engine.docker("cp", f"{cid}:/data/sub/f", str(tmp_path / "f"))
        assert (tmp_path / "f").read_text() == "one\n"
        engine.docker("cp", f"{cid}:/data", str(tmp_path / "data"))
        assert (tmp_path / "data" / "sub" / "f").read_text() == "one\n"
        assert os.readlink(tmp_path / "data" / "root") == "/"          # a link, not followed
        engine.docker("cp", "-L", f"{cid}:/data/link", str(tmp_path / "followed"))
        assert (tmp_path / "followed").read_text() == "one\n"
        # through the container's link to its own root: the container's /etc, not the host's
        engine.docker("cp", f"{cid}:/data/root/etc/hostname", str(tmp_path / "hn"))
        assert (tmp_path / "hn").read_text().strip() == cid[:12]
        (tmp_path / "up").mkdir()
        (tmp_path / "up" / "new.txt").write_text("from host\n")
        engine.docker("cp", str(tmp_path / "up"), f"{cid}:/data/")
        assert engine.docker("exec", cid, "cat", "/data/up/new.txt").stdout == b"from host\n"
        engine.docker("cp", str(tmp_path / "up" / "new.txt"), f"{cid}:/data/root/tmp/")
        assert not Path("/tmp/new.txt").exists() or Path("/tmp/new.txt").read_text() != "from host\n"
        assert engine.docker("exec", cid, "cat", "/tmp/new.txt").stdout == b"from host\n"
        missing = engine.docker("cp", f"{cid}:/nope", str(tmp_path / "x"), check=False)
        assert missing.returncode == 1 and b"No such container:path: " in missing.stderr
        engine.docker("stop", "-t", "0", cid)
        engine.docker("cp", f"{cid}:/data/up/new.txt", str(tmp_path / "stopped"))  # a stopped one
        assert (tmp_path / "stopped").read_text() == "from host\n"
    finally:
        engine.docker("rm", "-f", cid)


def test_sdk_archive(engine: Engine) -> None:
    client = docker.DockerClient(base_url=engine.host)
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tf:
            info = tarfile.TarInfo("hello.txt")
            info.size = 6
            info.uid = info.gid = 4242
            tf.addfile(info, io.BytesIO(b"hello\n"))
        assert c.put_archive("/tmp", data.getvalue())
        # owners as in the tar (dockerd keeps them, copyUIDGID or not)
        assert c.exec_run(["stat", "-c", "%u", "/tmp/hello.txt"]).output == b"4242\n"
        chunks, stat = c.get_archive("/tmp/hello.txt")
        assert stat["name"] == "hello.txt" and stat["size"] == 6
        got = tarfile.open(fileobj=io.BytesIO(b"".join(chunks)))
        assert got.extractfile("hello.txt").read() == b"hello\n"
        # dockerd names the container as the request did (dockyard left the name out)
        with pytest.raises(docker.errors.NotFound, match=f"Could not find the file /nope in container {c.id}"):
            c.get_archive("/nope")
    finally:
        c.remove(force=True)


def test_cp_of_a_running_containers_root(engine: Engine, tmp_path: Path) -> None:
    """`docker cp CONTAINER:/ -` of a running container: the whole tree, with the container's
    /proc and /sys as empty directories. dockerd reads the rootfs as mounted in its own mount
    namespace, where the kernel's file systems the container mounted are not; dockyard reads
    /proc/PID/root and does not go into them (it failed halfway through /proc before, its
    chunked reply cut off), and `docker cp CONTAINER:/ DEST` (its entries were named `./bin`,
    and the CLI put them in `DEST.`). Not compared: /dev, dockerd's holds its init layer's placeholders,
    dockyard's the container's device nodes."""
    cid = engine.docker("run", "-d", "busybox", "sh", "-c",
                        "echo hi > /marker && exec sleep 60").stdout.decode().strip()
    try:
        engine.docker("exec", cid, "test", "-f", "/marker")
        data = engine.docker("cp", f"{cid}:/", "-").stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            names = tf.getnames()
            # dockerd names the root "/" and its entries "/bin"...: the CLI rebases them so
            assert names[1] == "/.dockerenv" and "/bin/busybox" in names, names[:5]   # tarfile: "/" is ""
            members = {m.name.lstrip("/"): m for m in tf.getmembers()}
            assert tf.extractfile(members["marker"]).read() == b"hi\n"
        for kernel_dir in ("proc", "sys"):
            assert members[kernel_dir].isdir(), kernel_dir
            assert not [n for n in members if n.startswith(kernel_dir + "/")], kernel_dir
        assert members["bin/busybox"].isfile() and members["etc/hostname"].isfile()
        out = tmp_path / "out"
        out.mkdir()
        engine.docker("cp", f"{cid}:/", str(out / "dest"))   # into a new folder, as the CLI does
        assert (out / "dest" / "marker").read_text() == "hi\n"
        assert (out / "dest" / "bin" / "busybox").is_file()
        assert sorted(p.name for p in out.iterdir()) == ["dest"]   # nothing beside it
    finally:
        engine.docker("rm", "-f", cid)


def test_cp_a_into_a_container_with_a_user(engine: Engine, tmp_path: Path) -> None:
    """`docker cp -a` into a container whose image sets USER: dockerd 20.10 gives every copied
    file the uid and primary gid of that USER looked up whole in the *host's* passwd database
    (moby#34142), and refuses a USER the host does not know (`uid:gid` included); without USER,
    or without -a, the owners are the tar's (the host files')."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "f").write_text("f\n")
    (src / "d" / "g").write_text("g\n")
    os.chown(src / "f", 4321, 8765)
    os.chown(src / "d", 111, 222)
    engine.docker("build", "-q", "-t", "cp-user:1", "-", input=b"FROM busybox\nUSER daemon\n")
    cids = []
    try:
        def owners(cid: str, *paths: str) -> list[str]:
            out = engine.docker("exec", "-u", "0", cid, "stat", "-c", "%u:%g %n", *paths).stdout.decode()
            return out.splitlines()

        cid = engine.docker("run", "-d", "cp-user:1", "sleep", "60").stdout.decode().strip()
        cids.append(cid)
        engine.docker("cp", "-a", str(src / "f"), f"{cid}:/tmp/f")
        engine.docker("cp", "-a", str(src / "d"), f"{cid}:/tmp/d")
        engine.docker("cp", str(src / "f"), f"{cid}:/tmp/plain")
        assert owners(cid, "/tmp/f", "/tmp/d", "/tmp/d/g", "/tmp/plain") == [
            "1:1 /tmp/f", "1:1 /tmp/d", "1:1 /tmp/d/g", "4321:8765 /tmp/plain"]
        if engine.name == "dockyard":   # the in-process CLI on serve's store: the same owner
            engine.own_cli("cp", "-a", str(src / "f"), f"{cid}:/tmp/own")
            assert owners(cid, "/tmp/own") == ["1:1 /tmp/own"]
        # a USER the host lacks, given at run: refused, nothing copied
        other = engine.docker("run", "-d", "--user", "4242:4343", "busybox", "sleep", "60").stdout.decode().strip()
        cids.append(other)
        refused = engine.docker("cp", "-a", str(src / "f"), f"{other}:/tmp/f", check=False)
        assert refused.returncode == 1
        assert refused.stderr.decode() == ('Error response from daemon: getent unable to find entry '
                                           '"4242:4343" in passwd database\n')
        assert engine.docker("exec", other, "ls", "/tmp").stdout == b""
        # no USER: the tar's owners
        root = engine.docker("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
        cids.append(root)
        engine.docker("cp", "-a", str(src / "f"), f"{root}:/tmp/f")
        assert owners(root, "/tmp/f") == ["4321:8765 /tmp/f"]
    finally:
        engine.docker("rm", "-f", *cids, check=False)
        engine.docker("rmi", "cp-user:1", check=False)


def test_cp_of_a_stopped_containers_network_files(engine: Engine) -> None:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf of a container that ran and stopped are its
    own in `docker cp` (dockerd mounts a container's NetworkMounts for a copy): dockyard's were the
    empty files of the rootfs the runtime binds them onto."""
    cid = engine.docker("create", "--network", "none", "--dns", "192.0.2.53", "busybox", "true").stdout
    cid = cid.decode().strip()
    engine.docker("start", "-a", cid)
    try:
        def read(path: str) -> str:
            tar = tarfile.open(fileobj=io.BytesIO(engine.docker("cp", f"{cid}:{path}", "-").stdout))
            member = tar.next()
            assert member is not None
            return tar.extractfile(member).read().decode()

        assert read("/etc/hostname") == cid[:12] + "\n"
        assert read("/etc/hosts").startswith("127.0.0.1\tlocalhost\n")
        assert read("/etc/resolv.conf") == "nameserver 192.0.2.53\n"
        assert "hostname" in engine.docker("cp", f"{cid}:/etc", "-").stdout.decode(errors="replace")
    finally:
        engine.docker("rm", "-f", cid)
