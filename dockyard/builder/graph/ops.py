"""The build graph: vertices (an operation and the vertices it reads) and their cache keys.

Operations, as BuildKit's LLB has them:
- `ImageOp`: an image's filesystem (its layers); `None` as an input stands for `scratch`.
- `ContextOp`: the build context (a directory); never run, read through selectors.
- `HttpOp`: a file downloaded from a URL (ADD <url>).
- `ExecOp`: a process over the first input's filesystem with mounts (RUN).
- `CopyOp`: files from a source input copied into the first input (COPY, ADD).
- `MkdirOp`: a directory made in the first input (WORKDIR).

Every vertex that changes a filesystem adds exactly one layer to its first input's chain (a
`--link` copy adds a layer made on an empty tree, so that layer does not depend on what is
below it).

Two digests per vertex:
- `Vertex.digest`: what the graph says (the operation and its inputs' digests); it identifies a
  vertex in the progress stream and merges equal vertices of different stages.
- the cache key (`cache_key`): the operation, the inputs' cache keys, and the content digests
  of what the operation reads from the context (file names, types, modes, sizes, link targets,
  contents; never mtimes or owners, never the checkout path). Image inputs are keyed by their
  layers' chain ID, not by the image ID. Secret contents, cache-mount contents and proxy
  variables are not part of any key. Keys are `sha256:` digests of a canonical JSON document,
  so they can be written out and compared on another machine.
"""

from __future__ import annotations

import json
from functools import cached_property

from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest, small_sha256

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

KEY_VERSION = 1


def canonical(value: Any) -> bytes:
    """The bytes a digest is taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogateescape")


def digest_of(value: Any) -> Digest:
    return Digest("sha256", small_sha256(canonical(value)).hexdigest())


# The operations' dataclass: frozen; dockyard.dataclass makes the methods
# (tests/builder/graph/test_op_classes.py: as the generated ones).
_op = dataclass(frozen=True)


class Op:
    """An operation; `definition()` is everything about it that its result depends on."""

    kind: str = ""

    def definition(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


@_op
class ImageOp(Op):
    """A base image's file system."""

    ref: str                        # as the user named it (for messages)
    image_id: Digest
    chain_id: Digest | None          # of its layers; None for an image without layers
    diff_ids: tuple[Digest, ...] = ()
    kind = "image"

    def definition(self) -> dict[str, Any]:
        return {"chain": str(self.chain_id) if self.chain_id else None}


@_op
class ContextOp(Op):
    """The build context (or a named context)."""

    name: str = "context"
    kind = "context"

    def definition(self) -> dict[str, Any]:
        return {"name": self.name}


@_op
class HttpOp(Op):
    """A file fetched from a URL (ADD https://...)."""

    url: str
    filename: str
    checksum: str = ""
    kind = "http"

    def definition(self) -> dict[str, Any]:
        return {"url": self.url, "filename": self.filename, "checksum": self.checksum}


@dataclass(frozen=True)
class Mount:
    """One mount of an ExecOp besides its root filesystem."""

    type: str                        # bind | cache | tmpfs | secret | ssh
    target: str
    input: int = -1                  # index into the vertex inputs (bind, cache from=); -1: none
    selector: str = "/"              # the path inside the input that is mounted
    readonly: bool = True
    cache_id: str = ""
    sharing: str = "shared"
    size: int = 0                    # tmpfs bytes (0: the default)
    secret_id: str = ""              # secret / ssh id
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    env: str = ""                    # secret exposed as an environment variable instead

    def definition(self) -> dict[str, Any]:
        return {"type": self.type, "target": self.target, "input": self.input,
                "selector": self.selector, "readonly": self.readonly, "cache_id": self.cache_id,
                "sharing": self.sharing, "size": self.size, "id": self.secret_id,
                "required": self.required, "mode": self.mode, "uid": self.uid, "gid": self.gid,
                "env": self.env}


