"""dockyard's own container commands that the docker CLI has (cp, restart, version, info, port,
rename, top, attach, update, stats) and its unknown-command line: each scenario run three ways,
the docker CLI 20.10 (/usr/bin/docker) against the reference dockerd, dockyard in process, and
dockyard as a client of `dockyard serve` on the same store; what they print (container IDs,
names of temporary folders and the daemon's error prefix aside) and their exit codes compared."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Callable

import pytest

DOCKER = "/usr/bin/docker"   # Debian's 20.10 client

Run = Callable[..., tuple[int, str, str]]


def _docker(env: dict[str, str]) -> Run:
    def run(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
        proc = subprocess.run([DOCKER, *args], env=env, input=input, capture_output=True, timeout=120)
        return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    return run


def _dockyard(dockyard, env: dict[str, str]) -> Run:  # noqa: ANN001
    def run(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
        result = dockyard.run(*args, input=input, env=env, check=False)
        return result.returncode, result.stdout, result.stderr
    return run


def _errors(text: str) -> str:
    """Error lines as dockyard prints them: the docker CLI prints the daemon's errors as 'Error
    response from daemon: ...' and its own without a prefix; dockyard's are 'Error: ...'."""
    lines = []
    for line in text.splitlines():
        line = line.removeprefix("Error response from daemon: ").removeprefix("Error: ")
        line = line.replace("See 'docker ", "See 'dockyard ")
        lines.append(f"Error: {line}")
    return "\n".join(lines)


def _ways(dockerd, server, dockyard) -> dict[str, Run]:  # noqa: ANN001
    return {"dockerd": _docker(dockerd.env), "in process": _dockyard(dockyard, {}),
            "client": _dockyard(dockyard, {"DOCKYARD_HOST": server.url})}


def _three_ways(dockerd, server, dockyard, scenario: Callable[[Run, str], list[object]]) -> None:  # noqa: ANN001
    """`scenario(run, suffix)` run the three ways at once, each on its own names (NAME + suffix,
    the suffix taken out of what they print), and compared with dockerd's."""
    from concurrent.futures import ThreadPoolExecutor

    def way(run: Run, suffix: str) -> list[object]:
        def suffixed(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
            code, out, err = run(*args, input=input)
            return code, out.replace(suffix, ""), err.replace(suffix, "")
        return [repr(step).replace(suffix, "") for step in scenario(suffixed, suffix)]

    with ThreadPoolExecutor(3) as pool:
        futures = {name: pool.submit(way, run, f"-w{i}")
                   for i, (name, run) in enumerate(_ways(dockerd, server, dockyard).items())}
        _same({name: future.result() for name, future in futures.items()})


def _tree(root: Path) -> list[str]:
    """Each path under `root`: its type, and a file's content or a link's target."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_symlink():
            out.append(f"{rel} -> {os.readlink(path)}")
        elif path.is_dir():
            out.append(f"{rel}/")
        else:
            out.append(f"{rel}: {path.read_bytes()!r}")
    return out


def _cp_scenario(run: Run, tmp: Path, sfx: str) -> list[object]:
    out: list[object] = []

    def step(*args: str, input: bytes | None = None) -> None:
        code, stdout, stderr = run(*args, input=input)
        stdout = stdout if args[-1] != "-" else f"{len(stdout)} bytes"   # a tar: its entries compared below
        out.append((" ".join(args).replace(str(tmp), "<tmp>"), code, stdout, _errors(stderr).replace(str(tmp), "<tmp>")))

    # (600 s, as each container here that sleeps: it lives until its rm -f; at load 13-20 a
    # scenario took over 60 s, and its last steps found it gone)
    code, cid, err = run("run", "-d", "--name", "cpc" + sfx, "busybox", "sleep", "600")
    assert code == 0, err
    try:
        code, _, err = run("exec", "cpc" + sfx, "sh", "-c", "mkdir -p /data/sub && echo one > /data/sub/f && "
                           "ln -s /data/sub/f /data/link && ln -s / /data/root")
        assert code == 0, err
        host = tmp / "host"
        host.mkdir()
        (host / "up").mkdir()
        (host / "up" / "new.txt").write_text("from host\n")
        os.symlink("up/new.txt", host / "uplink")
        for args in (["cpc:/data/sub/f", "out/f"], ["cpc:/data", "out/data"], ["cpc:/data/link", "out/link"],
                     ["-L", "cpc:/data/link", "out/followed"], ["cpc:/data/sub/f", "out/"],
                     ["cpc:/data/root/etc/hostname", "out/hn"], ["cpc:/data/.", "out/dot"],
                     ["cpc:/nope", "out/x"], ["nope:/data", "out/x"], ["cpc:/data", "out/f"],
                     ["cpc:/data/sub/f", "out/newdir/"], ["cpc:/data/sub/f", "out/missing/x"],
                     ["out/f", "out/g"], ["cpc:/a", "cpc:/b"],
                     ["host/up", "cpc:/data/"], ["host/up/new.txt", "cpc:/data/h2"], ["-L", "host/uplink", "cpc:/data/"],
                     ["host/uplink", "cpc:/tmp/"], ["host/nope", "cpc:/data/"], ["host/up/new.txt", "cpc:/nodir/x"],
                     ["host/up/new.txt", "cpc:/nodir/"], ["host/up", "cpc:/data/sub/f"], ["host/up/new.txt", "cpc:/data/root/tmp/"]):
            step("cp", *[a.replace("cpc:", f"cpc{sfx}:") if ":" in a or a.startswith("-") else str(tmp / a)
                         for a in args])
        (tmp / "out").mkdir(exist_ok=True)
        code, tar_out, _ = run("cp", f"cpc{sfx}:/data/sub", "-")
        out.append(("tar out", code, sorted(re.findall(r"sub(?:/f)?", tar_out))))
        tar = subprocess.run(["tar", "cf", "-", "-C", str(host), "up"], capture_output=True, check=True).stdout
        step("cp", "-", f"cpc{sfx}:/tmp", input=tar)
        step("cp", "-", f"cpc{sfx}:/tmp/up/new.txt", input=tar)
        out.append(run("exec", "cpc" + sfx, "sh", "-c", "cd /; ls -lnR data tmp | grep -v '^total' | "
                                                   "sed 's/ [A-Z][a-z][a-z] .[0-9] [0-9:]* / /'")[:2])
        out.append([line.replace(cid.strip()[:12], "<id>") for line in _tree(tmp / "out")])
    finally:
        run("rm", "-f", "cpc" + sfx)
    return out


def test_cp_as_docker(dockerd, server, dockyard, busybox, tmp_path: Path) -> None:  # noqa: ANN001
    def scenario(run: Run, sfx: str) -> list[object]:
        (tmp_path / sfx / "out").mkdir(parents=True)
        return _cp_scenario(run, tmp_path / sfx, sfx)
    _three_ways(dockerd, server, dockyard, scenario)


def _same(results: dict[str, list[object]]) -> None:
    for way in ("in process", "client"):
        for ours, theirs in zip(results[way], results["dockerd"], strict=True):
            assert ours == theirs, way


def test_a_hostile_tar_from_a_daemon_stays_in_the_destination(tmp_path: Path) -> None:
    # what the host's side of cp extracts (a daemon's answer) goes through archive/apply's checks:
    # a name that climbs out, or a path through a link the tar made, never leaves the destination
    import io
    import tarfile

    from dockyard.engine import host_files
    from dockyard.errors import InvalidArchive

    dest = tmp_path / "dest"
    dest.mkdir()

    def tar(*members: tuple[str, bytes, str]) -> io.BytesIO:
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tf:
            for name, body, link in members:
                info = tarfile.TarInfo(name)
                if link:
                    info.type, info.linkname = tarfile.SYMTYPE, link
                else:
                    info.size = len(body)
                tf.addfile(info, io.BytesIO(body))
        data.seek(0)
        return data

    with pytest.raises(InvalidArchive):
        host_files.extract(tar(("f", b"x", ""), ("f/../../escaped", b"x", "")), str(dest), ("f", "g"))
    assert not (tmp_path / "escaped").exists()
    host_files.extract(tar(("f", b"", str(tmp_path)), ("f/through", b"x", "")), str(dest), ("f", "g"))
    assert not (tmp_path / "through").exists() and (dest / "g").is_symlink()
    assert (dest / str(tmp_path).lstrip("/") / "through").read_bytes() == b"x"   # inside, as in a chroot



def _ids_out(text: str) -> str:
    return re.sub(r"\b[0-9a-f]{64}\b", "<id>", re.sub(r"\b[0-9a-f]{12}\b", "<id>", text))


def _steps(run: Run, *commands: list[str]) -> list[tuple[str, int, str, str]]:
    out = []
    for args in commands:
        code, stdout, stderr = run(*args)
        out.append((" ".join(args), code, _ids_out(stdout), _ids_out(_errors(stderr))))
    return out


def test_restart_and_rename_as_docker(dockerd, server, dockyard, busybox) -> None:  # noqa: ANN001
    def scenario(run: Run, sfx: str) -> list[object]:
        one, two, three = (f"rr{i}{sfx}" for i in (1, 2, 3))
        # (a shell that leaves on TERM: each restart's stop takes no timeout)
        assert run("run", "-d", "--name", one, "busybox", "sh", "-c", "trap 'exit 0' TERM; sleep 60 & wait")[0] == 0
        assert run("create", "--name", two, "busybox", "true")[0] == 0
        try:
            return _steps(
                run, ["restart", "-t", "1", one, two, "nope", "nope2"], ["restart", "--time", "0", one],
                ["inspect", "-f", "{{.State.Running}} {{.RestartCount}}", one],
                ["rename", two, three], ["rename", three, one], ["rename", "nope", "x"], ["rename", three, three],
                ["rename", three, "bad name"], ["rename", three, "  "], ["rename", three, two],
                ["ps", "-a", "--format", "{{.Names}}", "--filter", f"name={two}"])
        finally:
            run("rm", "-f", one, two, three)
    _three_ways(dockerd, server, dockyard, scenario)


def test_an_unknown_command_is_named(dockyard) -> None:  # noqa: ANN001
    # the docker CLI's words ('docker: 'foo' is not a docker command.'), stderr and status 1
    for args in (["foo"], ["--root", "/nowhere", "foo", "bar"]):
        result = dockyard.run(*args, check=False)
        assert (result.returncode, result.stdout, result.stderr) == \
            (1, "", "dockyard: 'foo' is not a dockyard command.\nSee 'dockyard --help'\n")
    docker = subprocess.run([DOCKER, "foo"], capture_output=True, text=True)
    assert (docker.returncode, docker.stderr) == (1, "docker: 'foo' is not a docker command.\nSee 'docker --help'\n")


def _labels(text: str) -> list[str]:
    return [line.split(":")[0] for line in text.splitlines()]


def test_version_and_info_as_docker(dockerd, server, dockyard, cli_env) -> None:  # noqa: ANN001
    # the engine's part as the docker CLI prints serve's answers (byte for byte), the same lines
    # as it prints for dockerd's (its other components aside); the client's part is dockyard's
    ours = {way: [run(*args) for args in (["version"], ["info"], ["version", "-f", "{{.Server.Version}}"],
                                           ["info", "--format", "{{.Images}} {{json .Plugins}}"])]
            for way, run in _ways(dockerd, server, dockyard).items() if way != "dockerd"}
    assert ours["in process"] == ours["client"]
    (_, version, _), (_, info, _), short, formatted = ours["client"]
    docker = _docker(cli_env)
    theirs_version = docker("version")[1]
    assert version.split("\n\n")[1] == theirs_version.split("\n\n")[1]
    assert version.split("\n\n")[0].replace("Client: dockyard", "Client:").splitlines()[0] == "Client:"
    assert _labels(version.split("\n\n")[0])[1:] == _labels(theirs_version.split("\n\n")[0])[1:]
    assert info == docker("info")[1]
    assert short == (0, "0.1.0\n", "") and formatted == (0, docker("info", "-f", "{{.Images}} {{json .Plugins}}")[1], "")
    reference = _docker(dockerd.env)
    engine = reference("version")[1].split("\n\n")[1].split(" containerd:")[0]
    assert _labels(engine)[1:] == _labels(version.split("\n\n")[1])[1:]
    assert [label for label in _labels(reference("info")[1]) if not label.startswith("  ")][:12] == \
        [label for label in _labels(info) if not label.startswith("  ")][:12]


def test_each_command_loads_only_its_own_module(dockyard, server) -> None:  # noqa: ANN001
    # cli/main._COMMAND_MODULE: a command's module alone is imported and registered (before it,
    # `dockyard -H ... version` built the whole parser: 438 modules, now 144)
    from tests.test_start_up import _loaded

    others = tuple(f"dockyard.cli.{m}" for m in ("image_cmds", "container_cmds", "network_cmds", "registry_cmds",
                                                 "system_cmds", "build_cmd", "cp_cmd", "lifecycle_cmds",
                                                 "version_cmds", "observe_cmds", "attach_cmd"))
    for argv, own in ((["-H", server.url, "version"], "version_cmds"), (["info", "--help"], "version_cmds"),
                      (["cp", "--help"], "cp_cmd"), (["-H", server.url, "restart", "--help"], "lifecycle_cmds"),
                      (["port", "--help"], "observe_cmds"), (["-H", server.url, "stats", "--help"], "observe_cmds"),
                      (["attach", "--help"], "attach_cmd")):
        try:
            loaded = _loaded(dockyard, argv, others)
        except subprocess.CalledProcessError as exc:   # --help leaves with 0; an error would not
            raise AssertionError(exc.stderr) from None
        assert loaded == str([f"dockyard.cli.{own}"]), argv


def _shape(text: str) -> str:
    """A reading's numbers and sizes as N (CPU, memory, I/O change between two readings)."""
    return re.sub(r" {2,}", "  ", re.sub(r"\d+(\.\d+)?([kKMGTP]i?)?B?\b", "N", text))


def test_port_top_and_stats_as_docker(dockerd, server, dockyard, busybox, cli_env) -> None:  # noqa: ANN001
    # what they print of a running container: as the docker CLI prints serve's answers (the same
    # container; the three asked at once, nothing of it changes); their errors: as the docker CLI
    # prints dockerd's
    from tests.conftest import at_once

    ways = _ways(dockerd, server, dockyard)
    docker = _docker(cli_env)

    def asked(*args: str) -> tuple:  # noqa: ANN202 - the docker CLI's, in process, as a client
        return at_once(lambda: docker(*args), lambda: ways["in process"](*args), lambda: ways["client"](*args))

    def running() -> None:   # of a running container
        assert dockyard.run("run", "-d", "--name", "obs", "-p", "127.0.0.1::80", "-p", "127.0.0.1::53/udp",
                            "busybox", "sleep", "600").returncode == 0
        try:
            for args in (["port", "obs"], ["port", "obs", "80"], ["port", "obs", "53/udp"], ["top", "obs"],
                         ["top", "obs", "-o", "pid,args"],
                         ["stats", "--no-stream", "--format", "{{.Name}} {{.Container}} {{.ID}} {{.PIDs}}", "obs"]):
                theirs, *both = asked(*args)
                assert theirs[0] == 0 and theirs[1], (args, theirs)
                for way, ours in zip(("in process", "client"), both, strict=True):
                    if args == ["port", "obs"]:   # the docker CLI 20.10 lists its map's random order
                        ours, theirs = (r[:1] + ("".join(sorted(r[1].splitlines(True))),) + r[2:] for r in (ours, theirs))
                    if args == ["top", "obs"]:    # ps' C (CPU use) and times move between two calls
                        ours, theirs = (r[:1] + (_shape(r[1]),) + r[2:] for r in (ours, theirs))
                    assert ours == theirs, (way, args)
            theirs, *both = asked("stats", "--no-stream", "obs")
            for way, ours in zip(("in process", "client"), both, strict=True):
                assert (ours[0], _shape(ours[1]), ours[2]) == (theirs[0], _shape(theirs[1]), theirs[2]), way
                assert ours[1].count("\n") == 2 and " obs " in ours[1]
        finally:
            dockyard("rm", "-f", "obs")

    def scenario(run: Run, sfx: str) -> list[object]:
        idle = "idle" + sfx
        assert run("create", "--name", idle, "busybox", "true")[0] == 0
        try:
            return _steps(run, ["port", idle], ["port", idle, "81"], ["port", idle, "81/udp"], ["port", idle, "abc"],
                          ["port", idle, "99999"], ["port", "nope"], ["top", idle], ["top", "nope"],
                          ["stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", idle],
                          ["stats", "--no-stream", "nope", "nope2"])
        finally:
            run("rm", "-f", idle)
    # the running container's part and the idle one's at once (stats --no-stream waits for a
    # second reading: their waits overlap; they share no container)
    at_once(running, lambda: _three_ways(dockerd, server, dockyard, scenario))


def test_update_as_docker(dockerd, server, dockyard, busybox) -> None:  # noqa: ANN001
    def scenario(run: Run, sfx: str) -> list[object]:
        one, gone = "up1" + sfx, "up2" + sfx
        assert run("run", "-d", "--name", one, "busybox", "sleep", "600")[0] == 0
        assert run("run", "-d", "--rm", "--name", gone, "busybox", "sleep", "600")[0] == 0
        try:
            return _steps(
                run, ["update", "--restart", "always", one], ["update", "--cpus", "0.5", one, "nope"],
                ["update", "--memory", "64m", "--memory-swap", "128m", one], ["update", one],
                ["update", "--memory", "xx", one], ["update", "--cpus", "abc", one], ["update", "--restart", "always", gone],
                ["update", "--pids-limit", "50", "-c", "512", "--cpuset-cpus", "0", one],
                ["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} "
                 "{{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}} "
                 "{{.HostConfig.CpusetCpus}}", one])
        finally:
            run("rm", "-f", one, gone)
    _three_ways(dockerd, server, dockyard, scenario)


def test_attach_as_docker(dockerd, server, dockyard, busybox) -> None:  # noqa: ANN001
    # output from the attach on (the line before it is not replayed), input to a container made
    # with -i, its exit status as ours; a stopped, paused or missing one refused. dockerd 20.10
    # drops what its attach's input makes the container write at once (its stdout joins after
    # the input is forwarded): of the attached run, its status alone is compared with it
    results = {}

    def scenario(run: Run, sfx: str) -> list[object]:
        live, idle, paused = (f"{n}{sfx}" for n in ("at1", "at2", "at3"))
        for args in (["run", "-d", "-i", "--name", live, "busybox", "sh", "-c",
                      "echo before; read x; echo got $x; echo err >&2; exit 3"],
                     ["create", "--name", idle, "busybox", "true"],
                     ["run", "-d", "--name", paused, "busybox", "sleep", "600"], ["pause", paused]):
            assert run(*args)[0] == 0, args
        try:
            while "before" not in run("logs", live)[1]:
                pass
            attached = run("attach", live, input=b"hello\n")
            results[sfx] = attached
            return [attached[0], *_steps(run, ["attach", idle], ["attach", paused], ["attach", "nope"])]
        finally:
            run("rm", "-f", live, idle, paused)
    _three_ways(dockerd, server, dockyard, scenario)
    assert results["-w1"] == results["-w2"] == (3, "got hello\n", "err\n")


def test_attach_a_terminal(server, dockyard, busybox) -> None:  # noqa: ANN001
    # a TTY container's shell on a pseudo-terminal: its answers, its exit status as ours;
    # ctrl-p ctrl-q leaves it running, with the docker CLI's line and status (each typed once the
    # shell answered a line: the CLI reads the terminal, in raw mode, by then)
    from tests.conftest import at_once
    from tests.interop.test_interactive import _typed_after_prompt

    def _on_a_terminal(argv: list[str], env: dict[str, str], keys: bytes) -> tuple[int, bytes]:
        return _typed_after_prompt(argv, env, keys, first=b"echo $((40+2))\n", ready=b"42\r\n")

    def way(way: str, env: dict[str, str]) -> None:
        name = f"tty-{way}"
        dockyard("run", "-dit", "--name", name, "busybox", "sh")   # (its stdin is no terminal)
        try:
            argv, full_env = dockyard.argv("attach", name), {**dockyard.env, **env}
            code, out = _on_a_terminal(argv, full_env, b"\x10\x11")
            assert code == 1 and b"read escape sequence" in out, (way, code, out)
            assert dockyard("inspect", "-f", "{{.State.Running}}", name).stdout == "true\n"
            code, out = _on_a_terminal(argv, full_env, b"echo hi-$((1+2))\nexit 4\n")
            assert code == 4 and b"hi-3\r\n" in out, (way, code, out)
        finally:
            dockyard("rm", "-f", name)
    # in process and as a client at once (each its own container and terminal: their waits for
    # the shell's answers overlap)
    at_once(lambda: way("l", {}), lambda: way("r", {"DOCKYARD_HOST": server.url}))


def test_run_detached_with_a_tty_from_a_script(dockerd, server, dockyard, busybox) -> None:  # noqa: ANN001
    # `run -dit` whose stdin is no terminal: the docker CLI checks none for a detached run (it
    # said 'the input device is not a TTY'); attached, it refuses
    def scenario(run: Run, sfx: str) -> list[object]:
        try:
            return [run("run", "-dit", "--name", "dt" + sfx, "busybox", "sh")[0],
                    *_steps(run, ["inspect", "-f", "{{.State.Running}} {{.Config.Tty}}", "dt" + sfx],
                            ["run", "-it", "--rm", "busybox", "true"])]
        finally:
            run("rm", "-f", "dt" + sfx)
    _three_ways(dockerd, server, dockyard, scenario)


def test_attach_forwards_signals(server, dockyard, busybox) -> None:  # noqa: ANN001
    # --sig-proxy (the default, without a TTY): a signal to the CLI reaches the container, whose
    # trap answers and ends it; the CLI ends with its status. (Sent once the container answered
    # a line typed through the attach: the CLI's handlers are set by then.)
    import signal

    from tests.conftest import REPO, at_once

    def way(way: str, env: dict[str, str]) -> None:
        name = f"sig-{way}"
        dockyard("run", "-d", "-i", "--name", name, "busybox", "sh", "-c",
                 "trap 'echo got; exit 7' TERM; read x; echo ready-$x; while :; do sleep 0.1; done")
        proc = subprocess.Popen(dockyard.argv("attach", name), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env={**dockyard.env, **env}, cwd=REPO)
        try:
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            import select

            assert select.select([proc.stdout], [], [], 60)[0], way   # a guard: a hung CLI fails
            assert proc.stdout.readline() == b"ready-go\n"
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
            assert (proc.returncode, out) == (7, b"got\n"), way
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            dockyard("rm", "-f", name)
    # in process and as a client at once, each its own container
    at_once(lambda: way("l", {}), lambda: way("r", {"DOCKYARD_HOST": server.url}))


def _asked_both(docker: Run, dockyard, args: list[str]) -> tuple:  # noqa: ANN001
    """The docker CLI's and dockyard's answers to `args`, the two at once (nothing of either
    changes: a parser's refusal)."""
    from tests.conftest import at_once

    return at_once(lambda: docker(*args), lambda: dockyard.run(*args, check=False))


def test_too_few_or_too_many_arguments_as_docker(dockerd, dockyard) -> None:  # noqa: ANN001
    # cobra's arity errors of the docker CLI: '"docker rename" requires exactly 2 arguments.',
    # the help's line, status 1 (argparse said 'the following arguments are required', 125)
    docker = _docker(dockerd.env)
    for args in (["rename", "x"], ["port"], ["restart"], ["cp", "x"], ["attach"], ["update"], ["top"], ["run"],
                 ["tag", "x"], ["network", "create"], ["exec", "x"], ["exec"],
                 # and too many (no flag among them): the same lines, 'accepts no arguments' where none is taken
                 ["rename", "a", "b", "c"], ["port", "a", "80", "x"], ["images", "a", "b"], ["ps", "a"],
                 ["network", "create", "a", "b"], ["image", "tag", "a", "b", "c"]):
        theirs, ours = _asked_both(docker, dockyard, args)
        theirs_head = _errors(theirs[2].replace('"docker ', '"dockyard ')).splitlines()[:2]
        assert (ours.returncode, _errors(ours.stderr).splitlines()[:2]) == (theirs[0], theirs_head), args


def test_an_unknown_flag_is_named_as_docker(dockerd, dockyard) -> None:  # noqa: ANN001
    # pflag's words, the command's own help named, status 125: 'unknown flag: --bad' and
    # "unknown shorthand flag: 'z' in -z" for -az, the shorthands left (argparse said 'unrecognized arguments: --bad' and
    # named the top command's help, or 'argument -a: ignored explicit argument 'z'')
    docker = _docker(dockerd.env)
    for args in (["ps", "--bad"], ["ps", "--bad=1"], ["ps", "-az"], ["ps", "-azq"], ["images", "-z"], ["images", "-zq"],
                 ["network", "ls", "--nope"], ["image", "ls", "-qz"], ["volume", "create", "--zz", "v"],
                 ["run", "--bogus", "busybox"], ["build", "-Q", "."]):
        theirs, ours = _asked_both(docker, dockyard, args)
        assert (ours.returncode, _errors(ours.stderr).splitlines()[:2]) == \
            (theirs[0], _errors(theirs[2]).splitlines()[:2]), args


def _until_interrupted(argv: list[str], env: dict[str, str], enough: Callable[[bytes], bool]) -> tuple[bytes, int]:
    """A streaming command's output, read until `enough(output)` (60 s at most: a guard, a hung
    CLI fails, not the suite), then interrupted (SIGINT) as by a user; and its exit status."""
    import select
    import signal
    import time

    from tests.conftest import REPO

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    out, deadline = b"", time.monotonic() + 60
    try:
        while not enough(out) and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 1)[0]:
                out += os.read(proc.stdout.fileno(), 65536)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out, proc.returncode


