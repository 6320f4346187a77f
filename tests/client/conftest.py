from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.api.conftest import start_server


@pytest.fixture
def daemon(store_root: Path):  # noqa: ANN201
    """A real `dockyard serve` on the test's store."""
    tmp = Path(tempfile.mkdtemp(prefix="dy-cli-", dir="/tmp"))  # short: socket paths <= 107 bytes
    server = start_server(store_root, tmp)
    yield server
    server.stop()
    shutil.rmtree(tmp, ignore_errors=True)
