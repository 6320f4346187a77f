"""`dockyard build` as a client of `dockyard serve` (`-H unix:///PATH` or DOCKYARD_HOST): the
context packed here as the docker CLI packs it, `POST /build` with the docker CLI's parameters and
the user's registry credentials, the daemon's JSON stream printed as the in-process build prints
it. The flags and their readings are declared here once: the CLI registers the same table with
argparse and builds in process with the same readings (cli/build_cmd.py)."""

from __future__ import annotations

import os
import sys

from dockyard.builder.directory_context import DOCKERIGNORE, find_directory_context, write_context_tar
from dockyard.client.flags import APPEND, SWITCH, VALUE, Flag, scan
from dockyard.errors import DockyardError, InvalidParameter
from dockyard.reference import parse_repository

TYPE_CHECKING = False  # typing costs ~2 ms at each start (see the package's docstring)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from typing import BinaryIO, Callable, Iterator

    from dockyard.builder.context import BuildContext
    from typing import Protocol

    from dockyard.builder.directory_context import DirectoryContext
    from dockyard.client.daemon import Daemon, Reply
    from dockyard.reference import Reference

    class BuildMode(Protocol):
        def query(self, classic: list[tuple[str, str]]) -> list[tuple[str, str]]: ...
        def headers(self) -> list[tuple[str, str]]: ...
        def print_stream(self, messages: Iterator[dict]) -> int: ...

# The flags as `docker build` (classic builder) takes them: argparse registers them, and a
# client-mode build reads plain command lines with the quick scanner (see client/flags.py).
FLAGS = (
    Flag(("-f", "--file"), "file", VALUE, "Name of the Dockerfile (default: PATH/Dockerfile)"),
    Flag(("-t", "--tag"), "tag", APPEND, "Name and optionally a tag in the name:tag format"),
    Flag(("--build-arg",), "build_arg", APPEND, "Set build-time variables"),
    Flag(("--target",), "target", VALUE, "Set the target build stage to build"),
    Flag(("--no-cache",), "no_cache", SWITCH, "Do not use cache when building the image"),
    Flag(("--label",), "label", APPEND, "Set metadata for an image"),
    Flag(("-q", "--quiet"), "quiet", SWITCH, "Suppress the build output and print image ID on success"),
    Flag(("--iidfile",), "iidfile", VALUE, "Write the image ID to the file"),
    Flag(("--rm",), "rm", SWITCH, "Remove intermediate containers after a successful build (default true)",
         default=True),
    Flag(("--force-rm",), "force_rm", SWITCH, "Always remove intermediate containers"),
    Flag(("--add-host",), "add_host", APPEND, "Add a custom host-to-IP mapping (host:ip) to RUN's /etc/hosts"),
    # RUN's containers' resources (classic builder; BuildKit mode refuses them: run_host_config)
    Flag(("-m", "--memory"), "memory", VALUE, "Memory limit"),
    Flag(("--memory-swap",), "memory_swap", VALUE, "Swap limit equal to memory plus swap: '-1' to enable "
         "unlimited swap"),
    Flag(("--shm-size",), "shm_size", VALUE, "Size of /dev/shm"),
    Flag(("--ulimit",), "ulimit", APPEND, "Ulimit options"),
    Flag(("-c", "--cpu-shares"), "cpu_shares", VALUE, "CPU shares (relative weight)"),
    Flag(("--cpu-period",), "cpu_period", VALUE, "Limit the CPU CFS (Completely Fair Scheduler) period"),
    Flag(("--cpu-quota",), "cpu_quota", VALUE, "Limit the CPU CFS (Completely Fair Scheduler) quota"),
    Flag(("--cpuset-cpus",), "cpuset_cpus", VALUE, "CPUs in which to allow execution (0-3, 0,1)"),
    Flag(("--cpuset-mems",), "cpuset_mems", VALUE, "MEMs in which to allow execution (0-3, 0,1)"),
    Flag(("--compress",), "compress", SWITCH, "Compress the build context using gzip (as a client of a daemon)"),
    # docker build's flags dockyard cannot honour: refused, never ignored (run_host_config)
    Flag(("--cgroup-parent",), "cgroup_parent", VALUE, "Optional parent cgroup for the container (not supported)"),
    Flag(("--isolation",), "isolation", VALUE, "Container isolation technology (only 'default' on Linux)"),
    Flag(("--security-opt",), "security_opt", APPEND, "Security options (not supported on build, as in dockerd)"),
    Flag(("--squash",), "squash", SWITCH, "Squash newly built layers into a single new layer (experimental: "
         "not supported)"),
    Flag(("--network",), "network", VALUE, "Set the networking mode for the RUN instructions during build",
         default="default"),
    Flag(("--pull",), "pull", SWITCH, "Always attempt to pull a newer version of the image"),
    Flag(("--cache-from",), "cache_from", APPEND, "Images to consider as cache sources (BuildKit mode: "
         "type=registry,ref=REF or type=local,src=DIR)"),
    Flag(("--explain-cache",), "explain_cache", SWITCH, "Print why each step that misses the cache missed"),
    Flag(("--waste",), "waste", SWITCH, "After the build, list the files a layer adds that a later layer "
         "deletes or overwrites"),
    # BuildKit mode only (DOCKER_BUILDKIT=1); the classic builder refuses them.
    Flag(("--secret",), "secret", APPEND, "Secret to expose to the build: id=ID,src=FILE or id=ID,env=VAR"),
    Flag(("--ssh",), "ssh", APPEND, "SSH agent socket or keys to expose to the build: default|ID=SOCKET|KEY[,...]"),
    Flag(("--progress",), "progress", VALUE, "Type of progress output: auto, plain, tty, quiet, rawjson"),
    Flag(("-o", "--output"), "output", APPEND, "Output destination: type=docker|oci|tar|local,dest=PATH"),
    Flag(("--metadata-file",), "metadata_file", VALUE, "Write build result metadata to the file"),
    Flag(("--no-cache-filter",), "no_cache_filter", APPEND, "Do not cache the given stages"),
    Flag(("--allow",), "allow", APPEND, "Allow extra privileged entitlement: security.insecure, network.host"),
    Flag(("--platform",), "platform", VALUE, "Set the platform the build is for (linux/amd64, this machine's)"),
    Flag(("--cache-to",), "cache_to", APPEND, "Cache export destinations (BuildKit): "
         "type=registry,ref=REF[,mode=min|max] or type=local,dest=DIR[,mode=min|max]"),
)
POSITIONALS = ("context",)

