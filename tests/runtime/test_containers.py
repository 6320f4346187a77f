"""Containers end to end through the CLI: run/ps/pause/commit/export/diff/logs/exec/rm."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from pathlib import Path

from dockyard.digest import Digest
from dockyard.store.store import Store
from tests.conftest import at_once


def _layer_members(store: Store, image_id: str, index: int = -1) -> dict[str, tarfile.TarInfo]:
    image = store.image(Digest.parse(image_id))
    with image.layers[index].open() as f:
        data = f.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def _config(store: Store, image_id: str) -> dict:
    return json.loads(store.image(Digest.parse(image_id)).raw_config)


def test_seed_scenario_commit_and_export(dockyard, busybox, tmp_path):
    cid = dockyard("run", "-d", "busybox", "sh", "-c",
                   "echo x > /f; rm /etc/group; sleep 1000").stdout.strip()
    assert len(cid) == 64
    ps = dockyard("ps").stdout
    assert cid[:12] in ps and "Up " in ps
    assert ps.splitlines()[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED",
                                          "STATUS", "PORTS", "NAMES"]
    # the container has written /f before we commit
    for _ in range(100):
        if "A /f" in dockyard("diff", cid).stdout:
            break
        time.sleep(0.02)
    dockyard("pause", cid)
    assert "(Paused)" in dockyard("ps").stdout
    new_id = dockyard("commit", cid, "redis:test").stdout.strip()
    assert new_id.startswith("sha256:")
    # commit leaves a container paused by the user paused (it pauses only what it paused)
    assert "(Paused)" in dockyard("ps").stdout
    dockyard("unpause", cid)
    assert "(Paused)" not in dockyard("ps").stdout
    assert new_id[7:19] in dockyard("images", "redis:test").stdout
    out = dockyard("run", "--rm", "redis:test", "sh", "-c",
                   "cat /f; test -e /etc/group && echo present || echo gone").stdout
    assert out == "x\ngone\n"
    members = _layer_members(dockyard.store, new_id)
    assert set(members) == {"etc", "etc/.wh.group", "f"}
    assert members["f"].size == 2

    # export (running container) then import: the same files, one layer, no history of ours
    tar_path = tmp_path / "export.tar"
    dockyard("export", "-o", str(tar_path), cid)
    with tarfile.open(tar_path) as tar:
        names = set(tar.getnames())
    assert "f" in names and "bin/busybox" in names and "etc/group" not in names
    imported = dockyard("import", str(tar_path), "flat:latest").stdout.strip()
    cfg = _config(dockyard.store, imported)
    assert len(cfg["rootfs"]["diff_ids"]) == 1
    assert [h.get("created_by") for h in cfg["history"]] == [None]
    assert dockyard("run", "--rm", "flat", "cat", "/f").stdout == "x\n"
    dockyard("rm", "-f", cid)
    assert dockyard("ps", "-aq").stdout == ""


def test_commit_resumes_the_container_once_its_layer_is_read(dockyard, busybox, monkeypatch):
    """A commit pauses a running container while it reads its upper dir, and resumes it once the
    layer's tar is written whole: the runtime's resume runs while the layer is hashed to its end
    and made durable (before, only once the image was recorded)."""
    import threading

    from dockyard.engine import commit as engine_commit
    from dockyard.runtime.containers import lookup, oci_runtime
    from dockyard.runtime.oci import OciRuntime
    from dockyard.store.layers import LayerStore

    cid = dockyard("run", "-d", "--network", "none", "busybox", "sh", "-c",
                   "head -c 9437184 /dev/urandom > /big; echo done; sleep 1000").stdout.strip()
    for _ in range(500):
        if "done" in dockyard("logs", cid).stdout:
            break
        time.sleep(0.02)
    resumed, seen = threading.Event(), []
    resume, adopt = OciRuntime.resume, LayerStore.adopt

    def resuming(self, container_id):  # noqa: ANN001, ANN202
        resumed.set()
        return resume(self, container_id)

    def adopting(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        # the layer is not durable yet: the resume has begun (a guard against a hang, not a timing)
        seen.append(resumed.wait(60))
        return adopt(self, *args, **kwargs)

    monkeypatch.setattr(OciRuntime, "resume", resuming)
    monkeypatch.setattr(LayerStore, "adopt", adopting)
    store = Store(dockyard.root)
    image_id = engine_commit.commit(store, cid, "resumed:1")
    assert seen == [True]
    cdir = lookup(store, cid)
    assert not cdir.read_state().paused and oci_runtime(store, cdir.read_record()).state(cid)["status"] == "running"
    assert _layer_members(dockyard.store, str(image_id))["big"].size == 9437184
    dockyard("rm", "-f", cid)


def test_commit_translates_overlay_whiteouts_and_keeps_metadata(dockyard, busybox):
    script = ("rm -rf /root && mkdir /root && echo n > /root/new; "
              "echo data > /a; chown 1:1 /a; chmod 4750 /a; ln /a /hard; ln -s /a /sym; "
              "touch -d '2001-02-03 04:05:06' /a; rm /etc/passwd")
    cid = dockyard("create", "busybox", "sh", "-c", script).stdout.strip()
    dockyard("start", cid)
    assert dockyard("wait", cid).stdout.strip() == "0"
    # Docker commits stopped containers too (checked with dockerd 20.10: `docker commit` of an
    # exited container succeeds); no pause is needed then.
    image_id = dockyard("commit", "-m", "msg", "-a", "me", "-c", "CMD [\"cat\", \"/a\"]",
                        cid, "meta:1").stdout.strip()
    m = _layer_members(dockyard.store, image_id)
    assert "root/.wh..wh..opq" in m and "root/new" in m
    assert "etc/.wh.passwd" in m
    a = m["a"]
    assert (a.mode & 0o7777, a.uid, a.gid, a.mtime) == (0o4750, 1, 1, 981173106)
    assert m["hard"].islnk() and m["hard"].linkname == "a"
    assert m["sym"].issym() and m["sym"].linkname == "/a"
    # no runtime mount points leak into the layer (they live in the init layer)
    assert not any(n.startswith(("proc", "dev", "sys", "etc/hosts", "etc/resolv.conf")) for n in m)
    cfg = _config(dockyard.store, image_id)
    # history as Docker writes it: created_by = entrypoint+cmd joined by spaces; -m is the
    # history comment (not the image's); -a is both the image's and the entry's author
    assert cfg["history"][-1]["created_by"] == f"sh -c {script}"
    assert cfg["history"][-1]["comment"] == "msg"
    assert cfg["history"][-1]["author"] == "me" and cfg["author"] == "me"
    assert cfg["config"]["Cmd"] == ["cat", "/a"]
    assert dockyard("run", "--rm", "meta:1").stdout == "data\n"


def test_commit_of_unchanged_container_adds_only_an_empty_history_entry(dockyard, busybox):
    """Docker (checked with dockerd 20.10): an empty diff adds no layer, history `empty_layer`."""
    cid = dockyard("run", "-d", "busybox", "sleep", "100").stdout.strip()
    image_id = dockyard("commit", "--pause=false", cid).stdout.strip()
    cfg = _config(dockyard.store, image_id)
    base = _config(dockyard.store, busybox)
    assert cfg["rootfs"]["diff_ids"] == base["rootfs"]["diff_ids"]
    assert cfg["history"][-1] == {"created": cfg["history"][-1]["created"],
                                  "created_by": "sleep 100", "empty_layer": True}


def test_foreground_run_streams_and_exit_codes(dockyard, busybox):
    r = dockyard("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    r = dockyard("run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z", input=b"hello\n")
    assert r.stdout == "HELLO\n"
    r = dockyard("run", "--rm", "-u", "nobody", "-w", "/tmp/wd", "-e", "A=1", "busybox",
                 "sh", "-c", "id -u; pwd; echo $A $HOME")
    assert r.stdout == "65534\n/tmp/wd\n1 /nonexistent\n"
    r = dockyard("run", "--rm", "--entrypoint", "echo", "busybox", "a", "b")
    assert r.stdout == "a b\n"
    assert dockyard("ps", "-aq").stdout == ""   # --rm removed them all


def test_logs_tail_since_until_and_timestamps(dockyard, busybox):
    """`logs --tail/--since/--until/-t`, in process (the flags did not exist) as the docker CLI
    reads them: a count, a duration before now or a Unix time; the API's `until` was ignored."""
    cid = dockyard("run", "-d", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done").stdout.strip()
    dockyard("wait", cid)
    log = (dockyard.root / "containers" / cid / f"{cid}-json.log").read_text().splitlines()
    times = [json.loads(line)["time"] for line in log]
    assert dockyard("logs", "--tail", "2", cid).stdout == "line4\nline5\n"
    assert dockyard("logs", "-t", "--tail", "1", cid).stdout == f"{times[-1]} line5\n"
    assert dockyard("logs", "--since", "1h", cid).stdout.count("line") == 5
    assert dockyard("logs", "--until", "1h", cid).stdout == ""
    assert dockyard("logs", "--since", str(int(time.time()) + 60), cid).stdout == ""
    assert dockyard("logs", "--until", str(int(time.time()) + 60), cid).stdout.count("line") == 5
    # dockerd reads a tail it cannot parse, or a negative one, as "all"
    assert dockyard("logs", "--tail", "x", cid).stdout.count("line") == 5
    assert dockyard("logs", "--tail", "-2", cid).stdout.count("line") == 5
    assert dockyard("logs", "--tail", "9" * 30, cid).stdout.count("line") == 5   # was a traceback
    assert dockyard("logs", "-f", "--tail", "1", cid).stdout == "line5\n"
    r = dockyard("logs", "--since", "zz", cid, check=False)
    assert r.returncode == 1 and 'failed to parse value as time or duration: "zz"' in r.stderr, r.stderr


def test_detached_logs_wait_and_status(dockyard, busybox):
    cid = dockyard("run", "-d", "--name", "web", "busybox", "sh", "-c",
                   "echo out; echo err >&2; exit 5").stdout.strip()
    assert dockyard("wait", "web").stdout == "5\n"
    r = dockyard("logs", "web")
    assert (r.stdout, r.stderr) == ("out\n", "err\n")
    line = json.loads((dockyard.root / "containers" / cid / f"{cid}-json.log").read_text().splitlines()[0])
    assert set(line) == {"log", "stream", "time"} and line["log"] == "out\n"
    assert "Exited (5)" in dockyard("ps", "-a").stdout
    inspect = json.loads(dockyard("inspect", "web").stdout)[0]
    assert inspect["State"]["Status"] == "exited" and inspect["State"]["ExitCode"] == 5
    assert inspect["Name"] == "/web"
    # a second container may not take the name
    r = dockyard("create", "--name", "web", "busybox", "true", check=False)
    assert r.returncode != 0 and 'The container name "/web" is already in use' in r.stderr


def test_exec_stop_and_logs_follow(dockyard, busybox):
    cid = dockyard("run", "-d", "busybox", "sh", "-c",
                   "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done").stdout.strip()
    r = dockyard("exec", "-e", "X=2", "-w", "/etc", "-u", "1", cid, "sh", "-c", "echo $X; pwd; id -u")
    assert r.stdout == "2\n/etc\n1\n"
    assert dockyard("exec", cid, "sh", "-c", "exit 7", check=False).returncode == 7
    # docker exec of a missing command (dockerd 20.10): "OCI runtime exec failed: ...", exit 126,
    # on stdout (dockerd writes it into the exec's stream), nothing else
    r = dockyard("exec", cid, "nope", check=False)
    assert r.returncode == 126 and r.stdout.startswith('OCI runtime exec failed: exec failed') and not r.stderr
    follow = subprocess.Popen(
        [*_cli(dockyard), "logs", "-f", cid], stdout=subprocess.PIPE, env=dockyard.env)
    time.sleep(0.3)
    dockyard("stop", "-t", "5", cid)
    out, _ = follow.communicate(timeout=10)
    assert out == b"started\nbye\n"
    assert "Exited (0)" in dockyard("ps", "-a").stdout
    r = dockyard("exec", cid, "true", check=False)
    assert r.returncode != 0 and "is not running" in r.stderr


def _cli(dockyard) -> list[str]:
    import sys

    return [sys.executable, "-m", "dockyard"]


def test_diff_lists_changes_like_docker(dockyard, busybox):
    cid = dockyard("run", "-d", "busybox", "sh", "-c",
                   "mkdir -p /new/dir; echo >> /etc/passwd; rm /bin/vi; sleep 100").stdout.strip()
    for _ in range(100):
        out = dockyard("diff", cid).stdout
        if "D /bin/vi" in out:
            break
        time.sleep(0.02)
    assert out.splitlines() == ["C /bin", "D /bin/vi", "C /etc", "C /etc/passwd", "A /new",
                                "A /new/dir"]


def test_bind_mounts_and_network_none(dockyard, busybox, tmp_path):
    (tmp_path / "in.txt").write_text("host\n")
    r = dockyard("run", "--rm", "-v", f"{tmp_path}:/mnt:ro", "--network", "none", "busybox",
                 "sh", "-c", "cat /mnt/in.txt; touch /mnt/x 2>/dev/null || echo ro; ls /sys/class/net")
    assert r.stdout == "host\nro\nlo\n"


def test_errors_are_clear(dockyard, busybox):
    r = dockyard("run", "busybox", "nope", check=False)
    assert r.returncode == 127 and 'exec: "nope": executable file not found in $PATH' in r.stderr
    assert "Traceback" not in r.stderr
    r = dockyard("run", "--rm", "--pull", "never", "nosuchimage", check=False)
    assert r.returncode == 125 and "No such image: nosuchimage:latest" in r.stderr
    for cmd in (["logs", "ghost"], ["rm", "ghost"], ["commit", "ghost"], ["stop", "ghost"],
                ["diff", "ghost"], ["export", "-o", "/dev/null", "ghost"]):
        r = dockyard(*cmd, check=False)
        assert r.returncode != 0 and "No such container: ghost" in r.stderr, cmd
    r = dockyard("run", "--rm", "-u", "xxx", "busybox", "id", check=False)
    assert "unable to find user xxx: no matching entries in passwd file" in r.stderr
    cid = dockyard("run", "-d", "busybox", "sleep", "100").stdout.strip()
    r = dockyard("rm", cid, check=False)
    assert r.returncode == 1 and "Stop the container before attempting removal or force remove" in r.stderr
    dockyard("rm", "-f", cid)
    # a container that dies at once: run -d still reports it, its exit code is kept
    cid = dockyard("run", "-d", "busybox", "false").stdout.strip()
    assert dockyard("wait", cid).stdout == "1\n"


# flag values the CLI cannot parse, and the text of the docker CLI's error for each (20.10,
# cli/command/container/opts.go): both CLIs refuse them before asking the engine, with 125
_BAD_RUN_FLAGS = [
    (["--cpus", "x"], 'invalid argument "x" for "--cpus" flag: failed to parse x as a rational number'),
    (["--expose", "abc"], "invalid range format for --expose: abc"),
    (["--expose", "80-x"], "invalid range format for --expose: 80-x"),
    (["-p", "80-x:80"], "Invalid hostPort: 80-x"),
    (["-p", "80:x"], "Invalid containerPort: x"),
    (["-p", "1-2:80-85"], "Invalid ranges specified for container and host Ports: 80-85 and 1-2"),
    (["--memory-swap", "abc"], "invalid size: 'abc'"),
    (["--mount", "type=tmpfs,target=/t,tmpfs-mode=zz"], "invalid value for tmpfs-mode: zz"),
    (["--mount", "type=tmpfs,target=/t,tmpfs-size=zz"], "invalid value for tmpfs-size: zz"),
    (["--mount", "bogus=1"], "unexpected key 'bogus' in 'bogus=1'"),
    (["--ulimit", "nofile=a"], None),
    (["--restart", "on-failure:x"], "maximum retry count must be an integer"),
    (["--env-file", "/nonexistent/env"], "open /nonexistent/env"),
]


def test_unparsable_flag_values_are_refused_as_the_docker_cli_does(dockyard, tmp_path):
    """Matched against the docker 20.10 CLI, which parses these before it talks to a daemon
    (pointed at a socket that does not exist, it still answers): exit 125 and the same reason,
    for create and run alike; never a traceback, and no container made. The 26 cases (52 CLI
    starts that make nothing) run in two threads, half each."""
    def refused(flags: list[str], reason: str | None, command: str) -> None:
        docker = subprocess.run(["/usr/bin/docker", "-H", f"unix://{tmp_path}/none.sock",
                                 command, *flags, "busybox", "true"],
                                capture_output=True, text=True)
        ours = dockyard(command, *flags, "busybox", "true", check=False)
        assert docker.returncode == ours.returncode == 125, (flags, docker.stderr, ours.stderr)
        assert ours.stderr.startswith("Error: ") and "Traceback" not in ours.stderr, ours.stderr
        if reason is not None:
            assert reason in docker.stderr and reason in ours.stderr, (reason, docker.stderr, ours.stderr)

    cases = [(flags, reason, command) for flags, reason in _BAD_RUN_FLAGS for command in ("create", "run")]
    at_once(*(lambda part=part: [refused(*case) for case in part] for part in (cases[0::2], cases[1::2])))
    assert dockyard("ps", "-aq").stdout == ""


def test_image_with_many_layers(dockyard, busybox, tmp_path):
    """110 layers: the mount options stay under a page thanks to the short l/ links."""
    store = dockyard.store
    base = store.image(Digest.parse(busybox))
    layers = list(base.layers)
    cfg = json.loads(base.raw_config)
    for i in range(110):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(f"f{i}")
            info.size = len(str(i))
            tar.addfile(info, io.BytesIO(str(i).encode()))
        buf.seek(0)
        layer = store.layers.ingest(buf)
        layers.append(layer)
        cfg["rootfs"]["diff_ids"].append(str(layer.diff_id))
        cfg["history"].append({"created_by": f"layer {i}"})
    image = store.add_image(json.dumps(cfg).encode(), layers)
    r = dockyard("run", "--rm", str(image.id), "cat", "/f0", "/f109")
    assert r.stdout == "0109"


def test_tty_container_gets_a_pty(dockyard, busybox):
    """`run -t`: the process's stdio is a pty (received over runc's console socket), TERM=xterm."""
    r = dockyard("run", "-t", "--rm", "busybox", "sh", "-c", "tty; echo $TERM; exit 4", check=False)
    assert r.returncode == 4
    assert r.stdout.replace("\r\n", "\n") == "/dev/pts/0\nxterm\n"
    cid = dockyard("run", "-dt", "busybox", "sh", "-c", "tty").stdout.strip()
    assert dockyard("wait", cid).stdout == "0\n"
    assert dockyard("logs", cid).stdout.replace("\r\n", "\n") == "/dev/pts/0\n"


def test_foreground_run_proxies_signals(dockyard, busybox):
    """docker run (no -t) forwards the signals it gets to the container (--sig-proxy)."""
    import signal
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "run", "--rm", "busybox", "sh", "-c",
         "trap 'echo got; exit 9' TERM; echo ready; while :; do sleep 0.1; done"],
        stdout=subprocess.PIPE, env=dockyard.env)
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.read() == b"got\n"
    assert proc.wait(timeout=10) == 9


