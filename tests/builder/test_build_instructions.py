"""`dockyard build` of real images on a busybox base, one instruction family per test.

Expected strings (history `created_by`, step output, configs, layer entries) were recorded from
Docker 20.10's classic builder (`DOCKER_BUILDKIT=0 docker build`, Debian's docker.io) building
the same Dockerfiles on the same busybox rootfs, unless a test says otherwise.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.image.config import ImageConfig
from dockyard.store.store import Store
from tests.httpserve import serve_bytes


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def config_of(dockyard, name: str) -> ImageConfig:  # noqa: ANN001
    store = Store(dockyard.root)
    return store.image(store.resolve(name)).config


def history(dockyard, name: str) -> list[tuple[str, bool]]:  # noqa: ANN001
    return [(h.created_by or "", h.empty_layer) for h in config_of(dockyard, name).history]


def layer_entries(dockyard, name: str, index: int = -1) -> dict[str, tarfile.TarInfo]:  # noqa: ANN001
    store = Store(dockyard.root)
    image = store.image(store.resolve(name))
    with image.layers[index].open() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        return {m.name.rstrip("/"): m for m in tar}


def layer_file(dockyard, name: str, path: str, index: int = -1) -> bytes:  # noqa: ANN001
    store = Store(dockyard.root)
    image = store.image(store.resolve(name))
    with image.layers[index].open() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for m in tar:
            if m.name == path:
                return tar.extractfile(m).read()  # type: ignore[union-attr]
    raise AssertionError(f"{path} not in layer")


def build(dockyard, ctx: Path, dockerfile: str, *args: str, check: bool = True):  # noqa: ANN001, ANN201
    (ctx / "Dockerfile").write_text(dockerfile)
    return dockyard("build", *args, str(ctx), check=check)


def test_metadata_instructions_history_and_config(dockyard, busybox, tmp_path: Path) -> None:
    ctx = tmp_path
    result = build(dockyard, ctx, """\
FROM busybox
ARG A=1
ENV X=y Z="a b"
EXPOSE 80 443/udp
ENTRYPOINT echo hi
LABEL a=b "c d"=e
USER daemon
VOLUME /v
STOPSIGNAL SIGKILL
HEALTHCHECK --interval=5s --retries=3 CMD true
SHELL ["/bin/sh", "-ec"]
MAINTAINER me
ONBUILD RUN echo trig
CMD ["sh"]
""", "-t", "meta")
    created = [c for c, _ in history(dockyard, "meta")[1:]]
    assert created == [
        "/bin/sh -c #(nop)  ARG A=1",
        "/bin/sh -c #(nop)  ENV X=y Z=a b",
        "/bin/sh -c #(nop)  EXPOSE 443/udp 80",
        '/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c" "echo hi"]',
        "/bin/sh -c #(nop)  LABEL a=b c d=e",
        "/bin/sh -c #(nop)  USER daemon",
        "/bin/sh -c #(nop)  VOLUME [/v]",
        "/bin/sh -c #(nop)  STOPSIGNAL SIGKILL",
        """/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" '\\x03'}""",
        "/bin/sh -ec #(nop)  SHELL [/bin/sh -ec]",
        "/bin/sh -ec #(nop)  MAINTAINER me",
        "/bin/sh -ec #(nop)  ONBUILD RUN echo trig",
        '/bin/sh -ec #(nop)  CMD ["sh"]',
    ]
    assert all(empty for _, empty in history(dockyard, "meta")[1:])
    cfg = config_of(dockyard, "meta")
    assert len(cfg.diff_ids) == 1  # metadata adds no layer
    c = cfg.config
    assert c.env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "X=y", "Z=a b"]
    assert c.exposed_ports == {"443/udp": {}, "80/tcp": {}}
    assert c.entrypoint == ["/bin/sh", "-c", "echo hi"]
    assert c.cmd == ["sh"]
    assert c.labels == {"a": "b", "c d": "e"}
    assert (c.user, c.stop_signal, c.volumes) == ("daemon", "SIGKILL", {"/v": {}})
    assert c.healthcheck == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 3}
    assert c.shell == ["/bin/sh", "-ec"]
    assert c.on_build == ["RUN echo trig"]
    assert cfg.author == "me"
    assert cfg.extra["container_config"]["Cmd"] == ["/bin/sh", "-ec", "#(nop) ", 'CMD ["sh"]']
    # Docker prints a container for every metadata step, and the image after each step.
    out = result.stdout.splitlines()
    assert out[0] == "Step 1/14 : FROM busybox"
    assert out[1] == f" ---> {busybox.split(':')[1][:12]}"
    assert out[2] == "Step 2/14 : ARG A=1"
    assert out[3].startswith(" ---> Running in ") and out[4].startswith("Removing intermediate container ")
    assert out[-2].startswith("Successfully built ")
    assert out[-1] == "Successfully tagged meta:latest"


