"""`docker ps` beyond the default table, through Debian's docker CLI 20.10 against dockyard serve
and the reference dockerd: sizes (`-s`, `inspect -s`: the API's `size=1`, which dockyard took and
ignored, so the CLI printed `0B (virtual 0B)`), `-n`/`-l`, and `--format` templates with a
`table` header and the `.Label` method."""

from __future__ import annotations


from tests.interop.conftest import Engine


def test_sizes_last_and_templates(engine: Engine) -> None:
    try:
        engine.docker("run", "-d", "--network", "none", "--name", "ps-old", "busybox", "true")
        engine.docker("run", "-d", "--network", "none", "--name", "ps-new", "-l", "tier=web",
                      "busybox", "sh", "-c", "head -c 3000 /dev/zero > /big; sleep 100")
        engine.docker("exec", "ps-new", "sh", "-c", "while [ ! -s /big ]; do sleep 0.05; done")
        size = engine.docker("ps", "-s", "--format", "{{.Names}} {{.Size}}").stdout.decode()
        assert size.startswith("ps-new 3kB (virtual 1.9") and size.endswith("MB)\n"), size
        # the CLI asks for sizes itself when the template shows them
        assert engine.docker("ps", "--format", "{{.Size}}").stdout.decode().startswith("3kB (virtual")
        assert engine.docker("inspect", "-s", "-f", "{{.SizeRw}}", "ps-new").stdout == b"3000\n"
        assert engine.docker("inspect", "-f", "{{.SizeRw}}", "ps-new").stdout == b"<nil>\n"
        assert engine.docker("ps", "-n", "2", "--format", "{{.Names}}").stdout == b"ps-new\nps-old\n"
        assert engine.docker("ps", "-l", "-q").stdout.decode().strip() == \
            engine.docker("inspect", "-f", "{{.Id}}", "ps-new").stdout.decode()[:12]
        table = engine.docker("ps", "-a", "--format", 'table {{.Names}}\t{{.Label "tier"}}\t{{.State}}')
        assert table.stdout.decode().splitlines() == [
            "NAMES     tier      STATE", "ps-new    web       running", "ps-old              exited"]
    finally:
        engine.docker("rm", "-f", "ps-old", "ps-new", check=False)


def test_name_and_status_filters(engine: Engine) -> None:
    """`ps --filter name=` is Go's filters.Match on the name with and without its `/`: a value
    anchored at the name's start (`^web$`) matches, one that is no regular expression matches
    nothing (dockyard matched it as a substring). A status that is none is dockerd 20.10's
    `Invalid filter 'status=...'`."""
    try:
        for name in ("flt-web", "flt-webx"):
            engine.docker("create", "--name", name, "busybox", "true")

        def names(value: str) -> list[str]:
            out = engine.docker("ps", "-a", "--filter", value, "--format", "{{.Names}}").stdout
            return sorted(out.decode().split())

        assert names("name=^flt-web$") == names("name=^/flt-web$") == ["flt-web"]
        assert names("name=flt-web") == ["flt-web", "flt-webx"]
        assert names("name=flt-web[") == []
        bad = engine.docker("ps", "-a", "--filter", "status=sleeping", check=False)
        assert (bad.returncode, bad.stderr) == (1, b"Error response from daemon: Invalid filter 'status=sleeping'\n")
        # a boolean filter's bad value: the list's invalidFilter with Go's slice, the network
        # list's own sentence (dockyard: 'dangling=maybe' for all)
        for args, words in ((("ps", "--filter", "is-task=maybe"), "Invalid filter 'is-task=[maybe]'"),
                            (("volume", "ls", "--filter", "dangling=maybe"), "Invalid filter 'dangling=[maybe]'"),
                            (("images", "--filter", "dangling=maybe"), "Invalid filter 'dangling=[maybe]'"),
                            (("network", "ls", "--filter", "dangling=maybe"), "invalid value for filter "
                             """'dangling', must be "true" (or "1"), or "false" (or "0")""")):
            bad = engine.docker(*args, check=False)
            assert (bad.returncode, bad.stderr.decode()) == (1, f"Error response from daemon: {words}\n"), args
    finally:
        engine.docker("rm", "-f", "flt-web", "flt-webx", check=False)
