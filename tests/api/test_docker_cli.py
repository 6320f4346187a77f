"""The docker CLI (Debian's docker.io client) with DOCKER_HOST pointed at `dockyard serve`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

DOCKER = "docker"


def docker(env: dict[str, str], *args: str, input: bytes | None = None, cwd: Path | None = None,
           check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run([DOCKER, *args], env=env, input=input, cwd=cwd, capture_output=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stderr.decode()}{proc.stdout.decode()}")
    return proc


def test_build_prints_as_docker(cli_env: dict[str, str], busybox: str, tmp_path: Path) -> None:
    """`docker build` (classic builder) through the API prints what it prints against dockerd:
    the context upload line, steps, ` ---> ID`, RUN output, Successfully built/tagged."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo hello-from-run\nLABEL a=b\n")
    out = docker(cli_env, "build", "-t", "t1", ".", cwd=tmp_path).stdout.decode()
    lines = [line.rstrip("\r") for line in out.rstrip("\n").split("\n")]
    assert lines[0].startswith("Sending build context to Docker daemon")
    assert lines[1] == "Step 1/3 : FROM busybox"
    assert lines[2] == f" ---> {busybox[7:19]}"
    assert lines[3] == "Step 2/3 : RUN echo hello-from-run"
    assert re.fullmatch(r" ---> Running in [0-9a-f]{12}", lines[4])
    assert "hello-from-run" in lines
    image_id = docker(cli_env, "image", "inspect", "-f", "{{.Id}}", "t1").stdout.decode().strip()
    assert lines[-2:] == [f"Successfully built {image_id[7:19]}", "Successfully tagged t1:latest"]
    # A second build is fully cached.
    again = docker(cli_env, "build", "-t", "t1", ".", cwd=tmp_path).stdout.decode()
    assert again.count(" ---> Using cache") == 2
    # `-q` prints only the ID; a failing RUN exits non-zero with Docker's message.
    assert docker(cli_env, "build", "-q", ".", cwd=tmp_path).stdout.decode().strip() == image_id
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    failed = docker(cli_env, "build", ".", cwd=tmp_path, check=False)
    assert failed.returncode != 0
    assert "returned a non-zero code: 3" in failed.stderr.decode()


def test_images_history_tag_rmi(cli_env: dict[str, str], busybox: str) -> None:
    docker(cli_env, "tag", "busybox", "other/name:v1")
    table = docker(cli_env, "images").stdout.decode().splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert {tuple(line.split()[:3]) for line in table[1:]} == {
        ("busybox", "latest", busybox[7:19]), ("other/name", "v1", busybox[7:19])}
    history = docker(cli_env, "history", "--no-trunc", "other/name:v1").stdout.decode()
    assert busybox in history and "Imported from -" in history
    assert docker(cli_env, "rmi", "other/name:v1").stdout.decode() == "Untagged: other/name:v1\n"
    missing = docker(cli_env, "rmi", "nope", check=False)
    assert missing.returncode == 1
    assert "No such image: nope" in missing.stderr.decode()
    # `docker search` has no v2 registry to ask: one clear line (it was "method not allowed")
    search = docker(cli_env, "search", "busybox", check=False)
    assert search.returncode == 1 and search.stderr.decode().startswith(
        "Error response from daemon: search is not supported by dockyard"), search.stderr


