"""`dockyard build -m/--memory-swap/--shm-size/--ulimit/-c/--cpu-period/--cpu-quota/--cpuset-*`,
in process and as a client of serve, against `docker build` on dockerd 20.10: what a RUN step sees
of its cgroup, /dev/shm and rlimits (dockyard's CLI said "unknown flag" for all of them, though
serve applied the docker CLI's). Classic mode applies them as dockerd does; dockerd 20.10's
BuildKit mode ignores them (its RUN sees no limit), dockyard refuses them there. The flags
dockyard cannot honour (--squash, --security-opt, --isolation other than default,
--cgroup-parent) and values the docker CLI cannot parse are refused in docker's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client.build_sees import dockerd_sees, dockyard_sees
from tests.conftest import at_once

FLAGS = ["--no-cache", "-m", "10m", "--memory-swap", "20m", "--shm-size", "8m", "--ulimit", "nofile=100:200",
         "-c", "512", "--cpu-period", "50000", "--cpu-quota", "25000", "--cpuset-cpus", "0", "--cpuset-mems", "0"]
CGROUP = "/sys/fs/cgroup"
DOCKERFILE = ("FROM busybox\nRUN (cat {0}/memory/memory.limit_in_bytes; "
              "cat {0}/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo no-swap-accounting; "
              "cat {0}/cpu/cpu.shares {0}/cpu/cpu.cfs_period_us {0}/cpu/cpu.cfs_quota_us "
              "{0}/cpuset/cpuset.cpus {0}/cpuset/cpuset.mems; df -k /dev/shm | tail -1 | awk '{{print $2}}'; "
              "ulimit -n; ulimit -Hn) > /seen\n").format(CGROUP)


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    return ctx


@pytest.mark.skipif(not Path(CGROUP, "memory", "memory.limit_in_bytes").exists(), reason="cgroup v1 only")
def test_run_sees_the_limits_as_in_dockerd(dockyard, busybox, daemon, dockerd, tmp_path: Path) -> None:
    ctx = _context(tmp_path)

    def theirs(buildkit: str) -> str:
        return dockerd_sees(dockerd, FLAGS, ctx, "/seen", {"DOCKER_BUILDKIT": buildkit})

    def ours(*client: str) -> str:
        return dockyard_sees(dockyard, FLAGS, ctx, "/seen", *client)

    reference, ignored, in_process, as_client = at_once(
        lambda: theirs("0"), lambda: theirs("1"), ours, lambda: ours("-H", daemon.url))
    seen = reference.split()
    assert seen[0] == "10485760" and seen[1] in ("20971520", "no-swap-accounting"), reference
    assert seen[2:] == ["512", "50000", "25000", "0", "0", "8192", "100", "200"], reference
    assert in_process == as_client == reference
    # dockerd 20.10's BuildKit mode takes the flags and ignores them: its RUN has no limit
    assert ignored.split()[0] != "10485760" and ignored.split()[-3:] != ["8192", "100", "200"], ignored
    # dockyard refuses them there, in process and as a client, before any work
    dockyard.env["DOCKER_BUILDKIT"] = "1"
    for client in ((), ("-H", daemon.url)):
        r = dockyard(*client, "build", "-m", "10m", "--ulimit", "nofile=1", "--add-host", "a:1.2.3.4", str(ctx),
                     check=False)
        assert (r.returncode, r.stderr) == (1, "Error: --memory, --ulimit: not supported in BuildKit mode "
                                               "(dockerd 20.10's BuildKit ignores them): build with the classic "
                                               "builder (DOCKER_BUILDKIT=0)\n"), r


# (flags, what dockerd 20.10 and the docker CLI answer): the CLI's flag errors (status 125), the
# CLI's and the daemon's refusals (status 1); dockyard gives the same line (`Error: ` before it)
REFUSED = [
    (["-m", "1x"], 'invalid argument "1x" for "-m, --memory" flag: invalid size: \'1x\''),
    (["-m", "1.2.3"], 'invalid argument "1.2.3" for "-m, --memory" flag: strconv.ParseFloat: parsing "1.2.3": '
                      "invalid syntax"),
    (["--memory-swap", "-2"], 'invalid argument "-2" for "--memory-swap" flag: invalid size: \'-2\''),
    (["--shm-size", " 8m"], 'invalid argument " 8m" for "--shm-size" flag: invalid size: \' 8m\''),
    (["-c", "08"], 'invalid argument "08" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "08": '
                   "invalid syntax"),
    (["--cpu-quota", "1.5"], 'invalid argument "1.5" for "--cpu-quota" flag: strconv.ParseInt: parsing "1.5": '
                             "invalid syntax"),
    (["--ulimit", "nofile"], 'invalid argument "nofile" for "--ulimit" flag: invalid ulimit argument: nofile'),
    (["--ulimit", "bogus=1"], 'invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus'),
    (["--ulimit", "nofile=2:1"], 'invalid argument "nofile=2:1" for "--ulimit" flag: ulimit soft limit must be '
                                 "less than or equal to hard limit: 2 > 1"),
    (["--ulimit", "nofile=1:2:3"], 'invalid argument "nofile=1:2:3" for "--ulimit" flag: too many limit value '
                                   "arguments - 1:2:3, can only have up to two, `soft[:hard]`"),
    (["--squash"], '"--squash" is only supported on a Docker daemon with experimental features enabled'),
    (["--security-opt", "seccomp=unconfined"],
     "The daemon on this platform does not support setting security options on build"),
    (["--isolation", "hyperv"], 'Unsupported isolation: "hyperv"'),
    (["-m", "1k"], "Minimum memory limit allowed is 6MB"),
    (["--memory-swap", "8m"], "You should always set the Memory limit when using Memoryswap limit, see usage"),
    (["--cpu-period", "10"], "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
]


def test_refused_as_docker_refuses(dockyard, busybox, daemon, dockerd, tmp_path: Path) -> None:
    ctx = _context(tmp_path)

    def theirs(part: list) -> list:
        out = []
        for flags, _ in part:
            r = dockerd("build", "--network", "host", *flags, str(ctx), check=False)
            out.append((r.returncode, r.stderr.splitlines()[-2 if r.returncode == 125 else -1]))
        return out

    def ours(part: list, *client: str) -> list:
        runs = [dockyard(*client, "build", *flags, str(ctx), check=False) for flags, _ in part]
        assert all("Traceback" not in r.stderr and r.stderr.startswith("Error: ") for r in runs), runs
        return [(r.returncode, r.stderr.splitlines()[0].removeprefix("Error: ")) for r in runs]

    reference, in_process, as_client = at_once(lambda: theirs(REFUSED), lambda: ours(REFUSED),
                                               lambda: ours(REFUSED, "-H", daemon.url))
    for (flags, words), (status, line) in zip(REFUSED, reference):
        # dockerd's daemon-side errors are "Error response from daemon: ..."
        assert line.removeprefix("Error response from daemon: ") == words, (flags, line)
        expected = (125 if status == 125 else 1, words)
        index = REFUSED.index((flags, words))
        assert in_process[index] == as_client[index] == expected, (flags, in_process[index], as_client[index])
    # --cgroup-parent: dockerd's classic builder applies it; dockyard's containers have no parent cgroup
    for client in ((), ("-H", daemon.url)):
        r = dockyard(*client, "build", "--cgroup-parent", "/x", str(ctx), check=False)
        assert (r.returncode, r.stderr) == (1, "Error: --cgroup-parent is not supported by dockyard: its "
                                               "containers have no parent cgroup\n"), r
    # --isolation default (any case) and --compress are taken
    assert dockyard("-H", daemon.url, "build", "-q", "--isolation", "Default", "--compress", str(ctx)).returncode == 0
