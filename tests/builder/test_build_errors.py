"""Build errors: what Docker 20.10's classic builder says, a non-zero exit, nothing tagged,
no container, mount or temp file left behind."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.store.store import Store


def build(dockyard, ctx: Path, dockerfile: str, *args: str):  # noqa: ANN001, ANN201
    (ctx / "Dockerfile").write_text(dockerfile)
    return dockyard("build", *args, str(ctx), check=False)


def _mounts_under(root: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(root) in line]


def _containers(dockyard) -> list[str]:  # noqa: ANN001
    """Containers the store knows (`ps -a`) plus any left in its containers directory."""
    listed = dockyard("ps", "-a", "-q").stdout.split()
    cdir = Path(dockyard.root) / "containers"
    return listed + (sorted(p.name for p in cdir.iterdir()) if cdir.is_dir() else [])


def _leftovers(dockyard) -> list[str]:  # noqa: ANN001
    return [p.name for p in (Path(dockyard.root) / "tmp").iterdir()]


def test_failing_run(dockyard, busybox, tmp_path: Path) -> None:
    before = set(Store(dockyard.root).image_ids())
    result = build(dockyard, tmp_path, "FROM busybox\nRUN echo partial > /p; exit 3\n", "-t", "fails")
    # Docker's message, and the CLI exits with the command's status
    assert result.stderr.strip() == "The command '/bin/sh -c echo partial > /p; exit 3' returned a non-zero code: 3"
    assert result.returncode == 3
    assert "Successfully" not in result.stdout
    store = Store(dockyard.root)
    assert store.find("fails") is None
    assert set(store.image_ids()) == before
    assert _mounts_under(dockyard.root) == []
    assert _containers(dockyard) == []
    assert _leftovers(dockyard) == []
    false = build(dockyard, tmp_path, "FROM busybox\nRUN false\n")
    assert false.stderr.strip() == "The command '/bin/sh -c false' returned a non-zero code: 1"
    assert false.returncode == 1


def test_missing_source_and_wildcards(dockyard, busybox, tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    missing = build(dockyard, tmp_path, "FROM busybox\nCOPY nope /\n")
    assert missing.returncode != 0
    assert ("COPY failed: file not found in build context or excluded by .dockerignore: "
            "stat nope: file does not exist") in missing.stderr
    none = build(dockyard, tmp_path, "FROM busybox\nCOPY *.none /\n")
    assert "COPY failed: no source files were specified" in none.stderr
    multi = build(dockyard, tmp_path, "FROM busybox\nCOPY a Dockerfile /x\n")
    assert ("When using COPY with more than one source file, the destination must be a directory "
            "and end with a /") in multi.stderr
    outside = build(dockyard, tmp_path, "FROM busybox\nCOPY ../x /\n")
    assert "forbidden path outside the build context: ../x" in outside.stderr
    assert _leftovers(dockyard) == []


def test_symlink_pointing_outside_the_context(dockyard, busybox, tmp_path: Path) -> None:
    """Docker resolves context symlinks inside the context (as in a chroot): a link to a host
    file outside is not found, the host file is never copied."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    os.symlink(str(secret), ctx / "abs")
    os.symlink("../secret", ctx / "rel")
    for name in ("abs", "rel"):
        result = build(dockyard, ctx, f"FROM busybox\nCOPY {name} /x\n")
        assert result.returncode != 0
        assert f"stat {name}: file does not exist" in result.stderr
    # inside a copied directory a symlink stays a symlink (its target text is kept, not followed)
    (ctx / "d").mkdir()
    os.symlink(str(secret), ctx / "d" / "link")
    ok = build(dockyard, ctx, "FROM busybox\nCOPY d /d\n", "-t", "links")
    assert ok.returncode == 0
    store = Store(dockyard.root)
    import tarfile

    with store.image(store.resolve("links")).layers[-1].open() as stream:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            members = {m.name: m for m in tar}
    assert members["d/link"].issym() and members["d/link"].linkname == str(secret)


