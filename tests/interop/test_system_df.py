"""`docker system df` (and -v) through Debian's docker CLI 20.10 on dockyard serve and the
reference dockerd: an image's SharedSize (the bytes of its layers another image has too) and
VirtualSize, which dockyard left at -1 and absent, so RECLAIMABLE and SHARED/UNIQUE SIZE read
N/A or 100% where dockerd counts what removing the images would free."""

from __future__ import annotations

from tests.interop.conftest import Engine


def test_shared_sizes(engine: Engine) -> None:
    try:
        engine.docker("run", "--name", "df-c1", "--network", "none", "busybox", "sh", "-c",
                      "head -c 50000 /dev/zero > /f")
        engine.docker("commit", "df-c1", "df-img:1")
        engine.docker("run", "-d", "--name", "df-c2", "--network", "none", "df-img:1", "sleep", "100")
        rows = {line.split()[0]: line.split()
                for line in engine.docker("system", "df", "-v").stdout.decode().splitlines()
                if line.startswith(("busybox ", "df-img "))}
        # REPOSITORY TAG ID CREATED... SIZE SHARED UNIQUE CONTAINERS: the last four columns
        assert rows["df-img"][-3:] == [rows["busybox"][-3], "50kB", "1"], rows
        assert rows["busybox"][-2:] == ["0B", "1"] and rows["busybox"][-3].endswith("MB"), rows
    finally:
        engine.docker("rm", "-f", "df-c1", "df-c2", check=False)
        engine.docker("rmi", "df-img:1", check=False)
