"""Container commands: run, create, start, stop, kill, rm, ps, logs, exec, wait, pause, unpause,
inspect, diff, export (commit is cli/commit_cmd's). Thin: parse flags, ask the engine (in this
process) or a daemon (client mode: `-H`/DOCKYARD_HOST) through cli/backend.py with the Engine
API's requests, format its answers: one code path prints both. `run` and `exec` attached run in
this process's own monitor in process, and over a hijacked connection (cli/attach.py's pump) as a
client.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from dockyard import detach
from dockyard.cli.attach import pump, terminal_size
from dockyard.cli.backend import LocalExecStreams, LogOptions, for_target
from dockyard.cli.context import CliContext
from dockyard.cli.format import ellipsis, go_time, port_text, write_rows
from dockyard.cli.run_flags import FilterFlag, add_flags, create_body, filters_query, local_env
from dockyard.engine.events import parse_time as event_time
from dockyard.errors import DockyardError, InvalidParameter, NotFound
from dockyard.units import human_size, since


def _both(p: argparse.ArgumentParser, func: Any) -> None:
    """The same function in process (a CliContext) and as a client (a host)."""
    p.set_defaults(func=func, client=func)


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="Run a command in a new container")
    p.add_argument("-d", "--detach", action="store_true", help="Run container in background and print container ID")
    p.add_argument("--detach-keys", default="", help="Override the key sequence for detaching a container")
    add_flags(p)
    _both(p, cmd_run)
    p = sub.add_parser("create", help="Create a new container")
    add_flags(p)
    _both(p, cmd_create)
    p = sub.add_parser("start", help="Start one or more stopped containers")
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    p.add_argument("--detach-keys", default="", help="Override the key sequence for detaching a container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    _both(p, cmd_start)
    p = sub.add_parser("stop", help="Stop one or more running containers")
    p.add_argument("-t", "--time", type=int, default=None, help="Seconds to wait before killing the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    _both(p, cmd_stop)
    p = sub.add_parser("kill", help="Kill one or more running containers")
    p.add_argument("-s", "--signal", default="KILL", help="Signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    _both(p, cmd_kill)
    p = sub.add_parser("rm", help="Remove one or more containers")
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of a running container (uses SIGKILL)")
    p.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes associated with the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    _both(p, cmd_rm)
    for name, text in (("pause", "Pause all processes within one or more containers"),
                       ("unpause", "Unpause all processes within one or more containers"),
                       ("wait", "Block until one or more containers stop, then print their exit codes")):
        p = sub.add_parser(name, help=text)
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        _both(p, {"pause": cmd_pause, "unpause": cmd_unpause, "wait": cmd_wait}[name])
    p = sub.add_parser("ps", help="List containers")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-f", "--filter", action=FilterFlag, help="Filter output based on conditions provided")
    p.add_argument("--format", default="", help="Pretty-print containers using a Go template")
    p.add_argument("-n", "--last", type=int, default=-1, help="Show n last created containers (includes all states)")
    p.add_argument("-l", "--latest", action="store_true", help="Show the latest created container (includes all states)")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    _both(p, cmd_ps)
    p = sub.add_parser("logs", help="Fetch the logs of a container")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
    p.add_argument("--since", default="", help="Show logs since timestamp or relative (e.g. 42m)")
    p.add_argument("--until", default="", help="Show logs before a timestamp or relative (e.g. 42m)")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    p.add_argument("container", metavar="CONTAINER")
    _both(p, cmd_logs)
    p = sub.add_parser("exec", help="Run a command in a running container")
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("-w", "--workdir", default=None, help="Working directory inside the container")
    p.add_argument("-u", "--user", default=None, help="Username or UID")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges to the command")
    p.add_argument("--detach-keys", default="", help="Override the key sequence for detaching a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND").least = 1  # type: ignore[attr-defined]
    _both(p, cmd_exec)
    p = sub.add_parser("inspect", help="Return low-level information on containers, images, networks or volumes")
    p.add_argument("-f", "--format", default=None, help="Format output using a Go-template-like path")
    p.add_argument("--type", default="", help="Return JSON for specified type")
    p.add_argument("names", nargs="+", metavar="NAME|ID")
    _both(p, cmd_inspect)
    p = sub.add_parser("diff", help="Inspect changes to files or directories on a container's filesystem")
    p.add_argument("container", metavar="CONTAINER")
    _both(p, cmd_diff)
    p = sub.add_parser("export", help="Export a container's filesystem as a tar archive")
    p.add_argument("-o", "--output", default=None, help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")
    _both(p, cmd_export)


def _out(target: Any) -> TextIO:
    return sys.stdout if isinstance(target, str) else target.stdout


def _err(target: Any) -> TextIO:
    return sys.stderr if isinstance(target, str) else target.stderr


def _create(args: argparse.Namespace, target: Any) -> str:
    query = [("name", args.name)] if args.name else []
    try:
        body = create_body(args)
    except DockyardError as exc:
        exc.exit_code = 125  # a flag's value the CLI cannot parse: docker create and run say 125
        raise
    cidfile = _cidfile(args.cidfile)
    try:
        answer = _create_pulling(args.image, args.pull, target, query, body)
        if cidfile is not None:
            cidfile.write(answer["Id"])
            cidfile.close()
    except BaseException:
        if cidfile is not None:   # the docker CLI's: no file names a container not made
            cidfile.close()
            os.unlink(args.cidfile)
        raise
    for warning in answer.get("Warnings") or []:     # as the docker CLI prints them
        print(f"WARNING: {warning}", file=sys.stderr)
    return answer["Id"]


def _create_pulling(image: str, pull: str, target: Any, query: list, body: dict) -> dict:
    """The create, with the docker CLI's pull: first with --pull always; when the image is not
    here (`Unable to find image 'NAME' locally`) unless --pull never; then the create again."""
    backend = for_target(target)
    if pull == "always":
        _pull(image, target)
    try:
        return backend.call("POST", "/containers/create", query, body)
    except NotFound as exc:
        if pull == "never" or not str(exc).startswith("No such image"):
            raise
    from dockyard.reference import parse_normalized

    print(f"Unable to find image '{parse_normalized(image).docker_ref().familiar}' locally", file=_err(target),
          flush=True)
    _pull(image, target)
    return backend.call("POST", "/containers/create", query, body)


def _pull(image: str, target: Any) -> None:
    """The image pulled, its progress on stderr (the docker CLI's for run and create), in this
    process or by the daemon (registry_cmds.pull_to)."""
    from dockyard.cli.registry_cmds import pull_to

    pull_to(target, image, _err(target))


def _cidfile(path: str) -> TextIO | None:
    """--cidfile, made before the create as the docker CLI makes it: an existing one refused."""
    if not path:
        return None
    try:
        if os.path.exists(path):
            raise InvalidParameter(f"container ID file found, make sure the other container isn't running "
                                   f"or delete {path}")
        try:
            return open(path, "x")
        except OSError as exc:
            raise InvalidParameter(f"failed to create the container ID file: {exc}") from None
    except InvalidParameter as exc:
        exc.exit_code = 125
        raise


def _detach_keys(args: argparse.Namespace, tty: bool | None = None) -> str:
    """--detach-keys, else the client config's detachKeys (as the docker CLI), for a terminal
    session (-i and a TTY: -t, or the container's own): "" for the default."""
    if args.detach_keys or not (args.interactive and (args.tty if tty is None else tty)):
        return args.detach_keys
    from dockyard.engine.credentials import client_detach_keys

    return client_detach_keys()


def cmd_create(args: argparse.Namespace, target: Any) -> int:
    _out(target).write(_create(args, target) + "\n")
    return 0


def cmd_run(args: argparse.Namespace, target: Any) -> int:
    # detached, nothing reads this terminal (`run -dit` in a script): the docker CLI checks none
    if args.interactive and args.tty and not args.detach and not os.isatty(0):
        raise InvalidParameter("the input device is not a TTY")
    keys_text = _detach_keys(args)
    keys = detach.parse_for_attach(keys_text)
    try:
        container = _create(args, target)
    except DockyardError as exc:
        exc.exit_code = 125
        raise
    backend = for_target(target)
    if args.detach:
        backend.call("POST", f"/containers/{container}/start")  # with --rm, removed if it cannot start
        _out(target).write(container + "\n")
        return 0
    _out(target).flush()
    _err(target).flush()
    if isinstance(target, str) or args.restart not in ("", "no") or (args.interactive and args.tty):
        # a client of a daemon, a container whose restarts outlive this process, or a terminal
        # session the user may leave with ctrl-p ctrl-q (the container runs on): it runs under
        # its own monitor and this process attaches to it until its first exit, as `docker run`
        # does (attached before the start, its exit waited for from then on)
        streams = backend.attach(container, stdin=args.interactive, tty=args.tty,
                                 detach_keys=keys_text)
        waiter = backend.wait_async(container, "removed" if args.rm else "next-exit")
        backend.call("POST", f"/containers/{container}/start")
        if pump(streams, tty=args.tty, stdin=args.interactive, detach_keys=keys):
            return 0    # detached: the docker CLI leaves at once, with status 0
        return waiter.result()
    stdin = 0 if (args.interactive or args.tty) else None
    from dockyard.engine import containers as engine  # as the command runs: tests/test_start_up.py

    return engine.run_attached(target.store, container,
                               engine.Attach(stdin=stdin, stdout=sys.stdout.fileno(),
                                             stderr=sys.stderr.fileno()))


def _each(target: Any, names: list[str], action, *, print_result: bool = False) -> int:  # noqa: ANN001
    """`action` on each name; prints the name (or what the action returns), or the error."""
    failed = False
    for name in names:
        try:
            result = action(name)
        except DockyardError as exc:
            _err(target).write(f"Error: {exc}\n")
            failed = True
            continue
        _out(target).write(f"{result if print_result else name}\n")
    return 1 if failed else 0


def _post_each(args: argparse.Namespace, target: Any, action: str,
               query: list[tuple[str, str]] | None = None) -> int:
    backend = for_target(target)
    return _each(target, args.containers,
                 lambda n: backend.call("POST", f"/containers/{n}/{action}", query))


def cmd_start(args: argparse.Namespace, target: Any) -> int:
    if not (args.attach or args.interactive):
        return _post_each(args, target, "start")
    if len(args.containers) > 1:
        raise DockyardError("you cannot start and attach multiple containers at once")
    if isinstance(target, str):
        return _start_attached_client(target, args.containers[0], args)
    return _start_attached(target, args.containers[0], args.interactive)


def _start_attached_client(host: str, name: str, args: argparse.Namespace) -> int:
    """`docker start -a/-i` through a daemon, as the docker CLI does it: attached (from this
    start on: the daemon's attach without logs), the exit waited for, then the start (none for
    a running container); the detach keys leave it with status 0, the container running on."""
    backend = for_target(host)
    info = backend.call("GET", f"/containers/{name}/json")
    tty = bool(info["Config"].get("Tty"))
    stdin = args.interactive and bool(info["Config"].get("OpenStdin"))
    if stdin and tty and not os.isatty(0):
        raise InvalidParameter("the input device is not a TTY")
    keys_text = _detach_keys(args, tty)
    keys = detach.parse_for_attach(keys_text)
    streams = backend.attach(info["Id"], stdin=stdin, tty=tty, detach_keys=keys_text)
    waiter = backend.wait_async(info["Id"], "next-exit")
    if not info["State"]["Running"]:
        try:
            backend.call("POST", f"/containers/{info['Id']}/start")
        except DockyardError as exc:
            exc.exit_code = 1
            raise
    if pump(streams, tty=tty, stdin=stdin, detach_keys=keys):
        return 0
    return waiter.result()


def _start_attached(ctx: CliContext, name: str, interactive: bool) -> int:
    """`docker start -a/-i` (docker CLI 20.10): the container's output from this start on, its
    input with -i when it was created with -i, and its exit status as ours; it prints no name.
    A container that runs already is attached to (its new output, then its exit status); one
    that cannot start is exit status 1, as the CLI reports the daemon's error."""
    from dockyard.engine import containers as engine  # as the command runs: tests/test_start_up.py

    info = engine.inspect(ctx.store, name)
    config = info["Config"]
    stdin = 0 if interactive and config.get("OpenStdin") else None
    ctx.stdout.flush()
    ctx.stderr.flush()
    if info["State"]["Running"]:
        if stdin is not None:
            raise InvalidParameter("attaching the input of a running container is not supported: "
                                   "start it with -a only")
        out, err = sys.stdout.buffer, sys.stderr.buffer
        for entry in engine.attach_running(ctx.store, info["Id"]):
            stream = err if entry.stream == "stderr" else out
            stream.write(entry.data)
            stream.flush()
        state = engine.wait(ctx.store, info["Id"])
        return state.exit_code if state is not None else 0
    if stdin is not None and config.get("Tty") and not os.isatty(0):
        raise InvalidParameter("the input device is not a TTY")
    try:
        return engine.run_attached(ctx.store, info["Id"], engine.Attach(
            stdin=stdin, stdout=sys.stdout.fileno(), stderr=sys.stderr.fileno()))
    except DockyardError as exc:
        exc.exit_code = 1
        raise


def cmd_stop(args: argparse.Namespace, target: Any) -> int:
    return _post_each(args, target, "stop", [("t", str(args.time))] if args.time is not None else [])


def cmd_kill(args: argparse.Namespace, target: Any) -> int:
    return _post_each(args, target, "kill", [("signal", args.signal)])


def cmd_rm(args: argparse.Namespace, target: Any) -> int:
    backend = for_target(target)
    query = ([("force", "1")] if args.force else []) + ([("v", "1")] if args.volumes else [])
    return _each(target, args.containers, lambda n: backend.call("DELETE", f"/containers/{n}", query))


def cmd_pause(args: argparse.Namespace, target: Any) -> int:
    return _post_each(args, target, "pause")


def cmd_unpause(args: argparse.Namespace, target: Any) -> int:
    return _post_each(args, target, "unpause")


def cmd_wait(args: argparse.Namespace, target: Any) -> int:
    backend = for_target(target)
    return _each(target, args.containers,
                 lambda n: backend.call("POST", f"/containers/{n}/wait")["StatusCode"],
                 print_result=True)


_PS_HEADERS = {"CreatedAt": "CREATED AT", "State": "STATE", "Size": "SIZE", "Labels": "LABELS",
               "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES"}


def _ps_row(c: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    """A row of `docker ps` as the docker CLI's container context has it (its `--format` fields,
    and `{{json .}}`)."""
    created = datetime.fromtimestamp(c["Created"], timezone.utc)
    command = c["Command"] if no_trunc else ellipsis(c["Command"], 20)
    mounts = [m.get("Name") or m.get("Source") or "" for m in c.get("Mounts") or []]
    size = ""
    if "SizeRw" in c:
        size = f"{human_size(c['SizeRw'])} (virtual {human_size(c.get('SizeRootFs') or 0)})"
    return {
        "Command": json.dumps(command, ensure_ascii=False), "CreatedAt": go_time(created),
        "ID": c["Id"] if no_trunc else c["Id"][:12], "Image": c["Image"],
        "Labels": ",".join(f"{k}={v}" for k, v in sorted((c.get("Labels") or {}).items())),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Driver") == "local")),
        "Mounts": ",".join(m if no_trunc else ellipsis(m, 15) for m in mounts),
        "Names": ",".join(n.lstrip("/") for n in c.get("Names") or []),
        "Networks": ",".join(sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}))),
        "Ports": port_text(c.get("Ports") or []), "RunningFor": since(created),
        "Size": size, "State": c["State"], "Status": c["Status"],
    }


