"""`dockyard version` and `dockyard info`: the client's and the engine's versions, the engine's
host and store, laid out as the docker CLI 20.10 prints them (or with --format). The engine's
side is GET /version and GET /info (engine/daemon_info: in process, or the daemon's as a
client); the client's side is this program's."""

from __future__ import annotations

import argparse
import io
import platform
import sys
from typing import Any, TextIO

from dockyard import __version__
from dockyard.cli.backend import for_target
from dockyard.cli.format import GoStruct, write_tabbed
from dockyard.errors import DockyardError


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("version", help="Show the dockyard version information")
    p.add_argument("-f", "--format", default="", help="Format the output using the given Go template")
    p.set_defaults(func=cmd_version, client=cmd_version)
    p = sub.add_parser("info", help="Display system-wide information")
    p.add_argument("-f", "--format", default="", help="Format the output using the given Go template")
    p.set_defaults(func=cmd_info, client=cmd_info)


def _out(target: Any) -> Any:
    return sys.stdout if isinstance(target, str) else target.stdout


def _tabbed(lines: list[tuple[str, str]]) -> str:
    """KEY<TAB>VALUE lines through the docker CLI's tabwriter (minwidth 20, padding 1)."""
    width = max([20] + [len(key) + 1 for key, _ in lines])
    return "".join(f"{key.ljust(width)}{value}\n" for key, value in lines)


def _client() -> dict[str, Any]:
    from dockyard.engine.daemon_info import API_VERSION

    return {"Platform": {"Name": "dockyard"}, "Version": __version__, "ApiVersion": API_VERSION,
            "DefaultAPIVersion": API_VERSION, "GitCommit": "", "GoVersion": f"python{platform.python_version()}",
            "Os": "linux", "Arch": "amd64", "BuildTime": "", "Context": "default",
            # the docker CLI's experimental features are always on since 20.10: it says true
            "Experimental": True}


def cmd_version(args: argparse.Namespace, target: Any) -> int:
    """The client's part first: a daemon that does not answer is an error after it."""
    client = _client()
    error: DockyardError | None = None
    try:
        server = for_target(target).call("GET", "/version")
    except DockyardError as exc:
        server, error = None, exc
    out = _out(target)
    if args.format:
        root = GoStruct("system.versionInfo", (("Client", "Client", None), ("Server", "Server", None)),
                        {"Client": _client_struct(client), "Server": _server_struct(server)})
        text = io.StringIO()   # through the docker CLI's tabwriter (minwidth 20, padding 1)
        try:
            _print_template(text, args.format, "version", root, None)
        finally:
            write_tabbed(out, [line.split("\t") for line in text.getvalue().split("\n")[:-1]], 20, 1)
    else:
        out.write(f"Client: {client['Platform']['Name']}\n" + _tabbed([
            (" Version:", client["Version"]), (" API version:", client["ApiVersion"]),
            (" Go version:", client["GoVersion"]), (" Git commit:", client["GitCommit"]),
            (" Built:", client["BuildTime"]), (" OS/Arch:", f"{client['Os']}/{client['Arch']}"),
            (" Context:", client["Context"]), (" Experimental:", "true" if client["Experimental"] else "false")]))
        if server is not None:
            out.write("\n" + _server_version(server))
    if error is not None:
        raise error
    return 0


_PLATFORM = (("Name", "Name", ""),)
_STRINGS = ("Version", "ApiVersion", "DefaultAPIVersion", "MinAPIVersion", "GitCommit", "GoVersion",
            "Os", "Arch", "KernelVersion", "BuildTime", "Context")
# the docker CLI 20.10's structs (cli/command/system/version.go, api/types.Version), whose Go
# field names a --format template uses: APIVersion where the JSON says ApiVersion
_CLIENT_FIELDS = ("Platform", "Version", "APIVersion", "DefaultAPIVersion", "GitCommit", "GoVersion",
                  "Os", "Arch", "BuildTime", "Context", "Experimental")
_SERVER_FIELDS = ("Platform", "Components", "Version", "APIVersion", "MinAPIVersion", "GitCommit",
                  "GoVersion", "Os", "Arch", "KernelVersion", "Experimental", "BuildTime")


