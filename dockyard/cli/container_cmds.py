"""Container commands: run, create, start, stop, kill, rm, ps, logs, exec, wait, pause, unpause,
inspect, diff, export, commit. Thin: parse flags, call engine.containers, format."""

from __future__ import annotations

import argparse
import json
import os
import sys

from dockyard.cli.context import CliContext
from dockyard.cli.image_cmds import print_inspect
from dockyard.cli.run_flags import add_flags, create_body
from dockyard.cli.format import ellipsis, write_table
from dockyard.engine import containers as engine
from dockyard.engine import images as engine_images
from dockyard.errors import DockyardError, InvalidParameter, NotFound
from dockyard.units import since


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="Create and run a new container from an image")
    p.add_argument("-d", "--detach", action="store_true", help="Run container in background and print container ID")
    add_flags(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("create", help="Create a new container")
    add_flags(p)
    p.set_defaults(func=cmd_create)
    p = sub.add_parser("start", help="Start one or more stopped containers")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_start)
    p = sub.add_parser("stop", help="Stop one or more running containers")
    p.add_argument("-t", "--time", type=int, default=None, help="Seconds to wait before killing the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_stop)
    p = sub.add_parser("kill", help="Kill one or more running containers")
    p.add_argument("-s", "--signal", default="KILL", help="Signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_kill)
    p = sub.add_parser("rm", help="Remove one or more containers")
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of a running container (uses SIGKILL)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_rm)
    for name in ("pause", "unpause", "wait"):
        p = sub.add_parser(name, help=f"{name.capitalize()} one or more containers")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(func={"pause": cmd_pause, "unpause": cmd_unpause, "wait": cmd_wait}[name])
    p = sub.add_parser("ps", help="List containers")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.set_defaults(func=cmd_ps)
    p = sub.add_parser("logs", help="Fetch the logs of a container")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("exec", help="Execute a command in a running container")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("-w", "--workdir", default=None, help="Working directory inside the container")
    p.add_argument("-u", "--user", default=None, help="Username or UID")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges to the command")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    p.set_defaults(func=cmd_exec)
    p = sub.add_parser("inspect", help="Return low-level information on containers or images")
    p.add_argument("-f", "--format", default=None, help="Format output using a Go-template-like path")
    p.add_argument("names", nargs="+", metavar="NAME|ID")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("diff", help="Inspect changes to files or directories on a container's filesystem")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_diff)
    p = sub.add_parser("export", help="Export a container's filesystem as a tar archive")
    p.add_argument("-o", "--output", default=None, help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("commit", help="Create a new image from a container's changes")
    p.add_argument("-a", "--author", default="", help="Author")
    p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="Commit message")
    p.add_argument("-p", "--pause", default="true", nargs="?", const="true",
                   help="Pause container during commit (default true)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(func=cmd_commit)


def _bool(value: str) -> bool:
    low = value.lower()
    if low in ("true", "1", "t", "yes"):
        return True
    if low in ("false", "0", "f", "no"):
        return False
    raise InvalidParameter(f'invalid argument "{value}": strconv.ParseBool: parsing "{value}": invalid syntax')


def cmd_create(args: argparse.Namespace, ctx: CliContext) -> int:
    record = engine.create_from_api(ctx.store, create_body(args), args.name)
    ctx.stdout.write(record.id + "\n")
    return 0


def cmd_run(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.interactive and args.tty and not os.isatty(0):
        raise InvalidParameter("the input device is not a TTY")
    try:
        record = engine.create_from_api(ctx.store, create_body(args), args.name)
    except DockyardError as exc:
        exc.exit_code = 125
        raise
    if args.detach:
        engine.start(ctx.store, record.id)  # a container with --rm that cannot start is removed
        ctx.stdout.write(record.id + "\n")
        return 0
    ctx.stdout.flush()
    ctx.stderr.flush()
    if args.restart not in ("", "no"):
        # its restarts outlive this process: the container runs under its own monitor and
        # this process attaches to it until its first exit, as `docker run` does
        from dockyard.cli.attach import pump
        from dockyard.cli.backend import for_target

        backend = for_target(ctx)
        waiter = backend.wait_async(record.id, "next-exit")
        engine.start(ctx.store, record.id)
        pump(backend.attach(record.id), tty=args.tty, stdin=args.interactive)
        return waiter.result()
    stdin = 0 if (args.interactive or args.tty) else None
    return engine.run_attached(ctx.store, record.id,
                               engine.Attach(stdin=stdin, stdout=sys.stdout.fileno(),
                                             stderr=sys.stderr.fileno()))


def _each(ctx: CliContext, names: list[str], action, *, print_result: bool = False) -> int:  # noqa: ANN001
    """`action` on each name; prints the name (or what the action returns), or the error."""
    failed = False
    for name in names:
        try:
            result = action(name)
        except DockyardError as exc:
            ctx.stderr.write(f"Error: {exc}\n")
            failed = True
            continue
        ctx.stdout.write(f"{result if print_result else name}\n")
    return 1 if failed else 0


def cmd_start(args: argparse.Namespace, ctx: CliContext) -> int:
    return _each(ctx, args.containers, lambda n: engine.start(ctx.store, n))


def cmd_stop(args: argparse.Namespace, ctx: CliContext) -> int:
    return _each(ctx, args.containers, lambda n: engine.stop(ctx.store, n, args.time))


def cmd_kill(args: argparse.Namespace, ctx: CliContext) -> int:
    return _each(ctx, args.containers, lambda n: engine.kill(ctx.store, n, args.signal))


def cmd_rm(args: argparse.Namespace, ctx: CliContext) -> int:
    return _each(ctx, args.containers, lambda n: engine.remove(ctx.store, n, args.force))


def cmd_pause(args: argparse.Namespace, ctx: CliContext) -> int:
    return _each(ctx, args.containers, lambda n: engine.pause(ctx.store, n))


def cmd_unpause(args: argparse.Namespace, ctx: CliContext) -> int:
    return _each(ctx, args.containers, lambda n: engine.unpause(ctx.store, n))


def cmd_wait(args: argparse.Namespace, ctx: CliContext) -> int:
    def wait(name: str) -> int:
        state = engine.wait(ctx.store, name)
        return state.exit_code if state is not None else 0

    return _each(ctx, args.containers, wait, print_result=True)


def cmd_ps(args: argparse.Namespace, ctx: CliContext) -> int:
    items = engine.list_containers(ctx.store, args.all)
    if args.quiet:
        ctx.stdout.write("".join((s.id if args.no_trunc else s.id[:12]) + "\n" for s in items))
        return 0

    rows = []
    for s in items:
        command = s.command if args.no_trunc else ellipsis(s.command, 20)
        rows.append([s.id if args.no_trunc else s.id[:12], s.image,
                     json.dumps(command, ensure_ascii=False), since(s.created), s.status_text(),
                     "", s.name])
    write_table(ctx.stdout, ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], rows)
    return 0


def cmd_logs(args: argparse.Namespace, ctx: CliContext) -> int:
    ctx.stdout.flush()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for entry in engine.logs(ctx.store, args.container, follow=args.follow):
        target = err if entry.stream == "stderr" else out
        target.write(entry.data)
        if args.follow:
            target.flush()
    out.flush()
    err.flush()
    return 0


def cmd_exec(args: argparse.Namespace, ctx: CliContext) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if args.interactive and args.tty and not os.isatty(0):
        raise InvalidParameter("the input device is not a TTY")
    ctx.stdout.flush()
    return engine.exec_in(ctx.store, args.container, engine.ExecOptions(
        cmd=command, interactive=args.interactive, tty=args.tty, env=args.env,
        workdir=args.workdir, user=args.user, privileged=args.privileged))


def cmd_inspect(args: argparse.Namespace, ctx: CliContext) -> int:
    """Containers first, then images (as `docker inspect` without --type)."""
    objects, errors = [], []
    for name in args.names:
        try:
            objects.append(engine.inspect(ctx.store, name))
            continue
        except NotFound:
            pass
        try:
            objects.append(engine_images.inspect_image(ctx.store, name))
        except NotFound:
            errors.append(f"No such object: {name}")
    print_inspect(ctx, objects, args.format)
    for e in errors:
        ctx.stderr.write(f"Error: {e}\n")
    return 1 if errors else 0


def cmd_diff(args: argparse.Namespace, ctx: CliContext) -> int:
    for line in engine.diff(ctx.store, args.container):
        ctx.stdout.write(line + "\n")
    return 0


def cmd_export(args: argparse.Namespace, ctx: CliContext) -> int:
    container = engine.container_id(ctx.store, args.container)
    ctx.write_archive(args.output, lambda out: engine.export(ctx.store, container, out))
    return 0


def cmd_commit(args: argparse.Namespace, ctx: CliContext) -> int:
    image_id = engine.commit(ctx.store, args.container, args.repository,
                             pause_container=_bool(args.pause), message=args.message,
                             author=args.author, changes=args.change)
    ctx.stdout.write(f"{image_id}\n")
    return 0