def _ps_context() -> Any:
    """The docker CLI 20.10's `*formatter.ContainerContext`: a row's fields (the docker 23+ CLI
    added Platform), and Label."""
    from dockyard.cli.govalues import Context

    return Context("*formatter.ContainerContext", {
        "ID", "Names", "Image", "Command", "CreatedAt", "RunningFor", "Ports", "State", "Status", "Size",
        "Labels", "Mounts", "LocalVolumes", "Networks"}, {"Label": 1})


def _check_ps_format(fmt: str) -> None:
    """As the docker CLI, whatever the rows: the template (`table` and all, before `\\t` is a
    tab) parsed and run on an empty row before the daemon is asked."""
    from dockyard.cli.gotemplate import TemplateError, parse

    try:
        template = parse(fmt)
    except TemplateError as exc:
        raise TemplateError(f"failed to parse template: {exc}") from None
    empty = dict.fromkeys(_ps_context().fields, "")
    try:
        template.execute(empty, _ps_context(), methods={"Label": lambda key: ""})
    except TemplateError as exc:
        raise TemplateError(f"failed to execute template: {exc}") from None


def cmd_ps(args: argparse.Namespace, target: Any) -> int:
    if args.format:
        _check_ps_format(args.format)
    query = [("all", "1")] if args.all else []
    last = 1 if args.latest else args.last
    if last > 0:
        query.append(("limit", str(last)))
    # the docker CLI asks for sizes when -s is given or its template shows them (`{{json .}}`
    # shows every field)
    if args.size or re.search(r"\.Size\b|json\s+\.\s*}}", args.format):
        query.append(("size", "1"))
    items = for_target(target).call("GET", "/containers/json", query + filters_query(args.filter))
    out = _out(target)
    if args.quiet:
        out.write("".join((c["Id"] if args.no_trunc else c["Id"][:12]) + "\n" for c in items))
        return 0
    rows = [_ps_row(c, args.no_trunc) for c in items]
    labels = {id(r): c.get("Labels") or {} for r, c in zip(rows, items)}
    header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    keys = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
    if args.size:
        header, keys = header + ["SIZE"], keys + ["Size"]
    write_rows(out, args.format, rows, header, keys, _ps_context(), _PS_HEADERS,
               lambda row: {"Label": lambda key: labels.get(id(row), {}).get(key, "")})
    return 0


