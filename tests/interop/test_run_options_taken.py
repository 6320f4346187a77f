"""`docker run` options dockerd 20.10 takes on this host that dockyard refused (found running the
docker 28 CLI, the `docker` first on this machine's PATH, against both engines), each as dockerd:
- `--add-host NAME:host-gateway` (compose's `extra_hosts: host.docker.internal:host-gateway`):
  a host address the container reaches (dockerd names docker0's; dockyard the gateway of the
  container's first network, or 127.0.0.1 with the host's network);
- `--cidfile`: the client writes the file, the daemon keeps the path for inspect;
- `--security-opt label=disable|apparmor=unconfined` and `--userns host`: no confinement, no
  user namespace, which both engines give; kept as given for inspect;
- `--blkio-weight` on a kernel without it: discarded with dockerd's warning."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.interop.conftest import Engine


def _host_addresses() -> set[str]:
    out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, check=True).stdout.decode()
    return {line.split()[3].split("/")[0] for line in out.splitlines()}


def _gateway(engine: Engine, *args: str) -> tuple[str, str]:
    """The address hgw names in the container's /etc/hosts, and whether a ping reached it."""
    try:
        engine.docker("run", "-d", "--name", "hgw", *args, "--add-host", "hgw:host-gateway", "busybox",
                      "sleep", "100")
        line = engine.docker("exec", "hgw", "grep", "-w", "hgw", "/etc/hosts").stdout.decode()
        ping = engine.docker("exec", "hgw", "ping", "-c1", "-W3", "hgw", check=False).returncode
        address, name = line.strip().split("\t")
        assert name == "hgw" and address in _host_addresses(), (line, _host_addresses())
        return address, "reached" if ping == 0 else "not reached"
    finally:
        engine.docker("rm", "-f", "hgw", check=False)


def test_host_gateway_is_an_address_of_the_host(engine: Engine) -> None:
    try:
        engine.docker("network", "create", "hgw-net")
        for args in ((), ("--network", "hgw-net"), ("--network", "host")):
            assert _gateway(engine, *args)[1] == "reached", args
    finally:
        engine.docker("network", "rm", "hgw-net", check=False)


def test_options_taken_as_dockerd_takes_them(engine: Engine, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    try:
        engine.docker("run", "-d", "--name", "taken", "--cidfile", str(cidfile), "--userns", "host",
                      "--security-opt", "label=disable", "--security-opt", "apparmor=unconfined",
                      "busybox", "sleep", "100")
        shown = engine.docker("inspect", "-f", "{{json .HostConfig.SecurityOpt}} {{.HostConfig.ContainerIDFile}} "
                              "{{.HostConfig.UsernsMode}} {{.Id}}", "taken").stdout.decode().split()
        assert shown[:3] == ['["label=disable","apparmor=unconfined"]', str(cidfile), "host"]
        assert cidfile.read_text() == shown[3]
        weighted = engine.docker("run", "--rm", "--blkio-weight", "300", "busybox", "true")
        assert weighted.stderr.decode() == "WARNING: Your kernel does not support Block I/O weight or the " \
            "cgroup is not mounted. Weight discarded.\n"
    finally:
        engine.docker("rm", "-f", "taken", check=False)


def test_dockyards_own_cli_takes_them(dockyard, busybox: str, tmp_path: Path) -> None:  # noqa: ANN001
    """In process, the flags the docker CLI has (--cidfile written after the create, refused when
    the file exists with the docker CLI 20.10's words, removed when the create fails)."""
    cidfile = tmp_path / "cid"
    out = dockyard("run", "--rm", "--cidfile", str(cidfile), "--userns", "host", "--blkio-weight", "300",
                   "--add-host", "hgw:host-gateway", "--network", "host", "busybox", "grep", "-w", "hgw", "/etc/hosts")
    assert out.stdout == "127.0.0.1\thgw\n"
    assert "Weight discarded." in out.stderr
    assert len(cidfile.read_text()) == 64
    again = dockyard("run", "--rm", "--cidfile", str(cidfile), "busybox", "true", check=False)
    assert again.returncode == 125
    assert again.stderr == f"Error: container ID file found, make sure the other container isn't running " \
        f"or delete {cidfile}\n"
    failed = dockyard("create", "--cidfile", str(tmp_path / "other"), "no-such-image", check=False)
    assert failed.returncode != 0 and not (tmp_path / "other").exists()
