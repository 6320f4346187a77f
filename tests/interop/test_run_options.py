"""`docker run` options (Debian's 20.10 CLI) honoured as dockerd honours them, or refused: the
same commands against dockyard serve and the reference dockerd."""

from __future__ import annotations

import json
import os
import stat
import subprocess

from tests.interop.conftest import Engine


def _run(engine: Engine, *args: str, check: bool = True) -> str:
    return engine.docker("run", "--rm", *args, check=check).stdout.decode()


def test_options_seen_inside(engine: Engine) -> None:
    assert _run(engine, "--hostname", "box1", "busybox", "hostname") == "box1\n"
    ro = engine.docker("run", "--rm", "--read-only", "busybox", "touch", "/x", check=False)
    assert ro.returncode == 1 and b"Read-only file system" in ro.stderr
    assert _run(engine, "--read-only", "--tmpfs", "/scratch", "busybox",
                "sh", "-c", "touch /scratch/x && echo ok") == "ok\n"
    status = _run(engine, "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "busybox",
                  "grep", "-E", "^(CapEff|NoNewPrivs)", "/proc/self/status")
    assert status.split() == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1"]
    assert _run(engine, "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n") == "100\n"
    hosts = _run(engine, "--add-host", "db.example:10.9.8.7", "busybox", "cat", "/etc/hosts")
    assert "10.9.8.7\tdb.example" in hosts
    resolv = _run(engine, "--dns", "10.1.2.3", "--dns-search", "corp.example", "busybox",
                  "cat", "/etc/resolv.conf")
    assert "nameserver 10.1.2.3" in resolv and "search corp.example" in resolv
    assert _run(engine, "-e", "A=1", "busybox", "sh", "-c", "echo $A") == "1\n"


def test_limits_and_labels_in_inspect(engine: Engine) -> None:
    cid = engine.docker("run", "-d", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50",
                        "-l", "team=blue", "busybox", "sleep", "30").stdout.decode().strip()
    try:
        info = json.loads(engine.docker("inspect", cid).stdout)[0]
        host = info["HostConfig"]
        assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (64 << 20, 500_000_000, 50)
        assert info["Config"]["Labels"] == {"team": "blue"}
        assert engine.docker("ps", "-q", "--no-trunc", "--filter", "label=team=blue").stdout.decode().strip() == cid
        pids_max = engine.docker("exec", cid, "cat", "/sys/fs/cgroup/pids/pids.max", check=False).stdout
        assert pids_max in (b"50\n", b"")     # v1 without a cgroup namespace shows the host's root
    finally:
        engine.docker("rm", "-f", cid)


def test_named_volume_copy_up_and_volumes_from(engine: Engine) -> None:
    vol = f"cu-{engine.name}"
    try:
        # busybox has files in /etc: an empty new volume mounted there gets them (copy-up)
        assert "passwd" in _run(engine, "-v", f"{vol}:/etc", "busybox", "ls", "/etc")
        _run(engine, "-v", f"{vol}:/etc", "busybox", "sh", "-c", "echo kept > /etc/marker")
        assert _run(engine, "--mount", f"type=volume,source={vol},target=/data", "busybox",
                    "cat", "/data/marker") == "kept\n"
        holder = engine.docker("create", "-v", f"{vol}:/shared", "busybox", "true").stdout.decode().strip()
        assert _run(engine, "--volumes-from", f"{holder}:ro", "busybox", "cat", "/shared/marker") == "kept\n"
        ro = engine.docker("run", "--rm", "--volumes-from", f"{holder}:ro", "busybox", "touch",
                           "/shared/x", check=False)
        assert ro.returncode == 1 and b"Read-only file system" in ro.stderr
        busy = engine.docker("volume", "rm", vol, check=False)
        assert busy.returncode == 1 and b"volume is in use" in busy.stderr
        engine.docker("rm", holder)
    finally:
        engine.docker("volume", "rm", "-f", vol, check=False)