def test_bad_chown_user_and_unknown_from(dockyard, busybox, tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    user = build(dockyard, tmp_path, "FROM busybox\nCOPY --chown=nobody2 a /\n")
    assert ("unable to convert uid/gid chown string to host mapping: can't find uid for user "
            "nobody2: no such user: nobody2") in user.stderr
    group = build(dockyard, tmp_path, "FROM busybox\nCOPY --chown=daemon:nogroup2 a /\n")
    assert "can't find gid for group nogroup2" in group.stderr
    stage = build(dockyard, tmp_path, "FROM busybox\nCOPY --from=nostage /a /\n")
    assert stage.returncode != 0 and "invalid from flag value nostage:" in stage.stderr
    # An image the store lacks is pulled (Docker's classic builder does); here from a registry
    # address where nothing listens, so the error is the connection's, as Docker words it.
    base = build(dockyard, tmp_path, "FROM 127.0.0.1:9/nosuchimage\n")
    assert base.returncode != 0
    assert base.stderr == 'Error: Get "http://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: connect: connection refused\n'
    assert "Step 1/1 : FROM 127.0.0.1:9/nosuchimage" in base.stdout
    assert _mounts_under(dockyard.root) == [] and _leftovers(dockyard) == []


def test_tags_validated_before_any_work(dockyard, busybox, tmp_path: Path) -> None:
    before = set(Store(dockyard.root).image_ids())
    result = build(dockyard, tmp_path, "FROM busybox\nLABEL a=b\n", "-t", "good", "-t", "Bad:Tag")
    assert result.returncode != 0
    assert 'invalid argument "Bad:Tag" for "-t, --tag" flag' in result.stderr
    assert "Step" not in result.stdout
    assert set(Store(dockyard.root).image_ids()) == before


def test_labels_and_build_args_validated_before_any_work(dockyard, busybox, tmp_path: Path) -> None:
    """--label with no name, or whitespace in its name, fails before any step, as the docker CLI
    20.10 refuses it (`DOCKER_BUILDKIT=0 docker build --label =x .`: `invalid argument "=x" for
    "--label" flag: invalid label '=x': empty name`, then `See 'docker build --help'.`, exit
    125); dockyard ran the build up to a LABEL step that failed (`LABEL names can not be blank`),
    and took `--label "a b=1"` as a label named "a b"."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    build_arg = dockyard("build", "--build-arg", "=x", str(tmp_path), check=False)
    # (docker: the same line, then its See line, exit 125; dockyard built and warned "build-args [] were
    # not consumed")
    assert build_arg.stderr.splitlines() == ['Error: invalid argument "=x" for "--build-arg" flag: invalid '
                                             "environment variable: =x"]
    assert build_arg.returncode == 1 and "Step" not in build_arg.stdout
    for label, problem in (("=x", "invalid label '=x': empty name"),
                           ("  =x", "invalid label '  =x': empty name"),
                           ("a b=1", "label 'a b' contains whitespaces")):
        for prefix in ((), ("-H", "unix:///nonexistent.sock")):   # the client checks it before connecting
            result = dockyard(*prefix, "build", "--label", "ok=1", "--label", label, str(tmp_path), check=False)
            assert result.returncode == 1, (label, prefix)
            assert result.stderr.splitlines() == [f'Error: invalid argument "{label}" for "--label" flag: {problem}']
            assert "Step" not in result.stdout


def test_pull_and_dockerfile_errors(dockyard, busybox, tmp_path: Path) -> None:
    # --pull pulls even an image the store has (the registry here is unreachable).
    dockyard("tag", "busybox", "127.0.0.1:9/busybox")
    pull = build(dockyard, tmp_path, "FROM 127.0.0.1:9/busybox\n", "--pull")
    assert pull.returncode != 0 and "dial tcp 127.0.0.1:9: connect: connection refused" in pull.stderr
    syntax = build(dockyard, tmp_path, "FROM busybox\nBOGUS x\n")
    assert syntax.returncode != 0 and "unknown instruction: BOGUS" in syntax.stderr
    assert "Traceback" not in pull.stderr + syntax.stderr


def test_add_archive_cannot_escape(dockyard, busybox, tmp_path: Path) -> None:
    """ADD of a tar whose relative symlink climbs out of the archive root is refused (Docker's
    untar refuses such breakouts); `..` in entry names cannot climb out of the destination."""
    import io
    import tarfile

    def archive(members: list[tarfile.TarInfo]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for m in members:
                tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isreg() else None)
        return buf.getvalue()

    link = tarfile.TarInfo("evil")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../etc"
    (tmp_path / "evil.tar").write_bytes(archive([link]))
    bad = build(dockyard, tmp_path, "FROM busybox\nADD evil.tar /x/\n")
    assert bad.returncode != 0 and "breaks out" in bad.stderr
    dotdot = tarfile.TarInfo("../../up.txt")
    dotdot.size = 1
    (tmp_path / "dots.tar").write_bytes(archive([dotdot]))
    ok = build(dockyard, tmp_path, "FROM busybox\nADD dots.tar /x/\n", "-t", "dots")
    assert ok.returncode == 0
    store = Store(dockyard.root)
    with store.image(store.resolve("dots")).layers[-1].open() as stream:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            assert sorted(m.name for m in tar) == ["x", "x/up.txt"]


def test_copy_through_an_existing_file(dockyard, busybox, tmp_path: Path) -> None:
    """Docker cannot create a directory where the image has a file: the COPY fails."""
    (tmp_path / "a").write_text("a")
    result = build(dockyard, tmp_path, "FROM busybox\nCOPY a /etc/passwd/x\n")
    assert result.returncode != 0
    assert "mkdir /etc/passwd: not a directory" in result.stderr


def test_copy_a_directory_onto_a_link_to_a_file(dockyard, busybox, tmp_path: Path) -> None:
    """dockerd 20.10 follows the destination's last symlink: a directory copied onto a link to
    a file fails, the link and the file stay (dockyard wrote the directory in the link's place).
    `DOCKER_BUILDKIT=0 docker build` of these, with a directory `d`:
      COPY d /rellink    -> failed to copy files: failed to copy directory: mkdir
                            <dockerd's overlay2 path>/merged/file: not a directory
      COPY a /rellink/   -> failed to copy files: failed to create new directory: mkdir <...>/file:
                            not a directory
    (dockyard names the path in the image, not the daemon's)."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("f")
    (tmp_path / "a").write_text("a")
    base = "FROM busybox\nRUN echo f > /file && ln -s file /rellink\n"
    for copy in ("COPY d /rellink", "COPY a /rellink/"):
        result = build(dockyard, tmp_path, base + copy + "\n")
        assert result.returncode == 1, (copy, result.stdout)
        assert result.stderr.strip() == "Error: failed to copy files: mkdir /file: not a directory", copy


def test_expose_with_a_host_port(dockyard, busybox, tmp_path: Path) -> None:
    """`EXPOSE 8080:80` (a -p spec written in a Dockerfile) is refused. dockerd 20.10 builds it and
    drops the host part without a word (DOCKER_BUILDKIT=0 docker build: ExposedPorts {"80/tcp"};
    `EXPOSE 1.2.3.4:80:80/udp`: {"80/udp"}), which leaves the user believing 8080 is published."""
    result = build(dockyard, tmp_path, "FROM busybox\nEXPOSE 8080:80\n")
    assert result.returncode == 1
    assert result.stderr.strip() == ("Error: Invalid containerPort: 8080:80 (EXPOSE takes no host port: "
                                     "publish with run -p)")


def test_add_url_errors(dockyard, busybox, tmp_path: Path) -> None:
    """ADD of a URL that answers 404, or whose host has no address: dockerd 20.10's words, in one
    line. Its own answers (DOCKER_BUILDKIT=0 docker build) append what dockyard leaves out:
      ADD failed: failed to GET http://127.0.0.1:PORT/missing.txt with status 404 File not found:
        <!DOCTYPE HTML> ... (the whole error page, 13 lines)
      ADD failed: Get "http://nosuchhost.invalid/x.tar": dial tcp: lookup nosuchhost.invalid on
        <its resolver>:53: no such host"""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/missing.txt"
        missing = build(dockyard, tmp_path, f"FROM busybox\nADD {url} /x\n")
        assert missing.returncode == 1
        assert missing.stderr.splitlines() == [f"Error: ADD failed: failed to GET {url} with status 404 File not found"]
    finally:
        server.shutdown()
        server.server_close()
    nohost = build(dockyard, tmp_path, "FROM busybox\nADD http://nosuchhost.invalid/x.tar /x/\n")
    assert nohost.returncode == 1
    assert nohost.stderr.splitlines() == ['Error: ADD failed: Get "http://nosuchhost.invalid/x.tar": dial tcp: '
                                          "lookup nosuchhost.invalid: no such host"]


def test_platform_of_another_machine(dockyard, busybox, daemon, tmp_path: Path) -> None:
    """--platform names a platform this machine does not build: refused, in process and through
    serve (the API's `platform`, which the classic build ignored). dockerd 20.10's classic builder
    builds for its own platform anyway: `DOCKER_BUILDKIT=0 docker build --platform linux/arm64`
    with a local amd64 busybox gives an amd64 image and exit 0. This machine's is taken, written
    as containerd normalizes it (`amd64`)."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    for prefix in ((), ("-H", daemon.url)):
        other = dockyard(*prefix, "build", "--platform", "linux/arm64", str(tmp_path), check=False)
        assert other.returncode == 1
        assert other.stderr.splitlines() == ["Error: platform linux/arm64 is not supported here (only linux/amd64)"]
        assert dockyard(*prefix, "build", "-q", "--platform", "amd64", str(tmp_path)).stdout.startswith("sha256:")
    # FROM --platform as well (dockerd: an amd64 stage, exit 0)
    (tmp_path / "Dockerfile").write_text("FROM --platform=linux/arm64 busybox\nRUN true\n")
    other = dockyard("build", str(tmp_path), check=False)
    assert other.returncode == 1
    assert other.stderr.splitlines()[-1] == ("Error: FROM --platform=linux/arm64: platform linux/arm64 is not "
                                             "supported here (only linux/amd64)")


def test_chown_beyond_a_files_ids(dockyard, busybox, tmp_path: Path) -> None:
    """`COPY --chown=4294967296` is refused: dockerd 20.10 builds it and its file is root's (the
    kernel takes the id modulo 2**32: `DOCKER_BUILDKIT=0 docker build`, the layer's x is 0:0);
    dockyard wrote 4294967296 into the layer's tar. The last id a file can have is taken."""
    (tmp_path / "a").write_text("a")
    big = build(dockyard, tmp_path, "FROM busybox\nCOPY --chown=4294967296 a /x\n")
    assert big.returncode == 1
    assert big.stderr.strip() == ("Error: unable to convert uid/gid chown string to host mapping: uid 4294967296 "
                                  "is out of range (0-4294967294)")
    group = build(dockyard, tmp_path, "FROM busybox\nCOPY --chown=1:4294967295 a /x\n")
    assert "gid 4294967295 is out of range" in group.stderr
    last = build(dockyard, tmp_path, "FROM busybox\nCOPY --chown=4294967294:7 a /x\nRUN stat -c %u:%g /x\n")
    assert last.returncode == 0 and "4294967294:7" in last.stdout, last.stderr
