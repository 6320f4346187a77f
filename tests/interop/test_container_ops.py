"""stats, top, rename, update through Debian's docker CLI 20.10, against dockyard and dockerd."""

from __future__ import annotations

import json
import time

from tests.interop.conftest import Engine


def test_stats_top_rename_update(engine: Engine) -> None:
    name = f"ops-{engine.name}"
    cid = engine.docker("run", "-d", "--name", name, "-m", "64m", "busybox", "sh", "-c",
                        "while :; do :; done").stdout.decode().strip()
    try:
        row = engine.docker("stats", "--no-stream", "--format",
                            "{{.Name}} {{.MemUsage}} {{.PIDs}}", name).stdout.decode().split()
        assert row[0] == name and row[3] == "64MiB" and row[-1] == "1"
        cpu = engine.docker("stats", "--no-stream", "--format", "{{.CPUPerc}}", name).stdout.decode()
        assert float(cpu.strip().rstrip("%")) > 1.0        # the loop shows in the cgroup's CPU time
        top = engine.docker("top", name).stdout.decode().splitlines()
        assert top[0].split()[:2] == ["UID", "PID"] and "while :; do :; done" in top[1]
        engine.docker("rename", name, name + "-b")
        assert engine.docker("inspect", "-f", "{{.Name}}", cid).stdout.decode().strip() == f"/{name}-b"
        engine.docker("update", "--memory", "128m", "--memory-swap", "256m", cid)
        info = json.loads(engine.docker("inspect", cid).stdout)[0]["HostConfig"]
        assert (info["Memory"], info["MemorySwap"]) == (128 << 20, 256 << 20)
        taken = engine.docker("run", "-d", "--name", name, "busybox", "true").stdout.decode().strip()
        clash = engine.docker("rename", cid, name, check=False)
        assert clash.returncode == 1 and b"is already in use" in clash.stderr
        engine.docker("rm", "-f", taken)
    finally:
        engine.docker("rm", "-f", cid)
    stopped = engine.docker("top", cid, check=False)
    assert stopped.returncode == 1


def test_system_df_and_prune_sizes(engine: Engine) -> None:
    cid = engine.docker("run", "-d", "busybox", "sh", "-c",
                        "head -c 100000 /dev/zero > /big; sleep 30").stdout.decode().strip()
    try:
        df = engine.docker("system", "df", "--format", "{{.Type}} {{.TotalCount}}").stdout.decode()
        assert "Images" in df and "Containers" in df and "Local Volumes" in df
        bad = engine.docker("images", "--filter", "colour=red", check=False)
        assert bad.returncode == 1 and b"Invalid filter 'colour'" in bad.stderr
        assert engine.docker("images", "-q", "--filter", "before=busybox").stdout == b""
        engine.docker("stop", "-t", "0", cid)
        pruned = engine.docker("container", "prune", "-f").stdout.decode()
        assert cid in pruned and "Total reclaimed space: 100kB" in pruned
    finally:
        engine.docker("rm", "-f", cid, check=False)


def test_rename_is_what_the_network_answers(engine: Engine) -> None:
    """A running container renamed on a user network: its new name resolves, the old one no
    longer does, its aliases stay, the network shows the new name (Docker's sandbox rename)."""
    net = f"rn-{engine.name}"
    engine.docker("network", "create", net)
    cid = ""
    try:
        cid = engine.docker("run", "-d", "--network", net, "--network-alias", "al1", "--name",
                            "first-name", "busybox", "sleep", "60").stdout.decode().strip()
        engine.docker("rename", "first-name", "second-name")
        # The probe's resolver waits 1 s for an answer, twice (glibc's RES_OPTIONS), not 5 s
        # twice: dockerd's DNS forwards a name it does not know to the host's nameserver, which
        # a container on its bridge cannot reach, so the old name's lookup waited out the
        # resolver's timeouts (10 s of dockerd's 12). A name on the network is answered at once.
        seen = engine.docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
                             "export RES_OPTIONS='timeout:1 attempts:2';"
                             " for n in second-name first-name al1; do"
                             " ping -c1 -W2 $n >/dev/null 2>&1 && echo $n=yes || echo $n=no; done")
        assert seen.stdout.split() == [b"second-name=yes", b"first-name=no", b"al1=yes"]
        members = json.loads(engine.docker("network", "inspect", net).stdout)[0]["Containers"]
        assert members[cid]["Name"] == "second-name"
    finally:
        if cid:
            engine.docker("rm", "-f", cid)
        engine.docker("network", "rm", net)


