"""Pure parts of the runtime: user resolution (runc's GetExecUser rules), spec, mount options."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import InvalidParameter, RuntimeFailure
from dockyard.runtime.rootfs import mount_options
from dockyard.runtime.spec import Bind, process_env
from dockyard.runtime.users import ExecUser, resolve_user


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text(
        "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\nstaff:x:50:app\n")
    return tmp_path


def test_names_and_numbers(rootfs: Path) -> None:
    # runc's GetExecUser (BuildKit's RUN): the groups listing the user, the primary one left out
    assert resolve_user(rootfs, "") == ExecUser(0, 0, (), "/root")
    assert resolve_user(rootfs, "app") == ExecUser(1000, 1000, (10, 50), "/home/app")
    assert resolve_user(rootfs, "1000") == ExecUser(1000, 1000, (10, 50), "/home/app")
    assert resolve_user(rootfs, "app:wheel").gid == 10
    assert resolve_user(rootfs, "app:77").gid == 77
    # a numeric user absent from passwd passes through with gid 0 (runc)
    assert resolve_user(rootfs, "4242") == ExecUser(4242, 0, (), "/")


def test_daemon_groups(rootfs: Path) -> None:
    # dockerd 20.10 (`id` in a classic RUN step, docker run --user): the supplementary groups are
    # the primary group and the groups listing the user, in /etc/group's order; `user:group`
    # gives that group alone
    def daemon(user: str) -> ExecUser:
        return resolve_user(rootfs, user, daemon=True)

    assert daemon("") == ExecUser(0, 0, (0,), "/root")
    assert daemon("app") == ExecUser(1000, 1000, (1000, 10, 50), "/home/app")
    assert daemon("1000") == ExecUser(1000, 1000, (1000, 10, 50), "/home/app")
    assert daemon("app:wheel") == ExecUser(1000, 10, (10,), "/home/app")
    assert daemon("app:77") == ExecUser(1000, 77, (77,), "/home/app")
    # a numeric user absent from passwd passes through with gid 0 (runc), in group root
    assert daemon("4242") == ExecUser(4242, 0, (0,), "/")
    # ids with no entries anywhere: `uid=1234 gid=1234 groups=1234` in Docker
    assert daemon("1234:1234") == ExecUser(1234, 1234, (1234,), "/")


def test_unknown_names_have_dockers_messages(rootfs: Path) -> None:
    with pytest.raises(InvalidParameter, match="unable to find user xxx: no matching entries in passwd file"):
        resolve_user(rootfs, "xxx")
    with pytest.raises(InvalidParameter, match="unable to find group nog: no matching entries in group file"):
        resolve_user(rootfs, "app:nog")


def test_passwd_symlink_resolves_inside_the_rootfs(tmp_path: Path) -> None:
    """An absolute symlink /etc/passwd -> /elsewhere/passwd means the container's, not the host's."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "passwd").write_text("svc:x:7:8::/srv:/bin/sh\n")
    os.symlink("/elsewhere/passwd", tmp_path / "etc" / "passwd")
    assert resolve_user(tmp_path, "svc", daemon=True) == ExecUser(7, 8, (8,), "/srv")
    os.unlink(tmp_path / "etc" / "passwd")
    os.symlink("../../../../../../etc/passwd", tmp_path / "etc" / "passwd")
    with pytest.raises(InvalidParameter):  # the host's root user must not be found through ..
        resolve_user(tmp_path, "root")


def test_process_env_like_docker() -> None:
    env = process_env(["PATH=/x", "A=1"], ["A=2", "B=3"], "abc", True, "/root")
    assert env == ["PATH=/x", "HOSTNAME=abc", "TERM=xterm", "A=2", "B=3", "HOME=/root"]


def test_bind_parsing() -> None:
    assert Bind.parse("/h:/c:ro") == Bind("/h", "/c", True)
    for bad in ("/h", "rel:/c", "/h:c", "/h:/c:zz"):
        with pytest.raises(InvalidParameter):
            Bind.parse(bad)


def test_mount_options_fit_a_page_for_100_plus_layers(tmp_path: Path) -> None:
    lowers = ["containers/" + "a" * 64 + "/init"] + [f"l/{'A' * 26}"] * 120
    opts = mount_options(tmp_path, lowers, tmp_path / "c" / "upper", tmp_path / "c" / "work")
    assert len(opts) < 4096 and opts.startswith("lowerdir=containers/")
    with pytest.raises(RuntimeFailure, match="too many layers"):
        mount_options(tmp_path, lowers + lowers, tmp_path / "u", tmp_path / "w")
