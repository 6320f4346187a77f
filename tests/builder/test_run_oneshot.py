"""The classic builder's RUN in a one-shot container (runtime/oneshot.py): nothing durable, one
runtime process, and still nothing left behind, by a step that ends, fails, or is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def _build(dockyard, tmp_path: Path, dockerfile: str, *args: str, check: bool = True):  # noqa: ANN001, ANN202
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    return dockyard("build", *args, str(ctx), check=check)


def _left(root: Path) -> dict[str, list[str]]:
    """What a build may leave: containers, the runtime's containers, temp folders, mounts."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if line.split()[4].startswith(f"{root}/")]
    listed = {d: sorted(os.listdir(root / d)) if (root / d).is_dir() else []
              for d in ("containers", "runc", "tmp")}
    return {**listed, "mounts": mounts}


NOTHING = {"containers": [], "runc": [], "tmp": [], "mounts": []}


def test_a_run_step_leaves_nothing_and_journals_its_container(dockyard, busybox, tmp_path: Path) -> None:
    out = _build(dockyard, tmp_path, "FROM busybox\nRUN echo out; echo err >&2; touch /made\n")
    assert "out\n" in out.stdout and "\x1b[91merr\n\x1b[0m" in out.stdout  # in either order
    cid = next(l.split()[-1] for l in out.stdout.splitlines() if l.startswith(" ---> Running in "))
    assert f"Removing intermediate container {cid}" in out.stdout
    assert _left(dockyard.root) == NOTHING
    # the events dockerd's classic builder causes for its step container, in its order
    events = [json.loads(line) for line in (dockyard.root / "events" / "journal").read_text().splitlines()]
    mine = [e for e in events if e["Type"] == "container" and e["id"].startswith(cid)]
    assert [e["Action"] for e in mine] == ["create", "start", "die", "destroy"]
    assert mine[2]["Actor"]["Attributes"]["exitCode"] == "0"
    assert mine[0]["Actor"]["Attributes"]["image"] == busybox
    assert dockyard("run", "--rm", out.stdout.split()[-1], "ls", "/made").stdout == "/made\n"


def test_a_step_that_fails_or_cannot_start_leaves_nothing(dockyard, busybox, tmp_path: Path) -> None:
    failed = _build(dockyard, tmp_path, "FROM busybox\nRUN echo before; exit 3\n", check=False)
    assert failed.returncode == 3 and "before\n" in failed.stdout
    assert "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3" in failed.stderr
    assert _left(dockyard.root) == NOTHING
    # The runtime's own error (it writes it on the stderr the process would have had) is the
    # build's error, as dockerd words a create failure, and not part of the step's output.
    missing = _build(dockyard, tmp_path, 'FROM busybox\nRUN ["nope"]\n', check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "Error: failed to create shim task: OCI runtime create failed: runc create "
        'failed: unable to start container process: exec: "nope": executable file not found '
        "in $PATH: unknown")
    assert "not found" not in missing.stdout and missing.stdout.rstrip().endswith(" ---> Running in "
                                                                                   + missing.stdout.split()[-1])
    assert _left(dockyard.root) == NOTHING


def test_a_step_killed_with_its_runtime_leaves_nothing_after_the_next_steps(dockyard, busybox,
                                                                             tmp_path: Path) -> None:
    """kill -9 of the build's process group (the CLI and the runtime) while RUN runs: the
    overlay stays mounted in the dead process's temp folder and the runtime keeps its state.
    The next start detaches and removes the folder; the next one-shot container deletes the
    dead runtime container (its cgroup with it)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo started; sleep 60\n")
    proc = subprocess.Popen([sys.executable, "-m", "dockyard", "build", str(ctx)], cwd=REPO,
                            env=dockyard.env, stdout=subprocess.PIPE, start_new_session=True)
    seen = b""
    assert proc.stdout is not None
    while b"started\n" not in seen:
        data = proc.stdout.read1(4096)
        assert data, seen
        seen += data
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    left = _left(dockyard.root)
    assert len(left["runc"]) == 1 and left["runc"][0].startswith("oneshot-") and left["mounts"]
    cgroups = list(Path("/sys/fs/cgroup").glob(f"*/dockyard/{left['runc'][0]}"))   # named so
    assert cgroups
    dockyard("images")  # the next start: the dead folder goes, its mount detached first
    left = _left(dockyard.root)
    assert left["tmp"] == [] and left["mounts"] == []
    _build(dockyard, tmp_path, "FROM busybox\nRUN true\n")
    assert _left(dockyard.root) == NOTHING
    deadline = time.monotonic() + 60
    while any(c.exists() for c in cgroups) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [c for c in cgroups if c.exists()] == []


def test_cgroups_a_runtime_killed_mid_create_left_go_with_the_next_step(dockyard, busybox,
                                                                         tmp_path: Path) -> None:
    """A step's runtime killed while it made the container (its cgroups made, its state not
    yet saved: the crash sweeps' kills of builds) left a state folder its `delete` does not know
    and empty cgroups that nothing could tie to a store (they were named after a random ID).
    Named after the runtime's name, which says its owner, they go with the dead owner's runtime
    container at the next step; another store's stay."""
    dead = "oneshot-1-deadbeef-0123456789abcdef"      # pid 1's folder is no store's: its owner is gone
    mine = dockyard.root / "runc" / dead
    mine.mkdir(parents=True)
    hierarchies = [p for p in Path("/sys/fs/cgroup").iterdir() if (p / "dockyard").is_dir()]
    made = [h / "dockyard" / dead for h in hierarchies]
    theirs = hierarchies[0] / "dockyard" / "oneshot-1-feedface-0123456789abcdef"
    try:
        for path in (*made, theirs):
            path.mkdir()
        _build(dockyard, tmp_path, "FROM busybox\nRUN true\n")
        assert [p for p in made if p.exists()] == [] and not mine.exists()
        assert theirs.is_dir()
    finally:
        for path in (*made, theirs):
            if path.exists():
                path.rmdir()


