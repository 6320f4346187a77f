"""`dockyard serve`: the Docker Engine API on a unix socket (default) or TCP with TLS, until
SIGTERM or SIGINT. The command's flags are declared here; dockyard/main.py hands the command to
the CLI's parser (the CLI itself never imports the API server).
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.api.server import TlsOptions

DEFAULT_SOCKET = "unix:///run/dockyard.sock"


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="Serve the Docker Engine API")
    p.add_argument("-H", "--host", action="append", default=[],
                   help=f"Address to listen on: unix:///PATH or tcp://HOST:PORT (default {DEFAULT_SOCKET})")
    p.add_argument("--tlsverify", action="store_true", help="Require TLS client certificates signed by --tlscacert")
    p.add_argument("--tlscacert", default=None, help="CA certificate that signs client certificates")
    p.add_argument("--tlscert", default=None, help="Server TLS certificate")
    p.add_argument("--tlskey", default=None, help="Server TLS key")
    p.add_argument("--insecure-tcp", action="store_true",
                   help="Allow TCP without TLS client authentication (anyone who can connect is root)")
    p.set_defaults(func=cmd_serve)


def _tls(args: argparse.Namespace) -> TlsOptions | None:
    from dockyard.api.server import TlsOptions

    if args.tlscert or args.tlskey:
        if not (args.tlscert and args.tlskey):
            raise InvalidParameter("--tlscert and --tlskey go together")
        if args.tlsverify and not args.tlscacert:
            raise InvalidParameter("--tlsverify needs --tlscacert")
        return TlsOptions(Path(args.tlscert), Path(args.tlskey),
                          Path(args.tlscacert) if args.tlscacert else None, args.tlsverify)
    if args.tlsverify:
        raise InvalidParameter("--tlsverify needs --tlscert, --tlskey and --tlscacert")
    return None


REVIVE_EVERY = 1.0   # seconds between serve's looks for containers whose monitor died


def _restore(api_ctx) -> None:  # noqa: ANN001 - an ApiContext
    from dockyard.engine.containers import restore, revive
    from dockyard.engine.networks import reconcile

    reconcile(api_ctx.root)   # what networks that are gone left on the host, as dockerd's start
    for container_id in restore(api_ctx.store()):
        api_ctx.log(f"restarted container {container_id[:12]} (restart policy)")
    # then, as dockerd when a container's shim dies: its restart policy at once
    while not api_ctx.stopping.wait(REVIVE_EVERY):
        try:
            revived = revive(api_ctx.store())
        except Exception as exc:  # noqa: BLE001 - the next look tries again
            api_ctx.log(f"restart policies: {exc}")
            continue
        for container_id in revived:
            api_ctx.log(f"restarted container {container_id[:12]} (restart policy, its monitor died)")


def cmd_serve(args: argparse.Namespace, ctx: Any) -> int:
    """`ctx`: the CLI's context of an in-process command; only its store root is read."""
    # the server as the command runs: `dockyard --help` registers serve's flags only
    # (tests/test_start_up.py)
    from dockyard.api.app import make_router
    from dockyard.api.router import ApiContext
    from dockyard.api.server import ApiServer, Listener, raise_nofile_limit
    from dockyard.heap import give_back_freed

    give_back_freed()  # a long-running process: what a request freed is not kept (dockyard/heap.py)
    # `dockyard -H ADDR serve` listens at ADDR, as `dockerd -H ADDR` does (serve's own -H too)
    hosts = args.host or ([args.daemon_host] if getattr(args, "daemon_host", None) else [DEFAULT_SOCKET])
    listeners = [Listener.parse(h) for h in hosts]
    tls = _tls(args)
    for listener in listeners:
        if listener.kind == "tcp" and not (tls is not None and tls.verify) and not args.insecure_tcp:
            raise InvalidParameter(
                f"refusing to listen on {listener} without TLS client certificates "
                "(--tlsverify --tlscacert --tlscert --tlskey), or pass --insecure-tcp")
    raise_nofile_limit()
    api_ctx = ApiContext(root=ctx.root)
    api_ctx.store()  # create the store layout before serving
    server = ApiServer(api_ctx, make_router())
    for listener in listeners:
        if listener.kind == "unix":
            server.listen_unix(listener)
        else:
            server.listen_tcp(listener, tls)

    def on_signal(signum: int, frame: object) -> None:
        api_ctx.log(f"received {signal.Signals(signum).name}, stopping")
        server.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # networks' leftovers, then restart policies, as dockerd applies them when it starts
    # (containers a crash stopped)
    threading.Thread(target=_restore, args=(api_ctx,), name="restart policies", daemon=True).start()
    from dockyard.engine.networks import hold_default_bridge

    bridge = hold_default_bridge(api_ctx.root)
    try:
        serving = threading.Thread(target=server.serve, name="serve")
        serving.start()
        while serving.is_alive():
            serving.join(0.5)
    finally:
        bridge.release()
    api_ctx.log("stopped")
    return 0
