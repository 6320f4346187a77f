"""System endpoints: /_ping, /version, /info, /events (minimal), /auth."""

from __future__ import annotations

import itertools
import os
import platform
import time

from dockyard import __version__
from dockyard.api import registry
from dockyard.api.http import Response
from dockyard.api.framing import go_json
from dockyard.api.router import API_VERSION, MIN_API_VERSION, ApiContext, Request, Route, route
from dockyard.engine import containers, images
from dockyard.engine import events as engine_events
from dockyard.engine import system as engine_system
from dockyard.engine.system import disk_usage as usage


def ping(ctx: ApiContext, req: Request, resp: Response) -> None:
    """Docker answers `OK` with the API version and `Builder-Version: 1` (the classic builder:
    clients then do not try BuildKit)."""
    headers = [("Builder-Version", "1"), ("Cache-Control", "no-cache, no-store, must-revalidate"),
               ("Pragma", "no-cache")]
    resp.send(200, b"OK", "text/plain; charset=utf-8", headers)


def version(ctx: ApiContext, req: Request, resp: Response) -> None:
    uname = os.uname()
    details = {"ApiVersion": API_VERSION, "Arch": "amd64", "BuildTime": "", "Experimental": "false",
               "GitCommit": "", "GoVersion": f"python{platform.python_version()}",
               "KernelVersion": uname.release, "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}
    resp.json({
        "Platform": {"Name": "dockyard"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "", "GoVersion": details["GoVersion"], "Os": "linux", "Arch": "amd64",
        "KernelVersion": uname.release, "BuildTime": "",
    })


def info(ctx: ApiContext, req: Request, resp: Response) -> None:
    store = ctx.store()
    total, running, paused, stopped = containers.counts(store)
    uname = os.uname()
    resp.json({
        "ID": "dockyard", "Containers": total, "ContainersRunning": running,
        "ContainersPaused": paused, "ContainersStopped": stopped,
        "Images": images.image_count(store), "Driver": "overlay2", "DriverStatus": [],
        "DockerRootDir": str(ctx.root), "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                                                  "Authorization": None, "Log": ["json-file"]},
        # what the host's cgroups offer (dockyard applies each through runc); kernel memory
        # limits, which dockyard does not apply, false
        **engine_system.host_features(), "KernelMemory": False, "KernelMemoryTCP": False,
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0, "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs",
        "NEventsListener": 0, "KernelVersion": uname.release, "OperatingSystem": "dockyard",
        "OSVersion": "", "OSType": "linux", "Architecture": uname.machine,
        "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": [], "IndexConfigs": {"docker.io": {
                "Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}}},
        "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(), "Name": uname.nodename,
        "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {"runc": {"path": "runc"}}, "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": False, "Isolation": "", "InitBinary": "docker-init",
        "SecurityOptions": ["name=seccomp,profile=default"], "Warnings": None, "GenericResources": None,
        "HttpProxy": os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy") or "",
        "HttpsProxy": os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or "",
        "NoProxy": os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
    })


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def events(ctx: ApiContext, req: Request, resp: Response) -> None:
    """The store's events (whichever process made them), filtered, with since/until; without
    `until` the stream stays open until the client leaves or the server stops."""
    cancel = resp.cancel(ctx.stopping)
    messages = engine_events.stream(ctx.root, req.q("since"), req.q("until"), req.q("filters"),
                                    lambda: ctx.stopping.is_set())
    write = resp.stream("application/json")
    first = next(messages, None)   # filters checked before the head goes out (a 400 then)
    write(b"")
    for message in itertools.chain([first], messages):
        if message is None:
            if cancel.is_set():
                return
            continue
        write(go_json(message) + b"\n")


def auth(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(registry.login(ctx, req.json_object(required=True)))


def disk_usage(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(usage(ctx.store(), req.qlist("type") or None, placeholders=not req.version_at_least("1.44")))


def build_prune(ctx: ApiContext, req: Request, resp: Response) -> None:
    """`docker builder prune` (and the last step of `docker system prune`): BuildKit mode's
    cache (engine/build_cache.py); the classic builder's cache is images (image prune)."""
    from dockyard.engine import build_cache

    removed, freed = build_cache.prune(ctx.store(), all_=req.qbool("all"), raw_filters=req.q("filters"),
                                       keep_storage=req.qint("keep-storage", 0) or 0)
    resp.json({"CachesDeleted": removed or None, "SpaceReclaimed": freed})


def routes() -> list[Route]:
    return [
        route("GET", "/_ping", ping, ""),
        route("GET", "/version", version, ""),
        route("GET", "/info", info, ""),
        route("GET", "/events", events, "since until filters"),
        route("POST", "/auth", auth, ""),
        route("GET", "/system/df", disk_usage, "type"),
        route("POST", "/build/prune", build_prune, "all filters keep-storage"),
    ]