def test_killed_monitor_is_noticed_and_cleaned_up(dockyard, busybox):
    """A monitor killed with SIGKILL: the container shows as exited (137, as dockerd's when a
    container's shim dies), its processes and
    mounts gone with it, and rm -f removes it."""
    import os
    import signal

    cid = dockyard("run", "-d", "busybox", "sleep", "100").stdout.strip()
    state = json.loads((dockyard.root / "containers" / cid / "state.json").read_text())
    os.kill(state["monitor_pid"], signal.SIGKILL)
    for _ in range(100):
        try:
            os.kill(state["monitor_pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    assert "Exited (137)" in dockyard("ps", "-a").stdout
    # exited means ended: its process and its rootfs's mount did not outlive the monitor
    # (`stop` and `kill` refuse an exited container: they ran on until a start or rm)
    try:   # gone, or a zombie its new parent has yet to reap
        assert Path(f"/proc/{state['pid']}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        pass
    merged = str(dockyard.root / "containers" / cid / "merged")
    assert merged not in Path("/proc/self/mountinfo").read_text()
    dockyard("rm", "-f", cid)
    assert merged not in Path("/proc/self/mountinfo").read_text()
    assert not (dockyard.root / "containers" / cid).exists()


def test_cgroups_a_killed_runtime_left_go_with_the_container(dockyard, busybox):
    """runc makes the container's cgroups (/dockyard/ID in every hierarchy) before it saves the
    container's state: killed in between (a kill -9 of `start`, `run` or the monitor then), its
    `delete` knows no such container and the empty cgroups stayed for ever (~80 found on this
    host after the crash sweeps). rm removes them, and only its own: another store's
    container's cgroup stays."""
    import sys

    def left(container_id: str) -> list[Path]:
        return list(Path("/sys/fs/cgroup").glob(f"*/dockyard/{container_id}")) + \
            list(Path("/sys/fs/cgroup").glob(f"dockyard/{container_id}"))

    cid = dockyard("create", "--network", "none", "busybox", "true").stdout.strip()
    others = Path("/sys/fs/cgroup/pids/dockyard") / ("e" * 64)   # (a v1 controller on this host)
    others.mkdir(parents=True)
    try:
        # runc killed as it makes the memory controller's (after others)
        subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=mkdirat",
                        "-P", f"/sys/fs/cgroup/memory/dockyard/{cid}",
                        "-e", "inject=mkdirat:signal=KILL:when=1",
                        sys.executable, "-m", "dockyard", "start", cid],
                       env=dockyard.env, capture_output=True, timeout=60)
        assert left(cid)   # what the killed runtime made
        dockyard("rm", "-f", cid)
        assert left(cid) == []
        assert others.is_dir()
    finally:
        others.rmdir()


def test_a_killed_in_process_run_rm_is_removed(dockyard, busybox):
    """`run --rm` in process: its monitor is the CLI. Killed -9, the container stayed Exited
    (255) for ever; dockerd's AutoRemove is the daemon's, the container goes whatever happens
    to its client (as through serve, where the docker CLI's `run --rm` waits for `removed`).
    The next look at it removes it: ps lists nothing, its folder and mounts are gone."""
    import os
    import signal
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "dockyard", "run", "--rm", "--name", "doomed",
                             "busybox", "sh", "-c", "echo up; sleep 100"],
                            stdout=subprocess.PIPE, env=dockyard.env)
    try:
        assert proc.stdout.readline() == b"up\n"
        cid = dockyard("ps", "-q", "--no-trunc").stdout.split()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert dockyard("ps", "-a", "-q").stdout == ""
        assert len(cid) == 1 and not (dockyard.root / "containers" / cid[0]).exists()
        assert str(dockyard.root) not in Path("/proc/self/mountinfo").read_text()
        assert "No such container" in dockyard("rm", "-f", "doomed", check=False).stderr
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_monitor_noticed_under_the_state_lock(dockyard, busybox):
    """rename and update of a running container read its current state under the container's
    lock; when its monitor had been killed that read records the end under the same lock, and
    waited for itself: `docker rename` hung through serve, holding the lock, and every `docker
    ps` after it (found renaming a container whose monitor was killed -9)."""
    import subprocess
    import threading

    from dockyard.runtime.containers import current_state
    from dockyard.runtime.state import ContainerDir

    cid = dockyard("create", "--network", "none", "busybox", "sleep", "100").stdout.strip()
    cdir = ContainerDir(dockyard.root / "containers" / cid)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with cdir.update() as state:       # as a running container whose monitor was killed
        state.status, state.monitor_pid, state.pid = "running", gone.pid, 0
    seen = []

    def read_under_the_lock() -> None:
        with cdir.locked():
            seen.append(current_state(cdir).status)

    reader = threading.Thread(target=read_under_the_lock, daemon=True)
    reader.start()
    reader.join(30)   # not a timing: a deadlock never ends
    assert seen == ["exited"]
    dockyard("rm", cid)


