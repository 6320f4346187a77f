"""builder/copy/sources.instruction_sources: the sources of one COPY/ADD, as any build mode gets
them (context paths through .dockerignore, heredocs written to files, ADD's refusal of a
checksum for a local source), and their temp dirs removed by TempDirs.cleanup."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dockyard.builder.context import open_context
from dockyard.builder.copy.checksum import checksum, sources_hash
from dockyard.builder.copy.sources import TempDirs, instruction_sources
from dockyard.dockerfile import ShellLex, parse_instruction
from dockyard.errors import DockerfileError, InvalidParameter


def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "app").mkdir(parents=True)
    (ctx / "app" / "main.py").write_text("print('hi')\n")
    (ctx / "secret.key").write_text("k")
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    (ctx / ".dockerignore").write_text("*.key\n")
    return ctx


def expanded(text: str):  # noqa: ANN201
    return parse_instruction(text).expand(ShellLex("\\"), {"D": "app"})  # type: ignore[attr-defined]


def test_context_paths_then_heredocs(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    temp = TempDirs()
    with open_context(context(tmp_path), tmp_dir=tmp) as ctx:
        ins = expanded("COPY $D <<EOF /dst/\nhello $D\nEOF")
        sources = instruction_sources(ins, ctx, tmp, temp)
        assert [(s.rel, s.name) for s in sources] == [("app", "app"), ("EOF", "EOF")]
        assert sources[1].path.read_text() == "hello app\n"
        assert stat.S_IMODE(sources[1].st.st_mode) == 0o644
        for s in sources:
            s.hash = checksum(s)
        assert sources[0].hash.startswith("dir:") and sources[1].hash.startswith("file:")
        assert sources_hash(sources).startswith("multi:")
        assert len(temp.dirs) == 1 and temp.dirs[0].parent == tmp
    temp.cleanup()
    assert list(tmp.iterdir()) == []


def test_excluded_source_is_not_found_and_add_checksum_needs_a_url(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with open_context(context(tmp_path), tmp_dir=tmp) as ctx:
        with pytest.raises(InvalidParameter, match="file not found in build context or excluded"):
            instruction_sources(expanded("COPY secret.key /"), ctx, tmp, TempDirs())
        with pytest.raises(DockerfileError, match="checksum can't be specified for non-HTTP"):
            instruction_sources(expanded("ADD --checksum=sha256:00 app /"), ctx, tmp, TempDirs())