def test_run_ps_pause_commit_export_import(cli_env: dict[str, str], busybox: str, tmp_path: Path) -> None:
    cid = docker(cli_env, "run", "-d", "--name", "c1", "busybox", "sh", "-c",
                 "echo started; mkdir /data; echo x > /data/f; sleep 60").stdout.decode().strip()
    try:
        assert re.fullmatch(r"[0-9a-f]{64}", cid)
        ps = docker(cli_env, "ps").stdout.decode().splitlines()
        assert ps[0].split()[:2] == ["CONTAINER", "ID"] and ps[1].startswith(cid[:12])
        assert ps[1].split()[-1] == "c1" and "Up " in ps[1]
        docker(cli_env, "pause", "c1")
        assert "(Paused)" in docker(cli_env, "ps").stdout.decode()
        docker(cli_env, "unpause", "c1")
        for _ in range(100):
            if docker(cli_env, "logs", "c1").stdout == b"started\n":
                break
        assert docker(cli_env, "logs", "c1").stdout == b"started\n"
        committed = docker(cli_env, "commit", "c1", "snap:1").stdout.decode().strip()
        assert committed.startswith("sha256:")
        export = docker(cli_env, "export", "c1").stdout
    finally:
        docker(cli_env, "rm", "-f", "c1")
    (tmp_path / "c1.tar").write_bytes(export)
    imported = docker(cli_env, "import", str(tmp_path / "c1.tar"), "flat:1").stdout.decode().strip()
    assert imported.startswith("sha256:")
    # Foreground run with --rm: output over attach, the exit code, and nothing left behind.
    run = docker(cli_env, "run", "--rm", "flat:1", "sh", "-c", "cat /data/f; exit 4", check=False)
    assert (run.returncode, run.stdout) == (4, b"x\n")
    run = docker(cli_env, "run", "--rm", "snap:1", "cat", "/data/f")
    assert run.stdout == b"x\n"
    assert docker(cli_env, "ps", "-aq").stdout == b""


def test_save_gzip_load(cli_env: dict[str, str], busybox: str, tmp_path: Path) -> None:
    archive = tmp_path / "t1.tar.gz"
    docker(cli_env, "tag", "busybox", "t1")
    subprocess.run(f"docker save t1 | gzip > {archive}", shell=True, env=cli_env, check=True)
    docker(cli_env, "rmi", "t1", "busybox")
    assert docker(cli_env, "images", "-q").stdout == b""
    out = docker(cli_env, "load", "-i", str(archive)).stdout.decode()
    assert out == "Loaded image: t1:latest\n"
    assert docker(cli_env, "images", "-q", "--no-trunc").stdout.decode().strip() == busybox


def _has_registry_engine() -> bool:
    import importlib.util

    return importlib.util.find_spec("dockyard.engine.registry") is not None


@pytest.mark.skipif(not _has_registry_engine(), reason="dockyard/engine/registry.py not there yet")
def test_push_pull_local_registry(cli_env: dict[str, str], busybox: str, registry: str) -> None:
    """`docker push` / `docker pull` through the server to a local registry (plain HTTP on
    127.0.0.1, which Docker treats as insecure-allowed)."""
    name = f"{registry}/dy/bb:v1"
    docker(cli_env, "tag", "busybox", name)
    pushed = docker(cli_env, "push", name).stdout.decode()
    assert f"The push refers to repository [{registry}/dy/bb]" in pushed
    digest = re.search(r"v1: digest: (sha256:[0-9a-f]{64}) size: \d+", pushed)
    assert digest, pushed
    docker(cli_env, "rmi", name)
    pulled = docker(cli_env, "pull", name).stdout.decode()
    assert f"Digest: {digest.group(1)}" in pulled
    assert docker(cli_env, "image", "inspect", "-f", "{{.Id}}", name).stdout.decode().strip() == busybox
    repo_digests = docker(cli_env, "image", "inspect", "-f", "{{json .RepoDigests}}", name).stdout.decode()
    assert f"{registry}/dy/bb@{digest.group(1)}" in repo_digests


def test_prune(cli_env: dict[str, str], busybox: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nLABEL v=1\n")
    first = docker(cli_env, "build", "-q", "-t", "p:1", ".", cwd=tmp_path).stdout.decode().strip()
    (tmp_path / "Dockerfile").write_text("FROM busybox\nLABEL v=2\n")
    docker(cli_env, "build", "-q", "-t", "p:1", ".", cwd=tmp_path)  # the first is now dangling
    docker(cli_env, "run", "busybox", "true")
    out = docker(cli_env, "image", "prune", "-f").stdout.decode()
    assert f"deleted: {first}" in out
    assert docker(cli_env, "images", "-q", "--filter", "dangling=true").stdout == b""
    out = docker(cli_env, "container", "prune", "-f").stdout.decode()
    assert "Deleted Containers:" in out
    assert docker(cli_env, "ps", "-aq").stdout == b""