def test_foreground_run_with_a_restart_policy(dockyard, busybox):
    """The restarts outlive the command: the container runs under its own monitor, `run` is
    attached to its first run (stdin included) and exits with that run's code, as docker run."""
    ran = dockyard("run", "--name", "again", "--network", "none", "--restart", "on-failure:1",
                   "busybox", "sh", "-c", "echo y; exit 4", check=False)
    assert (ran.returncode, ran.stdout) == (4, "y\n")
    for _ in range(100):
        state = json.loads(dockyard("inspect", "again").stdout)[0]
        if state["State"]["Status"] == "exited" and state["RestartCount"] == 1:
            break
        time.sleep(0.1)
    assert (state["State"]["ExitCode"], state["RestartCount"]) == (4, 1)
    assert dockyard("logs", "again").stdout == "y\ny\n"
    ran = dockyard("run", "-i", "--name", "input", "--network", "none", "--restart", "always",
                   "busybox", "sh", "-c", "wc -c; exit 5", input=b"abc", check=False)
    assert (ran.returncode, ran.stdout.strip()) == (5, "3")
    dockyard("rm", "-f", "input")


def test_swappiness_device_rule_mac_and_ip_range_flags(dockyard, busybox):
    """dockyard's own CLI sends what the docker CLI sends for --memory-swappiness,
    --device-cgroup-rule, --mac-address and network create's --ip-range / --aux-address."""
    out = dockyard("run", "--rm", "--memory-swappiness", "20", "--device-cgroup-rule", "c 42:* rmw",
                   "--mac-address", "02:00:00:00:00:07", "busybox", "cat", "/sys/fs/cgroup/memory/memory.swappiness",
                   "/sys/class/net/eth0/address", "/sys/fs/cgroup/devices/devices.list").stdout.split("\n")
    assert out[:2] == ["20", "02:00:00:00:00:07"] and "c 42:* rwm" in out, out
    dockyard("network", "create", "--subnet", "172.29.241.0/24", "--ip-range", "172.29.241.64/26",
             "--aux-address", "x=172.29.241.65", "ranged")
    try:
        config = json.loads(dockyard("network", "inspect", "-f", "{{json .IPAM.Config}}", "ranged").stdout)
        assert config == [{"Subnet": "172.29.241.0/24", "IPRange": "172.29.241.64/26", "Gateway": "172.29.241.64",
                           "AuxiliaryAddresses": {"x": "172.29.241.65"}}]
        out = dockyard("run", "--rm", "--network", "ranged", "busybox", "ip", "-4", "addr", "show", "eth0").stdout
        assert "inet 172.29.241.66/24" in out, out
    finally:
        dockyard("network", "rm", "ranged")


def test_log_driver_none_keeps_only_a_bounded_stream(dockyard, busybox):
    """--log-driver none: the output reaches the attached run, `logs` is refused in dockerd's
    words, and what stays on disk is the attachers' stream only, two files of about 1 MiB at most
    (5 MB written), not a log."""
    assert dockyard("run", "--rm", "--log-driver", "none", "busybox", "echo", "hi").stdout == "hi\n"
    dockyard("run", "-d", "--name", "quiet", "--log-driver", "none", "busybox", "sh", "-c",
             "yes 0123456789012345678901234567890123456789 | head -c 5002000")
    assert dockyard("wait", "quiet").stdout == "0\n"
    refused = dockyard("logs", "quiet", check=False)
    assert (refused.returncode, refused.stderr.strip()) == (1, "Error: configured logging driver does not support reading")
    cid = dockyard("inspect", "-f", "{{.Id}}", "quiet").stdout.strip()
    files = sorted((dockyard.root / "containers" / cid).glob("*-json.log*"))
    assert len(files) <= 2 and all(f.stat().st_size < (1 << 20) + 4096 for f in files), files
    dockyard("rm", "quiet")
