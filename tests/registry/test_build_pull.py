"""`build` pulls a FROM image the store lacks, and `--pull` pulls even when it has one (Docker's
classic builder: the pull's status lines appear in the step's output)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Dockyard


def test_from_a_missing_image_pulls_it(dockyard: Dockyard, tmp_path: Path, busybox: str, registry) -> None:
    base = f"{registry.host}/base/bb:v1"
    dockyard("tag", "busybox", base)
    dockyard("push", base)
    builder = Dockyard(tmp_path / "builder-store")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN echo built > /f\n")
    out = builder("build", "-t", "child", str(ctx)).stdout
    lines = out.splitlines()
    assert lines[0] == f"Step 1/2 : FROM {base}"
    assert "v1: Pulling from base/bb" in lines
    assert f"Status: Downloaded newer image for {base}" in lines
    assert builder("image", "inspect", "-f", "{{.Id}}", base).stdout.strip() == busybox
    assert builder("run", "--rm", "child", "cat", "/f").stdout == "built\n"


def test_build_pull_refreshes_a_stale_local_tag(dockyard: Dockyard, tmp_path: Path, busybox: str,
                                                 busybox_tar: Path, registry) -> None:
    base = f"{registry.host}/base/fresh:v1"
    newer = dockyard("import", "-c", "LABEL v=2", str(busybox_tar), base).stdout.strip()
    dockyard("push", base)
    dockyard("tag", "busybox", base)  # the local tag is now stale
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nLABEL child=1\n")
    out = dockyard("build", "-t", "child2", str(ctx)).stdout
    assert "Pulling from" not in out  # without --pull the local image is used
    out = dockyard("build", "--pull", "-t", "child2", str(ctx)).stdout
    assert f"Status: Downloaded newer image for {base}" in out
    assert dockyard("image", "inspect", "-f", "{{.Id}}", base).stdout.strip() == newer


def test_from_an_unknown_image_fails_clearly(dockyard: Dockyard, tmp_path: Path, registry) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {registry.host}/none/x:v1\n")
    r = dockyard("build", str(ctx), check=False)
    assert r.returncode != 0
    assert f"Error: manifest for {registry.host}/none/x:v1 not found: manifest unknown: manifest unknown" in r.stderr


def test_client_build_pulls_a_private_from_with_the_users_credentials(
        dockyard: Dockyard, tmp_path: Path, busybox: str, registry_auth) -> None:
    """`dockyard -H ... build` against a `dockyard serve` whose store lacks the FROM image, on a
    registry that wants a login: the client sends the credentials of its $DOCKER_CONFIG in
    X-Registry-Config, as the docker CLI does, and the daemon pulls with them. Without them
    the pull fails with the registry's error, the same line as an in-process build's."""
    import shutil
    import tempfile

    from tests.api.conftest import start_server
    from tests.registry.conftest import PASSWORD, USER

    host = registry_auth.host
    base = f"{host}/private/bb:v1"
    logged_in, anonymous = tmp_path / "logged-in", tmp_path / "anonymous"
    anonymous.mkdir()
    dockyard.env["DOCKER_CONFIG"] = str(logged_in)
    dockyard("login", "-u", USER, "--password-stdin", host, input=f"{PASSWORD}\n".encode())
    dockyard("tag", "busybox", base)
    dockyard("push", base)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN echo built > /f\n")
    sock_dir = Path(tempfile.mkdtemp(prefix="dy-auth-", dir="/tmp"))  # socket paths <= 107 bytes
    server = start_server(tmp_path / "serve-store", sock_dir)
    try:
        client = Dockyard(tmp_path / "client-store")  # a client uses no store of its own
        client.env["DOCKER_CONFIG"] = str(anonymous)
        denied = client("-H", server.url, "build", "-t", "child", str(ctx), check=False)
        local = Dockyard(tmp_path / "local-store")
        local.env["DOCKER_CONFIG"] = str(anonymous)
        local_denied = local("build", "-t", "child", str(ctx), check=False)
        assert denied.returncode == local_denied.returncode == 1
        assert denied.stderr == local_denied.stderr
        assert denied.stderr == "Error: no basic auth credentials\n"  # dockerd's words for a 401

        client.env["DOCKER_CONFIG"] = str(logged_in)
        out = client("-H", server.url, "build", "-t", "child", str(ctx)).stdout
        lines = out.splitlines()
        assert lines[0] == f"Step 1/2 : FROM {base}"
        assert "v1: Pulling from private/bb" in lines
        assert f"Status: Downloaded newer image for {base}" in lines
        assert lines[-1] == "Successfully tagged child:latest"
    finally:
        server.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)
    served = Dockyard(tmp_path / "serve-store")
    assert served("image", "inspect", "-f", "{{.Id}}", base).stdout.strip() == busybox
    assert served("run", "--rm", "child", "cat", "/f").stdout == "built\n"
