"""`dockyard build --add-host NAME:IP`, in both builders, in process and as a client of serve,
against `docker build --add-host` on dockerd 20.10: RUN's /etc/hosts gets the mapping
(dockyard's CLI said "unknown flag: --add-host", though serve applied the docker CLI's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client.build_sees import dockerd_sees, dockyard_sees
from tests.conftest import at_once

DOCKERFILE = "FROM busybox\nRUN grep -E 'one|two' /etc/hosts > /mapped\n"


@pytest.mark.parametrize("buildkit", ["0", "1"])
def test_add_host_reaches_run_as_in_dockerd(dockyard, busybox, daemon, dockerd, tmp_path: Path,
                                            buildkit: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    flags = ["--no-cache", "--add-host", "one:10.9.8.7", "--add-host", "two:fd00::7"]
    dockyard.env["DOCKER_BUILDKIT"] = buildkit
    env = {"DOCKER_BUILDKIT": buildkit}

    def theirs() -> str:
        return dockerd_sees(dockerd, flags, ctx, "/mapped", env)

    def ours(*client: str) -> str:
        return dockyard_sees(dockyard, flags, ctx, "/mapped", *client)

    reference, in_process, as_client = at_once(theirs, ours, lambda: ours("-H", daemon.url))
    assert reference == "10.9.8.7\tone\nfd00::7\ttwo\n"
    assert in_process == as_client == reference
    # the docker CLI: 'invalid argument "one" for "--add-host" flag: bad format for add-host: "one"'
    bad = dockyard("build", "--add-host", "one", str(ctx), check=False)
    assert (bad.returncode, bad.stderr) == (1, 'Error: bad format for add-host: "one"\n'), bad
    bad = dockyard("build", "--add-host", "one:x", str(ctx), check=False)
    assert (bad.returncode, bad.stderr) == (1, 'Error: invalid IP address in add-host: "x"\n'), bad