def test_stats_streams_as_docker(server, dockyard, busybox, cli_env) -> None:  # noqa: ANN001
    # without --no-stream: the table again and again after the CLI's clear-screen codes, until
    # interrupted; each frame shaped as the docker CLI's through serve (numbers aside)
    def frames(argv: list[str], env: dict[str, str]) -> tuple[list[str], int]:
        out, code = _until_interrupted(argv, env, lambda out: out.count(b"\x1b[2J\x1b[H") >= 3)
        return [_shape(f) for f in out.decode().split("\x1b[2J\x1b[H")[1:3]], code

    from tests.conftest import at_once

    dockyard("run", "-d", "--name", "st", "busybox", "sleep", "600")
    try:
        # the three at once (a frame a second each: their waits overlap)
        (theirs, _), *ours = at_once(lambda: frames([DOCKER, "stats", "st"], cli_env),
                                     *(lambda env=env: frames(dockyard.argv("stats", "st"), {**dockyard.env, **env})
                                       for env in ({}, {"DOCKYARD_HOST": server.url})))
        for env, (frames_of, code) in zip(({}, {"DOCKYARD_HOST": server.url}), ours, strict=True):
            assert (frames_of, code) == (theirs, 130), env
        assert theirs[0].startswith("CONTAINER ID") and " st " in theirs[0]
    finally:
        dockyard("rm", "-f", "st")