def test_entrypoint_resets_inherited_cmd(dockyard, busybox, tmp_path: Path) -> None:
    """Docker: an ENTRYPOINT drops the CMD of the base image, but keeps one set in this stage."""
    build(dockyard, tmp_path, 'FROM busybox\nCMD ["a"]\n', "-t", "base1")
    build(dockyard, tmp_path, 'FROM base1\nENTRYPOINT ["e"]\n', "-t", "child1")
    assert config_of(dockyard, "child1").config.cmd is None
    build(dockyard, tmp_path, 'FROM base1\nCMD ["b"]\nENTRYPOINT ["e"]\n', "-t", "child2")
    assert config_of(dockyard, "child2").config.cmd == ["b"]


def test_run_forms_shell_args_and_layers(dockyard, busybox, tmp_path: Path) -> None:
    result = build(dockyard, tmp_path, """\
FROM busybox
ARG A=default
ARG UNUSED
RUN echo "a=$A" > /a.txt
RUN ["/bin/sh", "-c", "echo exec > /exec.txt"]
SHELL ["/bin/sh", "-ec"]
RUN echo shell-form > /shell.txt
ENV A=from-env
RUN echo "$A" > /env.txt
RUN true
""", "--build-arg", "A=given", "-t", "runs")
    assert "Step 4/10 : RUN echo \"a=$A\" > /a.txt" in result.stdout
    created = history(dockyard, "runs")
    assert ('|1 A=given /bin/sh -c echo "a=$A" > /a.txt', False) in created
    assert created[4] == ("|1 A=given /bin/sh -c echo exec > /exec.txt", False)
    assert created[6] == ("|1 A=given /bin/sh -ec echo shell-form > /shell.txt", False)
    # ENV shadows the ARG: the arg is no longer passed, so no |N prefix (Docker's FilterAllowed)
    assert created[8] == ("/bin/sh -ec echo \"$A\" > /env.txt", False)
    # A RUN that changes nothing commits an empty layer
    assert created[9] == ("/bin/sh -ec true", True)
    assert layer_file(dockyard, "runs", "a.txt", 1) == b"a=given\n"
    assert layer_file(dockyard, "runs", "exec.txt", 2) == b"exec\n"
    assert layer_file(dockyard, "runs", "shell.txt", 3) == b"shell-form\n"
    assert layer_file(dockyard, "runs", "env.txt", 4) == b"from-env\n"
    assert len(config_of(dockyard, "runs").diff_ids) == 5
    # build args are not persisted in the image config
    assert all(not e.startswith("A=given") for e in config_of(dockyard, "runs").config.env or [])


def test_run_heredoc_user_workdir_and_volume_dirs(dockyard, busybox, tmp_path: Path) -> None:
    build(dockyard, tmp_path, """\
FROM busybox
VOLUME /vol/data
WORKDIR /work/dir
RUN <<EOF
echo "$(id -u):$(pwd)" > out.txt
EOF
RUN cat <<EOF > /here.txt
line $HOME
EOF
USER daemon
RUN id -u > /tmp/uid
""", "-t", "heredoc")
    assert layer_file(dockyard, "heredoc", "work/dir/out.txt", 2) == b"0:/work/dir\n"
    assert layer_file(dockyard, "heredoc", "here.txt", 3) == b"line /root\n"
    assert layer_file(dockyard, "heredoc", "tmp/uid", 4) == b"1\n"
    # WORKDIR creates the directory in its own layer (Docker: `#(nop) WORKDIR /work/dir`)
    assert ("/bin/sh -c #(nop) WORKDIR /work/dir", False) in history(dockyard, "heredoc")
    assert set(layer_entries(dockyard, "heredoc", 1)) == {"work", "work/dir"}
    # Docker creates VOLUME mount points in the RUN container, so they land in its layer
    entries = layer_entries(dockyard, "heredoc", 2)
    assert {"vol", "vol/data", "work/dir/out.txt"} <= set(entries)
    # init-layer files (/etc/hosts, /.dockerenv, mount points) never show in a RUN layer
    assert not {"etc/hosts", ".dockerenv", "proc", "dev", "sys"} & set(entries)