def test_image_prune_until_and_label(engine: Engine) -> None:
    """image prune -a with `label`, `label!` and `until` (daemon/images/image_prune.go): only
    the unused images created before `until` whose labels match are removed."""
    cid = engine.docker("create", "busybox", "true").stdout.decode().strip()
    try:
        for tier in ("a", "b"):
            engine.docker("commit", "-c", f"LABEL tier={tier}", cid, f"pr-{engine.name}-{tier}")
        time.sleep(0.05)    # `until` in seconds with a fraction, as Docker's filters take it
        mark = f"{time.time():.6f}"
        time.sleep(0.05)
        engine.docker("commit", "-c", "LABEL tier=b", cid, f"pr-{engine.name}-new")
        out = engine.docker("image", "prune", "-af", "--filter", "label=tier=a").stdout.decode()
        assert f"untagged: pr-{engine.name}-a:latest" in out and "-b:latest" not in out
        out = engine.docker("image", "prune", "-af", "--filter", "label!=tier=a", "--filter",
                            "label=tier", "--filter", f"until={mark}").stdout.decode()
        assert f"untagged: pr-{engine.name}-b:latest" in out and "-new:latest" not in out
        left = engine.docker("images", "-q", f"pr-{engine.name}-new").stdout
        assert left.strip()
    finally:
        engine.docker("rm", cid)
        engine.docker("rmi", f"pr-{engine.name}-new", check=False)


HINT = ("Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified "
        "host path exists and is the expected type")
# dockerd 20.10 with containerd 1.6 around runc's error of a start that failed
SHIM_TASK = "failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: "


def test_a_bind_of_a_file_onto_a_directory_or_the_reverse(engine: Engine, tmp_path) -> None:  # noqa: ANN001
    """dockerd 20.10 (translateContainerdStartErr): a start that fails with ENOTDIR gets the hint
    after the runtime's error, the container's exit code 127, a 400 answer; the docker CLI's
    run exits 125, its start 1."""
    afile, adir = tmp_path / "afile", tmp_path / "adir"
    afile.write_text("x\n")
    adir.mkdir()
    run = engine.docker("run", "--rm", "-v", f"{afile}:/etc", "busybox", "true", check=False)
    assert run.returncode == 125
    # the docker CLI's run may add its own race's line after the error (its wait of a container
    # whose start failed: 'level=error msg="error waiting for container: context canceled"')
    text = "".join(line for line in run.stderr.decode().splitlines(keepends=True)
                   if "error waiting for container" not in line)
    # containerd's words around runc's (its gRPC code's name, ": unknown", before the hint)
    assert text.startswith(f"docker: Error response from daemon: {SHIM_TASK}error during container "
                           "init: error mounting "), text
    assert text.endswith(f": not a directory: unknown: {HINT}.\n"), text
    cid = engine.docker("create", "-v", f"{adir}:/etc/passwd", "busybox", "true").stdout.decode().strip()
    try:
        start = engine.docker("start", cid, check=False)
        assert start.returncode == 1
        lines = start.stderr.decode().splitlines()
        assert lines[0].startswith(f"Error response from daemon: {SHIM_TASK}") and \
            lines[0].endswith(f": not a directory: unknown: {HINT}"), lines
        assert lines[1:] == [f"Error: failed to start containers: {cid}"], lines
        state = json.loads(engine.docker("inspect", cid).stdout)[0]["State"]
        assert (state["Status"], state["ExitCode"]) == ("created", 127)
        assert state["Error"].endswith(HINT)
        status, answer = engine.post(f"/containers/{cid}/start", b"")
        assert status == 400 and answer["message"].endswith(HINT), (status, answer)
    finally:
        engine.docker("rm", "-f", cid)


def test_a_command_that_cannot_start(engine: Engine) -> None:  # noqa: ANN001
    """dockerd 20.10 (translateContainerdStartErr): a command not found records the container's
    exit code 127, one not runnable (EACCES) 126, and the start answers 400 (the user's
    configuration, as an SDK's client sees it), not 500; the docker CLI's run exits with the
    same code, its start 1. The message is containerd's around runc's, word for word: `failed to
    create shim task: ...: unknown` (dockyard said `failed to create task for container: ...`)."""
    for command, code, why in (("nosuchcmd", 127, "executable file not found in $PATH"),
                               ("/etc/passwd", 126, "permission denied")):
        message = f'{SHIM_TASK}exec: "{command}": {why}: unknown'
        run = engine.docker("run", "--rm", "busybox", command, check=False)
        assert run.returncode == code, (command, run)
        assert run.stderr.decode().startswith(f"docker: Error response from daemon: {message}"), run
        cid = engine.docker("create", "busybox", command).stdout.decode().strip()
        try:
            start = engine.docker("start", cid, check=False)
            assert start.stderr.decode().splitlines() == [f"Error response from daemon: {message}",
                                                          f"Error: failed to start containers: {cid}"]
            status, answer = engine.post(f"/containers/{cid}/start", b"")
            assert (status, answer) == (400, {"message": message}), command
            state = json.loads(engine.docker("inspect", cid).stdout)[0]["State"]
            assert (state["Status"], state["ExitCode"], state["Error"]) == ("created", code, message)
        finally:
            engine.docker("rm", "-f", cid)