def test_exec_detached_as_docker(dockerd, server, dockyard, busybox) -> None:  # noqa: ANN001
    # `exec -d`: nothing printed, 0, the command runs on (its file read by a later exec); no
    # terminal checked (-dit from a script); its refusals as dockerd's, status 1
    def scenario(run: Run, sfx: str) -> list[object]:
        live, idle = "xd1" + sfx, "xd2" + sfx
        assert run("run", "-d", "--name", live, "busybox", "sleep", "600")[0] == 0
        assert run("create", "--name", idle, "busybox", "true")[0] == 0
        try:
            steps = [run("exec", "-d", live, "sh", "-c", "sleep 0.2; echo ran > /tmp/x"),
                     run("exec", "-dit", live, "true", input=b"")]
            return steps + _steps(
                run, ["exec", live, "sh", "-c", "until [ -e /tmp/x ]; do usleep 20000; done; cat /tmp/x"],
                ["exec", "-d", live, "nosuchcmd"], ["exec", "-d", "-u", "nosuch", live, "true"],
                ["exec", "-d", "--detach-keys", "foo", live, "true"], ["exec", "-d", idle, "true"],
                ["exec", "-d", "nope", "true"])
        finally:
            run("rm", "-f", live, idle)
    _three_ways(dockerd, server, dockyard, scenario)


