"""The light client of `dockyard serve`: `dockyard -H unix:///PATH build ...` (or DOCKYARD_HOST)
packs the context here, as the docker CLI does, and builds in the daemon.

It starts a fresh interpreter at each command, so what it loads is its start-up time: a cached
rebuild takes a few tens of milliseconds, of which the interpreter is most. The budget is fenced
by tests/client/test_budget.py: a client-mode build loads this package, dockyard/main.py and a
short list of light modules below it (the errors, chunked coding, names, the directory context
and its .dockerignore, the tar header encoder and writer, the user's registry credentials when a
config.json exists), and none of the standard library's heavier modules (typing, dataclasses,
pathlib, argparse, tarfile, hashlib, socket.py...). Only those modules are written light; the rest
of dockyard imports what it needs at the top.

- main.py: reads a plain client-mode command line without argparse and runs it
- program.py: what the client and the CLI share: the global flags, the one-line error report
- flags.py: flags declared once, registered with argparse (the CLI) or read by a quick scanner
- daemon.py: HTTP/1.1 over the daemon's unix socket (requests, replies, JSON message streams)
- build.py: `build` as a client: the flags, the context packed, the daemon's stream printed
"""
