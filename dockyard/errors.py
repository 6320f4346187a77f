"""The one exception tree of dockyard.

Every error a user can cause is a `DockyardError`. The CLI prints `Error: <message>` and exits
non-zero; the API server maps `http_status` to the response. Those two mappings live only here,
and so does `go_quote`, Go's %q, with which Docker's messages quote a name or a word.
"""

from __future__ import annotations

class DockyardError(Exception):
    """Base of every error dockyard reports to a user."""

    http_status = 500
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidParameter(DockyardError):
    """The user's input is malformed (bad flag value, bad reference, bad Dockerfile...)."""

    http_status = 400


class InvalidReference(InvalidParameter):
    """An image reference that does not follow the distribution reference grammar."""


class DockerfileError(InvalidParameter):
    """A Dockerfile that cannot be parsed or built; the message names file and line. One made by
    `located` keeps its parts, for a builder that words it as its Docker does: `line`, `detail`
    (the message alone) and `phase`, where Docker's classic builder finds it: "text" (its
    parser: a line's syntax, a directive), "instruction" (an instruction's arguments and flags),
    "document" (the file as a whole: empty, no stage) or "dispatch" (while the build runs it)."""

    def __init__(self, message: str, *, line: int | None = None, detail: str | None = None,
                 phase: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.detail = message if detail is None else detail
        self.phase = phase

    @classmethod
    def located(cls, filename: str, line: int, detail: str, phase: str) -> "DockerfileError":
        return cls(f"{filename}:{line}: {detail}", line=line, detail=detail, phase=phase)


class InvalidArchive(InvalidParameter):
    """A tar archive that is truncated, corrupt, hostile or not of the expected format."""


class DigestMismatch(InvalidArchive):
    """Content whose digest is not the one it claims."""


class NotFound(DockyardError):
    http_status = 404


class Conflict(DockyardError):
    http_status = 409


class Unauthorized(DockyardError):
    http_status = 401


class Forbidden(DockyardError):
    http_status = 403


class Unavailable(DockyardError):
    """A remote service (registry, runtime) cannot be reached or failed."""

    http_status = 503


class RuntimeFailure(DockyardError):
    """The OCI runtime or a container process failed."""

    http_status = 500


class BuildFailed(DockyardError):
    """A build's RUN returned non-zero: Docker's message, and the command's exit code as the
    status (the CLI exits with it, the API sends it in the stream's errorDetail)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


class NotImplementedFeature(DockyardError):
    http_status = 501


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(s: str) -> str:
    """Quote like Go's %q, as Docker's messages quote names and words."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
