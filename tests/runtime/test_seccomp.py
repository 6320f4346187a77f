"""Seccomp (runtime/seccomp.py): containers and build steps run under Docker's default profile.

Matched against dockerd 20.10: the OCI `linux.seccomp` section it gives a container (read from
its bundle's config.json while the container runs) is, rule for rule, the one dockyard gives for
the same capabilities and the same --security-opt; and the same calls fail in both (a user
namespace: EPERM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime.seccomp import oci_seccomp, parse_profile
from tests.conftest import Dockyard, at_once
from tests.dockerd import DockerDaemon

# every capability the default profile has a rule for, added at once (one container for all)
GATED = ["DAC_READ_SEARCH", "SYS_BOOT", "SYS_MODULE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO",
         "SYS_TIME", "SYS_TTY_CONFIG", "SYS_NICE", "SYSLOG"]
# a profile of the user's: everything allowed but mkdir, which fails with EACCES (13)
PROFILE = {"defaultAction": "SCMP_ACT_ALLOW",
           "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
           "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}


def _rules(section: dict | None) -> tuple | None:
    """A seccomp section as what it decides: the default, the architectures, and each syscall's
    (action, args, errno) rules; the grouping of names into rules, and a rule given twice (dockerd
    repeats ptrace for CAP_SYS_PTRACE), are not decisions."""
    if section is None:
        return None
    rules = sorted({(name, r["action"], json.dumps(r.get("args") or None, sort_keys=True), r.get("errnoRet"))
                   for r in section.get("syscalls") or [] for name in r["names"]})
    return section["defaultAction"], section.get("defaultErrnoRet"), tuple(section.get("architectures") or ()), tuple(rules)


def _dockerd_section(dockerd: DockerDaemon, *options: str) -> dict | None:
    cid = dockerd("run", "-d", *options, "busybox:latest", "sleep", "60").stdout.strip()
    try:
        bundle = dockerd.base / "exec" / "containerd" / "daemon" / "io.containerd.runtime.v2.task" / "moby" / cid
        return json.loads((bundle / "config.json").read_text())["linux"].get("seccomp")
    finally:
        dockerd("rm", "-f", cid)


def _dockyard_section(dockyard: Dockyard, *options: str) -> dict | None:
    cid = dockyard("run", "-d", *options, "busybox:latest", "sleep", "60").stdout.strip()
    try:
        return json.loads((dockyard.root / "containers" / cid / "config.json").read_text())["linux"].get("seccomp")
    finally:
        dockyard("rm", "-f", cid)


@pytest.mark.parametrize("options", [
    (),
    ("--cap-drop", "ALL"),
    ("--cap-add", "SYS_ADMIN"),
    tuple(arg for cap in GATED for arg in ("--cap-add", cap)),
    ("--cap-drop", "SYS_CHROOT", "--security-opt", "no-new-privileges"),
    ("--security-opt", "seccomp=unconfined"),
    ("--security-opt", "seccomp=PROFILE"),
    ("--security-opt", "seccomp=EMPTY"),
], ids=["default", "drop-all", "sys-admin", "gated-caps", "no-chroot", "unconfined", "profile-file", "empty-profile"])
def test_the_section_is_dockerds(dockyard: Dockyard, busybox: str, dockerd: DockerDaemon, tmp_path: Path,
                                 options: tuple[str, ...]) -> None:
    profile, empty = tmp_path / "profile.json", tmp_path / "empty.json"
    profile.write_text(json.dumps(PROFILE, indent=2))
    empty.write_text("{}")   # dockerd: no default action and no rule is no filter
    options = tuple(o.replace("PROFILE", str(profile)).replace("EMPTY", str(empty)) for o in options)
    ours, theirs = at_once(lambda: _dockyard_section(dockyard, *options),   # the engines share nothing
                           lambda: _dockerd_section(dockerd, *options))
    assert _rules(ours) == _rules(theirs)
    if "unconfined" in " ".join(options) or "empty" in " ".join(options):
        assert ours is None
    else:
        assert ours is not None and len(ours["syscalls"]) > 0


def test_a_user_namespace_is_refused_as_by_docker(dockyard: Dockyard, busybox: str, dockerd: DockerDaemon) -> None:
    # without the filter any container could make a user namespace (and in it, mount, and reach
    # more of the kernel): dockerd's default profile refuses clone/unshare with namespace flags
    argv = ("busybox:latest", "busybox", "unshare", "-U", "true")

    def both_ways(side) -> None:  # noqa: ANN001 - dockyard or dockerd
        refused = side("run", "--rm", *argv, check=False)
        assert refused.returncode == 1 and "Operation not permitted" in refused.stderr, refused
        assert side("run", "--rm", "--security-opt", "seccomp=unconfined", *argv).returncode == 0

    at_once(lambda: both_ways(dockyard), lambda: both_ways(dockerd))  # the engines share nothing


def test_build_steps_are_filtered_in_both_modes(dockyard: Dockyard, busybox: str, dockerd: DockerDaemon,
                                                tmp_path: Path) -> None:
    # dockerd's classic builder runs a RUN as a container (the default profile); BuildKit's
    # executor applies the default profile unless the step is `--security=insecure`. (The
    # reference dockerd has no bridge: its BuildKit steps take the host's network.)
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN busybox unshare -U true\n")
    for env in ({"DOCKER_BUILDKIT": "0"}, {"DOCKER_BUILDKIT": "1"}):
        result, theirs = at_once(lambda: dockyard("build", "--no-cache", str(tmp_path), env=env, check=False),
                                 lambda: dockerd("build", "--network", "host", "--no-cache", str(tmp_path),
                                                 env=env, check=False))
        assert result.returncode != 0 and "Operation not permitted" in result.stdout + result.stderr, result
        assert theirs.returncode != 0 and "exit code: 1" in theirs.stdout + theirs.stderr.replace(
            "returned a non-zero code: 1", "exit code: 1"), theirs
    (tmp_path / "Dockerfile").write_text(
        "# syntax=docker/dockerfile:1\nFROM busybox\nRUN --security=insecure busybox unshare -U true\n")
    dockyard("build", "--no-cache", "--allow", "security.insecure", str(tmp_path), env={"DOCKER_BUILDKIT": "1"})


def test_a_profile_file_is_read_by_the_cli_and_kept(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(PROFILE, indent=2))
    made = dockyard("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox:latest",
                    "busybox", "mkdir", "/made", check=False)
    assert made.returncode == 1 and "Permission denied" in made.stderr, made
    cid = dockyard("create", "--security-opt", f"seccomp={profile}", "busybox:latest", "true").stdout.strip()
    # inspect shows what the CLI sent: the file's JSON, compacted (as the docker CLI sends it)
    opts = json.loads(dockyard("inspect", cid).stdout)[0]["HostConfig"]["SecurityOpt"]
    assert opts == ["seccomp=" + json.dumps(PROFILE, separators=(",", ":"))]
    dockyard("rm", cid)


def test_bad_profiles_are_refused_before_anything_is_made(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    # the docker CLI's messages for a file it cannot read or parse (exit 125, as a run's create);
    # a profile with rules but no default action: dockerd passes it on and runc fails at start,
    # dockyard refuses it at create
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "no-default.json").write_text('{"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}')
    for name, message in (("none.json", "Error: opening seccomp profile"), ("broken.json", "Error: compacting json"),
                          ("no-default.json", "Error: decoding seccomp profile failed: the profile has no defaultAction")):
        refused = dockyard("run", "--security-opt", f"seccomp={tmp_path}/{name}", "busybox:latest", "true", check=False)
        assert refused.returncode == 125 and refused.stderr.startswith(message), refused
    assert dockyard("ps", "-aq").stdout == ""


def test_profile_rules_follow_capabilities_arch_and_kernel() -> None:
    default = oci_seccomp("", ["CAP_CHOWN"])
    names = {n for r in default["syscalls"] for n in r["names"]}
    assert "chroot" not in names and "mount" not in names and "keyctl" not in names and "read" in names
    admin = oci_seccomp("", ["CAP_SYS_ADMIN"])
    clone = [r for r in admin["syscalls"] if "clone" in r["names"]]
    assert clone and all("args" not in r for r in clone)
    assert oci_seccomp("unconfined", ["CAP_CHOWN"]) is None
    text = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
        {"names": ["b"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64", "arm64"]}},
        {"names": ["c"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_CHOWN", "CAP_KILL"]}},
        {"name": "d", "action": "SCMP_ACT_ALLOW"}]})
    kept = {n for r in oci_seccomp(text, ["CAP_CHOWN"])["syscalls"] for n in r["names"]}
    assert kept == {"d"}
    assert oci_seccomp("{}", ["CAP_CHOWN"]) is None
    for bad in ("[]", '{"defaultAction": 1}', '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"]}]}',
                # dockerd: cannot unmarshal a string into names ([]string), not one name per letter
                '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "mkdir", "action": "SCMP_ACT_ERRNO"}]}'):
        with pytest.raises(InvalidParameter):
            parse_profile(bad)
