"""The Engine API's request bodies as the Go structs dockerd 20.10 decodes them into (moby's
api/types): what `dockyard.gotypes.check` compares a body with, so that a value of the wrong type
gets Go's error, as from dockerd, before any handler reads it. Only the shapes live here; what
each field means is the engine's."""

from __future__ import annotations

from dockyard.gotypes import GoMap, GoSlice, GoStruct

_RESTART_POLICY = GoStruct("RestartPolicy", "container.RestartPolicy", {
    "Name": "string", "MaximumRetryCount": "int"})

# container.Resources, embedded in HostConfig and UpdateConfig: its fields are theirs
_RESOURCES = {
    **dict.fromkeys(("CpuShares", "Memory", "NanoCpus", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
                     "CpuRealtimeRuntime", "KernelMemory", "KernelMemoryTCP", "MemoryReservation",
                     "MemorySwap", "MemorySwappiness", "PidsLimit", "CpuCount", "CpuPercent"), "int64"),
    **dict.fromkeys(("CgroupParent", "CpusetCpus", "CpusetMems"), "string"),
    "BlkioWeight": "uint16", "OomKillDisable": "bool", "IOMaximumIOps": "uint64",
    "IOMaximumBandwidth": "uint64", "DeviceCgroupRules": "[]string",
    "Devices": GoSlice(GoStruct("DeviceMapping", "container.DeviceMapping", {
        "PathOnHost": "string", "PathInContainer": "string", "CgroupPermissions": "string"})),
    "Ulimits": GoSlice(GoStruct("Ulimit", "units.Ulimit", {
        "Name": "string", "Hard": "int64", "Soft": "int64"}), "[]*units.Ulimit"),
}

UPDATE = GoStruct("UpdateConfig", "container.UpdateConfig", {
    **_RESOURCES, "RestartPolicy": _RESTART_POLICY})

_MOUNT = GoStruct("Mount", "mount.Mount", {
    "Type": "mount.Type=string", "Source": "string", "Target": "string", "ReadOnly": "bool",
    "Consistency": "mount.Consistency=string",
    "BindOptions": GoStruct("BindOptions", "mount.BindOptions", {
        "Propagation": "mount.Propagation=string", "NonRecursive": "bool"}),
    "VolumeOptions": GoStruct("VolumeOptions", "mount.VolumeOptions", {
        "NoCopy": "bool", "Labels": "map[string]string",
        "DriverConfig": GoStruct("Driver", "mount.Driver", {
            "Name": "string", "Options": "map[string]string"})}),
    "TmpfsOptions": GoStruct("TmpfsOptions", "mount.TmpfsOptions", {
        "SizeBytes": "int64", "Mode": "os.FileMode=uint32"}),
})

_HOST_CONFIG = GoStruct("HostConfig", "container.HostConfig", {
    **_RESOURCES,
    "Binds": "[]string", "ContainerIDFile": "string",
    "LogConfig": GoStruct("LogConfig", "container.LogConfig", {
        "Type": "string", "Config": "map[string]string"}),
    "NetworkMode": "container.NetworkMode=string",
    "PortBindings": GoMap(GoSlice(GoStruct("PortBinding", "nat.PortBinding", {
        "HostIp": "string", "HostPort": "string"})), "nat.PortMap"),
    "RestartPolicy": _RESTART_POLICY, "AutoRemove": "bool", "VolumeDriver": "string",
    "VolumesFrom": "[]string", "CapAdd": "strslice.StrSlice", "CapDrop": "strslice.StrSlice",
    "CgroupnsMode": "container.CgroupnsMode=string", "Dns": "[]string", "DnsOptions": "[]string",
    "DnsSearch": "[]string", "ExtraHosts": "[]string", "GroupAdd": "[]string",
    "IpcMode": "container.IpcMode=string", "Cgroup": "container.CgroupSpec=string",
    "Links": "[]string", "OomScoreAdj": "int", "PidMode": "container.PidMode=string",
    "Privileged": "bool", "PublishAllPorts": "bool", "ReadonlyRootfs": "bool",
    "SecurityOpt": "[]string", "StorageOpt": "map[string]string", "Tmpfs": "map[string]string",
    "UTSMode": "container.UTSMode=string", "UsernsMode": "container.UsernsMode=string",
    "ShmSize": "int64", "Sysctls": "map[string]string", "Runtime": "string",
    "Isolation": "container.Isolation=string", "Mounts": GoSlice(_MOUNT),
    "MaskedPaths": "[]string", "ReadonlyPaths": "[]string", "Init": "bool",
})