def test_the_steps_before_a_failed_one_are_cache(dockyard, busybox, tmp_path: Path) -> None:
    """A step's image is published at the end of the build (store.publish_images), failed or
    not: the steps before the failed one are cache for the next build, as dockerd keeps them."""
    failed = _build(dockyard, tmp_path, "FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nRUN exit 5\n",
                    check=False)
    assert failed.returncode == 5
    again = _build(dockyard, tmp_path, "FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nRUN true\n")
    assert again.stdout.count(" ---> Using cache") == 2 and again.stdout.count("Running in") == 1


COUNTED = r'''
import sys, atexit
import dockyard.store.layers as layers
real = layers.LayerStore.link_name
seen = []
def link_name(self, diff_id):
    seen.append(diff_id.hex)
    return real(self, diff_id)
layers.LayerStore.link_name = link_name
atexit.register(lambda: sys.stderr.write("looked up: " + ",".join(seen) + "\n"))
from dockyard.main import run
sys.argv = ["dockyard", *sys.argv[1:]]
run()
'''


def test_a_run_chain_looks_each_layer_up_once_per_build(dockyard, busybox, tmp_path: Path) -> None:
    """A RUN's lower dirs: each layer's tree is looked up in the store once per build (the
    build's lease keeps every layer it uses, tree and all), not once per RUN above it; a tree
    removed between two builds is unpacked again by the next."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nRUN cat /a /b > /c\n"
                                    "RUN test \"$(cat /c)\" = \"$(printf 'a\\nb')\"\n")
    script = tmp_path / "counted.py"
    script.write_text(COUNTED)

    def build() -> list[str]:
        proc = subprocess.run([sys.executable, str(script), "build", "--no-cache", str(ctx)], cwd=REPO,
                              env=dockyard.env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stderr.strip().split("\n")[-1].removeprefix("looked up: ").split(",")

    looked = build()
    assert len(looked) == len(set(looked)) == 4, looked  # busybox's layer and three RUN layers (10 without)
    base = json.loads(dockyard("image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox").stdout)[0]
    layer = dockyard.root / "layers" / base.removeprefix("sha256:")
    (dockyard.root / "l" / (layer / "link").read_text()).unlink()
    subprocess.run(["rm", "-rf", str(layer / "diff")], check=True)
    assert base.removeprefix("sha256:") in build() and (layer / "diff").is_dir()


SETTLED = r'''
import sys, atexit
import dockyard.builder.classic.state as state
real = state.ClassicBuild.settle
mounted = []
def settle(self):
    root = str(self.store.root.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        mounted.append(sum(1 for line in f if line.split()[4].startswith(root)))
    return real(self)
state.ClassicBuild.settle = settle
atexit.register(lambda: sys.stderr.write("mounted at settle: " + ",".join(map(str, mounted)) + "\n"))
from dockyard.main import run
sys.argv = ["dockyard", *sys.argv[1:]]
run()
'''


def test_the_last_run_is_undone_before_the_build_waits_for_its_images(dockyard, busybox, tmp_path: Path) -> None:
    """The last RUN's overlay (and its directory) is left for a next runtime to undo it behind
    (runtime/leftover.py); there is none, and the build's end waits for its images' writes: it
    goes first (ClassicBuild.steps_done), so its unmount and removal run meanwhile."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo a > /a\nLABEL a=b\nCMD [\"sh\"]\n")
    script = tmp_path / "settled.py"
    script.write_text(SETTLED)
    proc = subprocess.run([sys.executable, str(script), "build", "--no-cache", str(ctx)], cwd=REPO,
                          env=dockyard.env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mounted = proc.stderr.strip().split("\n")[-1].removeprefix("mounted at settle: ").split(",")
    assert mounted[-1] == "0", mounted  # the last settle, the build's end (1 without: the RUN's overlay)
    assert _left(dockyard.root) == NOTHING
