"""Write the `dockyard` command of a virtualenv (scripts/install.sh runs it after pip's install):
pip's console script, minus the interpreter's `site` module.

pip's script starts the venv's interpreter, whose `site` reads pyvenv.cfg, lists and reads every
.pth file of site-packages and imports what they name (setuptools' distutils hook), only to put
site-packages and this checkout (the editable install's path) on sys.path and the venv in
sys.prefix: ~1 ms and 4.6M instructions at each start of a command, whose cached BuildKit build
takes ~180M. This launcher runs the interpreter with -S and does those three things itself, with
the paths site gives this venv, read here once: run `python -S` and `python` and keep what site
adds. What else site does (the interactive builtins: exit, help; user site-packages, which a
venv leaves out; sitecustomize, which none has) a command does not use; the .pth files' imports
(setuptools' hook: distutils for build scripts) are not run. Children the program starts with
sys.executable (`python -m dockyard...`: the runtime's monitor, hooks) start with site as before.
Run again after a pip install, which writes its own script back.

    .venv/bin/python scripts/write_launcher.py [VENV]     (default: .venv beside scripts/)
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

TEMPLATE = """#!{python} -S
# dockyard's command, written by scripts/write_launcher.py (see there): the venv's interpreter
# without site (-S); the paths site would add for this venv, and its prefix, are set here.
import sys
sys.prefix = sys.exec_prefix = {venv!r}
sys.path += {added!r}
from dockyard.main import run
run()
"""


def site_paths(python: str) -> list[str]:
    """The entries `site` adds to sys.path for this interpreter, in order."""
    def path(*flags: str) -> list[str]:
        out = subprocess.run([python, *flags, "-c", "import sys; print(repr(sys.path))"], check=True,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
        return ast.literal_eval(out.stdout)

    bare = path("-S")
    return [p for p in path() if p not in bare]


def write_launcher(venv: str, target: str | None = None) -> str:
    """Write the launcher of `venv` at `target` (default: the venv's bin/dockyard); its path."""
    venv = os.path.abspath(venv)
    python = os.path.join(venv, "bin", "python3")
    target = target or os.path.join(venv, "bin", "dockyard")
    text = TEMPLATE.format(python=python, venv=venv, added=site_paths(python))
    tmp = target + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    return target


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    print(write_launcher(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", ".venv")))
