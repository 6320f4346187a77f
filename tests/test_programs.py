"""dockyard.programs.which finds programs as shutil.which does (without importing shutil: a
client-mode build looks up docker's default credential helpers at each start when config.json
names no credentials, a cold build the OCI runtime): the first executable file on PATH, not a
directory nor a plain file; a name with a slash as it is."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dockyard.programs import which


def test_which_is_shutil_which(tmp_path: Path, monkeypatch) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder in (a, b, c):
        folder.mkdir()
    (a / "prog").mkdir()                       # a directory of that name
    (b / "prog").write_text("#!/bin/sh\n")     # not executable
    (c / "prog").write_text("#!/bin/sh\n")
    (c / "prog").chmod(0o755)
    (a / "only-a").write_text("")
    (a / "only-a").chmod(0o755)
    (tmp_path / "here").write_text("")
    (tmp_path / "here").chmod(0o755)
    monkeypatch.chdir(tmp_path)                # an empty PATH entry is the current directory
    paths = [f"{a}:{b}:{c}", f"{c}:{a}", f"{a}:{a}:{b}", f"{b}", "", f"{tmp_path}/missing:{c}", f"::{c}", f"{a}:"]
    programs = ["prog", "only-a", "none", "here", str(c / "prog"), str(b / "prog"), "c/prog", "a/prog", "./here"]
    found = 0
    for path in paths:
        for program in programs:
            expected = shutil.which(program, path=path)
            assert which(program, path=path) == expected, (path, program)
            found += expected is not None
    assert found > 10  # the comparison can fail: most lookups find something
    monkeypatch.setenv("PATH", f"{b}:{c}")     # no path: the environment's
    assert which("prog") == shutil.which("prog") == str(c / "prog")
    monkeypatch.delenv("PATH")
    assert which("sh") == shutil.which("sh") and os.path.basename(which("sh") or "") == "sh"
