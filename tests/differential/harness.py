"""Running the same input through dockerd (the reference) and dockyard, and what is compared.

Compared, after normalising only what legitimately varies between two runs of the same engine:
- the build's output, line by line (steps, `Using cache`, RUN's own output, warnings), its error
  message and its exit status;
- each built image's config (run config, history strings, author, os/arch...) and the files of
  each of its layers: type, mode, owner, size, content hash, link target, xattrs, whiteouts
  (deletions); layer by layer, so what a step adds or deletes is compared where it happens.

What is normalised, and why (each a value that differs between two runs of Docker itself):
- times: `created` of the config and of each history entry, file mtimes in layers;
- IDs derived from times: image IDs (the config holds `created`), the random IDs of build
  containers (`Running in`, `Removing intermediate container`, `container`, the Hostname a build
  container gets), the parent image ID in `Image` (except the base image's, the same on both sides);
  layer diff IDs (the layer tars hold mtimes: layers are compared by their files instead);
- `docker_version`: the engine's own version string (dockyard writes its own);
- the user and group *names* in layer tar headers (`uname`/`gname`: looked up in the daemon
  host's /etc/passwd, not part of the image's filesystem) and the order of entries in a layer
  tar (a directory walk's order; the filesystem the layer gives is the same);
- the docker CLI's `Sending build context to Docker daemon  N kB` line: the CLI's upload
  progress; a dockyard build run in-process sends its context nowhere.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tests.conftest import Dockyard, Result, at_once
from tests.dockerd import DockerDaemon

_HEX12 = r"[0-9a-f]{12}"
_LINE_RULES = [
    (re.compile(rf"^ ---> {_HEX12}$"), " ---> <image>"),
    (re.compile(rf"^ ---> Running in {_HEX12}$"), " ---> Running in <container>"),
    (re.compile(rf"^Successfully built {_HEX12}$"), "Successfully built <image>"),
]
# RUN's output may end without a newline: this line is then the end of one of its lines.
_REMOVING = re.compile(rf"Removing intermediate container {_HEX12}$")
_SENDING = re.compile(r"^Sending build context to Docker daemon\s")
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
_BUILT = re.compile(rf"^Successfully built ({_HEX12})$", re.MULTILINE)
# Docker writes each chunk a RUN prints on stderr between ESC[91m and ESC[0m; where one chunk ends
# and the next begins depends on how the writes and reads met in time, so the boundaries between
# two stderr chunks in a row are dropped (what was printed, and that it was red, stay compared).
_CHUNK_BOUNDARY = "\x1b[0m\x1b[91m"


def normalise_output(text: str) -> list[str]:
    """The build output's lines with the varying IDs replaced (see the module's docstring)."""
    out = []
    text = text.replace("\r\n", "\n").replace(_CHUNK_BOUNDARY, "")
    for line in text.split("\n"):
        if _SENDING.match(line):
            continue
        for pattern, replacement in _LINE_RULES:
            if pattern.match(line):
                line = replacement
                break
        line = _REMOVING.sub("Removing intermediate container <container>", line)
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out


_ERROR_PREFIXES = ("Error response from daemon: ", "Error: ")


def normalise_error(text: str) -> str:
    """An error's text without the CLI's own prefix: the docker CLI writes `Error response from
    daemon: ` before an error the API call returned (a build that fails before it starts), and
    the daemon's message as it is for an error in the build's stream; dockyard's CLI writes
    `Error: ` before any error (its rule for every command). IDs as above."""
    lines = [l for l in text.strip().splitlines() if l.strip()]
    for prefix in _ERROR_PREFIXES:
        lines = [l[len(prefix):] if l.startswith(prefix) else l for l in lines]
    return _IMAGE_ID.sub("sha256:<id>", "\n".join(lines))


# --------------------------------------------------------------------------- images


@dataclass
class ImageSnapshot:
    config: dict[str, Any]
    layers: list[list[tuple]]   # per layer: sorted file entries


def _entry(member: tarfile.TarInfo, body: bytes | None) -> tuple:
    xattrs = tuple(sorted((k, v) for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr.")))
    kind = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
            tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.FIFOTYPE: "fifo",
            tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block"}.get(member.type, repr(member.type))
    digest = hashlib.sha256(body).hexdigest()[:16] if body is not None else ""
    return (member.name.rstrip("/"), kind, oct(member.mode & 0o7777), member.uid, member.gid,
            member.size if kind == "file" else 0, digest, member.linkname,
            (member.devmajor, member.devminor) if kind in ("char", "block") else (), xattrs)


def layer_entries(data: bytes) -> list[tuple]:
    import io

    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            body = tar.extractfile(m).read() if m.isreg() else None  # type: ignore[union-attr]
            out.append(_entry(m, body))
    return sorted(out)


def read_saved(path: Path, skip_layers: int) -> ImageSnapshot:
    """The config and the layers (past the first `skip_layers`) of a one-image `save` archive."""
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        item = manifest[0]
        config = json.load(tar.extractfile(item["Config"]))  # type: ignore[arg-type]
        layers = [layer_entries(tar.extractfile(name).read())  # type: ignore[union-attr]
                  for name in item["Layers"][skip_layers:]]
    return ImageSnapshot(config, layers)


def normalise_config(config: dict[str, Any], base_id: str) -> dict[str, Any]:
    """The config with times and time-derived IDs replaced (see the module's docstring)."""
    c = json.loads(json.dumps(config))
    c.pop("created", None)
    for h in c.get("history") or []:
        h.pop("created", None)
    if c.get("container"):
        c["container"] = "<container>"
    c["docker_version"] = "<engine>"
    rootfs = c.get("rootfs") or {}
    if "diff_ids" in rootfs:
        rootfs["diff_ids"] = f"<{len(rootfs['diff_ids'])} layers>"
    for key in ("config", "container_config"):
        run = c.get(key)
        if not isinstance(run, dict):
            continue
        if re.fullmatch(_HEX12, run.get("Hostname") or ""):
            run["Hostname"] = "<container>"
        image = run.get("Image")
        if isinstance(image, str) and _IMAGE_ID.fullmatch(image) and image != base_id:
            run["Image"] = "<parent image>"
    return c


# --------------------------------------------------------------------------- the two sides


@dataclass
class Outcome:
    """What one side did with one input."""

    returncode: int
    output: list[str]
    error: str
    image: ImageSnapshot | None = None

    def summary(self) -> dict[str, Any]:
        return {"returncode": self.returncode, "output": self.output, "error": self.error}


class Pair:
    """dockerd and a dockyard store, with the same busybox base image in both."""

    def __init__(self, docker: DockerDaemon, dockyard: Dockyard, base_id: str, work: Path) -> None:
        self.docker = docker
        self.dockyard = dockyard
        self.base_id = base_id
        self.work = work
        self.base_layers = 1
        # a build's image snapshot by side and image ID, taken once: a build that makes an image
        # the side has made before (each case's second build, all cache hits) has that one's
        # snapshot, as an image ID is the digest of its config, which holds its layers' diff IDs
        self._snapshots: dict[tuple[str, str], ImageSnapshot] = {}

    # each side runs a CLI: `docker` against dockerd, `dockyard` in-process on its store
    def run_docker(self, *args: str, cwd: Path | None = None, input: bytes | None = None) -> Result:
        return self.docker.docker(*args, check=False, cwd=cwd, input=input, timeout=300)

    def run_dockyard(self, *args: str, cwd: Path | None = None, input: bytes | None = None) -> Result:
        return self.dockyard.run(*args, check=False, input=input)

    def both(self, docker: Callable[[], Any], dockyard: Callable[[], Any]) -> tuple[Any, Any]:
        """Run the two sides at once (separate processes and stores: nothing shared)."""
        return at_once(docker, dockyard)

    def snapshot(self, side: str, ref: str) -> ImageSnapshot:
        path = Path(tempfile.mkstemp(dir=self.work, suffix=".tar")[1])
        try:
            if side == "docker":
                self.docker.docker("save", "-o", str(path), ref)
            else:
                self.dockyard("save", "-o", str(path), ref)
            snap = read_saved(path, self.base_layers)
        finally:
            path.unlink()
        snap.config = normalise_config(snap.config, self.base_id)
        return snap

    def build(self, side: str, context: Path, args: list[str], tag: str) -> Outcome:
        run = self.run_docker if side == "docker" else self.run_dockyard
        r = run("build", "-t", tag, *args, str(context))
        outcome = Outcome(r.returncode, normalise_output(r.stdout), normalise_error(r.stderr))
        if r.returncode == 0:
            built = _BUILT.search(r.stdout)
            key = (side, built.group(1)) if built else None
            outcome.image = self._snapshots.get(key) if key else None
            if outcome.image is None:
                outcome.image = self.snapshot(side, tag)
                if key:
                    self._snapshots[key] = outcome.image
        return outcome

def copy_case(src: Path, dest: Path, prepare: str | None) -> Path:
    """The case's context, copied (symlinks as symlinks), then its `prepare` script run in it:
    what git cannot hold (modes, empty directories, special files, owners)."""
    shutil.copytree(src, dest, symlinks=True)
    if prepare:
        run_prepare(dest, prepare)
    return dest


def run_prepare(ctx: Path, script: str) -> None:
    subprocess.run(["sh", "-euc", script], cwd=ctx, check=True)


def diff_images(docker: ImageSnapshot, dockyard: ImageSnapshot) -> list[str]:
    """Human-readable differences between the two images (empty when they agree)."""
    out: list[str] = []
    for key in sorted(set(docker.config) | set(dockyard.config)):
        a, b = docker.config.get(key), dockyard.config.get(key)
        if a != b:
            out.append(f"config {key}:\n  docker:   {json.dumps(a, sort_keys=True)}\n"
                       f"  dockyard: {json.dumps(b, sort_keys=True)}")
    if len(docker.layers) != len(dockyard.layers):
        out.append(f"layers: docker has {len(docker.layers)}, dockyard {len(dockyard.layers)}")
    for i, (la, lb) in enumerate(zip(docker.layers, dockyard.layers)):
        if la != lb:
            sa, sb = set(la), set(lb)
            only_a = sorted(sa - sb)
            only_b = sorted(sb - sa)
            out.append(f"layer {i + 1} (after the base):\n"
                       + "".join(f"  docker only:   {e}\n" for e in only_a)
                       + "".join(f"  dockyard only: {e}\n" for e in only_b))
    return out