def test_exec_that_cannot_start_as_docker(dockerd, server, dockyard, busybox) -> None:  # noqa: ANN001
    # a process the runtime cannot start: dockerd's line alone, on stdout ('\r\n', from the
    # exec's stream), status 126; runc's own 'exec failed: ...' on stderr was printed too. A
    # chdir into a file has dockerd's hint; a started process' stdout, stderr and status are its own
    def scenario(run: Run, sfx: str) -> list[object]:
        live = "xe1" + sfx
        assert run("run", "-d", "--name", live, "busybox", "sleep", "600")[0] == 0
        try:
            return [run(*args, input=b"in\n") for args in (
                ["exec", live, "nosuchcmd"], ["exec", "-i", live, "/etc"], ["exec", "-t", live, "nosuchcmd"],
                ["exec", "-u", "nosuch", live, "true"], ["exec", "-w", "/etc/passwd", live, "true"],
                ["exec", "-i", live, "sh", "-c", "cat; echo err >&2; exit 3"])]
        finally:
            run("rm", "-f", live)
    _three_ways(dockerd, server, dockyard, scenario)


def test_cp_ownership_as_docker(dockerd, server, dockyard, busybox, tmp_path: Path) -> None:  # noqa: ANN001
    # dockerd 20.10 keeps the tar's uid/gid in the container with or without -a (its docs' "root
    # without -a" is not what it does), for a container with a USER too; out of one, the files
    # are the invoking user's, -a or not. (Not compared: -a into a container with a USER, which
    # dockerd looks up in the host's passwd, moby#34142: 'getent unable to find entry'.)
    def scenario(run: Run, sfx: str) -> list[object]:
        host = tmp_path / sfx
        (host / "d").mkdir(parents=True)
        (host / "d" / "f").write_text("a\n")
        (host / "g").write_text("b\n")
        for path, ids in ((host / "d", (1234, 5678)), (host / "d" / "f", (1234, 5678)), (host / "g", (4321, 8765))):
            os.chown(path, *ids)
        plain, user = "ow1" + sfx, "ow2" + sfx
        assert run("run", "-d", "--name", plain, "busybox", "sleep", "600")[0] == 0
        assert run("run", "-d", "-u", "1000:1001", "--name", user, "busybox", "sleep", "600")[0] == 0
        try:
            out = [run("cp", *args) for args in (
                [str(host / "d"), f"{plain}:/tmp/d1"], ["-a", str(host / "d"), f"{plain}:/tmp/d2"],
                [str(host / "g"), f"{plain}:/tmp/g1"], ["-a", str(host / "g"), f"{plain}:/tmp/g2"],
                [str(host / "d"), f"{user}:/tmp/d1"], [str(host / "g"), f"{user}:/tmp/g1"])]
            out.append(run("exec", plain, "sh", "-c", "stat -c '%u:%g %n' /tmp/d1 /tmp/d1/f /tmp/d2 /tmp/d2/f "
                           "/tmp/g1 /tmp/g2; mkdir /o; echo x > /o/f; chown -R 1234:5678 /o"))
            out.append(run("exec", user, "stat", "-c", "%u:%g %n", "/tmp/d1", "/tmp/d1/f", "/tmp/g1"))
            out += [run("cp", *args) for args in ([f"{plain}:/o", str(host / "o1")],
                                                   ["-a", f"{plain}:/o", str(host / "o2")])]
            out.append([(str(p.relative_to(host)), p.stat().st_uid, p.stat().st_gid)
                        for o in sorted(host.glob("o*")) for p in (o, *sorted(o.rglob("*")))])
            return out
        finally:
            run("rm", "-f", plain, user)
    _three_ways(dockerd, server, dockyard, scenario)