def _api_time(text: str) -> str:
    """--since/--until as the docker CLI sends them: a time, a Unix time or a duration before
    now, as SECONDS.NANOSECONDS."""
    if not text:
        return ""
    ns = event_time(text)
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}" if ns is not None else ""


def cmd_logs(args: argparse.Namespace, target: Any) -> int:
    _out(target).flush()
    streams = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    options = LogOptions(tail=args.tail, since=_api_time(args.since), until=_api_time(args.until),
                         timestamps=args.timestamps, details=args.details)
    for fd, data in for_target(target).logs(args.container, args.follow, options):
        streams[fd].write(data)
        if args.follow:
            streams[fd].flush()
    for stream in streams.values():
        stream.flush()
    return 0


def cmd_exec(args: argparse.Namespace, target: Any) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    env = local_env(args.env)
    keys_text = _detach_keys(args)
    keys = detach.parse_for_exec(keys_text)
    if args.detach:   # nothing attached: no terminal checked (the docker CLI's order)
        return _exec_detached(args, target, command, env, keys_text)
    if args.interactive and args.tty and not os.isatty(0):
        raise InvalidParameter("the input device is not a TTY")
    _out(target).flush()
    if isinstance(target, str):
        backend = for_target(target)
        body = {"AttachStdin": args.interactive, "AttachStdout": True, "AttachStderr": True,
                "Tty": args.tty, "Cmd": command, "Env": env, "WorkingDir": args.workdir or "",
                "User": args.user or "", "Privileged": args.privileged, "DetachKeys": keys_text}
        exec_id = backend.call("POST", f"/containers/{args.container}/exec", None, body)["Id"]
        size = terminal_size(1) if args.tty else None
        if not pump(backend.exec_streams(exec_id, tty=args.tty, size=size), tty=args.tty,
                    stdin=args.interactive, detach_keys=keys):
            return int(backend.call("GET", f"/exec/{exec_id}/json")["ExitCode"] or 0)
    else:
        from dockyard.engine import containers as engine  # as the command runs: tests/test_start_up.py

        session = args.interactive and args.tty    # a terminal the user may leave with the keys
        opts = engine.ExecOptions(cmd=command, interactive=args.interactive, tty=args.tty, env=env,
                                  workdir=args.workdir, user=args.user, privileged=args.privileged,
                                  console_size=terminal_size(1) if session else None)
        try:
            if not session:
                return engine.exec_in(target.store, args.container, opts)
            streams = LocalExecStreams(target.store, args.container, opts)
            if not pump(streams, tty=True, stdin=True, detach_keys=keys):
                return streams.result()
        except DockyardError as exc:
            if exc.exit_code != 126:
                raise
            # a process that could not start: dockerd writes why into the exec's stream, which
            # the docker CLI prints on stdout (no 'Error:'), and its status is the exec's
            _out(target).write(f"{exc}\r\n")
            return 126
        streams.leave()
    # detached (the detach keys): the exec runs on; the docker CLI's words and status
    _err(target).write("read escape sequence\n")
    return 1


