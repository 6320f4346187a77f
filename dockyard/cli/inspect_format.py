"""`inspect -f`: the Go types the docker CLI 20.10 decodes `inspect`'s objects into (moby's api/types), as an
`inspect -f` template sees them (dockyard.cli.gotemplate): a nil slice prints `[]`, a nil map
`map[]` and a key it lacks `<no value>`, a nil pointer `<nil>`, a struct `{...}`, a field the
struct lacks is an error. Only the shapes live here. A struct marked incomplete lists the fields
whose type shows (slices, maps, pointers); its other fields are found by their JSON keys.

The docker CLI runs the template on the typed object first and, where that fails, on the JSON
decoded into a map with missingkey=error (`map has no entry for key "Nope"`): `render_inspect`."""

from __future__ import annotations

from typing import Any, Callable, TextIO

from dockyard.cli.gotemplate import Template, TemplateError, parse
from dockyard.cli.govalues import Map, Ptr, Slice, Struct, struct
from dockyard.errors import DockyardError

_STRINGS, _STRING_MAP = Slice("string"), Map("string")
_STRSLICE = Slice("string", "strslice.StrSlice")
_PORT_SET = Map("struct {}", "nat.PortSet")
_PORT_MAP = Map(Slice(struct("nat.PortBinding", "HostIP:HostIp:string, HostPort:string")), "nat.PortMap")

_HEALTH = struct("types.Health", "Status:string, FailingStreak:int, Log:logs",
                 logs=Slice(Ptr(struct("types.HealthcheckResult", "Start:time.Time, End:time.Time, ExitCode:int, "
                                                                  "Output:string"))))
_STATE = struct("types.ContainerState",
                "Status:string, Running:bool, Paused:bool, Restarting:bool, OOMKilled:bool, Dead:bool, Pid:int, "
                "ExitCode:int, Error:string, StartedAt:string, FinishedAt:string, Health:health",
                health=Ptr(_HEALTH))
_HEALTH_CONFIG = struct("container.HealthConfig", "Test:strings, Interval:int64, Timeout:int64, "
                                                  "StartPeriod:int64, Retries:int", strings=_STRINGS)
_CONFIG = struct("container.Config",
                 "Hostname:string, Domainname:string, User:string, AttachStdin:bool, AttachStdout:bool, "
                 "AttachStderr:bool, ExposedPorts:ports, Tty:bool, OpenStdin:bool, StdinOnce:bool, Env:strings, "
                 "Cmd:strslice, Healthcheck:health, ArgsEscaped:bool, Image:string, Volumes:volumes, "
                 "WorkingDir:string, Entrypoint:strslice, NetworkDisabled:bool, MacAddress:string, "
                 "OnBuild:strings, Labels:labels, StopSignal:string, StopTimeout:timeout, Shell:strslice",
                 ports=_PORT_SET, strings=_STRINGS, strslice=_STRSLICE, health=Ptr(_HEALTH_CONFIG),
                 volumes=Map("struct {}"), labels=_STRING_MAP, timeout=Ptr("int"))
_GRAPH_DRIVER = struct("types.GraphDriverData", "Data:data, Name:string", data=_STRING_MAP)
_MOUNT_POINT = struct("types.MountPoint", "Type:string, Name:string, Source:string, Destination:string, "
                                          "Driver:string, Mode:string, RW:bool, Propagation:string")
_ENDPOINT = struct("network.EndpointSettings",
                   "IPAMConfig:ipam, Links:strings, Aliases:strings, NetworkID:string, EndpointID:string, "
                   "Gateway:string, IPAddress:string, IPPrefixLen:int, IPv6Gateway:string, "
                   "GlobalIPv6Address:string, GlobalIPv6PrefixLen:int, MacAddress:string, DriverOpts:opts",
                   ipam=Ptr(struct("network.EndpointIPAMConfig", "IPv4Address:string, IPv6Address:string, "
                                                                 "LinkLocalIPs:strings", strings=_STRINGS)),
                   strings=_STRINGS, opts=_STRING_MAP)