# container.Config: its fields as they appear in a create or commit body
_CONFIG = {
    **dict.fromkeys(("Hostname", "Domainname", "User", "Image", "WorkingDir", "MacAddress",
                     "StopSignal"), "string"),
    **dict.fromkeys(("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce",
                     "ArgsEscaped", "NetworkDisabled"), "bool"),
    "ExposedPorts": "nat.PortSet=map[string]struct {}", "Env": "[]string",
    "Cmd": "strslice.StrSlice", "Entrypoint": "strslice.StrSlice", "Shell": "strslice.StrSlice",
    "Healthcheck": GoStruct("HealthConfig", "container.HealthConfig", {
        "Test": "[]string", "Interval": "time.Duration=int64", "Timeout": "time.Duration=int64",
        "StartPeriod": "time.Duration=int64", "Retries": "int"}),
    "Volumes": "map[string]struct {}", "OnBuild": "[]string", "Labels": "map[string]string",
    "StopTimeout": "int",
}

CONFIG_FIELDS = frozenset(_CONFIG)

_ENDPOINT_SETTINGS = GoStruct("EndpointSettings", "network.EndpointSettings", {
    "IPAMConfig": GoStruct("EndpointIPAMConfig", "network.EndpointIPAMConfig", {
        "IPv4Address": "string", "IPv6Address": "string", "LinkLocalIPs": "[]string"}),
    "Links": "[]string", "Aliases": "[]string", "NetworkID": "string", "EndpointID": "string",
    "Gateway": "string", "IPAddress": "string", "IPPrefixLen": "int", "IPv6Gateway": "string",
    "GlobalIPv6Address": "string", "GlobalIPv6PrefixLen": "int", "MacAddress": "string",
    "DriverOpts": "map[string]string"})

# POST /containers/create; POST /commit's body is decoded into the same wrapper
CONTAINER_CREATE = GoStruct("ContainerConfigWrapper", "runconfig.ContainerConfigWrapper", {
    **_CONFIG, "HostConfig": _HOST_CONFIG,
    "NetworkingConfig": GoStruct("NetworkingConfig", "network.NetworkingConfig", {
        "EndpointsConfig": GoMap(_ENDPOINT_SETTINGS, "map[string]*network.EndpointSettings")}),
})

_IPAM_CONFIG = GoStruct("IPAMConfig", "network.IPAMConfig", {
    "Subnet": "string", "IPRange": "string", "Gateway": "string", "AuxiliaryAddresses": "map[string]string"})
NETWORK_CREATE = GoStruct("NetworkCreateRequest", "types.NetworkCreateRequest", {
    "Name": "string", "CheckDuplicate": "bool", "Driver": "string", "Scope": "string",
    "EnableIPv6": "bool", "Internal": "bool", "Attachable": "bool", "Ingress": "bool",
    "ConfigOnly": "bool", "Options": "map[string]string", "Labels": "map[string]string",
    "IPAM": GoStruct("IPAM", "network.IPAM", {
        "Driver": "string", "Options": "map[string]string", "Config": GoSlice(_IPAM_CONFIG)}),
    "ConfigFrom": GoStruct("ConfigReference", "network.ConfigReference", {"Network": "string"}),
})
NETWORK_CONNECT = GoStruct("NetworkConnect", "types.NetworkConnect", {
    "Container": "string", "EndpointConfig": _ENDPOINT_SETTINGS})
NETWORK_DISCONNECT = GoStruct("NetworkDisconnect", "types.NetworkDisconnect", {
    "Container": "string", "Force": "bool"})

VOLUME_CREATE = GoStruct("VolumeCreateBody", "volume.VolumeCreateBody", {
    "Name": "string", "Driver": "string", "DriverOpts": "map[string]string", "Labels": "map[string]string"})
