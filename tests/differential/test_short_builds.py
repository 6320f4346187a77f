"""Short Dockerfiles through dockerd 20.10's classic builder and through dockyard, several at once:
what the user sees (the output step by step, the error line, the exit status) and, for those that
build, the image (config, history, layers). Each case is a few lines a user writes, most of them
wrong in one way; a case is (name, Dockerfile, files of the context).

What dockerd answers where it is hostile (a crash, a silently ignored option) is not copied:
those cases are in tests/builder with dockerd's answer in their docstring instead."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


from tests.differential.harness import Pair
from tests.differential.test_build_cases import compare

# The three places dockerd 20.10 words a Dockerfile's error: its parser's (a line's syntax, a
# directive) as `failed to parse Dockerfile: ...`, an instruction's arguments as `dockerfile parse
# error line N: ...`, and what the file as a whole or a running step finds with no location.
ERRORS = [
    ("env-one-word", "FROM busybox\nENV A\n", {}),
    ("label-half-pair", "FROM busybox\nLABEL a=1 b\n", {}),
    ("json-not-strings", 'FROM busybox\nCMD ["a", 1]\n', {}),
    ("escape-token", "# escape=x\nFROM busybox\n", {}),
    ("escape-twice", "# escape=`\n# escape=\\\nFROM busybox\n", {}),
    ("only-comments", "# a\n# b\n", {}),
    ("blank-lines", "\n   \n\t\n", {}),
    ("empty-file", "", {}),
    ("no-from", "RUN true\n", {}),
    ("env-nothing", "FROM busybox\nENV\n", {}),
    ("bad-substitution", "FROM busybox\nENV B=${}\n", {}),
    ("unterminated-quote", 'FROM busybox\nENV A="open\n', {}),
    ("stopsignal-name", "FROM busybox\nSTOPSIGNAL FOO\n", {}),
    ("from-blank", "ARG X\nFROM ${X}\n", {}),
    # an ONBUILD trigger dockerd's parser read is stored; the child's FROM fails on it
    ("trigger-unknown", "FROM busybox AS p\nONBUILD FOO bar\nFROM p\n", {}),
    ("trigger-flag", "FROM busybox AS p\nONBUILD COPY --bad=1 a b\nFROM p\n", {}),
    ("trigger-text", "FROM busybox AS p\nONBUILD ENV A\nFROM p\n", {}),
    # a HEALTHCHECK duration of zero is refused (an empty one is the default)
    ("health-zero", "FROM busybox\nHEALTHCHECK --interval=0s --retries=0 CMD true\n", {}),
    ("health-zero-start", "FROM busybox\nHEALTHCHECK --start-period=0 CMD true\n", {}),
    # COPY --from=N names the Nth stage, as strconv.Atoi reads N; one not built yet is no image
    ("from-later-index", "FROM busybox\nCOPY --from=1 /etc/passwd /x\nFROM busybox\n", {}),
    ("from-negative-index", "FROM busybox\nCOPY --from=-1 /etc/passwd /x\n", {}),
    ("stage-name-twice", "FROM busybox AS a\nFROM busybox AS A\n", {}),
    # EXPOSE's ports as go-connections reads them: ASCII digits up to 65535, no sign
    ("expose-word", "FROM busybox\nEXPOSE abc\n", {}),
    ("expose-signed", "FROM busybox\nEXPOSE 80 +5\n", {}),
    ("expose-too-big", "FROM busybox\nEXPOSE 99999\n", {}),
    ("expose-backwards", "FROM busybox\nEXPOSE 90-80/udp\n", {}),
    ("expose-open-range", "FROM busybox\nEXPOSE 80-\n", {}),
    ("expose-proto", "FROM busybox\nEXPOSE 80/xyz\n", {}),
    ("copy-url", "FROM busybox\nCOPY http://127.0.0.1:1/f.txt /x\n", {}),
]


# Dockerfiles that build (or fail in a step, as dockerd's do), their images compared too; they
# run at the same time, so no two share a step (one's cache hit would depend on the other's speed)
BUILDS = [
    # an instruction with no text is the SHELL alone: CMD ["/bin/sh", "-c"]; no ENTRYPOINT;
    # RUN runs `/bin/sh -c`, which fails
    ("cmd-alone", 'FROM busybox\nSHELL ["/bin/sh", "-xc"]\nCMD\n', {}),
    ("entrypoint-alone", "FROM busybox\nENTRYPOINT\n", {}),
    ("run-alone", "FROM busybox\nRUN\n", {}),
    ("health-empty-durations", "FROM busybox\nHEALTHCHECK --interval= --timeout= CMD true\n", {}),
    ("expose-forms", "FROM busybox\nEXPOSE 0 08 80/SCTP 7-9/UDP 10-11-12 443/\n", {}),
    # a name given twice (-t x -t x:latest -t docker.io/library/x) is tagged, and printed, once
    ("tags-twice", "FROM busybox\nENV T=1\n", {}, ("-t", "short-tags-twice", "-t", "docker.io/library/short-tags-twice",
                                                  "-t", "short-tags-twice:2", "-t", "short-tags-twice:2")),
    # --force-rm: the failed RUN's container is removed, and the line says so
    ("run-fails-force-rm", "FROM busybox\nRUN echo failing && exit 3\n", {}, ("--force-rm",)),
    # --platform with this machine's platform is taken (dockyard's classic builder refused it)
    ("platform-here", "FROM busybox\nRUN true\n", {}, ("--platform", "linux/amd64")),
    ("from-platform-here", "ARG P=linux/amd64\nFROM --platform=$P busybox\nRUN echo from-platform\n", {}),
    ("from-signed-index", "FROM busybox\nRUN echo y > /y\nFROM busybox\nCOPY --from=+0 /y /x\n", {}),
]


def _build_both(pair: Pair, tmp: Path, name: str, dockerfile: str, files: dict[str, str],
                flags: tuple[str, ...] = ()) -> list[str]:
    ctx = tmp / name
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    for path, text in files.items():
        (ctx / path).parent.mkdir(parents=True, exist_ok=True)
        (ctx / path).write_text(text)
    tag = f"short-{name}:latest"
    docker, dockyard = pair.both(lambda: pair.build("docker", ctx, list(flags), tag),
                                 lambda: pair.build("dockyard", ctx, list(flags), tag))
    return compare(name, docker, dockyard)


def _run_cases(pair: Pair, tmp: Path, cases: list[tuple]) -> None:
    with ThreadPoolExecutor(3) as pool:
        found = list(pool.map(lambda case: _build_both(pair, tmp, *case), cases))
    problems = [p for case in found for p in case]
    assert not problems, "\n".join(problems)


def test_error_wording(pair: Pair, tmp_path: Path) -> None:
    _run_cases(pair, tmp_path, ERRORS)


def test_builds(pair: Pair, tmp_path: Path) -> None:
    _run_cases(pair, tmp_path, BUILDS)


def test_add_url_refused(pair: Pair, tmp_path: Path) -> None:
    """ADD of a URL nobody answers (a port bound, not listening): dockerd's Go words, one line
    (dockyard printed urllib's `<urlopen error [Errno 111] Connection refused>`)."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        _run_cases(pair, tmp_path, [("add-url-refused", f"FROM busybox\nADD http://127.0.0.1:{port}/x.tar /x/\n", {})])
