"""Programs on PATH: `which`, shutil.which on Linux without shutil (whose import loads fnmatch
with re, bz2, lzma and zlib: ~6.6M instructions, ~2 ms of a start). A client-mode build looks up
docker's default credential helpers at each start when config.json names no credentials
(transport/registry/credentials.py); a build's first RUN looks up the OCI runtime
(runtime/oci.py). tests/test_programs.py checks it against shutil.which."""

from __future__ import annotations

import os


def which(program: str, path: str | None = None) -> str | None:
    """shutil.which(program, path=path): the first candidate on `path` (the environment's PATH
    when None, else the system's default) that is an existing file, not a directory, that we may
    execute; a `program` naming a directory is checked as it is."""
    if os.path.dirname(program):
        return program if _executable(program) else None
    if path is None:
        path = os.environ.get("PATH")
        if path is None:
            try:
                path = os.confstr("CS_PATH")
            except (AttributeError, ValueError):
                path = os.defpath
    if not path:
        return None
    seen: set[str] = set()
    for folder in os.fsdecode(path).split(os.pathsep):
        if folder not in seen:
            seen.add(folder)
            name = os.path.join(folder, program)
            if _executable(name):
                return name
    return None


def _executable(path: str) -> bool:
    """shutil.which's test of a candidate: an existing file (not a directory) we may execute."""
    return os.path.exists(path) and os.access(path, os.F_OK | os.X_OK) and not os.path.isdir(path)
