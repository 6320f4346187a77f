"""Volumes of the local driver made with options (`docker volume create --opt type=... --opt
device=... --opt o=...`, compose's `driver_opts`, `--mount volume-opt=...`): what they name is
mounted at the volume's _data while a container holds it, as dockerd's local driver does, and
refused in its words when the options are wrong or the mount fails. dockyard refused every
option before. Through Debian's docker CLI 20.10 on dockyard serve and the reference dockerd."""

from __future__ import annotations

from pathlib import Path

from tests.interop.conftest import Engine


def _mountpoint(engine: Engine, name: str) -> str:
    return engine.docker("volume", "inspect", "-f", "{{.Mountpoint}}", name).stdout.decode().strip()


def _mounted(path: str) -> bool:
    return any(line.split()[4] == path for line in Path("/proc/self/mountinfo").read_text().splitlines())


def test_options_refused_as_dockerd(engine: Engine) -> None:
    for opts, said in ((["foo=bar"], 'invalid option: "foo"'),
                       (["type=tmpfs"], 'missing required option: "device"'),
                       (["device=tmpfs"], 'missing required option: "type"'),
                       (["o=size=1m"], 'missing required option: "device"'),
                       (["type=tmpfs", "device=tmpfs", "size=1m"], "quota size requested but no quota support")):
        args = [a for o in opts for a in ("--opt", o)]
        proc = engine.docker("volume", "create", *args, "vo-bad", check=False)
        assert proc.returncode == 1
        assert proc.stderr.decode().strip() == f"Error response from daemon: create vo-bad: {said}"
    assert engine.docker("volume", "ls", "-q", "--filter", "name=vo-bad").stdout == b""


def test_bind_volume(engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "f").write_text("host\n")
    engine.docker("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt",
                  f"device={source}", "vo-bind")
    engine.docker("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt",
                  "device=/nonexistent-vo", "vo-missing")
    try:
        options = engine.docker("volume", "inspect", "-f", "{{json .Options}}", "vo-bind").stdout
        assert options == f'{{"device":"{source}","o":"bind","type":"none"}}\n'.encode()
        out = engine.docker("run", "--rm", "--network", "none", "-v", "vo-bind:/v", "busybox",
                            "sh", "-c", "cat /v/f; echo c > /v/g").stdout
        assert out == b"host\n" and (source / "g").read_text() == "c\n"
        assert not _mounted(_mountpoint(engine, "vo-bind"))     # unmounted with its last user
        failed = engine.docker("run", "--rm", "--network", "none", "-v", "vo-missing:/v", "busybox",
                               "true", check=False)
        where = _mountpoint(engine, "vo-missing")
        # 127: the docker CLI reads "no such file or directory" in a start's error as a missing command
        assert failed.returncode == 127 and (
            f"Error response from daemon: error while mounting volume '{where}': failed to mount "
            f"local volume: mount /nonexistent-vo:{where}, flags: 0x1000: no such file or directory"
        ) in failed.stderr.decode()
        engine.docker("volume", "rm", "vo-bind")
        assert sorted(p.name for p in source.iterdir()) == ["f", "g"]   # the host's files stay
    finally:
        engine.docker("volume", "rm", "-f", "vo-bind", "vo-missing", check=False)


def test_tmpfs_volume_lives_while_held(engine: Engine) -> None:
    """Two containers share the mount; it goes (and its files) when the last one stops."""
    engine.docker("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt",
                  "o=size=1m,uid=1000", "vo-tmp")
    try:
        engine.docker("run", "-d", "--name", "vo-holder", "--network", "none", "-v", "vo-tmp:/v",
                      "busybox", "sh", "-c", "echo x > /v/y; exec sleep 60")
        seen = engine.docker("run", "--rm", "--network", "none", "-v", "vo-tmp:/v", "busybox", "sh", "-c",
                             "for i in 1 2 3 4 5 6 7 8 9 10; do [ -f /v/y ] && break; sleep 0.2; done; "
                             "stat -c %u /v; cat /v/y; df /v | tail -1 | cut -d' ' -f1").stdout
        assert seen == b"1000\nx\ntmpfs\n"
        assert _mounted(_mountpoint(engine, "vo-tmp"))          # the holder still runs
        engine.docker("rm", "-f", "vo-holder")
        assert engine.docker("run", "--rm", "--network", "none", "-v", "vo-tmp:/v", "busybox",
                             "ls", "/v").stdout == b""
        assert not _mounted(_mountpoint(engine, "vo-tmp"))
        # the same options through --mount make the volume
        out = engine.docker("run", "--rm", "--network", "none", "--mount",
                            "type=volume,src=vo-tmp2,dst=/v,volume-opt=type=tmpfs,volume-opt=device=tmpfs",
                            "busybox", "sh", "-c", "df /v | tail -1 | cut -d' ' -f1").stdout
        assert out == b"tmpfs\n"
        assert engine.docker("volume", "inspect", "-f", "{{json .Options}}", "vo-tmp2").stdout == \
            b'{"device":"tmpfs","type":"tmpfs"}\n'
    finally:
        engine.docker("rm", "-f", "vo-holder", check=False)
        engine.docker("volume", "rm", "-f", "vo-tmp", "vo-tmp2", check=False)
