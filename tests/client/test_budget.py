"""The light client's start-up budget (dockyard/client's docstring): a client-mode build starts a
fresh interpreter each time, so what it loads is what it costs. Fenced twice: on the source, the
modules a client-mode command line loads are the client's and a short list of light ones below
it (their imports that run at load time, read by tests/import_graph.py); in a real run against
`dockyard serve`, none of the heavy modules, ours or the standard library's, is loaded."""

from __future__ import annotations

import subprocess
import sys

from tests.client.test_build_client import _built, _context
from tests.conftest import REPO
from tests.import_graph import graph, loaded_with

# What a client-mode command line loads (dockyard/main.py, then client/main.py): the client, and
# below it the errors, chunked coding, names (-t is checked before anything is sent),
# the directory context with its .dockerignore and the tar encoder that packs it. Only these are
# written light (no typing, dataclasses, pathlib...); a module added here must be too.
LIGHT = {
    "dockyard", "dockyard.main", "dockyard.client", "dockyard.client.main", "dockyard.client.program",
    "dockyard.client.flags", "dockyard.client.daemon", "dockyard.client.build",
    "dockyard.errors", "dockyard.chunked", "dockyard.reference", "dockyard.gojson",
    "dockyard.builder", "dockyard.builder.directory_context", "dockyard.builder.dockerignore",
    "dockyard.archive", "dockyard.archive.tarheader", "dockyard.archive.tarstream",
}
# Of LIGHT, what client/build.py's client_build loads when it runs, not at import: an in-process
# build reads its command line with client/build.py, talks to no daemon and packs no context tar
# (directory_context.write_context_tar loads the tar encoder: tests/test_start_up.py)
AT_RUN = {"dockyard.client.daemon", "dockyard.chunked", "dockyard.gojson",
          "dockyard.archive", "dockyard.archive.tarheader", "dockyard.archive.tarstream"}


# What BuildKit mode's client adds to LIGHT (loaded by client/build.py's run when DOCKER_BUILDKIT=1).
BUILDKIT_LIGHT = ["dockyard.builder.graph", "dockyard.builder.graph.progress", "dockyard.builder.graph.wire",
                  "dockyard.client.build_buildkit"]


def test_the_program_loads_only_the_light_modules_until_the_cli() -> None:
    edges = graph(at_import=True)
    # dockyard/main.py loads the client's reader when a daemon is named (-H, DOCKYARD_HOST)
    at_import = loaded_with("dockyard.main", edges) | loaded_with("dockyard.client.main", edges)
    assert at_import == LIGHT - AT_RUN
    assert at_import | loaded_with("dockyard.client.daemon", edges) | loaded_with("dockyard.archive.tarstream",
                                                                                 edges) == LIGHT
    # the CLI, the API server and the engines are further away, behind a command line that is
    # not the client's (dockyard/main.py's lazy imports)
    assert "dockyard.cli.main" in graph()["dockyard.main"]


def test_the_client_imports_nothing_above_it_nor_the_engine() -> None:
    edges = graph()
    client = {mod for mod in edges if mod.startswith("dockyard.client")}
    assert len(client) == 8
    wrong = {(mod, dep) for mod in client for dep in edges[mod]
             if dep.startswith(("dockyard.cli.", "dockyard.api.", "dockyard.engine.")) or dep == "dockyard.main"}
    assert wrong == set()


