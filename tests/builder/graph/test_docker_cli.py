"""`DOCKER_BUILDKIT=1 docker build` (the 20.10 CLI) against `dockyard serve`: the CLI's BuildKit
session (h2c, gRPC: the context and the Dockerfile by fsutil's DiffCopy, secrets by GetSecret)
and BuildKit's progress trace. The same command against the reference dockerd 20.10 gives the
same RUN output and the same image (config, history, layer files); a failure is reported the
same way."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.builder.graph.conftest import write_context
from tests.builder.graph.shape import read_archive, steps
from tests.builder.graph.test_reference import assert_same_image
from tests.builder.graph.test_reference_mounts import _unique, run_output
from tests.conftest import Result
from tests.dockerd import DOCKER_CLI

pytestmark = pytest.mark.usefixtures("busybox")


def docker_cli(host: str, *args: str, check: bool = True) -> Result:
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_BUILDKIT": "1"}
    proc = subprocess.run([DOCKER_CLI, *args], env=env, capture_output=True, timeout=300)
    result = Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"),
                    proc.stdout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{result.stderr}")
    return result


DOCKERFILE = """\
FROM busybox AS base
RUN --mount=type=secret,id=tok echo {m} secret-bytes=$(wc -c < /run/secrets/tok)
COPY . /ctx/
RUN echo {m}; cd /ctx && find . | sort && cat sub/x && readlink lnk && wc -c < big.bin
FROM busybox
COPY --from=base /ctx/sub /sub
CMD ["sh"]
"""


def test_docker_cli_builds_through_serve_as_through_dockerd(reference, bk, daemon, tmp_path: Path) -> None:
    m = _unique()
    ctx = write_context(tmp_path / "ctx", DOCKERFILE.format(m=m), {
        "sub/x": "x\n", "ignored.txt": "no\n", ".dockerignore": "ignored.txt\n",
        "big.bin": os.urandom(3 << 20)})
    os.symlink("sub/x", ctx / "lnk")
    (tmp_path / "secret").write_text("s3cr3t-" + m)
    args = ["build", "--progress=plain", "--secret", f"id=tok,src={tmp_path / 'secret'}", "-t", "cli-" + m, str(ctx)]
    ref = reference.docker(*args[:1], "--network=host", *args[1:])
    got = docker_cli(daemon.url, *args)
    assert run_output(got.stderr) == run_output(ref.stderr)
    assert any(f"secret-bytes={len('s3cr3t-' + m)}" in line for lines in run_output(got.stderr).values() for line in lines)
    assert "s3cr3t" not in got.stderr
    ours = read_archive(docker_cli(daemon.url, "save", "cli-" + m).stdout_bytes)
    assert_same_image(reference.shape("cli-" + m), ours)
    # the in-process build of the same context finds every step in the cache the CLI's build filled
    local = bk.build(ctx, "--secret", f"id=tok,src={tmp_path / 'secret'}", "-t", "local-" + m)
    done = {k: v for k, v in steps(local.stderr).items() if k.startswith("[") and "FROM" not in k and "internal" not in k}
    assert set(done.values()) == {"CACHED"}, done
    assert bk("images", "-q", "--no-trunc", "local-" + m).stdout == bk("images", "-q", "--no-trunc", "cli-" + m).stdout


def test_docker_cli_failure_through_serve_as_through_dockerd(reference, daemon, tmp_path: Path) -> None:
    m = _unique()
    ctx = write_context(tmp_path / "ctx", f"FROM busybox\nRUN echo {m}; exit 3\n")
    ref = reference.docker("build", "--network=host", "--progress=plain", str(ctx), check=False)
    got = docker_cli(daemon.url, "build", "--progress=plain", str(ctx), check=False)
    assert got.returncode == ref.returncode == 1
    assert got.stderr.strip().splitlines()[-1] == ref.stderr.strip().splitlines()[-1] == (
        f"executor failed running [/bin/sh -c echo {m}; exit 3]: exit code: 3")
    assert run_output(got.stderr) == run_output(ref.stderr)


def test_dockerfile_specific_dockerignore_through_serve_as_through_dockerd(reference, daemon, tmp_path: Path) -> None:
    """`docker build -f sub/app.Dockerfile` with `sub/app.Dockerfile.dockerignore` beside it:
    BuildKit reads that file instead of the context's .dockerignore (dockerd 20.10: `b` is left
    out, `a`, which the context's .dockerignore lists, is sent). Through serve the CLI's session
    lent only the Dockerfile, so the context's .dockerignore applied (`a` out, `b` in)."""
    m = _unique()
    ctx = write_context(tmp_path / "ctx", "", {
        "a": "a\n", "b": "b\n", ".dockerignore": "a\n", "sub/app.Dockerfile.dockerignore": "b\n",
        "sub/app.Dockerfile": f"FROM busybox\nCOPY . /c/\nRUN echo {m}; ls -a /c; echo\n"})
    args = ["build", "--progress=plain", "-f", str(ctx / "sub" / "app.Dockerfile"), str(ctx)]
    ref = reference.docker(*args[:1], "--network=host", *args[1:])
    got = docker_cli(daemon.url, *args)
    assert run_output(got.stderr) == run_output(ref.stderr)
    listed = [lines for name, lines in run_output(got.stderr).items() if "RUN" in name]
    assert listed == [[m, ".", "..", ".dockerignore", "Dockerfile", "a", "sub", ""]]


