"""The HTTP library of the registry client (httpx over httpcore), loaded without the optional
packages it would import for what this client never asks (see `_import_http`): the one place
they are imported, so whichever of the client's modules comes first loads them so."""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from importlib.machinery import ModuleSpec


class _Refused:
    """An import finder that refuses some top-level packages to one thread, while it is on
    sys.meta_path: what that thread imports then goes without them if it can."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names, self.thread = names, threading.get_ident()

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.names and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


class _Deferred(types.ModuleType):
    """A module imported at its first use: it stands in sys.modules, so an `import` of it
    (httpx's, at each client's making) finds it, and the first name read of it imports the
    real one (which then stands in sys.modules) and gives its value. (importlib.util.LazyLoader
    does not do: an `import` of a module reads its `__spec__`, which loads it.)"""

    def __init__(self, spec: ModuleSpec) -> None:
        super().__init__(spec.name)
        self.__spec__ = spec

    def __getattr__(self, name: str) -> object:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def _defer(name: str) -> None:
    """`name` a `_Deferred`, unless it is imported already (or missing)."""
    if name not in sys.modules and (spec := importlib.util.find_spec(name)) is not None:
        sys.modules[name] = _Deferred(spec)


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
    zstd layer), finds them as usual; where one is loaded already, httpx or httpcore takes it.

    Two modules they import but this client does not use are `_Deferred`: certifi
    (httpx imports it at each client's making, for a CA bundle this client never asks: hosts.py
    gives it a context of the system's CAs, or none) with importlib.resources, and idna (a host
    name that is not ASCII)."""
    refused = _Refused(tuple(name for name in ("h2", "anyio", "trio", "zstandard") if name not in sys.modules))
    for name in ("certifi", "idna"):
        _defer(name)
    sys.meta_path.insert(0, refused)
    try:
        import httpx  # here, to refuse it zstandard (tests/test_start_up.py)
        import httpcore  # (httpx imports it only when a client is made) and to refuse it h2, anyio
    finally:
        sys.meta_path.remove(refused)
    return httpx, httpcore


httpx, httpcore = _import_http()