_ADDRESSES = Slice(struct("network.Address", "Addr:string, PrefixLen:int"))
_NETWORK_SETTINGS = struct(
    "types.NetworkSettings",
    "Bridge:string, SandboxID:string, HairpinMode:bool, LinkLocalIPv6Address:string, "
    "LinkLocalIPv6PrefixLen:int, Ports:ports, SandboxKey:string, SecondaryIPAddresses:addresses, "
    "SecondaryIPv6Addresses:addresses, EndpointID:string, Gateway:string, GlobalIPv6Address:string, "
    "GlobalIPv6PrefixLen:int, IPAddress:string, IPPrefixLen:int, IPv6Gateway:string, MacAddress:string, "
    "Networks:networks", embeds=True, ports=_PORT_MAP, addresses=_ADDRESSES, networks=Map(Ptr(_ENDPOINT)))
# Structs that embed others (ContainerJSON's *ContainerJSONBase, NetworkSettings' two, HostConfig's
# Resources) print their embedded structs nested: those are listed flat, which a template reaches
# the same way, and printed as maps.
# container.HostConfig (with container.Resources): its slices, maps and pointers
_HOST_CONFIG = struct(
    "container.HostConfig",
    "Binds:strings, LogConfig:log, PortBindings:ports, VolumesFrom:strings, CapAdd:strslice, "
    "CapDrop:strslice, DNS:Dns:strings, DNSOptions:DnsOptions:strings, DNSSearch:DnsSearch:strings, "
    "ExtraHosts:strings, GroupAdd:strings, Links:strings, SecurityOpt:strings, StorageOpt:labels, "
    "Tmpfs:labels, Sysctls:labels, DeviceCgroupRules:strings, OomKillDisable:bool_ptr, PidsLimit:int_ptr, "
    "MemorySwappiness:int_ptr, MaskedPaths:strings, ReadonlyPaths:strings, Init:bool_ptr",
    complete=False, strings=_STRINGS, strslice=_STRSLICE, labels=_STRING_MAP, ports=_PORT_MAP,
    log=struct("container.LogConfig", "Type:string, Config:config", config=_STRING_MAP),
    bool_ptr=Ptr("bool"), int_ptr=Ptr("int64"))

CONTAINER = struct(
    "types.ContainerJSON",
    "ID:Id:string, Created:string, Path:string, Args:strings, State:state, Image:string, "
    "ResolvConfPath:string, HostnamePath:string, HostsPath:string, LogPath:string, Node:node, Name:string, "
    "RestartCount:int, Driver:string, Platform:string, MountLabel:string, ProcessLabel:string, "
    "AppArmorProfile:string, ExecIDs:strings, HostConfig:host, GraphDriver:graph, SizeRw:size, "
    "SizeRootFs:size, Mounts:mounts, Config:config, NetworkSettings:network",
    embeds=True, strings=_STRINGS, state=Ptr(_STATE), host=Ptr(_HOST_CONFIG), graph=_GRAPH_DRIVER, size=Ptr("int64"),
    node=Ptr(struct("types.ContainerNode", "ID:string, IPAddress:IP:string, Addr:string, Name:string, "
                                           "Cpus:int, Memory:int64, Labels:labels", labels=_STRING_MAP)),
    mounts=Slice(_MOUNT_POINT), config=Ptr(_CONFIG), network=Ptr(_NETWORK_SETTINGS))

IMAGE = struct(
    "types.ImageInspect",
    "ID:Id:string, RepoTags:strings, RepoDigests:strings, Parent:string, Comment:string, Created:string, "
    "Container:string, ContainerConfig:config, DockerVersion:string, Author:string, Config:config, "
    "Architecture:string, Variant:string, Os:string, OsVersion:string, Size:int64, VirtualSize:int64, "
    "GraphDriver:graph, RootFS:rootfs, Metadata:metadata",
    strings=_STRINGS, config=Ptr(_CONFIG), graph=_GRAPH_DRIVER,
    rootfs=struct("types.RootFS", "Type:string, Layers:strings, BaseLayer:string", strings=_STRINGS),
    metadata=struct("types.ImageMetadata", "LastTagTime:time.Time"))

