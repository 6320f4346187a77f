"""What a BuildKit-mode build is asked to do: `GraphOptions` (the CLI's flags or the API's
query, already checked) and the output (`--output`, as buildx parses it). Nothing here reads or
writes: a client of `dockyard serve` imports it to check its flags before it sends anything.
"""

from __future__ import annotations


from dockyard.builder.graph.session import Session
from dockyard.dataclass import dataclass, field
from dockyard.errors import DockyardError, InvalidParameter, NotImplementedFeature, go_quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO
    from dockyard.reference import Reference

OUTPUT_TYPES = ("docker", "image", "oci", "tar", "local")


@dataclass(frozen=True)
class OutputSpec:
    """`--output type=...,dest=...`: one exporter."""

    type: str
    dest: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    # set: the bytes go there (to a client of serve; `local` as a tar), `dest` only names them
    stream: BinaryIO | None = field(default=None, compare=False)

    @property
    def stores_image(self) -> bool:
        return self.type in ("docker", "image") and not self.dest


def check_network(mode: str) -> None:
    """`--network` (the API's `networkmode`) in BuildKit mode: `default`, `host` or `none`. Any
    other (`bridge`, a network's name, `container:NAME`) is refused in dockerd 20.10's words, a
    500 before anything is built (its builder-next; the classic builder joins them)."""
    if mode not in ("", "default", "host", "none"):
        raise DockyardError(f"network mode {go_quote(mode)} not supported by buildkit")


def check_extra_host(text: str) -> str:
    """`--add-host NAME:IP` (the API's `extrahosts`): RUN's /etc/hosts gets `IP<TAB>NAME`, as
    dockerd 20.10's BuildKit writes it. An IP that is not one is refused, in the docker CLI's words."""
    import ipaddress

    name, sep, ip = text.partition(":")
    try:
        ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        raise InvalidParameter(f"invalid IP address in add-host: {go_quote(ip)}" if sep and name
                               else f"bad format for add-host: {go_quote(text)}") from None
    if not sep or not name:
        raise InvalidParameter(f"bad format for add-host: {go_quote(text)}")
    return f"{name}:{ip.strip('[]')}"


def parse_output(text: str) -> OutputSpec:
    if "=" not in text and "," not in text:
        if text == "-":
            return OutputSpec("tar", "-")
        return OutputSpec("local", text)
    attrs: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise InvalidParameter(f"invalid value {part} for --output")
        attrs[key.strip().lower()] = value
    kind = attrs.pop("type", "")
    if not kind:
        kind = "local" if "dest" in attrs else ""
    if kind == "registry":
        raise NotImplementedFeature("--output type=registry is not supported: build, then `dockyard push`")
    if kind not in OUTPUT_TYPES:
        raise InvalidParameter(f"unsupported output type {kind!r} (use docker, oci, tar or local)")
    dest = attrs.pop("dest", "")
    for key in list(attrs):
        if key not in ("name",):
            raise InvalidParameter(f"unsupported --output attribute {key!r} for type={kind}")
    if kind in ("oci", "tar", "local") and not dest:
        raise InvalidParameter(f"dest is required for type={kind} output")
    return OutputSpec(kind, dest, attrs)


def parse_outputs(values: list[str]) -> OutputSpec:
    if not values:
        return OutputSpec("docker")
    if len(values) > 1:
        raise InvalidParameter("multiple outputs are not supported")
    return parse_output(values[0])


@dataclass
class GraphOptions:
    """The options of a BuildKit-mode build."""

    tags: list[Reference] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)   # -t as written (how progress names them)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    no_cache_filter: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    pull: bool = False
    network: str = "default"
    extra_hosts: list[str] = field(default_factory=list)   # --add-host NAME:IP (checked)
    platform: str = "linux/amd64"
    output: OutputSpec = field(default_factory=lambda: OutputSpec("docker"))
    session: Session = field(default_factory=Session)
    # --cache-from, opened by the engine (engine/buildcache.py): solver.CacheImport objects
    cache_imports: tuple = ()
    explain_cache: bool = False   # a `miss` line for each step that misses
