"""`dockyard restart`, `rename` and `update`: a container's life and settings changed, as the
docker CLI 20.10 asks and prints it, through cli/backend (the engine in process, the daemon as a
client: POST /containers/{id}/restart, /rename, /update)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli.backend import for_target
from dockyard.errors import DockyardError, InvalidParameter


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restart", help="Restart one or more containers")
    p.add_argument("-t", "--time", type=int, default=None, help="Seconds to wait for stop before killing the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_restart, client=cmd_restart)
    p = sub.add_parser("rename", help="Rename a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")
    p.set_defaults(func=cmd_rename, client=cmd_rename)
    _register_update(sub)


def _out(target: Any) -> Any:
    return sys.stdout if isinstance(target, str) else target.stdout


def _err(target: Any) -> Any:
    return sys.stderr if isinstance(target, str) else target.stderr


def each_then_errors(target: Any, names: list[str], action: Any) -> int:
    """`action(name)` on each, its name printed when it succeeds; the errors printed together at
    the end, status 1 if any (the docker CLI's restart and update)."""
    errors = []
    for name in names:
        try:
            action(name)
        except DockyardError as exc:
            errors.append(str(exc))
            continue
        _out(target).write(f"{name}\n")
    if errors:
        _out(target).flush()
        raise DockyardError("\n".join(errors).replace("\n", "\nError: "))
    return 0


def cmd_restart(args: argparse.Namespace, target: Any) -> int:
    """The timeout is sent only when given (the daemon's default, the container's stop timeout, else)."""
    backend = for_target(target)
    query = [("t", str(args.time))] if args.time is not None else []
    return each_then_errors(target, args.containers,
                            lambda name: backend.call("POST", f"/containers/{name}/restart", query))


def cmd_rename(args: argparse.Namespace, target: Any) -> int:
    """The daemon's error, then the docker CLI's own line."""
    old, new = args.container.strip(), args.new_name.strip()
    if not old or not new:
        raise InvalidParameter("Neither old nor new names may be empty")
    try:
        for_target(target).call("POST", f"/containers/{old}/rename", [("name", new)])
    except DockyardError as exc:
        _out(target).flush()
        _err(target).write(f"Error: {exc}\n")
        raise DockyardError(f"failed to rename container named {old}") from None
    return 0


def _register_update(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("update", help="Update configuration of one or more containers")
    a = p.add_argument
    a("--blkio-weight", type=int, default=0, help="Block IO (relative weight), between 10 and 1000, or 0 to disable")
    a("--cpu-period", type=int, default=0, help="Limit CPU CFS (Completely Fair Scheduler) period")
    a("--cpu-quota", type=int, default=0, help="Limit CPU CFS (Completely Fair Scheduler) quota")
    a("--cpu-rt-period", type=int, default=0, help="Limit the CPU real-time period in microseconds")
    a("--cpu-rt-runtime", type=int, default=0, help="Limit the CPU real-time runtime in microseconds")
    a("-c", "--cpu-shares", type=int, default=0, help="CPU shares (relative weight)")
    a("--cpus", default="", help="Number of CPUs")
    a("--cpuset-cpus", default="", help="CPUs in which to allow execution (0-3, 0,1)")
    a("--cpuset-mems", default="", help="MEMs in which to allow execution (0-3, 0,1)")
    a("--kernel-memory", default="", help="Kernel memory limit")
    a("-m", "--memory", default="", help="Memory limit")
    a("--memory-reservation", default="", help="Memory soft limit")
    a("--memory-swap", default="", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    a("--pids-limit", type=int, default=0, help="Tune container pids limit (set -1 for unlimited)")
    a("--restart", default="", help="Restart policy to apply when a container exits")
    a("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_update, client=cmd_update)


_UPDATE_FLAGS = ("blkio_weight", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus",
                 "cpuset_cpus", "cpuset_mems", "kernel_memory", "memory", "memory_reservation", "memory_swap",
                 "pids_limit", "restart")


def update_body(args: argparse.Namespace) -> dict[str, Any]:
    """The docker CLI's UpdateConfig: the resources given (a zero leaves one as it is), the
    restart policy when given. A value it cannot read is its flag error (status 125)."""
    from dockyard.cli.run_flags import flag_size, nano_cpus, restart_policy

    try:
        body: dict[str, Any] = {
            "BlkioWeight": args.blkio_weight, "CpusetCpus": args.cpuset_cpus, "CpusetMems": args.cpuset_mems,
            "CpuShares": args.cpu_shares, "Memory": flag_size("-m, --memory", args.memory) if args.memory else 0,
            "MemoryReservation": flag_size("--memory-reservation", args.memory_reservation)
            if args.memory_reservation else 0,
            "MemorySwap": -1 if args.memory_swap == "-1" else
            flag_size("--memory-swap", args.memory_swap) if args.memory_swap else 0,
            "KernelMemory": flag_size("--kernel-memory", args.kernel_memory) if args.kernel_memory else 0,
            "CpuPeriod": args.cpu_period, "CpuQuota": args.cpu_quota, "CpuRealtimePeriod": args.cpu_rt_period,
            "CpuRealtimeRuntime": args.cpu_rt_runtime, "NanoCpus": nano_cpus(args.cpus) if args.cpus else 0}
    except DockyardError as exc:   # the docker CLI's flag error: its line, the help's, 125
        error = InvalidParameter(f"{exc}\nSee 'dockyard update --help'.")
        error.exit_code = 125
        raise error from None
    body = {k: v for k, v in body.items() if v not in (0, "")}
    if args.pids_limit:
        body["PidsLimit"] = args.pids_limit
    if args.restart:
        body["RestartPolicy"] = restart_policy(args.restart)
    return body


def cmd_update(args: argparse.Namespace, target: Any) -> int:
    if not any(getattr(args, flag) for flag in _UPDATE_FLAGS):
        raise InvalidParameter("you must provide one or more flags when using this command")
    body = update_body(args)
    backend = for_target(target)
    warnings: list[str] = []

    def update(name: str) -> None:
        warnings.extend((backend.call("POST", f"/containers/{name}/update", None, body) or {}).get("Warnings") or [])
    try:
        return each_then_errors(target, args.containers, update)
    finally:
        if warnings:
            _out(target).write("\n".join(warnings) + "\n")
