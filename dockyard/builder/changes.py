"""`--change` / `-c` for `commit` and `import`: Dockerfile instructions applied to a config.

Docker allows exactly these (moby daemon `BuildFromConfig` with the commit/import allow-list).
"""

from __future__ import annotations

from dockyard.builder.metadata import ConfigState, apply_metadata
from dockyard.dockerfile import parse_instructions
from dockyard.dockerfile.shell import ShellLex
from dockyard.errors import DockerfileError, InvalidParameter
from dockyard.image.config import ContainerConfig

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD",
           "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def apply_changes(config: ContainerConfig, changes: list[str]) -> ContainerConfig:
    state = ConfigState(config)
    lex = ShellLex("\\")
    for change in changes:
        keyword = change.strip().split(None, 1)[0].upper() if change.strip() else ""
        if keyword not in ALLOWED:
            raise InvalidParameter(f"{keyword or change} is not a valid change command")
        try:
            instructions = parse_instructions(change, "change")
        except DockerfileError as exc:
            message = str(exc).split(": ", 1)[-1]
            raise InvalidParameter(f"invalid change {change!r}: {message}") from None
        for ins in instructions:
            if ins.keyword not in ALLOWED:  # a change of several lines: each one is checked
                raise InvalidParameter(f"{ins.keyword} is not a valid change command")
            expand = getattr(ins, "expand", None)
            if expand is not None:
                ins = expand(lex, state.config.env_map())
            state = apply_metadata(state, ins)
    return state.config
