"""BuildKit mode (DOCKER_BUILDKIT=1) as the CLI and the API server use it, besides
`engine.build.build_image_buildkit`: the build's options and its output spec, the session
(secrets, SSH, entitlements), the progress they display or stream, a failure's report, what
travels between dockyard's client and `dockyard serve`, and the writing of an output a client
receives. All light: a client of `dockyard serve` imports this and no solver.
"""

from __future__ import annotations

from dockyard.builder.graph.options import GraphOptions, OutputSpec, check_extra_host, check_network, parse_outputs
from dockyard.builder.graph.progress import (
    CallbackDisplay, Progress, SolveFailed, SolveStatus, VertexInfo, make_display,
)
from dockyard.builder.graph.session import SecretSource, Session, SshSource, parse_allow, parse_secret, parse_ssh
from dockyard.builder.graph.wire import OUTPUT_CHUNK, OUTPUT_ID, REPORT_ID, SECRETS_HEADER, SSH_HEADER, STATUS_ID


def __getattr__(name: str) -> object:
    """The exporters' writers (`extract_local`, `open_dest`, `write_metadata`), loaded when an
    output or a metadata file is written: a plain build does not load them (the in-process
    budget, tests/test_start_up.py)."""
    if name in ("extract_local", "open_dest", "write_metadata"):
        from dockyard.builder.graph import export

        return getattr(export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CallbackDisplay", "GraphOptions", "check_extra_host", "check_network", "OUTPUT_CHUNK", "OUTPUT_ID", "OutputSpec", "Progress", "REPORT_ID",
    "SECRETS_HEADER", "SSH_HEADER", "STATUS_ID", "SecretSource", "Session", "SolveFailed", "SolveStatus",
    "SshSource", "VertexInfo", "extract_local", "make_display", "open_dest", "parse_allow", "parse_outputs",
    "parse_secret", "parse_ssh", "write_metadata",
]
