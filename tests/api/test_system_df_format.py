"""`dockyard system df --format` (it said "unknown flag"), in process and as a client of serve,
beside `docker system df --format` on a dockerd 20.10 of the test's own holding the same busybox
(the session's daemon holds what other tests left): a row per type with the docker CLI's
DiskUsageContext fields, `table` with its columns, `{{json .}}` as Go marshals the row, and an
unknown field refused in the CLI's words."""

from __future__ import annotations

from tests.conftest import at_once

FORMATS = ["{{.Type}}", "{{json .}}", "table {{.Type}}\\t{{.Size}}", "table", "",
           "{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}", "{{.Nope}}"]


def _formatted(cli) -> list[tuple[int, str, str]]:  # noqa: ANN001
    out = []
    for fmt in FORMATS:
        r = cli("system", "df", "--format", fmt, check=False)
        out.append((r.returncode, r.stdout, r.stderr.removeprefix("Error: ")))
    return out


def test_system_df_format_as_the_docker_cli(dockyard, busybox, own_dockerd, server) -> None:  # noqa: ANN001
    reference, in_process, as_client = at_once(
        lambda: _formatted(own_dockerd), lambda: _formatted(dockyard),
        lambda: _formatted(lambda *args, **kwargs: dockyard("-H", server.url, *args, **kwargs)))
    assert reference[1][1].startswith('{"Active":"0","Reclaimable":"1.984MB (100%)","Size":"1.984MB",'
                                      '"TotalCount":"1","Type":"Images"}\n'), reference[1]
    assert reference[-1] == (1, "", "template parsing error: template: :1:2: executing \"\" at <.Nope>: can't "
                                    "evaluate field Nope in type *formatter.diskUsageImagesContext\n")
    assert in_process == as_client == reference