@_op
class ExecOp(Op):
    """A command run on its input's file system (RUN)."""

    args: tuple[str, ...]
    env: tuple[str, ...]             # the whole environment (image ENV, declared ARGs)
    cwd: str = "/"
    user: str = ""
    network: str = "default"         # default | none | host
    security: str = "sandbox"        # sandbox | insecure
    mounts: tuple[Mount, ...] = ()
    hostname: str = "buildkitsandbox"
    proxy_env: tuple[str, ...] = field(default=(), compare=False)  # not in the cache key
    # `--add-host NAME:IP`: not in the cache key either (dockerd 20.10's BuildKit keeps a RUN
    # cached when only the hosts changed)
    extra_hosts: tuple[str, ...] = field(default=(), compare=False)
    kind = "exec"

    def definition(self) -> dict[str, Any]:
        return {"args": list(self.args), "env": list(self.env), "cwd": self.cwd,
                "user": self.user, "network": self.network, "security": self.security,
                "hostname": self.hostname, "mounts": [m.definition() for m in self.mounts]}


@dataclass(frozen=True)
class CopySource:
    """One source of a CopyOp: an input and a path in it, or inline content."""

    input: int                       # index into the vertex inputs
    path: str                        # as written (may hold wildcards); "" for a whole HttpOp
    heredoc: str | None = None       # inline file content (COPY <<EOF)
    heredoc_mode: int = 0o644


@_op
class CopyOp(Op):
    """Files copied from inputs onto the first input (COPY, ADD)."""

    sources: tuple[CopySource, ...]
    dest: str                        # absolute; a trailing "/" means a directory
    chown: str = ""                  # user[:group] as written (resolved in the target tree)
    chmod: int | None = None
    unpack: bool = False             # ADD: extract local archives
    link: bool = False
    exclude: tuple[str, ...] = ()
    parents: bool = False
    kind = "copy"

    def definition(self) -> dict[str, Any]:
        return {"sources": [[s.input, s.path, s.heredoc, s.heredoc_mode] for s in self.sources],
                "dest": self.dest, "chown": self.chown, "chmod": self.chmod,
                "unpack": self.unpack, "link": self.link, "exclude": list(self.exclude),
                "parents": self.parents}


@_op
class MkdirOp(Op):
    """Directories made on the input (WORKDIR)."""

    path: str
    mode: int = 0o755
    user: str = ""                   # the owner of the directories it makes (USER)
    kind = "mkdir"

    def definition(self) -> dict[str, Any]:
        return {"path": self.path, "mode": self.mode, "user": self.user}


@dataclass(frozen=True, eq=False)
class Vertex:
    """One node: an operation over its inputs (None: scratch). `name` is what progress shows."""

    op: Op
    inputs: tuple["Vertex | None", ...] = ()
    name: str = ""
    ignore_cache: bool = False
    location: tuple[int, int] | None = None   # Dockerfile lines (first, last), for errors

    @cached_property
    def digest(self) -> Digest:
        return digest_of({"kind": self.op.kind, "op": self.op.definition(),
                          "inputs": [str(v.digest) if v is not None else None for v in self.inputs]})

    @property
    def adds_layer(self) -> bool:
        return isinstance(self.op, (ExecOp, CopyOp, MkdirOp))

    def walk(self) -> list["Vertex"]:
        """This vertex and everything it reads, inputs before the vertices that read them (the
        order BuildKit numbers vertices in its progress stream)."""
        seen: set[Digest] = set()
        order: list[Vertex] = []

        def visit(v: Vertex) -> None:
            stack: list[tuple[Vertex, int]] = [(v, 0)]
            while stack:
                node, i = stack.pop()
                if i == 0 and node.digest in seen:
                    continue
                if i < len(node.inputs):
                    stack.append((node, i + 1))
                    child = node.inputs[i]
                    if child is not None and child.digest not in seen:
                        stack.append((child, 0))
                    continue
                if node.digest not in seen:
                    seen.add(node.digest)
                    order.append(node)

        visit(self)
        return order


def cache_key(vertex: Vertex, input_keys: list[Digest | None], content: list[str]) -> Digest:
    """The cache key of `vertex` given its inputs' keys (None: scratch, or an input the result
    does not depend on) and the content digests of what it reads from them."""
    return digest_of({"v": KEY_VERSION, "kind": vertex.op.kind, "op": vertex.op.definition(),
                      "inputs": [str(k) if k is not None else None for k in input_keys],
                      "content": content})
