"""The inputs the build benches share: the 8-step Dockerfile and its small context, the large
context (10,000 files / 200 MB by default) with its COPY + RUN Dockerfile, and a Dockerfile of N
`RUN true` steps. One home, so every bench times the same builds."""

from __future__ import annotations

import os
from pathlib import Path

EIGHT_STEPS = """\
FROM busybox
ARG V=1
ENV APP=/app
WORKDIR /app
COPY small/ /app/small/
RUN echo "$V" > /app/version && ls /app/small > /app/list
LABEL bench=yes
CMD ["sh"]
"""

BIG = """\
FROM busybox
COPY . /ctx/
RUN test -f /ctx/Dockerfile
CMD ["sh"]
"""


def make_small(root: Path) -> None:
    (root / "small").mkdir(parents=True)
    for i in range(20):
        (root / "small" / f"f{i}.txt").write_text(f"file {i}\n" * 50)
    (root / "Dockerfile").write_text(EIGHT_STEPS)


def make_big(root: Path, files: int = 10_000, total_mb: int = 200) -> None:
    size = (total_mb << 20) // files
    blob = os.urandom(size + 4096)
    for i in range(files):
        d = root / f"d{i % 50:02d}" / f"s{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        off = i % 4096
        (d / f"f{i}.bin").write_bytes(blob[off:off + size])
    (root / "Dockerfile").write_text(BIG)


def make_runs(root: Path, steps: int = 20) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text("FROM busybox\n" + "".join(f"RUN true # {i}\n" for i in range(steps)))