def _struct(type_name: str, names: tuple[str, ...], data: dict[str, Any]) -> GoStruct:
    fields = []
    for name in names:
        key = "ApiVersion" if name == "APIVersion" else name
        zero: Any = "" if key in _STRINGS else False if name == "Experimental" else None
        if name == "Platform":
            data = {**data, key: GoStruct("struct { Name string }", _PLATFORM, data.get(key) or {})}
            zero = GoStruct("struct { Name string }", _PLATFORM, {})
        fields.append((name, key, zero))
    return GoStruct(type_name, fields, data)


def _client_struct(client: dict[str, Any]) -> GoStruct:
    return _struct("system.clientVersion", _CLIENT_FIELDS, client)


def _server_struct(server: dict[str, Any] | None) -> GoStruct | None:
    if server is None:
        return None
    components = [GoStruct("types.ComponentVersion", (("Name", "Name", ""), ("Version", "Version", ""),
                                                      ("Details", "Details", {})), c)
                  for c in server.get("Components") or []]
    return _struct("*types.Version", _SERVER_FIELDS, {**server, "Components": components})


def _server_version(server: dict[str, Any]) -> str:
    name = (server.get("Platform") or {}).get("Name") or ""
    text = "Server:" + (f" {name}" if name else "") + "\n"
    for component in server.get("Components") or []:
        details = component.get("Details") or {}
        text += f" {component['Name']}:\n"
        if component["Name"] == "Engine":
            text += _tabbed([
                ("  Version:", component["Version"]),
                ("  API version:", f"{details.get('ApiVersion', '')} (minimum version {details.get('MinAPIVersion', '')})"),
                ("  Go version:", details.get("GoVersion", "")), ("  Git commit:", details.get("GitCommit", "")),
                ("  Built:", details.get("BuildTime", "")),
                ("  OS/Arch:", f"{details.get('Os', '')}/{details.get('Arch', '')}"),
                ("  Experimental:", details.get("Experimental", ""))])
        else:
            text += _tabbed([("  Version:", component["Version"])]
                            + [(f"  {key}:", str(details[key])) for key in sorted(details)])
    return text


def _print_template(out: TextIO, fmt: str, name: str, root: Any, kind: Any) -> None:
    """`version` and `info` --format as the docker CLI runs them: a template that does not parse
    is status 64; else what it wrote before an error, then a newline, then the error (status
    1). `\\t` stays as typed."""
    from dockyard.cli.gotemplate import TemplateError, parse

    try:
        template = parse(fmt, name)
    except TemplateError as exc:
        raise TemplateError(f"template parsing error: {exc}", 64) from None
    try:
        out.write(template.execute(root, kind) + "\n")
    except TemplateError as exc:
        out.write(exc.partial + "\n")
        raise


def cmd_info(args: argparse.Namespace, target: Any) -> int:
    info = for_target(target).call("GET", "/info")
    out = _out(target)
    if args.format:
        from dockyard.cli.govalues import Struct

        # the docker CLI's system.info: types.Info's fields (found by their JSON keys here)
        _print_template(out, args.format, "", info, Struct("system.info", [], complete=False))
        return 0
    username = ""
    if info.get("IndexServerAddress"):   # the client's config's user there (no helper asked)
        from dockyard.engine.credentials import client_username

        username = client_username(info["IndexServerAddress"])
    out.write("Client:\n Context:    default\n Debug Mode: false\n\nServer:\n" + _server_info(info, username))
    for warning in info.get("Warnings") or []:
        sys.stderr.write(f"{warning}\n")
    return 0