def test_workdir_existing_is_an_empty_layer(dockyard, busybox, tmp_path: Path) -> None:
    build(dockyard, tmp_path, "FROM busybox\nWORKDIR /tmp\nWORKDIR rel\n", "-t", "wd")
    created = history(dockyard, "wd")
    assert created[1] == ("/bin/sh -c #(nop) WORKDIR /tmp", True)
    assert created[2] == ("/bin/sh -c #(nop) WORKDIR /tmp/rel", False)
    assert config_of(dockyard, "wd").config.working_dir == "/tmp/rel"
    entry = layer_entries(dockyard, "wd")["tmp"]
    assert entry.mode == 0o41777  # the existing parent keeps its metadata in the diff


def test_copy_semantics(dockyard, busybox, tmp_path: Path) -> None:
    write(tmp_path, {"a.txt": "a", "b.txt": "b", "c.md": "c", "d/x": "x", "d/sub/y": "y"})
    os.chmod(tmp_path / "d" / "x", 0o751)
    os.utime(tmp_path / "a.txt", (1_000_000, 1_000_000))
    build(dockyard, tmp_path, """\
FROM busybox
COPY a.txt /file
COPY a.txt /dir/
COPY d /dd
COPY *.txt /wild/
COPY a.txt d /multi/
WORKDIR /w
COPY a.txt .
COPY a.txt rel/
COPY --chown=daemon:daemon a.txt /own/deep/
COPY --chown=1:65534 a.txt /num
COPY <<EOF /inline.txt
inline
EOF
""", "-t", "cp")
    h = [c for c, _ in history(dockyard, "cp")]
    assert h[1].startswith("/bin/sh -c #(nop) COPY file:") and h[1].endswith(" in /file ")
    assert h[3].startswith("/bin/sh -c #(nop) COPY dir:") and h[3].endswith(" in /dd ")
    assert h[4].startswith("/bin/sh -c #(nop) COPY multi:") and h[4].endswith(" in /wild/ ")
    # Docker 20.10 writes no space between the --chown value and the source hash
    assert h[9].startswith("/bin/sh -c #(nop) COPY --chown=daemon:daemonfile:")
    assert set(layer_entries(dockyard, "cp", 1)) == {"file"}
    assert layer_entries(dockyard, "cp", 1)["file"].mtime == 1_000_000  # mtime kept
    assert set(layer_entries(dockyard, "cp", 2)) == {"dir", "dir/a.txt"}
    dd = layer_entries(dockyard, "cp", 3)
    assert set(dd) == {"dd", "dd/sub", "dd/sub/y", "dd/x"}  # contents, not the directory
    # Docker's layer headers carry the file type bits in the mode (Go's FileInfoHeader)
    assert dd["dd/x"].mode == 0o100751 and dd["dd/sub"].mode == 0o40755 and dd["dd/x"].uid == 0
    assert set(layer_entries(dockyard, "cp", 4)) == {"wild", "wild/a.txt", "wild/b.txt"}
    assert set(layer_entries(dockyard, "cp", 5)) == {"multi", "multi/a.txt", "multi/x", "multi/sub", "multi/sub/y"}
    assert set(layer_entries(dockyard, "cp", 7)) == {"w", "w/a.txt"}
    assert set(layer_entries(dockyard, "cp", 8)) == {"w", "w/rel", "w/rel/a.txt"}
    own = layer_entries(dockyard, "cp", 9)
    assert {(n, m.uid, m.gid) for n, m in own.items()} == {
        ("own", 1, 1), ("own/deep", 1, 1), ("own/deep/a.txt", 1, 1)}
    num = layer_entries(dockyard, "cp", 10)["num"]
    assert (num.uid, num.gid) == (1, 65534)
    assert layer_file(dockyard, "cp", "inline.txt", 11) == b"inline\n"


def test_copy_chmod_requires_buildkit(dockyard, busybox, tmp_path: Path) -> None:
    # Docker 20.10's classic builder refuses COPY --chmod (a BuildKit flag), after the step line
    write(tmp_path, {"a": "a"})
    result = build(dockyard, tmp_path, "FROM busybox\nCOPY --chmod=700 a /a\n", check=False)
    assert result.returncode == 1
    assert "Step 2/2 : COPY --chmod=700 a /a" in result.stdout
    assert result.stderr.strip() == (
        "Error: the --chmod option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/"
        " to learn how to build images with BuildKit enabled")