def test_init(engine: Engine) -> None:
    """--init: Debian's docker-init (tini) is pid 1, mounted read-only at /sbin/docker-init, and
    reaps the command's orphans; inspect shows Init: true and the command as given."""
    ps = _run(engine, "--init", "busybox", "ps", "-o", "pid,args")
    assert ps.split("\n")[1].split() == ["1", "/sbin/docker-init", "--", "ps", "-o", "pid,args"]
    assert _run(engine, "--init", "busybox", "sh", "-c", "mount | grep docker-init").split()[1:3] == \
        ["on", "/sbin/docker-init"]
    cid = engine.docker("create", "--init", "busybox", "sleep", "1").stdout.decode().strip()
    try:
        info = json.loads(engine.docker("inspect", cid).stdout)[0]
        assert (info["HostConfig"]["Init"], info["Path"], info["Args"]) == (True, "sleep", ["1"])
    finally:
        engine.docker("rm", cid)


_PRIVILEGED_VIEW = (
    "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; ls /dev;"
    " mount | grep -E ' on /(proc|sys|dev)( |/fs/cgroup)';"
    " echo dockyard > /proc/sys/kernel/domainname && echo proc-sys-writable;"
    " echo timer-list-$(head -c1 /proc/timer_list | wc -c)"   # masked: an empty file
)
# Docker 23+ (and dockyard) know three capabilities Docker 20.10 does not: PERFMON, BPF and
# CHECKPOINT_RESTORE (bits 38-40), which a privileged container gets where the host has them.
_NEWER_CAPS = 0b111 << 38


def test_privileged_sees_what_dockerds_sees(engine: Engine) -> None:
    """--privileged as daemon/oci_linux.go makes it: every capability (those of this host's
    bounding set: see tests/data/runtimes/bounded-runc), the host's devices, /sys and the cgroup
    hierarchy writable, nothing masked or read-only, no seccomp filter."""
    from tests.dockerd import BOUNDED_RUNC

    runtime = ["--runtime", BOUNDED_RUNC] if engine.name == "dockerd" else []
    seen = _run(engine, "--privileged", *runtime, "busybox", "sh", "-c", _PRIVILEGED_VIEW).split("\n")
    status = dict(line.split(":\t") for line in seen[:4])
    with open("/proc/self/status") as f:
        host_bounding = int(next(l for l in f if l.startswith("CapBnd:")).split()[1], 16)
    assert int(status["CapEff"], 16) == int(status["CapBnd"], 16) == host_bounding & (
        ~_NEWER_CAPS if engine.name == "dockerd" else ~0)
    assert (status["NoNewPrivs"], status["Seccomp"]) == ("0", "0")
    devices = seen[4:seen.index(next(l for l in seen if l.startswith("proc on")))]
    host_devices = {e.name for e in os.scandir("/dev") if e.name != "console"
                    and stat.S_ISCHR(e.stat(follow_symlinks=False).st_mode)
                    | stat.S_ISBLK(e.stat(follow_symlinks=False).st_mode)}
    ours = {"mqueue", "pts", "shm", "fd", "stdin", "stdout", "stderr", "ptmx"}
    assert set(os.listdir("/dev")) | ours >= set(devices) >= host_devices
    mounts = [l for l in seen if " on /" in l]
    assert all("(rw," in line for line in mounts), mounts
    assert len(mounts) > 4 and "proc-sys-writable" in seen and "timer-list-1" in seen
    plain = _run(engine, "busybox", "sh", "-c", "ls /dev | wc -l; echo timer-list-$(head -c1 "
                 "/proc/timer_list | wc -c); echo x > /proc/sys/kernel/domainname 2>/dev/null"
                 " || echo proc-sys-read-only")
    assert int(plain.split()[0]) < len(devices)
    assert plain.split()[1:] == ["timer-list-0", "proc-sys-read-only"]


