"""runtime/oci.py's runtime lookup: a runtime found on PATH is not looked for again (every
container asks, a build's RUN steps too); one not found is looked for each time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime import oci


def test_a_runtime_found_is_remembered_one_missing_is_looked_for_again(tmp_path: Path,
                                                                        monkeypatch) -> None:  # noqa: ANN001
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(InvalidParameter, match="runtime crun is not installed"):
        oci.choose_runtime(tmp_path, "crun")
    fake = bin_dir / "crun"
    fake.write_text("#!/bin/sh\n")
    os.chmod(fake, 0o755)
    assert oci.choose_runtime(tmp_path, "crun") == "crun"   # installed meanwhile: found
    fake.unlink()
    assert oci.choose_runtime(tmp_path, "crun") == "crun"   # remembered for this PATH
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InvalidParameter, match="runtime crun is not installed"):
        oci.choose_runtime(tmp_path, "crun")                 # another PATH: looked for
