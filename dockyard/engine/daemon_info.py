"""What the daemon says of itself, for both servers: `GET /version` and `GET /info` (`docker
version`, `docker info`), the API versions it speaks and the host and store it runs on."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

from dockyard import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from dockyard.store.store import Store

API_VERSION = "1.47"      # the newest Engine API version served
MIN_API_VERSION = "1.24"  # the oldest a client may ask for (Docker 25+ answers the same)


def version() -> dict[str, Any]:
    uname = os.uname()
    details = {"ApiVersion": API_VERSION, "Arch": "amd64", "BuildTime": "", "Experimental": "false",
               "GitCommit": "", "GoVersion": f"python{platform.python_version()}",
               "KernelVersion": uname.release, "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}
    return {
        "Platform": {"Name": "dockyard"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "", "GoVersion": details["GoVersion"], "Os": "linux", "Arch": "amd64",
        "KernelVersion": uname.release, "BuildTime": "",
    }


def info(store: Store, root: Path) -> dict[str, Any]:
    from dockyard.engine import containers, images
    from dockyard.runtime import host_support

    total, running, paused, stopped = containers.counts(store)
    uname = os.uname()
    return {
        "ID": "dockyard", "Containers": total, "ContainersRunning": running,
        "ContainersPaused": paused, "ContainersStopped": stopped,
        "Images": images.image_count(store), "Driver": "overlay2", "DriverStatus": [],
        "DockerRootDir": str(root), "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                                                "Authorization": None, "Log": ["json-file"]},
        # what the host's cgroups offer (dockyard applies each through runc); kernel memory
        # limits, which dockyard does not apply, false
        **host_support.features(), "KernelMemory": False, "KernelMemoryTCP": False,
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
    }


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