# Flags that exist only in BuildKit mode: the classic builder refuses them.
BUILDKIT_FLAGS = {"secret": "--secret", "ssh": "--ssh", "progress": "--progress", "output": "--output",
                  "metadata_file": "--metadata-file", "no_cache_filter": "--no-cache-filter",
                  "allow": "--allow", "cache_to": "--cache-to"}


def buildkit_enabled(env: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """DOCKER_BUILDKIT as the docker CLI reads it (Go's strconv.ParseBool); unset: classic."""
    value = (env if env is not None else os.environ).get("DOCKER_BUILDKIT")
    if value is None or value == "":
        return False
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise InvalidParameter(f"DOCKER_BUILDKIT environment variable expects boolean value: "
                           f'strconv.ParseBool: parsing "{value}": invalid syntax')


def refuse_buildkit_flags(args: argparse.Namespace) -> None:
    """Classic mode: a BuildKit-only flag is an error, never ignored."""
    for dest, flag in BUILDKIT_FLAGS.items():
        value = getattr(args, dest, None)
        if value not in (None, [], "", False, "auto"):
            raise InvalidParameter(f"{flag} requires BuildKit: set DOCKER_BUILDKIT=1")


def scan_args(words: list[str]) -> dict[str, object] | None:
    """The command's values as argparse would give them for a plain command line, else None."""
    return scan(words, FLAGS, POSITIONALS)


class Values:
    """A command line's values as attributes, as argparse's Namespace holds them."""

    def __init__(self, values: dict[str, object]) -> None:
        self.__dict__.update(values)


def run(values: dict[str, object], host: str) -> int:
    """The build `values` (read by client/main.py) in the daemon at `host`."""
    return client_build(Values(values), host)  # type: ignore[arg-type]


def rm_value(value: bool | str) -> bool:
    if isinstance(value, bool):  # a pflag bool (cli/pflag.py, client/flags.py)
        return value
    low = value.lower()
    if low in ("true", "1", "t"):
        return True
    if low in ("false", "0", "f"):
        return False
    raise InvalidParameter(f'invalid argument "{value}" for "--rm" flag: strconv.ParseBool: parsing "{value}": invalid syntax')


# The flags that give RUN's containers more than the network and --add-host: read by
# client/run_host.py, loaded only when one is given (tests/client/test_budget.py)
_RUN_HOST_DESTS = ("memory", "memory_swap", "shm_size", "ulimit", "cpu_shares", "cpu_period", "cpu_quota",
                   "cpuset_cpus", "cpuset_mems", "cgroup_parent", "isolation", "security_opt", "squash")


def run_host_config(args: argparse.Namespace, buildkit: bool = False) -> dict[str, object]:
    """The HostConfig fields the flags give RUN's containers (client/run_host.read): only those
    given; BuildKit mode refuses all but --add-host."""
    if any(getattr(args, dest) for dest in _RUN_HOST_DESTS):
        from dockyard.client.run_host import read

        return read(args, buildkit)
    return {"ExtraHosts": list(args.add_host)} if args.add_host else {}


def build_arg_values(values: list[str]) -> dict[str, str | None]:
    """`--build-arg K=V`; a bare `K` takes K from the environment (unset: no value), as the CLI does."""
    out: dict[str, str | None] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key:   # refused before anything is sent, as the docker CLI's opts.ValidateEnv
            raise InvalidParameter(f'invalid argument "{item}" for "--build-arg" flag: invalid environment '
                                   f"variable: {item}")
        out[key] = value if sep else os.environ.get(key)
    return out


def label_values(values: list[str]) -> dict[str, str]:
    """`--label K=V` (`K` alone: an empty value), checked as the docker CLI 20.10 checks them
    before sending anything (opts.ValidateLabel): a name, with no whitespace in it."""
    out: dict[str, str] = {}
    for item in values:
        key, _, value = item.partition("=")
        name = key.lstrip(" \t")
        if not name or any(c.isspace() for c in name):
            problem = f"invalid label '{item}': empty name" if not name else f"label '{name}' contains whitespaces"
            raise InvalidParameter(f'invalid argument "{item}" for "--label" flag: {problem}')
        out[key] = value
    return out


def tag_references(values: list[str]) -> list[Reference]:
    refs = []
    for text in values:
        try:
            ref = parse_repository(text)  # checked before anything is sent, as the docker CLI does
        except InvalidParameter as exc:
            raise InvalidParameter(f'invalid argument "{text}" for "-t, --tag" flag: {exc}') from None
        refs.append(ref)
    return refs


def write_iidfile(path: str, image_id: str) -> None:
    # Not at the top: atomic writes bring pathlib, tempfile and typing, and only --iidfile needs them
    from pathlib import Path

    from dockyard.atomic import atomic_write

    atomic_write(Path(os.path.abspath(path)), image_id.encode())


def _compact(value: object) -> str:
    """JSON as the docker CLI sends a map or a list in the query; json is imported for one
    given only (its import loads re: client/daemon.loads)."""
    import json

    return json.dumps(value, separators=(",", ":"))


def _query(args: argparse.Namespace, dockerfile: str | None, remote: str | None) -> list[tuple[str, str]]:
    """`POST /build`'s parameters as the docker CLI (classic builder) sends them: defaults are
    left out (`rm` only as `rm=0`), maps as JSON, booleans as `1`."""
    query: list[tuple[str, str]] = []
    host = run_host_config(args)
    build_args = build_arg_values(args.build_arg)
    if build_args:
        query.append(("buildargs", _compact(build_args)))
    if args.cache_from:
        query.append(("cachefrom", _compact(list(args.cache_from))))
    for field, name in (("CpuPeriod", "cpuperiod"), ("CpuQuota", "cpuquota"), ("CpuShares", "cpushares"),
                        ("CpusetCpus", "cpusetcpus"), ("CpusetMems", "cpusetmems")):
        if field in host:
            query.append((name, str(host[field])))
    if dockerfile:
        query.append(("dockerfile", dockerfile))
    if args.explain_cache:  # dockyard's own parameter
        query.append(("explaincache", "1"))
    query += [("extrahosts", text) for text in args.add_host]   # the docker CLI's url.Values: one each
    if args.force_rm:
        query.append(("forcerm", "1"))
    labels = label_values(args.label)
    if labels:
        query.append(("labels", _compact(labels)))
    for field, name in (("Memory", "memory"), ("MemorySwap", "memswap")):
        if field in host:
            query.append((name, str(host[field])))
    if args.network != "default":
        query.append(("networkmode", args.network))
    if args.no_cache:
        query.append(("nocache", "1"))
    if args.platform:
        query.append(("platform", args.platform))
    if args.pull:
        query.append(("pull", "1"))
    if args.quiet:
        query.append(("q", "1"))
    if remote:
        query.append(("remote", remote))
    if not rm_value(args.rm):
        query.append(("rm", "0"))
    if "ShmSize" in host:
        query.append(("shmsize", str(host["ShmSize"])))
    query += [("t", text) for text in args.tag]
    if args.target:
        query.append(("target", args.target))
    if "Ulimits" in host:  # Go's json.Marshal of units.Ulimit: Name, Hard, Soft
        query.append(("ulimits", _compact([{"Name": u["Name"], "Hard": u["Hard"], "Soft": u["Soft"]}
                                           for u in host["Ulimits"]])))  # type: ignore[attr-defined]
    query.append(("version", "1"))
    return query


def _random_dockerfile_name() -> str:
    """The docker CLI's name for a Dockerfile it adds to the context (outside it, or `-f -`)."""
    return ".dockerfile." + os.urandom(10).hex()


def _context_body(context: DirectoryContext | BuildContext,
                  dockerfile: str | None) -> Callable[[BinaryIO], None]:
    """A writer of the directory context as the docker CLI packs it: .dockerignore applied, the
    Dockerfile and .dockerignore always sent; a Dockerfile from outside the context (or stdin)
    added under `dockerfile` (a random name) and listed in the sent .dockerignore, so the daemon
    leaves it out of `COPY .` (and the .dockerignore too when the context had none)."""
    def write(out: BinaryIO) -> None:
        if dockerfile is None:
            write_context_tar(context.root, context.ignore, out,
                              keep={context.dockerfile_name, DOCKERIGNORE})
            return
        ignore_file = os.path.join(context.root, DOCKERIGNORE)
        try:
            if os.path.isfile(ignore_file):
                with open(ignore_file, "rb") as f:
                    listed = f.read()
            else:
                listed = DOCKERIGNORE.encode()
        except OSError as err:
            raise InvalidParameter(f"error checking context: {err}") from None
        with open(context.dockerfile_path, "rb") as f:
            text = f.read()
        write_context_tar(context.root, context.ignore, out, keep={DOCKERIGNORE},
                          replace={dockerfile: text, DOCKERIGNORE: listed + f"\n{dockerfile}\n".encode()})

    return write


def _send_stdin(out: BinaryIO, compress: bool = False) -> None:
    """The context from stdin as it comes; with `compress`, a tar gzipped (a lone Dockerfile, or
    an archive compressed already, gains nothing from it: sent as it comes, for the daemon to
    tell what it is)."""
    stdin = sys.stdin.buffer
    head = b""
    while len(head) < 512 and (data := stdin.read(512 - len(head))):
        head += data
    gzip = None
    if compress and head[257:262] == b"ustar":
        from dockyard.client.run_host import Gzip

        out = gzip = Gzip(out)  # type: ignore[assignment]
    out.write(head)
    while data := stdin.read(64 * 1024):
        out.write(data)
    if gzip is not None:
        gzip.close()


def client_build(args: argparse.Namespace, host: str, mode: BuildMode | None = None) -> int:
    """`dockyard -H unix://... build`: pack the context here, build in the daemon, print its
    stream as the in-process build prints it (the same lines, `Error: ...`, exit status).
    `mode`: BuildKit mode's additions (client/build_buildkit.ClientMode); None: classic."""
    if args.waste:
        raise InvalidParameter("--waste is not supported as a client of dockyard serve yet: run "
                               "`dockyard image waste IMAGE` after the build")
    if mode is None:
        refuse_buildkit_flags(args)
    run_host_config(args, buildkit=mode is not None)   # refused before anything is sent
    tag_references(args.tag)
    rm_value(args.rm)
    # Not at the top: an in-process build reads its command line with this module and talks to
    # no daemon (the daemon client loads _socket, base64, struct: tests/test_start_up.py)
    from dockyard.client.daemon import Daemon

    daemon = Daemon(host)
    context: DirectoryContext | BuildContext | None = None
    opened: BuildContext | None = None  # holds temporary files (`-f -`): removed at the end
    remote = None
    dockerfile = args.file
    body: Callable[[BinaryIO], None] | None = None
    if args.context == "-":  # a tar or a lone Dockerfile: sent as it comes, the daemon tells
        body = (lambda out: _send_stdin(out, compress=True)) if args.compress else _send_stdin
    elif args.context.startswith(("http://", "https://")):
        remote = args.context  # the daemon downloads it, as it does in-process
    else:
        if args.file == "-":  # the Dockerfile from stdin, kept aside in a temporary file
            # Not at the top: the daemon's half of contexts (temporary files, tarfile) is needed
            # here only
            from dockyard.builder.context import open_context

            context = opened = open_context(args.context, dockerfile="-", stdin=sys.stdin.buffer)
        else:  # found on strings: no pathlib, no temp files
            context = find_directory_context(args.context, dockerfile=args.file)
        name = context.dockerfile_name
        added = _random_dockerfile_name() if name == "-" or os.path.isabs(name) else None
        body = _context_body(context, added)
        dockerfile = added or name
    if context is not None and args.compress:
        from dockyard.client.run_host import compressed

        body = compressed(body)  # type: ignore[arg-type]
    headers = [("X-Registry-Config", _registry_config(os.environ))]
    query = _query(args, dockerfile, remote)
    if mode is not None:
        query = mode.query(query)
        headers += mode.headers()
    try:
        if context is not None and opened is None:
            reply = _build_in_place(daemon, args, context, headers, mode)
            if reply is not None:
                with reply:
                    if mode is not None:
                        return mode.print_stream(reply.json_messages())
                    return _print_build_stream(reply.json_messages(), args)
        with daemon.request("POST", "/build", query, body=body,
                            content_type="application/x-tar", headers=headers) as reply:
            reply.check()
            if mode is not None:
                return mode.print_stream(reply.json_messages())
            return _print_build_stream(reply.json_messages(), args)
    finally:
        if opened is not None:
            opened.cleanup()


def _build_in_place(daemon: Daemon, args: argparse.Namespace, context: DirectoryContext,
                    headers: list[tuple[str, str]], mode: BuildMode | None) -> Reply | None:
    """Ask a `dockyard serve` on this host to read the context directory where it lies
    (`POST /dockyard/build`, api/local_context.py), instead of receiving it as a tar: the
    directory's path and DEV:INO, and the Dockerfile as the in-process build finds it (`-f` made
    absolute here, relative to our current directory). None when the daemon declines (412: it
    cannot prove it sees our files) or does not know the route (404: dockerd, an older dockyard);
    the caller then sends the tar as the docker CLI does. Both builders (`mode`: BuildKit's)."""
    try:
        st = os.stat(context.root)
    except OSError:
        return None
    dockerfile = os.path.abspath(args.file) if args.file else None
    query = _query(args, dockerfile, None)
    query[-1:-1] = [("context", context.root), ("contextid", f"{st.st_dev}:{st.st_ino}")]
    if mode is not None:  # BuildKit mode: version=2 and its parameters, as with a tar
        query = mode.query(query)
    reply = daemon.request("POST", "/dockyard/build", query, headers=headers)
    if reply.status in (404, 412):
        reply.close()
        return None
    try:
        reply.check()
    except BaseException:
        reply.close()
        raise
    return reply


def _registry_config(env: Mapping[str, str]) -> str:
    """`X-Registry-Config` as the docker CLI sends it with every classic build: all the
    credentials of the user's docker config.json (and its helpers), for the daemon to pull FROM
    images with; `{}` when there are none. A config that cannot be read is a warning, as in
    docker, and the build goes on without credentials."""
    # Where CredentialStore.default looks: without a config.json (the common case) its module
    # is not even imported, at each client start.
    config_dir = env.get("DOCKER_CONFIG") or (env.get("HOME") and os.path.join(env["HOME"], ".docker"))
    if config_dir and not os.path.exists(os.path.join(config_dir, "config.json")):
        return "e30="  # base64url of {}
    from dockyard.client.daemon import registry_config_header
    from dockyard.transport.registry.credentials import CredentialStore

    def warn(message: str) -> None:
        print(f"WARNING: {message}", file=sys.stderr)

    try:
        configs = CredentialStore.default(env).get_all(warn)
    except DockyardError as exc:
        warn(str(exc))
        return "e30="
    return registry_config_header(configs)


def _print_build_stream(messages: Iterator[dict], args: argparse.Namespace) -> int:
    """Write the daemon's build messages as the in-process build writes them. With -q the
    daemon (dockyard's or dockerd) sends its output only when the build fails, before the
    error: it goes to stderr, as the docker CLI prints it; the image ID to stdout."""
    stdout = sys.stdout.buffer
    progress = sys.stderr.buffer if args.quiet else stdout
    image_id = ""
    for message in messages:
        error = message.get("errorDetail") or ({"message": message["error"]} if "error" in message else None)
        if error is not None:
            text = str(error.get("message") or message.get("error") or "")
            code = error.get("code")
            stdout.flush()
            if isinstance(code, int) and code:  # a RUN that failed: its message and status
                print(text, file=sys.stderr)
                return code
            raise DockyardError(text)
        aux = message.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            image_id = aux["ID"]
        text = message.get("stream")
        if isinstance(text, str):
            if args.quiet and text.startswith("sha256:"):
                image_id = text.strip()
                stdout.write(text.encode())
                stdout.flush()
                continue
            progress.write(text.encode())
            progress.flush()
    if not image_id:
        raise DockyardError("the daemon's build stream ended without an image ID")
    if args.iidfile:
        write_iidfile(args.iidfile, image_id)
    return 0
