"""What a file a build's RUN wrote holds, built by the reference dockerd or by dockyard (in
process, or as a client with `-H`): the build-flag comparisons' one way to read a RUN's view."""

from __future__ import annotations

from pathlib import Path


def dockerd_sees(dockerd, flags: list[str], ctx: Path, path: str,  # noqa: ANN001
                 env: dict[str, str] | None = None) -> str:
    # (the reference daemon has no bridge: its RUN steps take the host's network)
    built = dockerd("build", "-q", "--network", "host", *flags, str(ctx), env=env).stdout.strip()
    try:
        return dockerd("run", "--rm", built, "cat", path).stdout
    finally:
        dockerd("rmi", built, check=False)


def dockyard_sees(dockyard, flags: list[str], ctx: Path, path: str, *client: str) -> str:  # noqa: ANN001
    built = dockyard(*client, "build", "-q", *flags, str(ctx)).stdout.strip()
    return dockyard("run", "--rm", "--network", "none", built, "cat", path).stdout