def test_seccomp_and_capabilities_as_dockerd(engine: Engine, tmp_path) -> None:  # noqa: ANN001
    # the default seccomp profile: no user namespace (EPERM), unless unconfined
    refused = engine.docker("run", "--rm", "busybox", "unshare", "-U", "true", check=False)
    assert refused.returncode == 1 and b"Operation not permitted" in refused.stderr, refused
    assert _run(engine, "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true") == ""
    # a profile file: the 20.10 CLI reads it and sends its JSON; mkdir fails with its errno (EACCES)
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    made = engine.docker("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "mkdir", "/x", check=False)
    assert made.returncode == 1 and b"Permission denied" in made.stderr, made
    info = json.loads(engine.docker("info", "--format", "{{json .SecurityOptions}}").stdout)
    assert info == ["name=seccomp,profile=default"]
    for options, shown in (((), None), (("--privileged",), ["label=disable"]),
                           (("--security-opt", "no-new-privileges", "--security-opt", "seccomp=unconfined"),
                            ["no-new-privileges", "seccomp=unconfined"])):
        cid = engine.docker("create", *options, "busybox", "true").stdout.decode().strip()
        try:
            assert json.loads(engine.docker("inspect", cid).stdout)[0]["HostConfig"]["SecurityOpt"] == shown
        finally:
            engine.docker("rm", cid)
    # an unknown capability is refused at create, with dockerd's words
    for flag, field in (("--cap-add", "CapAdd"), ("--cap-drop", "CapDrop")):
        bad = engine.docker("create", flag, "nope", "busybox", "true", check=False)
        assert bad.returncode == 1, bad
        assert f'invalid {field}: unknown capability: "CAP_NOPE"'.encode() in bad.stderr, bad


def test_shm_size_oom_score_adj_and_sysctls(engine: Engine) -> None:
    """--shm-size, --oom-score-adj and --sysctl (compose's shm_size, oom_score_adj, sysctls),
    seen inside and in inspect as dockerd shows them; the bad values refused as dockerd does."""
    assert _run(engine, "--shm-size", "16m", "busybox", "df", "-k", "/dev/shm").split()[-5] == "16384"
    assert _run(engine, "busybox", "df", "-k", "/dev/shm").split()[-5] == "65536"   # the default
    assert _run(engine, "--oom-score-adj", "500", "busybox", "cat", "/proc/self/oom_score_adj") == "500\n"
    assert _run(engine, "--network", "none", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl",
                "kernel.shmmax=1000000", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward",
                "/proc/sys/kernel/shmmax") == "1\n1000000\n"
    set_ = engine.docker("create", "--shm-size", "16m", "--oom-score-adj", "5", "--sysctl",
                         "net.ipv4.ip_forward=1", "busybox", "true").stdout.decode().strip()
    unset = engine.docker("create", "busybox", "true").stdout.decode().strip()
    try:
        host = json.loads(engine.docker("inspect", set_).stdout)[0]["HostConfig"]
        assert (host["ShmSize"], host["OomScoreAdj"], host["Sysctls"]) == (16 << 20, 5, {"net.ipv4.ip_forward": "1"})
        host = json.loads(engine.docker("inspect", unset).stdout)[0]["HostConfig"]
        assert (host["ShmSize"], host["OomScoreAdj"], "Sysctls" in host) == (64 << 20, 0, False)
    finally:
        engine.docker("rm", set_, unset)
    bad = engine.docker("create", "--oom-score-adj", "5000", "busybox", "true", check=False)
    assert bad.returncode == 1 and b"Invalid value 5000, range for oom score adj is [-1000, 1000]" in bad.stderr
    bad = engine.docker("create", "--sysctl", "kernel.foo=1", "busybox", "true", check=False)   # the CLI's own check
    assert bad.returncode == 125 and b"is not whitelisted" in bad.stderr
    # a net.* setting in the host's network namespace: runc refuses it at the start, for both
    bad = engine.docker("run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1",
                        "busybox", "true", check=False)
    assert bad.returncode == 125 and b'sysctl "net.ipv4.ip_forward" not allowed in host network namespace' in bad.stderr
    status, message = _create_body(engine, {"Image": "busybox", "HostConfig": {"ShmSize": -1}})
    assert (status, message) == (400, "SHM size can not be less than 0")


def _create_body(engine: Engine, body: dict) -> tuple[int, str]:
    status, answer = engine.post("/containers/create", json.dumps(body).encode())
    return status, answer.get("message", "")


def test_cpu_period_quota_cpuset_and_memory_reservation(engine: Engine) -> None:
    """--cpu-period/--cpu-quota, --cpuset-cpus/--cpuset-mems and --memory-reservation (compose's
    cpu_period, cpu_quota, cpuset, mem_reservation): in the container's cgroups (v1 on this host),
    in inspect, changed by `docker update`, and refused as dockerd refuses them."""
    cid = engine.docker("run", "-d", "--cpu-period", "50000", "--cpu-quota", "25000", "--cpuset-cpus", "1",
                        "--cpuset-mems", "0", "--memory-reservation", "32m", "busybox",
                        "sleep", "60").stdout.decode().strip()
    files = ["/sys/fs/cgroup/cpu/cpu.cfs_period_us", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
             "/sys/fs/cgroup/cpuset/cpuset.cpus", "/sys/fs/cgroup/cpuset/cpuset.mems",
             "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes"]
    try:
        assert engine.docker("exec", cid, "cat", *files).stdout.split() == \
            [b"50000", b"25000", b"1", b"0", str(32 << 20).encode()]
        host = json.loads(engine.docker("inspect", cid).stdout)[0]["HostConfig"]
        assert [host[k] for k in ("CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems", "MemoryReservation")] == \
            [50000, 25000, "1", "0", 32 << 20]
        engine.docker("update", "--cpu-quota", "40000", "--memory-reservation", "16m", cid)
        assert engine.docker("exec", cid, "cat", *files).stdout.split() == \
            [b"50000", b"40000", b"1", b"0", str(16 << 20).encode()]
    finally:
        engine.docker("rm", "-f", cid)
    cpus = os.cpu_count() or 1
    for flags, message in [
        (["--cpu-period", "500"], "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
        (["--cpu-quota", "500"], "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        (["--cpus", "1", "--cpu-period", "100000"], "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        (["--cpuset-cpus", f"0-{cpus + 1}"], f"Requested CPUs are not available - requested 0-{cpus + 1}"),
        (["--cpuset-cpus", "zz"], "Invalid value zz for cpuset cpus: invalid format: zz"),
        (["--memory-reservation", "1m"], "Minimum memory reservation allowed is 6MB"),
        (["--memory", "10m", "--memory-reservation", "20m"],
         "Minimum memory limit can not be less than memory reservation limit, see usage"),
    ]:
        bad = engine.docker("create", *flags, "busybox", "true", check=False)
        assert bad.returncode == 1 and message.encode() in bad.stderr, (flags, bad.stderr)


def test_group_add(engine: Engine) -> None:
    """--group-add (compose's group_add): by name from the container's /etc/group or by number,
    for the container's process and its execs; an unknown name fails the start."""
    assert _run(engine, "--group-add", "1234", "--group-add", "daemon", "busybox", "id") == \
        "uid=0(root) gid=0(root) groups=0(root),1(daemon),1234\n"
    assert _run(engine, "-u", "1000:1000", "--group-add", "5", "busybox", "id") == "uid=1000 gid=1000 groups=5,1000\n"
    cid = engine.docker("run", "-d", "--group-add", "77", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        assert engine.docker("exec", "-u", "1000", cid, "id").stdout == b"uid=1000 gid=0(root) groups=0(root),77\n"
        assert json.loads(engine.docker("inspect", cid).stdout)[0]["HostConfig"]["GroupAdd"] == ["77"]
    finally:
        engine.docker("rm", "-f", cid)
    bad = engine.docker("run", "--rm", "--group-add", "zzz", "busybox", "true", check=False)
    # one line: the CLI's wait for the removal reports no error of its own (it did on dockyard);
    # against dockerd the docker CLI 20.10 sometimes adds its own 'error waiting for container:
    # context canceled' (a race of its own, seen in 1 CI of 4), which is not the daemon's answer
    lines = bad.stderr.decode().strip().splitlines()
    if engine.name == "dockerd":
        lines = [line for line in lines if "error waiting for container: context canceled" not in line]
    assert bad.returncode == 125 and lines == [
        "docker: Error response from daemon: Unable to find group zzz: no matching entries in group file."]


def test_devices(engine: Engine) -> None:
    """--device (compose's devices): a host device at another path, with its cgroup access, a
    folder of devices, inspect's Devices; a device that is not there fails the start."""
    assert _run(engine, "--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c",
                "stat -c '%t,%T %a' /dev/mynull && echo hi > /dev/mynull && echo ok") == "1,3 666\nok\n"
    assert "tun" in _run(engine, "--device", "/dev/net:/dev/n", "busybox", "ls", "/dev/n")
    cid = engine.docker("create", "--device", "/dev/null:/dev/mynull:rw", "busybox", "true").stdout.decode().strip()
    try:
        assert json.loads(engine.docker("inspect", cid).stdout)[0]["HostConfig"]["Devices"] == [
            {"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"}]
    finally:
        engine.docker("rm", cid)
    bad = engine.docker("run", "--rm", "--device", "/dev/nonexistent", "busybox", "true", check=False)
    assert bad.returncode == 127 and b'error gathering device information while adding custom device ' \
        b'"/dev/nonexistent": no such file or directory' in bad.stderr, bad.stderr
    bad = engine.docker("create", "--device", "/dev/null:/dev/x:zz", "busybox", "true", check=False)
    assert bad.returncode == 125 and b"bad mode specified: zz" in bad.stderr   # the CLI's own check


def test_host_pid_ipc_and_uts(engine: Engine) -> None:
    """--pid host, --ipc host and --uts host (compose's pid: host, ipc: host): the host's
    namespaces (and its /dev/shm), the host's hostname with the container's /etc/hostname kept,
    as dockerd does; --hostname with --uts host refused with its message; a container with the
    host's pids stops and leaves nothing running."""
    host_ipc = os.readlink("/proc/self/ns/ipc")
    assert int(_run(engine, "--pid", "host", "busybox", "sh", "-c", "ps | wc -l")) > 20   # the host's
    assert _run(engine, "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc") == host_ipc + "\n"
    host_shm = os.statvfs("/dev/shm")
    df = _run(engine, "--ipc", "host", "busybox", "df", "-k", "/dev/shm").split()
    assert int(df[-5]) == host_shm.f_blocks * host_shm.f_frsize // 1024
    lines = _run(engine, "--uts", "host", "busybox", "sh", "-c", "hostname; cat /etc/hostname").split()
    assert lines[0] == os.uname().nodename and lines[1] != lines[0]
    bad = engine.docker("run", "--rm", "--uts", "host", "--hostname", "foo", "busybox", "true", check=False)
    assert bad.returncode == 125 and b"conflicting options: hostname and the UTS mode" in bad.stderr
    cid = engine.docker("create", "--pid", "host", "--ipc", "host", "--uts", "host", "busybox",
                        "sleep", "1234").stdout.decode().strip()
    try:
        host = json.loads(engine.docker("inspect", cid).stdout)[0]["HostConfig"]
        assert (host["PidMode"], host["IpcMode"], host["UTSMode"]) == ("host", "host", "host")
        engine.docker("start", cid)
        engine.docker("stop", "-t", "1", cid)
        assert b"sleep 1234" not in subprocess.run(["ps", "-eo", "args"], capture_output=True).stdout
    finally:
        engine.docker("rm", "-f", cid)


def test_domainname_oom_kill_disable_and_default_sysctls(engine: Engine) -> None:
    """--domainname (as dockerd sets it: the kernel.domainname sysctl), --oom-kill-disable, and
    dockerd 20.10's default sysctls in a network namespace of the container's own: a user may
    bind a port under 1024 and ping (unprivileged_port_start 0, ping_group_range open); the user's
    --sysctl wins over them, and the host's network keeps the host's values."""
    assert _run(engine, "--domainname", "ex.org", "busybox", "cat", "/proc/sys/kernel/domainname") == "ex.org\n"
    assert _run(engine, "--network", "none", "busybox", "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start",
                "/proc/sys/net/ipv4/ping_group_range") == "0\n0\t2147483647\n"
    assert "LISTEN" in _run(engine, "-u", "1000", "busybox", "sh", "-c",
                            "nc -l -p 80 & sleep 0.5; netstat -ltn | grep :80; kill %1")
    assert _run(engine, "--network", "none", "--sysctl", "net.ipv4.ip_unprivileged_port_start=1024", "busybox",
                "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start") == "1024\n"
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        host_start = f.read()
    assert _run(engine, "--network", "host", "busybox", "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start") == host_start
    cid = engine.docker("run", "-d", "--domainname", "ex.org", "--oom-kill-disable", "--memory", "64m",
                        "busybox", "sleep", "60").stdout.decode().strip()
    try:
        assert engine.docker("exec", cid, "head", "-1", "/sys/fs/cgroup/memory/memory.oom_control").stdout == \
            b"oom_kill_disable 1\n"
        info = json.loads(engine.docker("inspect", cid).stdout)[0]
        assert (info["Config"]["Domainname"], info["HostConfig"]["OomKillDisable"]) == ("ex.org", True)
    finally:
        engine.docker("rm", "-f", cid)


def test_platform_of_create(engine: Engine) -> None:
    """`docker create --platform` (the API's `platform`, which dockyard ignored): an image of
    another os/architecture is not that image (dockerd answers 404, so the CLI tries a pull),
    names are read as containerd reads them (case, x86_64, an os alone), bad ones refused."""
    for platform, code in [("linux/arm64", 404), ("linux/arm64/v8", 404), ("linux", 201),
                           ("Linux/x86_64", 201), ("bogus", 400)]:
        status, body = engine.post(f"/containers/create?platform={platform}",
                                   json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode())
        assert status == code, (platform, status, body)
        if code == 404:
            assert body["message"] == ("image with reference busybox was found but does not match the "
                                       f"specified platform: wanted {platform}, actual: linux/amd64"), body
        if code == 400:
            assert body["message"] == '"bogus": unknown operating system or architecture: invalid argument'
        if code == 201:
            engine.docker("rm", body["Id"])


def test_create_warnings(engine: Engine) -> None:
    """dockerd's create answers Warnings the docker CLI prints (dockyard's were always empty)."""
    for args, warning in [(["--network", "host", "-p", "8080:80"],
                           b"WARNING: Published ports are discarded when using host network mode\n"),
                          (["--oom-kill-disable"],
                           b"WARNING: OOM killer is disabled for the container, but no memory limit is "
                           b"set, this can result in the system running out of resources.\n"),
                          (["--memory", "64m", "--oom-kill-disable"], b"")]:
        proc = engine.docker("create", *args, "busybox", "true")
        # (the CLI adds its own warning before the daemon's for --oom-kill-disable alone)
        assert proc.stderr.endswith(warning) if warning else proc.stderr == b"", (args, proc.stderr)
        engine.docker("rm", proc.stdout.decode().strip())
