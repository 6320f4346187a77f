"""`dockyard port`, `top` and `stats --no-stream`: a container's published ports, processes and
resource use, as the docker CLI 20.10 prints them, from the Engine API's answers (GET
/containers/{id}/json, /top, /stats through cli/backend: the engine in process, the daemon as a
client)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli.backend import for_target
from dockyard.cli.format import write_rows, write_tabbed
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


def cmd_top(args: argparse.Namespace, target: Any) -> int:
    query = [("ps_args", " ".join(args.ps_args))] if args.ps_args else []
    answer = for_target(target).call("GET", f"/containers/{args.container}/top", query)
    write_tabbed(_out(target), [list(answer.get("Titles") or [])] + [list(p) for p in answer.get("Processes") or []],
               20, 3)
    return 0


_STATS_HEADER = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
_STATS_KEYS = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"]
_STATS_NAMES = {"Container": "CONTAINER", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
                "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}


def _stats_context() -> Any:
    """The docker CLI's `*container.statsContext`: a row's fields (stats_row's keys)."""
    from dockyard.cli.govalues import Context

    return Context("*container.statsContext", {"Container", "Name", "ID", "CPUPerc", "MemUsage", "MemPerc",
                                                "NetIO", "BlockIO", "PIDs"})


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
    half second after the CLI's clear-screen codes, until interrupted. Without names, as the
    docker CLI 20.10: those there are at the start and, by the daemon's events, those that
    start after (with -a, those created), less those that die (without -a)."""
    backend = for_target(target)
    if not args.no_stream:
        return _stream_stats(target, backend, args)
    names = list(args.containers) or _listed(backend, args)
    rows, errors = [], []
    for name in names:
        try:
            rows.append(stats_row(name, backend.call("GET", f"/containers/{name}/stats", [("stream", "0")]),
                                  args.no_trunc))
        except DockyardError as exc:
            errors.append(str(exc))
    if errors:   # the docker CLI prints no table then
        raise DockyardError("\n".join(errors).replace("\n", "\nError: "))
    write_rows(_out(target), args.format, rows, _STATS_HEADER, _STATS_KEYS, _stats_context(), _STATS_NAMES)
    return 0


def _listed(backend: Any, args: argparse.Namespace) -> list[str]:
    return [c["Id"][:12] for c in backend.call("GET", "/containers/json", [("all", "1")] if args.all else [])]


class _Followed:
    """The containers a streaming `stats` shows, in the order they came, each with its last
    reading (from its first on) and the stream that gives them: one stream a container, from
    its add to its removal (a stream still running once its container is removed writes no
    more; an add after that starts another)."""

    def __init__(self, backend: Any, no_trunc: bool) -> None:
        import threading

        self.backend, self.no_trunc = backend, no_trunc
        self.lock = threading.Lock()
        self.order: list[str] = []
        self.rows: dict[str, dict[str, str]] = {}
        self.streams: dict[str, object] = {}    # name -> the token of its current stream

    def add(self, name: str, first: Any = None, errors: list[str] | None = None) -> bool:
        """False when it is shown already; else `first` (a semaphore) is released once its
        first reading came or its stream failed (why in `errors`)."""
        import threading

        with self.lock:
            if name in self.streams:
                return False
            token = self.streams[name] = object()
            self.order.append(name)
        threading.Thread(target=self._follow, args=(name, token, first, errors), daemon=True, name="stats").start()
        return True

    def remove(self, name: str) -> None:
        with self.lock:
            if self.streams.pop(name, None) is not None:
                self.order.remove(name)
                self.rows.pop(name, None)

    def shown(self) -> list[dict[str, str]]:
        with self.lock:
            return [self.rows[n] for n in self.order if n in self.rows]

    def _follow(self, name: str, token: object, first: Any, errors: list[str] | None) -> None:
        started = False
        try:
            for message in self.backend.stats_stream(name):
                row = stats_row(name, message, self.no_trunc)
                with self.lock:
                    if self.streams.get(name) is not token:
                        return
                    self.rows[name] = row
                if not started and first is not None:
                    first.release()
                started = True
        except DockyardError as exc:
            if not started and errors is not None:
                errors.append(str(exc))
        finally:
            if not started and first is not None:
                first.release()

    def watch(self, all_: bool, since: str) -> None:
        """Add and remove by the daemon's container events from `since` on (a thread's)."""
        import json

        query = [("since", since), ("filters", json.dumps({"type": ["container"]}))]
        try:
            for event in self.backend.stream("GET", "/events", query):
                action, ident = event.get("Action") or event.get("status") or "", (event.get("id") or "")[:12]
                if action == "start" or (action == "create" and all_):
                    self.add(ident)
                elif action == "die" and not all_:
                    self.remove(ident)
        except DockyardError:
            pass    # the daemon went away: the table stays as it was


def _stream_stats(target: Any, backend: Any, args: argparse.Namespace) -> int:
    import threading
    import time

    followed = _Followed(backend, args.no_trunc)
    if args.containers:
        names = list(args.containers)
    else:
        # the events from before the list on: a container that starts or dies meanwhile is
        # seen by one or both (an add is once)
        now = time.time_ns()
        since = f"{now // 1_000_000_000}.{now % 1_000_000_000:09d}"
        threading.Thread(target=followed.watch, args=(args.all, since), daemon=True, name="stats events").start()
        names = _listed(backend, args)
    errors: list[str] = []
    first = threading.Semaphore(0)
    for _ in [name for name in names if followed.add(name, first, errors)]:
        first.acquire()
    if errors and args.containers:
        raise DockyardError("\n".join(errors).replace("\n", "\nError: "))
    out = _out(target)
    while True:
        out.write("\033[2J\033[H")
        write_rows(out, args.format, followed.shown(), _STATS_HEADER, _STATS_KEYS, _stats_context(), _STATS_NAMES)
        out.flush()
        time.sleep(0.5)