def test_a_symlink_climbing_above_the_root_commits_saves_and_loads(engine: Engine, tmp_path) -> None:  # noqa: ANN001
    """`ln -s ../../etc/passwd /up`: the link resolves inside the container (the kernel stops
    `..` at its root). dockerd 20.10 commits it, saves it, loads it back (its chrooted unpack
    resolves the link inside the layer's root); dockyard refused the layer at its door."""
    name, image = f"climb-{engine.name}", f"climb-{engine.name}:v1"
    engine.docker("run", "--name", name, "busybox", "ln", "-s", "../../etc/passwd", "/up")
    try:
        engine.docker("commit", name, image)
        assert engine.docker("run", "--rm", image, "readlink", "/up").stdout == b"../../etc/passwd\n"
        assert engine.docker("run", "--rm", image, "head", "-1", "/up").stdout.startswith(b"root:x:0:0:")
        engine.docker("save", "-o", str(tmp_path / "climb.tar"), image)
        engine.docker("rmi", image)
        loaded = engine.docker("load", "-i", str(tmp_path / "climb.tar"))
        assert loaded.stdout == f"Loaded image: {image}\n".encode()
        assert engine.docker("run", "--rm", image, "readlink", "/up").stdout == b"../../etc/passwd\n"
    finally:
        engine.docker("rm", "-f", name)
        engine.docker("rmi", image, check=False)


def test_the_words_of_common_mistakes(engine: Engine) -> None:
    """What the docker CLI prints for `rm` of a running or paused container and `network
    disconnect` of a container that is not on the network, in dockerd 20.10's words (dockyard's
    were Docker 23's, and one for a running and a stopped container alike)."""
    cid = engine.docker("run", "-d", "--network", "none", "busybox", "sleep", "100").stdout.decode().strip()
    stopped = engine.docker("create", "--network", "none", "busybox", "true").stdout.decode().strip()
    try:
        def fails(*args: str) -> str:
            r = engine.docker(*args, check=False)
            assert r.returncode == 1, args
            return r.stderr.decode()

        assert fails("rm", cid) == (f"Error response from daemon: You cannot remove a running container {cid}. "
                                    "Stop the container before attempting removal or force remove\n")
        engine.docker("pause", cid)
        assert fails("rm", cid) == (f"Error response from daemon: You cannot remove a paused container {cid}. "
                                    "Unpause and then stop the container before attempting removal or force remove\n")
        engine.docker("unpause", cid)
        assert fails("network", "disconnect", "bridge", stopped) == (
            f"Error response from daemon: container {stopped} is not connected to the network bridge\n")
    finally:
        engine.docker("rm", "-f", cid, stopped)


def test_stats_of_a_container_that_does_not_run(engine: Engine) -> None:
    """`stats?stream=0` of a container that is not running is Go's zero values of dockerd's stats:
    blkio's lists null, the throttling counts 0 (dockyard sent {} for both: an SDK's
    `stats["blkio_stats"]["io_service_bytes_recursive"]` was a KeyError)."""
    cid = engine.docker("create", "--network", "none", "busybox", "true").stdout.decode().strip()
    try:
        stats = engine.request("GET", f"/containers/{cid}/stats?stream=0")[1]
        assert stats["blkio_stats"] == {key: None for key in (
            "io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
            "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
            "io_time_recursive", "sectors_recursive")}
        zero = {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
        assert stats["cpu_stats"] == stats["precpu_stats"] == zero
        assert (stats["memory_stats"], stats["pids_stats"], stats["read"]) == ({}, {}, "0001-01-01T00:00:00Z")
    finally:
        engine.docker("rm", cid)


def test_save_of_a_name_that_is_no_image(engine: Engine) -> None:
    """`docker save NAME` of no image names it as given, as dockerd 20.10's save does (dockyard
    added `:latest`); a NAME:TAG that is none stays dockyard's `No such image: NAME:TAG` (dockerd
    says only `reference does not exist`)."""
    for name in ("nosuch", "docker.io/library/nosuch", "other/nosuch"):
        r = engine.docker("save", name, check=False)
        assert (r.returncode, r.stderr.decode()) == (1, f"Error response from daemon: No such image: {name}\n")
        assert r.stdout == b""