def _mounts_of(word: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return [line.split()[4] for line in f if f"/{word}/" in line.split()[4]]


def test_cp_with_a_stopped_containers_tmpfs_volume_as_docker(dockerd, server, dockyard, busybox,  # noqa: ANN001
                                                             tmp_path: Path) -> None:
    # a volume made with driver options (a tmpfs) is mounted for a cp of its stopped container,
    # then unmounted, as dockerd does: what went in is gone at its run, and a cp out of it shows
    # a fresh tmpfs (dockyard wrote into the folder under it, which the cp out showed and the
    # run never did); shared with a running container, the cp goes into the running one's
    host_file = tmp_path / "f"
    host_file.write_text("from host\n")

    def scenario(run: Run, sfx: str) -> list[object]:
        vol, stopped, live = "tv" + sfx, "vs" + sfx, "vr" + sfx
        out = tmp_path / sfx
        assert run("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", vol)[0] == 0
        assert run("create", "--name", stopped, "-v", f"{vol}:/data", "busybox", "ls", "-A", "/data")[0] == 0
        try:
            steps: list[object] = [run("cp", str(host_file), f"{stopped}:/data/in"), _mounts_of(vol),
                                   run("cp", f"{stopped}:/data", str(out)), _tree(out), _mounts_of(vol),
                                   run("start", "-a", stopped)]
            assert run("run", "-d", "--name", live, "-v", f"{vol}:/data", "busybox", "sleep", "600")[0] == 0
            return steps + [run("cp", str(host_file), f"{stopped}:/data/in"), run("exec", live, "cat", "/data/in")]
        finally:
            run("rm", "-f", live, stopped)
            run("volume", "rm", vol)
    _three_ways(dockerd, server, dockyard, scenario)


def test_stats_of_all_follows_starts_and_dies_as_docker(server, dockyard, busybox, cli_env) -> None:  # noqa: ANN001
    # `stats` without names (the docker CLI 20.10's showAll): those running at its start, then by
    # the daemon's events a container started after it (dockyard's kept its first list), until
    # it dies. The frames in turn (each once), the docker CLI through serve and dockyard's
    from tests.conftest import at_once

    def frames(argv: list[str], env: dict[str, str], late: str) -> tuple[list[str], int]:
        steps: list[str] = []

        def enough(out: bytes) -> bool:   # each new frame: the late one started, then killed
            whole = ["".join(line for line in f.splitlines(True) if line.startswith(("base ", late + " ")))
                     for f in out.decode().split("\x1b[2J\x1b[H")[1:-1]]    # (the last may be cut)
            seen = len(steps)
            steps[:] = [re.sub(r" \w{12}\n", "\n", f) for i, f in enumerate(whole) if not i or f != whole[i - 1]]
            if len(steps) > seen and len(steps) < 3:
                dockyard(*(["run", "-d", "--name", late, "busybox", "sleep", "600"] if len(steps) == 1 else ["kill", late]))
            return len(steps) >= 3
        try:
            _, code = _until_interrupted(argv, env, enough)
        finally:
            dockyard("rm", "-f", late)
        return [s.replace(late, "late") for s in steps], code

    dockyard("run", "-d", "--name", "base", "busybox", "sleep", "600")
    try:
        # the three at once, each its own late container (the others' rows left out)
        argv = ["stats", "--format", "{{.Name}} {{.Container}}"]
        theirs, ours, client = at_once(
            lambda: frames([DOCKER, *argv], cli_env, "late-d"),
            lambda: frames(dockyard.argv(*argv), dockyard.env, "late-l"),
            lambda: frames(dockyard.argv(*argv), {**dockyard.env, "DOCKYARD_HOST": server.url}, "late-r"))
        assert theirs[0] == ["base\n", "base\nlate\n", "base\n"]
        assert ours == client == (theirs[0], 130)
    finally:
        dockyard("rm", "-f", "base")


def test_info_fields_of_the_host_and_the_login_as_docker(dockerd, server, dockyard, cli_env, tmp_path: Path) -> None:  # noqa: ANN001
    # what dockyard knows as dockerd does: the host's OS (os-release), runc's commit, the store's
    # file system; the client's login at the index server ('Username:', from config.json, as the
    # docker CLI 20.10 prints it); a store's own engine ID, kept
    import base64
    import json

    config = tmp_path / "config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps(
        {"auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"someone:pw").decode()}}}))
    env = {"DOCKER_CONFIG": str(config)}
    ours = {way: dockyard.run("info", env={**env, **extra}, check=False)
            for way, extra in (("in process", {}), ("client", {"DOCKYARD_HOST": server.url}))}
    through_serve = _docker({**cli_env, **env})("info")
    theirs = _docker({**dockerd.env, **env})("info")
    for result in ours.values():
        assert (result.returncode, result.stdout, result.stderr) == through_serve
    wanted = (" Username:", " Registry:", " Operating System:", " runc version:", "  Backing Filesystem:",
              " Kernel Version:", " OSType:")
    assert [line for line in through_serve[1].splitlines() if line.startswith(wanted)] == \
        [line for line in theirs[1].splitlines() if line.startswith(wanted)]
    assert " Username: someone\n Registry: https://index.docker.io/v1/\n" in through_serve[1]
    ids = {dockyard.run("info", "-f", "{{.ID}}", env=extra).stdout for extra in ({}, {"DOCKYARD_HOST": server.url})}
    assert len(ids) == 1 and re.fullmatch(r"[0-9a-f-]{36}\n", ids.pop())