def _server_info(info: dict[str, Any], username: str) -> str:
    """prettyPrintServerInfo of the docker CLI 20.10 (its lines and their order); `username`:
    the client's login at the index server."""
    from dockyard.units import bytes_size

    lines: list[str] = []

    def line(key: str, value: Any, *, always: bool = True) -> None:
        if always or value:
            lines.append(f"{key} {_go(value)}" if key else str(value))

    line(" Containers:", info.get("Containers", 0))
    line("  Running:", info.get("ContainersRunning", 0))
    line("  Paused:", info.get("ContainersPaused", 0))
    line("  Stopped:", info.get("ContainersStopped", 0))
    line(" Images:", info.get("Images", 0))
    line(" Server Version:", info.get("ServerVersion"), always=False)
    line(" Storage Driver:", info.get("Driver"), always=False)
    lines += [f"  {k}: {v}" for k, v in info.get("DriverStatus") or []]
    lines += [f" {k}: {v}" for k, v in info.get("SystemStatus") or []]
    line(" Logging Driver:", info.get("LoggingDriver"), always=False)
    line(" Cgroup Driver:", info.get("CgroupDriver"), always=False)
    line(" Cgroup Version:", info.get("CgroupVersion"), always=False)
    plugins = info.get("Plugins") or {}
    lines.append(" Plugins:")
    line("  Volume:", " ".join(plugins.get("Volume") or []))
    line("  Network:", " ".join(plugins.get("Network") or []))
    if plugins.get("Authorization"):
        line("  Authorization:", " ".join(plugins["Authorization"]))
    line("  Log:", " ".join(plugins.get("Log") or []))
    line(" Swarm:", (info.get("Swarm") or {}).get("LocalNodeState", ""))
    if info.get("Runtimes"):
        lines.append(" Runtimes:" + "".join(f" {name}" for name in info["Runtimes"]))
        line(" Default Runtime:", info.get("DefaultRuntime", ""))
    if info.get("OSType") == "linux":
        line(" Init Binary:", info.get("InitBinary", ""))
        for name, key in (("containerd", "ContainerdCommit"), ("runc", "RuncCommit"), ("init", "InitCommit")):
            commit = info.get(key) or {}
            text = f" {name} version: {commit.get('ID', '')}"
            if commit.get("ID", "") != commit.get("Expected", ""):
                text += f" (expected: {commit.get('Expected', '')})"
            lines.append(text)
        if info.get("SecurityOptions"):
            lines.append(" Security Options:")
            for option in info["SecurityOptions"]:
                fields = dict(f.split("=", 1) for f in option.split(",") if "=" in f)
                lines.append("  " + fields.get("name", option))
                if "profile" in fields:
                    lines.append(f"   Profile: {fields['profile']}")
    line(" Kernel Version:", info.get("KernelVersion"), always=False)
    line(" Operating System:", info.get("OperatingSystem"), always=False)
    line(" OSType:", info.get("OSType"), always=False)
    line(" Architecture:", info.get("Architecture"), always=False)
    line(" CPUs:", info.get("NCPU", 0))
    line(" Total Memory:", bytes_size(info.get("MemTotal", 0)))
    line(" Name:", info.get("Name"), always=False)
    line(" ID:", info.get("ID"), always=False)
    line(" Docker Root Dir:", info.get("DockerRootDir", ""))
    line(" Debug Mode:", bool(info.get("Debug")))
    if info.get("Debug"):
        line("  File Descriptors:", info.get("NFd", 0))
        line("  Goroutines:", info.get("NGoroutines", 0))
        line("  System Time:", info.get("SystemTime", ""))
        line("  EventsListeners:", info.get("NEventsListener", 0))
    line(" HTTP Proxy:", info.get("HttpProxy"), always=False)
    line(" HTTPS Proxy:", info.get("HttpsProxy"), always=False)
    line(" No Proxy:", info.get("NoProxy"), always=False)
    if info.get("IndexServerAddress"):
        line(" Username:", username, always=False)
        line(" Registry:", info["IndexServerAddress"])
    if info.get("Labels") is not None:
        lines.append(" Labels:")
        lines += [f"  {label}" for label in info["Labels"]]
    line(" Experimental:", bool(info.get("ExperimentalBuild")))
    line(" Cluster Store:", info.get("ClusterStore"), always=False)
    line(" Cluster Advertise:", info.get("ClusterAdvertise"), always=False)
    registries = info.get("RegistryConfig") or {}
    if registries.get("InsecureRegistryCIDRs") or registries.get("IndexConfigs"):
        lines.append(" Insecure Registries:")
        lines += [f"  {r['Name']}" for r in (registries.get("IndexConfigs") or {}).values() if not r.get("Secure")]
        lines += [f"  {cidr}" for cidr in registries.get("InsecureRegistryCIDRs") or []]
    if registries.get("Mirrors"):
        lines.append(" Registry Mirrors:")
        lines += [f"  {mirror}" for mirror in registries["Mirrors"]]
    line(" Live Restore Enabled:", bool(info.get("LiveRestoreEnabled")))
    line(" Product License:", info.get("ProductLicense"), always=False)
    if info.get("DefaultAddressPools"):
        lines.append(" Default Address Pools:")
        lines += [f"   Base: {p['Base']}, Size: {p['Size']}" for p in info["DefaultAddressPools"]]
    return "\n".join(lines) + "\n\n"


def _go(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