def test_add_archives_and_urls(dockyard, busybox, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"from tar\n"
        info = tarfile.TarInfo("inner/f.txt")
        info.size, info.uid, info.mode = len(data), 7, 0o640
        tar.addfile(info, io.BytesIO(data))
    (ctx / "arch.tgz").write_bytes(buf.getvalue())
    (ctx / "plain.gz").write_bytes(b"\x1f\x8bnot really")
    served = b"served content\n"
    good = "sha256:" + hashlib.sha256(served).hexdigest()
    with serve_bytes(served, {"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}) as base:
        url = f"{base}/files/remote.txt"
        build(dockyard, ctx, f"FROM busybox\nADD arch.tgz /x/\nADD plain.gz /p/\n"
                             f"ADD --checksum={good} {url} /dl/\n", "-t", "add")
        bad = build(dockyard, ctx, f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url} /dl/\n",
                    check=False)
    tar_layer = layer_entries(dockyard, "add", 1)
    assert set(tar_layer) == {"x", "x/inner", "x/inner/f.txt"}
    assert (tar_layer["x/inner/f.txt"].uid, tar_layer["x/inner/f.txt"].mode & 0o7777) == (7, 0o640)
    assert layer_file(dockyard, "add", "x/inner/f.txt", 1) == b"from tar\n"
    assert set(layer_entries(dockyard, "add", 2)) == {"p", "p/plain.gz"}  # not a tar: copied
    # Docker 20.10: `ADD <64 hex> in /dl/` (a URL's checksum has no `file:` prefix)
    created = config_of(dockyard, "add").history[-1].created_by or ""
    assert created.startswith("/bin/sh -c #(nop) ADD ") and created.endswith(" in /dl/ ")
    assert len(created.split()[4]) == 64 and ":" not in created.split()[4]
    dl = layer_entries(dockyard, "add", 3)["dl/remote.txt"]
    assert (dl.mode, dl.mtime) == (0o100600, 1445412480)
    assert bad.returncode != 0 and "digest mismatch" in bad.stderr


def test_onbuild_triggers_run_in_the_child(dockyard, busybox, tmp_path: Path) -> None:
    write(tmp_path, {"f": "from context\n"})
    build(dockyard, tmp_path, "FROM busybox\nONBUILD COPY f /onbuild-f\nONBUILD RUN echo trig > /t\n",
          "-t", "parent")
    result = build(dockyard, tmp_path, "FROM parent\nRUN cat /onbuild-f /t\n", "-t", "child")
    assert "# Executing 2 build triggers" in result.stdout
    assert "from context\ntrig\n" in result.stdout
    assert config_of(dockyard, "child").config.on_build is None  # triggers are consumed
    created = [c for c, _ in history(dockyard, "child")]
    assert created[-2] == "/bin/sh -c echo trig > /t"


def test_from_with_arg_and_scratch(dockyard, busybox, tmp_path: Path) -> None:
    write(tmp_path, {"f": "x"})
    result = build(dockyard, tmp_path, "ARG BASE=nothing\nFROM $BASE\nCOPY f /f\n",
                   "--build-arg", "BASE=busybox", "-t", "argfrom")
    # Docker prints and counts an ARG before the first FROM as a step of its own
    assert result.stdout.startswith("Step 1/3 : ARG BASE=nothing\nStep 2/3 : FROM $BASE\n")
    assert len(config_of(dockyard, "argfrom").diff_ids) == 2
    result = build(dockyard, tmp_path, "FROM scratch\nCOPY f /f\n", "-t", "scr")
    # Docker prints an empty image ID for scratch
    assert result.stdout.splitlines()[1] == " ---> "
    cfg = config_of(dockyard, "scr")
    assert len(cfg.diff_ids) == 1 and cfg.config.env == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def test_labels_quiet_iidfile(dockyard, busybox, tmp_path: Path) -> None:
    iid = tmp_path / "iid"
    result = build(dockyard, tmp_path, "FROM busybox\n", "--label", "b=2", "--label", "a=1",
                   "-q", "--iidfile", str(iid), "-t", "lab")
    image_id = iid.read_text()
    assert result.stdout == image_id + "\n" and image_id.startswith("sha256:")
    cfg = config_of(dockyard, "lab")
    assert cfg.config.labels == {"a": "1", "b": "2"}
    assert [h.created_by for h in cfg.history[1:]] == ["/bin/sh -c #(nop)  LABEL a=1", "/bin/sh -c #(nop)  LABEL b=2"]


def test_image_is_loadable_json(dockyard, busybox, tmp_path: Path) -> None:
    """The committed config keeps Docker's classic-builder fields (container_config, container)."""
    build(dockyard, tmp_path, "FROM busybox\nRUN echo > /x\n", "-t", "fields")
    raw = json.loads(Store(dockyard.root).blobs.read(Store(dockyard.root).resolve("fields")))
    assert raw["container_config"]["Cmd"] == ["/bin/sh", "-c", "echo > /x"]
    assert len(raw["container"]) == 64
    assert raw["config"]["Image"] == busybox


def test_rm_flags_and_network(dockyard, busybox, tmp_path: Path) -> None:
    """--rm=false keeps Docker's output without `Removing intermediate container`; --network
    none gives RUN only a loopback interface, host the host's interfaces, bridge the default
    bridge network's."""
    kept = build(dockyard, tmp_path, "FROM busybox\nRUN ls /sys/class/net > /nets\n",
                 "--rm=false", "--network", "none", "-t", "netnone")
    assert "Running in" in kept.stdout and "Removing intermediate container" not in kept.stdout
    running_in = [l.split()[-1] for l in kept.stdout.splitlines() if l.startswith(" ---> Running in ")]
    assert [c[:12] for c in dockyard("ps", "-a", "-q").stdout.split()] == running_in  # kept, as Docker
    assert layer_file(dockyard, "netnone", "nets") == b"lo\n"
    before = set(os.listdir("/sys/class/net"))
    host = build(dockyard, tmp_path, "FROM busybox\nRUN ls /sys/class/net > /nets\n",
                 "--no-cache", "--network", "host", "-t", "nethost")
    assert "Removing intermediate container" in host.stdout
    assert len(dockyard("ps", "-a", "-q").stdout.split()) == 1  # only the --rm=false one
    # the host's interfaces (those of other tests' containers and networks come and go)
    assert before & set(os.listdir("/sys/class/net")) <= set(layer_file(dockyard, "nethost", "nets").decode().split())
    # bridge: the default bridge network, as dockerd's classic builder (default stays the host's)
    build(dockyard, tmp_path, "FROM busybox\nRUN ls /sys/class/net > /nets\n", "--no-cache", "--network", "bridge",
          "-t", "netbridge")
    assert layer_file(dockyard, "netbridge", "nets") == b"eth0\nlo\n"
    assert len(dockyard("ps", "-a", "-q").stdout.split()) == 1


def test_layers_match_docker_headers(dockyard, busybox, tmp_path: Path) -> None:
    """Entry names, modes (with Go's type bits), owners of COPY/WORKDIR layers, as recorded from
    Docker 20.10 for this Dockerfile (`docker save` of the same build)."""
    write(tmp_path, {"a": "a\n", "d/e/f": "1\n"})
    build(dockyard, tmp_path, "FROM busybox\nCOPY a /etc\nCOPY d /etc/\nCOPY a /newdir\n"
                              "COPY a /tmp/sub/x/\nWORKDIR tmp2\n", "-t", "hdr")
    def rows(index: int) -> list[tuple[str, int, int, int]]:
        return sorted((n, m.mode, m.uid, m.gid) for n, m in layer_entries(dockyard, "hdr", index).items())
    assert rows(1) == [("etc", 0o40755, 0, 0), ("etc/a", 0o100644, 0, 0)]
    assert rows(2) == [("etc", 0o40755, 0, 0), ("etc/e", 0o40755, 0, 0), ("etc/e/f", 0o100644, 0, 0)]
    assert rows(3) == [("newdir", 0o100644, 0, 0)]
    assert rows(4) == [("tmp", 0o41777, 0, 0), ("tmp/sub", 0o40755, 0, 0), ("tmp/sub/x", 0o40755, 0, 0),
                       ("tmp/sub/x/a", 0o100644, 0, 0)]
    assert rows(5) == [("tmp2", 0o40755, 0, 0)]


def test_hard_links_in_a_copied_directory(dockyard, busybox, tmp_path: Path) -> None:
    """Docker's context tar and COPY keep hard links as links (one body in the layer)."""
    write(tmp_path, {"d/one": "same body\n"})
    os.link(tmp_path / "d" / "one", tmp_path / "d" / "two")
    build(dockyard, tmp_path, "FROM busybox\nCOPY d /h/\n", "-t", "hard")
    entries = layer_entries(dockyard, "hard")
    assert entries["h/one"].isreg() and entries["h/one"].size == 10
    assert entries["h/two"].islnk() and entries["h/two"].linkname == "h/one"
