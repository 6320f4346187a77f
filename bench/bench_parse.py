"""Parse a generated 5,000-line Dockerfile and print how long it takes.

    python bench/bench_parse.py [--lines 5000] [--repeat 5]

The file mixes what real Dockerfiles contain: stages, RUN with continuations and comments
inside, heredocs, JSON-form CMD, COPY/ADD with flags, ENV/LABEL pairs, ARGs, HEALTHCHECK.
Reports the best of `repeat` runs for: parse, format (print back), and expanding every
instruction that supports it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from dockyard.dockerfile import format_dockerfile, parse
from dockyard.dockerfile.args import BuildArgs, platform_args

BLOCK = """\
FROM --platform=$BUILDPLATFORM busybox:1.36 AS stage{n}
ARG VERSION{n}=1.{n}
ENV APP_HOME=/opt/app{n} \\
    PATH=/opt/app{n}/bin:$PATH \\
    LANG=C.UTF-8
LABEL org.opencontainers.image.version="${{VERSION{n}}}" maintainer="dev{n}@example.com"
WORKDIR $APP_HOME
RUN set -eux; \\
    # install things
    apk add --no-cache curl ca-certificates; \\
    mkdir -p /opt/app{n}/bin && \\
    echo "built {n}" > /opt/app{n}/VERSION
COPY --chown=1000:1000 --chmod=0644 src/ lib/ $APP_HOME/
ADD --checksum=sha256:{sha} https://example.com/a{n}.tar.gz /tmp/
RUN <<EOF
#!/bin/sh
echo "heredoc {n}"
ls -l $APP_HOME
EOF
EXPOSE 80{d} 443/tcp 53/udp
HEALTHCHECK --interval=30s --timeout=3s CMD wget -q -O- http://localhost/ || exit 1
USER 1000:1000
CMD ["/opt/app{n}/bin/run", "--port", "80{d}"]

"""


def make_dockerfile(lines: int) -> str:
    out: list[str] = ["# syntax=docker/dockerfile:1\n", "ARG BASE=busybox\n"]
    count = 2
    n = 0
    while count < lines:
        block = BLOCK.format(n=n, d=n % 10, sha="ab" * 32)
        out.append(block)
        count += block.count("\n")
        n += 1
    return "".join(out)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    opts = ap.parse_args()
    text = make_dockerfile(opts.lines)
    data = text.encode()
    df = parse(data)
    n_lines = text.count("\n")
    n_ins = len(df.instructions())

    def expand_all() -> None:
        args = BuildArgs({}, platform_args("linux/amd64"))
        args.add_meta_args(df.meta_args, df.lex())
        for stage in df.stages:
            stage.from_instruction.expand(df.lex(), args.from_env())
            args.new_stage()
            env = {"PATH": "/usr/bin:/bin"}
            for ins in stage.instructions:
                expand = getattr(ins, "expand", None)
                if expand is not None:
                    expand(df.lex(), args.expansion_env(env))

    rows = [
        ("parse", best(lambda: parse(data), opts.repeat)),
        ("format (print back)", best(lambda: format_dockerfile(df), opts.repeat)),
        ("expand every instruction", best(expand_all, opts.repeat)),
    ]
    print(f"Dockerfile: {n_lines} lines, {len(data)} bytes, {n_ins} instructions, {len(df.stages)} stages")
    print(f"{'operation':<28}{'best of ' + str(opts.repeat):>14}{'lines/s':>14}")
    for name, secs in rows:
        print(f"{name:<28}{secs * 1000:>11.1f} ms{n_lines / secs:>14,.0f}")


if __name__ == "__main__":
    main()