def _exec_detached(args: argparse.Namespace, target: Any, command: list[str], env: list[str],
                   keys_text: str) -> int:
    """`exec -d`: the docker CLI's requests (nothing attached, started with Detach); nothing
    printed. In process, the exec runs on in a child of its own once this process leaves."""
    body = {"User": args.user or "", "Privileged": args.privileged, "Tty": args.tty, "Cmd": command,
            "Env": env, "WorkingDir": args.workdir or "", "Detach": True, "DetachKeys": keys_text}
    if isinstance(target, str):
        backend = for_target(target)
        exec_id = backend.call("POST", f"/containers/{args.container}/exec", None, body)["Id"]
        backend.call("POST", f"/exec/{exec_id}/start", None, {"Detach": True, "Tty": args.tty})
        return 0
    from dockyard.engine import execs

    execs.start_in_child(target.store, execs.claim(target.store, execs.create(target.store, args.container, body).id))
    return 0


# `inspect`'s objects, in the order the docker CLI looks a name up without --type: the Engine
# API's request of each
_INSPECTED = {"container": "/containers/{}/json", "image": "/images/{}/json", "network": "/networks/{}",
              "volume": "/volumes/{}"}
# the docker CLI's other --type values: swarm's and plugins' objects, which dockyard has none of
_SWARM_TYPES = ("config", "node", "plugin", "secret", "service", "task")


