"""Fields of a container's inspect that clients read and dockyard left out (an SDK's
`attrs["ExecIDs"]`, a template's `.HostConfig.MaskedPaths` failed on a missing key): ExecIDs
(the execs not yet ended, null when none), the masked and read-only paths applied, and the
HostConfig fields dockyard takes only at their zero value, shown at it. Through Debian's docker
CLI 20.10 on dockyard serve and the reference dockerd."""

from __future__ import annotations

import json
import os
import time

from tests.interop.conftest import Engine

ZERO = {"ConsoleSize": [0, 0], "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "CpuCount": 0,
        "CpuRealtimePeriod": 0, "DeviceCgroupRules": None, "DeviceRequests": None, "IOMaximumIOps": 0,
        "KernelMemory": 0, "KernelMemoryTCP": 0}


def _inspect(engine: Engine, name: str) -> dict:
    return json.loads(engine.docker("inspect", name).stdout)[0]


def test_exec_ids_and_host_config_fields(engine: Engine) -> None:
    try:
        engine.docker("run", "-d", "--name", "insp", "--network", "none", "busybox", "sleep", "100")
        assert _inspect(engine, "insp")["ExecIDs"] is None
        # a detached exec that runs until told (a `sleep 1` had to be seen within its second)
        engine.docker("exec", "-d", "insp", "sh", "-c", "while [ ! -e /go ]; do sleep 0.05; done")
        assert len(_inspect(engine, "insp")["ExecIDs"]) == 1
        engine.docker("exec", "insp", "touch", "/go")
        deadline = time.monotonic() + 60
        while _inspect(engine, "insp")["ExecIDs"] is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        info = _inspect(engine, "insp")
        assert info["ExecIDs"] is None
        assert (info["MountLabel"], info["ProcessLabel"]) == ("", "")
        host = info["HostConfig"]
        # dockerd echoes an empty list the client sent as [] or null: either is the zero value
        assert all(host[k] in (v, None) for k, v in ZERO.items()), {k: host[k] for k in ZERO}
        assert "/proc/kcore" in host["MaskedPaths"] and "/proc/sys" in host["ReadonlyPaths"]
    finally:
        engine.docker("rm", "-f", "insp", check=False)


def test_info_reports_the_limits_the_host_offers(engine: Engine) -> None:
    """/info's cgroup features are the host's (dockyard applies each through runc): dockyard
    reported every limit unsupported and cgroup version 2 on this host's v1 controllers, so
    `docker info` warned of no memory, swap, CFS, cpuset or pids limit support."""
    info = json.loads(engine.docker("info", "--format", "{{json .}}").stdout)
    v1 = os.path.isdir("/sys/fs/cgroup/memory")
    assert (info["CgroupDriver"], info["CgroupVersion"]) == ("cgroupfs", "1" if v1 else "2")
    for key in ("MemoryLimit", "CpuCfsPeriod", "CpuCfsQuota", "CPUShares", "CPUSet", "PidsLimit"):
        assert info[key] is True, key
    assert info["RegistryConfig"]["IndexConfigs"]["docker.io"]["Official"] is True
    assert "Volume" in info["Plugins"] and "local" in info["Plugins"]["Volume"]


def test_host_config_mounts_as_the_request_gave_them(engine: Engine) -> None:
    """dockerd's HostConfig is the one the client sent: Binds are the `-v` strings given (an
    anonymous `-v /path` is the config's Volumes, no bind), Mounts the `--mount`s given in their
    order (an anonymous volume without a Source), Tmpfs the `--tmpfs`es; Init, Mounts and Tmpfs
    are omitempty; no --network is "default". dockyard showed every volume create resolved in
    both Binds and Mounts (with made-up names), a --tmpfs among the Mounts and in the list of
    mount points, null for the empty ones, and "bridge"."""
    vol = f"hcm-{engine.name}"
    try:
        engine.docker("create", "--name", "hcm-1", "--init", "--tmpfs", "/t", "--mount", "type=volume,target=/m",
                      "--mount", "type=tmpfs,target=/mt", "-v", "/anon", "-v", f"{vol}:/nv", "busybox", "true")
        engine.docker("create", "--name", "hcm-2", "busybox", "true")
        one, two = (_inspect(engine, name) for name in ("hcm-1", "hcm-2"))
        host = one["HostConfig"]
        assert (host["NetworkMode"], host["Binds"], host["Tmpfs"], host["Init"]) == ("default", [f"{vol}:/nv"],
                                                                                      {"/t": ""}, True)
        assert host["Mounts"] == [{"Type": "volume", "Target": "/m"}, {"Type": "tmpfs", "Target": "/mt"}]
        assert sorted((m["Type"], m["Destination"]) for m in one["Mounts"]) == [
            ("tmpfs", "/mt"), ("volume", "/anon"), ("volume", "/m"), ("volume", "/nv")]
        assert not {"Init", "Mounts", "Tmpfs"} & set(two["HostConfig"])
        assert (two["HostConfig"]["NetworkMode"], two["HostConfig"]["Binds"]) == ("default", None)
        assert engine.docker("ps", "-a", "--filter", "name=hcm-2", "--format", "{{.Networks}}").stdout == b"bridge\n"
    finally:
        engine.docker("rm", "-v", "hcm-1", "hcm-2", check=False)
        engine.docker("volume", "rm", vol, check=False)