def test_context_tar_on_stdin_through_serve_as_through_dockerd(reference, daemon, tmp_path: Path) -> None:
    """`DOCKER_BUILDKIT=1 docker build -f sub/app.Dockerfile - < context.tar.gz`: the CLI sends the
    tar in a request of its own (`buildid=upload-request:ID`) beside the build (`remote=
    upload-request`); dockerd 20.10 builds it as a context. serve built the upload alone as a
    build of its own and refused the build: `remote context 'upload-request' is not supported
    with a session`."""
    import gzip
    import io
    import tarfile

    m = _unique()
    ctx = write_context(tmp_path / "ctx", "", {
        "f": m + "\n", "sub/app.Dockerfile": f"FROM busybox\nCOPY f /g\nRUN echo {m}; cat /g\n"})
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(ctx, arcname=".")
    tarball = gzip.compress(data.getvalue())
    args = ["--progress=plain", "-t", "stdin-" + m, "-f", "sub/app.Dockerfile", "-"]
    reference.tags.add("stdin-" + m)
    ref = _with_stdin([DOCKER_CLI, "build", "--network=host", *args], reference.env, tarball)
    got = _with_stdin([DOCKER_CLI, "build", *args],
                      {**os.environ, "DOCKER_HOST": daemon.url, "DOCKER_BUILDKIT": "1"}, tarball)
    assert ref.returncode == got.returncode == 0, got.stderr
    assert run_output(got.stderr) == run_output(ref.stderr)
    assert [m, m] in run_output(got.stderr).values()
    ours = read_archive(docker_cli(daemon.url, "save", "stdin-" + m).stdout_bytes)
    assert_same_image(reference.shape("stdin-" + m), ours)


def _with_stdin(argv: list[str], env: dict[str, str], stdin: bytes) -> Result:
    proc = subprocess.run(argv, env=env, input=stdin, capture_output=True, timeout=300)
    return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"),
                  proc.stdout)


def test_quiet_through_serve_as_through_dockerd(reference, daemon, tmp_path: Path) -> None:
    """`DOCKER_BUILDKIT=1 docker build -q`: dockerd 20.10 answers only the image ID (a stream
    line, which the CLI prints on stdout), and holds the progress back unless the build fails
    (then the progress, then the error). Through serve the CLI printed nothing: serve sent the
    progress and the ID as the non-quiet build's aux message."""
    m = _unique()
    ctx = write_context(tmp_path / "ctx", f"FROM busybox\nRUN echo {m}\n")
    ref = reference.docker("build", "--network=host", "-q", str(ctx))
    got = docker_cli(daemon.url, "build", "-q", str(ctx))
    assert ref.stdout.startswith("sha256:") and len(ref.stdout.strip()) == 71 and ref.stderr == ""
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", got.stdout)
    assert docker_cli(daemon.url, "image", "inspect", "-f", "{{.Id}}", got.stdout.strip()).stdout == got.stdout
    assert got.stderr == ""
    write_context(ctx, f"FROM busybox\nRUN echo {m}; exit 3\n")
    ref = reference.docker("build", "--network=host", "-q", "--progress=plain", str(ctx), check=False)
    got = docker_cli(daemon.url, "build", "-q", "--progress=plain", str(ctx), check=False)
    assert ref.returncode == got.returncode == 1 and ref.stdout == got.stdout == ""
    assert run_output(got.stderr) == run_output(ref.stderr)
    assert got.stderr.splitlines()[-1] == ref.stderr.splitlines()[-1]


def test_add_host_through_serve_as_through_dockerd(reference, daemon, tmp_path: Path) -> None:
    """`DOCKER_BUILDKIT=1 docker build --add-host myhost:10.1.2.3 --add-host v6:::1`: dockerd 20.10's
    BuildKit appends `IP<TAB>NAME` lines to RUN's /etc/hosts; the hosts are not in the step's
    cache key (another IP next time: the RUN stays CACHED). serve refused the build: 'build
    parameters for RUN's containers (ExtraHosts) are not supported in BuildKit mode'."""
    m = _unique()
    ctx = write_context(tmp_path / "ctx", f"FROM busybox\nRUN echo {m}; cat /etc/hosts; echo\n")
    outputs = []
    for ip in ("10.1.2.3", "10.9.9.9"):
        args = ["build", "--progress=plain", "--add-host", f"myhost:{ip}", "--add-host", "v6:::1", str(ctx)]
        ref = reference.docker(*args[:1], "--network=host", *args[1:])
        got = docker_cli(daemon.url, *args)
        assert run_output(got.stderr) == run_output(ref.stderr)
        outputs.append(run_output(got.stderr))
        assert {k: v for k, v in steps(got.stderr).items() if "RUN" in k} == {
            k: v for k, v in steps(ref.stderr).items() if "RUN" in k}
    assert [m, "127.0.0.1\tlocalhost buildkitsandbox", "::1\tlocalhost ip6-localhost ip6-loopback",
            "10.1.2.3\tmyhost", "::1\tv6", ""] in outputs[0].values()
    assert outputs[1] == {}  # CACHED: nothing ran