def cmd_inspect(args: argparse.Namespace, target: Any) -> int:
    """`docker inspect [--type TYPE]`: a name is looked up as a container, an image, a network,
    then a volume (the docker CLI's order), or as the one type given (`docker container
    inspect`: containers only, its `only`: cli/main's container group)."""
    kind = getattr(args, "only", None) or getattr(args, "type", "")
    if kind in _SWARM_TYPES:
        raise InvalidParameter(f"--type {kind} is not supported by dockyard: it has no swarm or plugins")
    if kind and kind not in _INSPECTED:
        raise InvalidParameter(f'"{kind}" is not a valid value for --type')
    from dockyard.cli import inspect_format

    backend = for_target(target)

    def lookup(name: str) -> tuple[dict[str, Any], Any]:
        for each in [kind] if kind else _INSPECTED:
            try:
                return backend.call("GET", _INSPECTED[each].format(name)), getattr(inspect_format, each.upper())
            except NotFound:
                continue
        raise NotFound(f"No such {kind or 'object'}: {name}")

    return inspect_format.inspect_each(_out(target), _err(target), args.names, args.format, lookup)


def cmd_diff(args: argparse.Namespace, target: Any) -> int:
    """`GET /containers/{id}/changes`, printed as the docker CLI prints it: `C|A|D PATH`."""
    changes = for_target(target).call("GET", f"/containers/{args.container}/changes") or []
    _out(target).write("".join(f"{'CAD'[c['Kind']]} {c['Path']}\n" for c in changes))
    return 0


def cmd_export(args: argparse.Namespace, target: Any) -> int:
    if isinstance(target, str):   # the daemon's `GET /containers/{id}/export`, under the same -o rules
        from dockyard.cli.context import local_context

        local_context(None).write_archive(
            args.output, lambda out: for_target(target).copy("GET", f"/containers/{args.container}/export", out))
        return 0
    from dockyard.engine import containers as engine  # as the command runs: tests/test_start_up.py

    container = engine.container_id(target.store, args.container)
    target.write_archive(args.output, lambda out: engine.export(target.store, container, out))
    return 0
