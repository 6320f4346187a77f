"""The sources of one COPY/ADD (expanded) that does not name another stage or image: paths in the
context, ADD's http(s) URLs (downloaded, with the checksum Docker records for them) and heredocs
(written to files). `COPY --from` sources are paths in that image's filesystem
(`match.collect_sources(root, ...)`); the build mode finds the image."""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from dockyard.archive.fstree import remove_path
from dockyard.atomic import temp_dir
from dockyard.builder.context import BuildContext
from dockyard.builder.copy.checksum import download_checksum
from dockyard.builder.copy.download import download
from dockyard.builder.copy.match import Source, collect_sources
from dockyard.dataclass import dataclass, field
from dockyard.dockerfile.instructions import AddInstruction, CopyInstruction
from dockyard.errors import InvalidParameter, Unavailable

__all__ = ["TempDirs", "instruction_sources"]


@dataclass
class TempDirs:
    """Temp dirs of downloaded ADD sources and heredocs, removed by `cleanup`."""

    dirs: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        while self.dirs:
            remove_path(self.dirs.pop(), ignore_errors=True)


def _from_context(context: BuildContext, patterns: list[str], kw: str) -> list[Source]:
    found = collect_sources(context.root, patterns, context.ignore, kw)
    for source in found:
        source.cli_excludes = True  # dockerd has the context as the docker CLI sent it
    return found


def instruction_sources(ins: CopyInstruction | AddInstruction, context: BuildContext, tmp: Path,
                        temp: TempDirs, downloaded: Callable[[], None] | None = None) -> list[Source]:
    """The sources in argument order (heredocs last); temp dirs made under `tmp` go to `temp`;
    `downloaded` is called after each URL is fetched (a build mode's progress output). The
    context's are read as dockerd has the context the docker CLI sent (`cli_excludes`)."""
    kw = ins.keyword
    sources: list[Source] = []
    local: list[str] = []
    for src in ins.sources:
        if isinstance(ins, AddInstruction) and urllib.parse.urlparse(src).scheme in ("http", "https"):
            if local:
                sources += _from_context(context, local, kw)
                local = []
            try:
                source = download(src, tmp, ins.checksum)
            except Unavailable as exc:
                raise Unavailable(f"{kw} failed: {exc}") from None
            temp.dirs.append(source.root)
            if downloaded is not None:
                downloaded()
            source.hash = download_checksum(source)
            sources.append(source)
        else:
            if src.startswith(("http://", "https://")):   # COPY's (dockerd: urlutil.IsURL)
                raise InvalidParameter(f"{kw} failed: source can't be a URL for {kw}")
            if isinstance(ins, AddInstruction) and ins.checksum:
                raise ins.error("checksum can't be specified for non-HTTP(S) sources")
            local.append(src)
    if local:
        sources += _from_context(context, local, kw)
    if ins.heredoc_sources:
        work = temp_dir(tmp, "build-heredoc-")
        temp.dirs.append(work)
        for doc in ins.heredoc_sources:
            name = posixpath.basename(doc.path)
            (work / name).write_text(doc.data, errors="surrogateescape")
            os.chmod(work / name, 0o644)
            sources.append(Source(work, name, name, os.lstat(work / name)))
    return sources
