"""The session's reference dockerd (tests/dockerd.py) and one dockyard store for the whole
differential suite, with the same busybox base image in both: imported into dockyard, saved, and
loaded into dockerd, so the base image ID is the same on both sides."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.store.store import Store
from tests.conftest import Dockyard
from tests.differential.harness import Pair
from tests.dockerd import DockerDaemon


@pytest.fixture(scope="session")
def pair(dockerd: DockerDaemon, busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    work = tmp_path_factory.mktemp("differential")
    root = work / "store"
    Store(root)
    dockyard = Dockyard(root)
    base_id = dockyard("import", str(busybox_tar), "busybox:latest").stdout.strip()
    saved = work / "busybox-image.tar"
    dockyard("save", "-o", str(saved), "busybox:latest")
    # (`busybox:latest` in dockerd moves to this image: the session fixture imported its own)
    loaded = dockerd("load", "-i", str(saved)).stdout
    assert "Loaded image: busybox:latest" in loaded, loaded
    inspected = dockerd.docker("image", "inspect", "--format", "{{.Id}}", "busybox:latest").stdout.strip()
    assert inspected == base_id, (inspected, base_id)
    return Pair(dockerd, dockyard, base_id, work)
