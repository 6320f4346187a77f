"""An image as the comparisons see it: its config without times, its history without times, and
each layer's entries (name, type, mode, owner, size, content digest, link target) without
mtimes or user names, read from a `docker save` archive (either engine's)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Entry:
    name: str
    type: str
    mode: int
    uid: int
    gid: int
    size: int
    digest: str
    link: str

    def __str__(self) -> str:
        return f"{self.name} {self.type} {self.mode:o} {self.uid}:{self.gid} {self.size} {self.digest[:8]} {self.link}"


@dataclass
class ImageShape:
    image_id: str
    raw_config: bytes
    config: dict[str, Any]
    history: list[tuple[str | None, str | None, bool]]   # created_by, comment, empty_layer
    times: list[str | None]
    layers: list[list[Entry]]
    diff_ids: list[str]
    contents: dict[str, bytes]       # the final content of each regular file

    def read(self, path: str) -> str:
        """A file of the image's final filesystem, as text (as `cat` in a container prints it)."""
        return self.contents[path.lstrip("/")].decode()

    @property
    def top_keys(self) -> list[str]:
        return list(json.loads(self.raw_config))

    def new_layers(self, base: int = 1) -> list[list[Entry]]:
        return self.layers[base:]

    def files(self) -> dict[str, Entry]:
        out: dict[str, Entry] = {}
        for layer in self.layers:
            for e in layer:
                out[e.name] = e
        return out


def _entries(data: bytes, contents: dict[str, bytes]) -> list[Entry]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            digest = ""
            name = m.name.rstrip("/").removeprefix("./")
            head, _, base = name.rpartition("/")
            if base.startswith(".wh."):
                contents.pop(f"{head}/{base[4:]}".lstrip("/"), None)
            if m.isreg():
                body = tar.extractfile(m)
                content = body.read() if body else b""
                digest = hashlib.sha256(content).hexdigest()
                contents[name] = content
            kind = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "sym", tarfile.LNKTYPE: "link",
                    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file"}.get(m.type, m.type.decode())
            out.append(Entry(name, kind, m.mode & 0o7777, m.uid,
                             m.gid, m.size, digest, m.linkname))
    return out


def read_archive(data: bytes) -> ImageShape:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}

        def read(name: str) -> bytes:
            f = tar.extractfile(members[name])
            assert f is not None
            return f.read()

        manifest = json.loads(read("manifest.json"))[0]
        raw = read(manifest["Config"])
        config = json.loads(raw)
        contents: dict[str, bytes] = {}
        layers = [_entries(read(name), contents) for name in manifest["Layers"]]
    history = [(h.get("created_by"), h.get("comment"), bool(h.get("empty_layer")))
               for h in config.get("history", [])]
    times = [h.get("created") for h in config.get("history", [])]
    return ImageShape("sha256:" + hashlib.sha256(raw).hexdigest(), raw, config, history, times,
                      layers, config["rootfs"]["diff_ids"], contents)


def without_times(config: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in config.items() if k not in ("created", "history", "rootfs")}
    return out


def progress_lines(text: str) -> list[str]:
    """The progress output as comparable lines: `#N` numbers and timings kept out, the 20.10
    CLI's `#N sha256:...` lines dropped, RUN output lines kept without their time."""
    import re

    out = []
    for line in text.splitlines():
        if re.match(r"^#\d+ sha256:[0-9a-f]{64}$", line):
            continue
        line = re.sub(r"^#\d+ ", "# ", line)
        line = re.sub(r"^# \d+\.\d+ ", "# [t] ", line)
        line = re.sub(r"^# DONE \d+\.\d+s$", "# DONE", line)
        line = re.sub(r" \d+\.\d+s done$", " done", line)
        line = re.sub(r"^(# transferring \w+: )\d+B", r"\1NB", line)
        out.append(line)
    return out


def step_lines(text: str) -> list[tuple[str, str]]:
    """(step name, line) for each later line of a step in a plain progress output (`#N ...`)."""
    import re

    names: dict[str, str] = {}
    out = []
    for line in text.splitlines():
        m = re.match(r"^#(\d+) (.*)$", line)
        if not m:
            continue
        index, rest = m.groups()
        if index not in names:
            names[index] = rest
        else:
            out.append((names[index], rest))
    return out


def steps(text: str) -> dict[str, str]:
    """Each step of a plain progress output and how it ended: DONE, CACHED or ERROR."""
    return {name: rest.split(" ")[0].rstrip(":") for name, rest in step_lines(text)
            if rest == "CACHED" or rest.startswith("DONE") or rest.startswith("ERROR")}