_IPAM = struct("network.IPAM", "Driver:string, Options:options, Config:config", options=_STRING_MAP,
               config=Slice(struct("network.IPAMConfig", "Subnet:string, IPRange:string, Gateway:string, "
                                                         "AuxAddress:AuxiliaryAddresses:aux", aux=_STRING_MAP)))
NETWORK = struct(
    "types.NetworkResource",
    "Name:string, ID:Id:string, Created:time.Time, Scope:string, Driver:string, EnableIPv6:bool, IPAM:ipam, "
    "Internal:bool, Attachable:bool, Ingress:bool, ConfigFrom:reference, ConfigOnly:bool, "
    "Containers:containers, Options:labels, Labels:labels, Peers:peers, Services:services",
    ipam=_IPAM, labels=_STRING_MAP, reference=struct("network.ConfigReference", "Network:string"),
    containers=Map(struct("types.EndpointResource", "Name:string, EndpointID:string, MacAddress:string, "
                                                    "IPv4Address:string, IPv6Address:string")),
    peers=Slice(struct("network.PeerInfo", "Name:string, IP:string")),
    services=Map(None, "map[string]network.ServiceInfo"))

VOLUME = struct(
    "types.Volume",
    "CreatedAt:string, Driver:string, Labels:labels, Mountpoint:string, Name:string, Options:labels, "
    "Scope:string, Status:status, UsageData:usage",
    labels=_STRING_MAP, status=Map(None, "map[string]interface {}"),
    usage=Ptr(struct("types.VolumeUsageData", "RefCount:int64, Size:int64")))


def render_inspect(template: Template, obj: dict[str, Any], kind: Struct, raw: bool = True) -> str:
    """The docker CLI's TemplateInspector: the template on the typed object, else (`raw`: the
    object's JSON was at hand, as for every inspect but `volume inspect`) on its JSON with
    missingkey=error; the error is `template parsing error: ...`."""
    try:
        return template.execute(obj, kind)
    except TemplateError as exc:
        if not raw:
            raise TemplateError(f"template parsing error: {exc}") from None
    try:
        return template.execute(obj, None, missing_error=True)
    except TemplateError as exc:
        raise TemplateError(f"template parsing error: {exc}") from None


def inspect_each(out: TextIO, err: TextIO, names: list[str], fmt: str | None,
                 lookup: Callable[[str], tuple[dict[str, Any], Struct]], raw: bool = True) -> int:
    """The docker CLI's inspect of each name: `lookup(name)` gives the object and its type (or
    raises the error to report). Without a template, the objects found as a JSON array; with
    one, a line of each (an empty line where none was printed); then the errors, one a line,
    status 1. A template that does not parse: status 64, before any lookup."""
    from dockyard.cli.format import write_json_indented

    template = None
    if fmt and fmt != "json":
        try:
            template = parse(fmt)
        except TemplateError as exc:
            raise TemplateError(f"template parsing error: {exc}", 64) from None
    found: list[Any] = []
    errors = []
    for name in names:
        try:
            obj, kind = lookup(name)
        except DockyardError as exc:
            errors.append(str(exc))
            continue
        if template is None:
            found.append(obj)
            continue
        try:
            found.append(render_inspect(template, obj, kind, raw) + "\n")
        except TemplateError as exc:
            errors.append(str(exc))
    if template is None:
        write_json_indented(out, found)
    else:
        out.write("".join(found) or "\n")
    out.flush()
    for error in errors:
        err.write(f"Error: {error}\n")
    return 1 if errors else 0
