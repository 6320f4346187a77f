"""`dockyard port`, `top` and `stats --no-stream`: a container's published ports, processes and
resource use, as the docker CLI 20.10 prints them, from the Engine API's answers (GET
/containers/{id}/json, /top, /stats through cli/backend: the engine in process, the daemon as a
client)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli.backend import for_target
from dockyard.cli.format import write_rows
from dockyard.errors import DockyardError, InvalidParameter


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("port", help="List port mappings or a specific mapping for the container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("port", nargs="?", default="", metavar="PRIVATE_PORT[/PROTO]")
    p.set_defaults(func=cmd_port, client=cmd_port)
    p = sub.add_parser("top", help="Display the running processes of a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="ps OPTIONS")
    p.set_defaults(func=cmd_top, client=cmd_top)
    p = sub.add_parser("stats", help="Display a live stream of container(s) resource usage statistics")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("--format", default="", help="Pretty-print images using a Go template")
    p.add_argument("--no-stream", action="store_true", help="Disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    p.set_defaults(func=cmd_stats, client=cmd_stats)


def _out(target: Any) -> Any:
    return sys.stdout if isinstance(target, str) else target.stdout


def _port_number(text: str) -> str:
    """The private port as nat.NewPort reads it (a number or a range, each 0-65535)."""
    for part in text.split("-", 1) if "-" in text else [text]:
        if not part.isdigit():
            raise InvalidParameter(f'strconv.ParseUint: parsing "{part}": invalid syntax')
        if int(part) > 65535:
            raise InvalidParameter(f'strconv.ParseUint: parsing "{part}": value out of range')
    return text


def cmd_port(args: argparse.Namespace, target: Any) -> int:
    ports = (for_target(target).call("GET", f"/containers/{args.container}/json")
             .get("NetworkSettings") or {}).get("Ports") or {}
    out = _out(target)
    if args.port:
        port, _, proto = args.port.partition("/")
        wanted = f"{_port_number(port)}/{proto or 'tcp'}"
        frontends = ports.get(wanted)
        if frontends is None:
            raise DockyardError(f"No public port '{wanted}' published for {args.container}")
        out.write("".join(f"{f['HostIp']}:{f['HostPort']}\n" for f in frontends))
        return 0
    # the docker CLI 20.10 lists them in its map's order (random); here by port and protocol
    def order(key: str) -> tuple[int, str]:
        number, _, proto = key.partition("/")
        return int(number.split("-")[0]) if number.split("-")[0].isdigit() else 0, proto
    for key in sorted(ports, key=order):
        out.write("".join(f"{key} -> {f['HostIp']}:{f['HostPort']}\n" for f in ports[key] or []))
    return 0


def _tabwriter(out: Any, rows: list[list[str]], minwidth: int, padding: int) -> None:
    """Go's tabwriter (spaces): every cell but a line's last padded to its column's width."""
    widths: list[int] = []
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            if i == len(widths):
                widths.append(0)
            widths[i] = max(widths[i], len(cell))
    for row in rows:
        out.write("".join(cell.ljust(max(widths[i] + padding, minwidth)) for i, cell in enumerate(row[:-1]))
                  + (row[-1] if row else "") + "\n")


def cmd_top(args: argparse.Namespace, target: Any) -> int:
    query = [("ps_args", " ".join(args.ps_args))] if args.ps_args else []
    answer = for_target(target).call("GET", f"/containers/{args.container}/top", query)
    _tabwriter(_out(target), [list(answer.get("Titles") or [])] + [list(p) for p in answer.get("Processes") or []],
               20, 3)
    return 0


_STATS_HEADER = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
_STATS_KEYS = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"]
_STATS_NAMES = {"Container": "CONTAINER", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
                "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}


def stats_row(container: str, s: dict[str, Any], no_trunc: bool) -> dict[str, str]:
    """A row of `docker stats` from one stats message, computed as the docker CLI 20.10 does
    (CPU from the delta to precpu, memory without the inactive file cache)."""
    from dockyard.units import bytes_size, human_size

    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    cpu_percent = cpu_delta / system_delta * online * 100.0 if system_delta > 0 and cpu_delta > 0 else 0.0
    memory = s.get("memory_stats") or {}
    used, details = memory.get("usage", 0), memory.get("stats") or {}
    if "total_inactive_file" in details and details["total_inactive_file"] < used:
        used -= details["total_inactive_file"]
    elif details.get("inactive_file", 0) < used:
        used -= details.get("inactive_file", 0)
    limit = memory.get("limit", 0)
    rx = sum(n.get("rx_bytes", 0) for n in (s.get("networks") or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (s.get("networks") or {}).values())
    read = write = 0
    for entry in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = (entry.get("op") or " ")[0]
        if op in "rR":
            read += entry.get("value", 0)
        elif op in "wW":
            write += entry.get("value", 0)
    ident = s.get("id") or ""
    return {"BlockIO": f"{human_size(read)} / {human_size(write)}", "CPUPerc": f"{cpu_percent:.2f}%",
            "Container": container, "ID": ident if no_trunc else ident[:12],
            "MemPerc": f"{used / limit * 100.0 if limit else 0.0:.2f}%",
            "MemUsage": f"{bytes_size(used)} / {bytes_size(limit)}", "Name": (s.get("name") or "").lstrip("/"),
            "NetIO": f"{human_size(rx)} / {human_size(tx)}", "PIDs": str((s.get("pids_stats") or {}).get("current", 0))}


def cmd_stats(args: argparse.Namespace, target: Any) -> int:
    """--no-stream: one reading of each container (its CPU over a second, as the daemon gives
    it), errors instead of the table. Else each container's stream, the table drawn again every
    half second after the CLI's clear-screen codes, until interrupted (the containers named, or
    those there are at the start: the CLI 20.10 follows starts and stops by events too)."""
    backend = for_target(target)
    names = list(args.containers)
    if not names:
        query = [("all", "1")] if args.all else []
        names = [c["Id"][:12] for c in backend.call("GET", "/containers/json", query)]
    if not args.no_stream:
        return _stream_stats(target, backend, names, args)
    rows, errors = [], []
    for name in names:
        try:
            rows.append(stats_row(name, backend.call("GET", f"/containers/{name}/stats", [("stream", "0")]),
                                  args.no_trunc))
        except DockyardError as exc:
            errors.append(str(exc))
    if errors:   # the docker CLI prints no table then
        raise DockyardError("\n".join(errors).replace("\n", "\nError: "))
    write_rows(_out(target), args.format, rows, _STATS_HEADER, _STATS_KEYS, _STATS_NAMES)
    return 0


def _stream_stats(target: Any, backend: Any, names: list[str], args: argparse.Namespace) -> int:
    import threading
    import time

    rows: dict[str, dict[str, str]] = {}
    errors: list[str] = []
    first = threading.Semaphore(0)

    def follow(name: str) -> None:
        started = False
        try:
            for message in backend.stats_stream(name):
                rows[name] = stats_row(name, message, args.no_trunc)
                if not started:
                    started = True
                    first.release()
        except DockyardError as exc:
            if not started:
                errors.append(str(exc))
        finally:
            if not started:
                first.release()
    for name in names:
        threading.Thread(target=follow, args=(name,), daemon=True, name="stats").start()
    for _ in names:
        first.acquire()
    if errors:
        raise DockyardError("\n".join(errors).replace("\n", "\nError: "))
    out = _out(target)
    while True:
        out.write("\033[2J\033[H")
        write_rows(out, args.format, [rows[n] for n in names if n in rows], _STATS_HEADER, _STATS_KEYS, _STATS_NAMES)
        out.flush()
        time.sleep(0.5)
