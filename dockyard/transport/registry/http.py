"""The HTTP library of the registry client (httpx over httpcore), loaded without the optional
packages it would import for what this client never asks (see `_import_http`): the one place
they are imported, so whichever of the client's modules comes first loads them so."""

from __future__ import annotations

import sys
import threading


class _Refused:
    """An import finder that refuses some top-level packages to one thread, while it is on
    sys.meta_path: what that thread imports then goes without them if it can."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names, self.thread = names, threading.get_ident()

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.names and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def _import_http():  # noqa: ANN202 - the two modules
    """httpx and httpcore without what they import for what this client never asks: HTTP/2 (h2,
    installed for serve's gRPC) and async I/O (anyio, trio), which httpcore imports at its
    import when they are installed (it stands in a class that refuses HTTP/2 when they are not;
    httpx asks for neither: no http2=True here), and zstandard, which httpx imports to offer
    zstd-encoded responses (this client reads every body raw: blobs and manifests are hashed as
    sent) and which imports `platform`. Of every pull's, push's and login's start, on the one
    core it runs on before the first request: h2 and anyio ~10 ms (callgrind, `import httpx,
    httpcore`: 485M -> 420M instructions), zstandard and platform 29M more. Only this thread is
    refused, only during this import: another thread, or a later import here (serve's gRPC, a
    zstd layer), finds them as usual; where one is loaded already, httpx or httpcore takes it."""
    refused = _Refused(tuple(name for name in ("h2", "anyio", "trio", "zstandard") if name not in sys.modules))
    sys.meta_path.insert(0, refused)
    try:
        import httpx  # here, to refuse it zstandard (tests/test_start_up.py)
        import httpcore  # (httpx imports it only when a client is made) and to refuse it h2, anyio
    finally:
        sys.meta_path.remove(refused)
    return httpx, httpcore


httpx, httpcore = _import_http()
