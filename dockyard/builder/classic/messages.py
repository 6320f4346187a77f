"""A Dockerfile's errors as dockerd 20.10's classic builder words them. Its parser's (a line's
syntax, a directive) come as `failed to parse Dockerfile: ...` (moby remotecontext), an
instruction's arguments as `dockerfile parse error line N: ...` (instructions.parseError), and
the rest with no location: the file's as a whole (`no build stage in current context`), what a
step finds while it runs (an expansion, a signal's name), an ONBUILD trigger's at the child's FROM
(dispatchTriggeredOnBuild returns the parser's errors as they are)."""

from __future__ import annotations

from dockyard.errors import DockerfileError

__all__ = ["classic_error", "plain_error"]


def classic_error(exc: DockerfileError) -> DockerfileError:
    if exc.phase == "text":
        return DockerfileError(f"failed to parse Dockerfile: {exc.detail}")
    if exc.phase == "instruction":
        return DockerfileError(f"dockerfile parse error line {exc.line}: {exc.detail}")
    return plain_error(exc)


def plain_error(exc: DockerfileError) -> DockerfileError:
    return DockerfileError(exc.detail) if exc.phase else exc
