"""`docker build`'s flags for RUN's containers (-m, --memory-swap, --shm-size, --ulimit, -c,
--cpu-period, --cpu-quota, --cpuset-*, and those dockyard refuses) read into HostConfig's fields,
and `--compress`'s gzip writer: loaded by client/build.py only when one of them is given, so a
build without them pays nothing for them (tests/client/test_budget.py). Written light, as the
client is (no typing, no re)."""

from __future__ import annotations

from dockyard.errors import InvalidParameter
from dockyard.units import go_parse_int, parse_ulimit, ram_in_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import BinaryIO, Callable


def _flag_error(value: str, flag: str, problem: object) -> InvalidParameter:
    """A flag's value the docker CLI's flag parser refuses: its words, its help's line, 125."""
    error = InvalidParameter(f'invalid argument "{value}" for "{flag}" flag: {problem}\n'
                             "See 'dockyard build --help'.")
    error.exit_code = 125
    return error


# (dest, the flag as the docker CLI names it, HostConfig's field) of the integer and size flags
_INT_FLAGS = (("cpu_shares", "-c, --cpu-shares", "CpuShares"), ("cpu_period", "--cpu-period", "CpuPeriod"),
              ("cpu_quota", "--cpu-quota", "CpuQuota"))
_SIZE_FLAGS = (("memory", "-m, --memory", "Memory"), ("memory_swap", "--memory-swap", "MemorySwap"),
               ("shm_size", "--shm-size", "ShmSize"))
_RUN_FLAGS = {"Memory": "--memory", "MemorySwap": "--memory-swap", "ShmSize": "--shm-size", "Ulimits": "--ulimit",
              "CpuShares": "--cpu-shares", "CpuPeriod": "--cpu-period", "CpuQuota": "--cpu-quota",
              "CpusetCpus": "--cpuset-cpus", "CpusetMems": "--cpuset-mems"}


def read(args: argparse.Namespace, buildkit: bool = False) -> dict[str, object]:
    """The HostConfig fields the flags give RUN's containers, read as the docker CLI 20.10 reads
    them (sizes and ulimits as go-units reads them, integers as pflag's Int64): only those given
    (a zero is not given, as dockerd's builder takes it). What dockyard cannot honour is refused,
    in the words of whoever refuses it in docker: `--squash` (the CLI: dockerd without
    experimental features), `--security-opt` and `--isolation` other than default (dockerd on
    Linux), `--cgroup-parent` (dockyard's runtime has no parent cgroup). BuildKit mode: dockerd
    20.10 ignores the resource flags there (measured: a RUN saw no memory, swap, shm, ulimit or
    CPU limit); dockyard refuses them instead. In process and as a client alike."""
    if args.squash:
        raise InvalidParameter('"--squash" is only supported on a Docker daemon with experimental features enabled')
    if args.security_opt:
        raise InvalidParameter("The daemon on this platform does not support setting security options on build")
    if args.isolation and args.isolation.lower() != "default":
        raise InvalidParameter(f'Unsupported isolation: "{args.isolation}"')
    if args.cgroup_parent:
        raise InvalidParameter("--cgroup-parent is not supported by dockyard: its containers have no parent cgroup")
    host: dict[str, object] = {}
    if any(getattr(args, dest) for dest, _, _ in _SIZE_FLAGS) or args.ulimit or \
            any(getattr(args, dest) for dest, _, _ in _INT_FLAGS):
        for dest, flag, field in _SIZE_FLAGS:
            text = getattr(args, dest)
            if text is not None and not (dest == "memory_swap" and text == "-1"):
                try:
                    host[field] = ram_in_bytes(text)
                except ValueError as exc:
                    raise _flag_error(text, flag, exc) from None
            elif text == "-1":
                host[field] = -1
        for dest, flag, field in _INT_FLAGS:
            text = getattr(args, dest)
            if text is not None:
                try:
                    host[field] = go_parse_int(text, 0)
                except ValueError as exc:
                    raise _flag_error(text, flag, exc) from None
        ulimits: dict[object, dict[str, object]] = {}
        for text in args.ulimit:
            try:
                limit = parse_ulimit(text)
            except ValueError as exc:
                raise _flag_error(text, "--ulimit", exc) from None
            ulimits[limit["Name"]] = limit   # the last of a name wins (opts.UlimitOpt)
        host["Ulimits"] = list(ulimits.values())
    host["CpusetCpus"], host["CpusetMems"] = args.cpuset_cpus, args.cpuset_mems
    host = {field: value for field, value in host.items() if value}
    if buildkit and host:
        given = ", ".join(_RUN_FLAGS[field] for field in host)
        raise InvalidParameter(f"{given}: not supported in BuildKit mode (dockerd 20.10's BuildKit ignores "
                               "them): build with the classic builder (DOCKER_BUILDKIT=0)")
    if args.add_host:
        host["ExtraHosts"] = list(args.add_host)
    return host


class Gzip:
    """A writer that gzips what it is given into `out` (`--compress`, the docker CLI's
    build.Compress); zlib is loaded for it only."""

    def __init__(self, out: BinaryIO) -> None:
        import zlib

        self.out = out
        self.encoder = zlib.compressobj(6, zlib.DEFLATED, 31)   # 31: a gzip header and trailer

    def write(self, data: bytes) -> int:
        if data:
            self.out.write(self.encoder.compress(data))
        return len(data)

    def flush(self) -> None:
        """(the tar writer flushes its writer: what zlib holds goes out at the end)"""

    def close(self) -> None:
        self.out.write(self.encoder.flush())


def compressed(body: Callable[[BinaryIO], None]) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        gzip = Gzip(out)
        body(gzip)  # type: ignore[arg-type]
        gzip.close()

    return write