def test_client_mode_stays_light(dockyard, busybox, daemon, tmp_path) -> None:
    """A client-mode build starts a fresh interpreter each time: it must not load the builder,
    the store, the engines, the API server or the decompressors (what makes the in-process CLI slow),
    nor the standard library's modules that only other paths use (hashlib, tempfile, typing,
    pathlib, argparse, tarfile, dataclasses...), nor socket.py and urllib.parse (the client speaks
    through `_socket`, encodes its own query).
    The child runs with -S: the venv's editable-install hook loads pathlib at every start, which
    a regular install does not (dockyard is imported from the repository, the current directory)."""
    ctx = _context(tmp_path / "ctx")
    dockyard("build", str(ctx))
    probe = (
        "import sys\n"
        "from dockyard.main import main\n"
        f"code = main(['-H', {daemon.url!r}, 'build', {str(ctx)!r}])\n"
        "heavy = ('dockyard.store.store', 'dockyard.engine', 'dockyard.builder.classic', 'dockyard.api',"
        " 'dockyard.runtime', 'dockyard.archive.compression', 'dockyard.cli.', 'zstandard',"
        " 'isal', 'http.client', 'urllib.request')\n"
        # stdlib modules only other paths need (~30 ms in all): argparse (with gettext, locale)
        # is left to command lines the quick scanner does not read, tarfile (with shutil, bz2,
        # lzma) to the daemon side, dataclasses (with inspect, ast, dis) to the model
        "unneeded = {'hashlib', '_hashlib', 'tempfile', 'random', 'typing', 'socket', 'selectors',"
        " 'pathlib', 'urllib.parse', 'ipaddress', 'argparse', 'gettext', 'locale', 'tarfile',"
        " 'shutil', 'bz2', 'lzma', 'dataclasses', 'inspect', 'importlib.util'}\n"
        "print(code, sorted(m for m in sys.modules if m.startswith(heavy) or m in unneeded),"
        " file=sys.stderr)\n"
        # nor json, base64, re with enum: the messages are read by json's C scanner
        # (gojson.loads), names and .dockerignore globs without regular expressions (their
        # import was half the instructions the client runs beyond the bare interpreter's); nor
        # for the user's config.json (read by the same scanner, its `auth` and X-Registry-Config
        # by binascii, Go's JSON by json's C encoder), nor shutil (with fnmatch, bz2, lzma) to
        # look for docker's default helpers when it names no credentials: 83.1M instructions
        # with a config.json of `{}`, 46.0M without them (callgrind; 42.9M without a config.json)
        "print(sorted(m for m in sys.modules if m in {'json', 'base64', 're', 'enum', 'shutil', 'contextlib'}),"
        " file=sys.stderr)\n"
    )
    # Of ours, the LIGHT modules only; the user's credentials module too when a config.json exists
    # (loaded by client/build.py then only: written light as well), needing none of the above.
    no_config, empty, with_auths = tmp_path / "no-config", tmp_path / "empty", tmp_path / "with-auths"
    for folder in (no_config, empty, with_auths):
        folder.mkdir()
    (empty / "config.json").write_text("{}\n")  # bench_all's; docker's default helpers are looked up
    (with_auths / "config.json").write_text('{"auths": {"r.example": {"auth": "dTpw"}}}')
    probe += (f"print(sorted(m for m in sys.modules if m.startswith('dockyard') and m not in {LIGHT!r}),"
              " file=sys.stderr)\n")
    credentials = ["dockyard.programs", "dockyard.transport", "dockyard.transport.registry",
                   "dockyard.transport.registry.credentials"]
    for config_dir, imported in ((no_config, []), (empty, credentials), (with_auths, credentials)):
        env = {**dockyard.env, "DOCKER_CONFIG": str(config_dir)}
        out = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True,
                             cwd=REPO, env=env, check=True)
        assert out.stdout.endswith("Successfully built " + _built(out.stdout).split()[-1] + "\n")
        assert out.stderr == f"0 []\n[]\n{imported}\n", out.stderr
    # BuildKit mode (DOCKER_BUILDKIT=1) too: besides, its own client module and the displays of
    # solve statuses, written light as well (the flags' parsers and the exporters stay unloaded)
    env = {**dockyard.env, "DOCKER_CONFIG": str(no_config), "DOCKER_BUILDKIT": "1"}
    out = subprocess.run([sys.executable, "-S", "-c", probe.replace("'build', ", "'build', '--progress=plain', ")],
                         capture_output=True, text=True, cwd=REPO, env=env, check=True)
    status, regex, outside = out.stderr.splitlines()[-3:]
    assert " writing image sha256:" in out.stderr and (status, regex, outside) == ("0 []", "[]", str(BUILDKIT_LIGHT)), \
        out.stderr
