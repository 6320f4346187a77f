"""Where a command's data comes from: the engine in this process, or a `dockyard serve` (client
mode). Both answer with the Engine API's JSON, so a command formats one shape and prints the
same in both modes.

    backend = for_target(target)     # a CliContext (in process) or a host (client mode)
    backend.call("GET", "/networks", query=[("filters", ...)])

In process, each (method, path) is one engine call (the table below); in client mode it is the
HTTP request of the same name. Only the routes the CLI uses are listed.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Callable, Iterator

from dockyard.dataclass import dataclass
from dockyard.errors import NotFound

Query = list[tuple[str, str]]
# the query parameters the API reads as lists (`changes=A&changes=B`): in process, lists too
_LISTS = frozenset({"changes"})


@dataclass(frozen=True)
class LogOptions:
    """`logs` flags: --tail (N or "all"), --since/--until (the API's SECONDS.NANOSECONDS, "" for
    none), --timestamps, --details."""

    tail: str = "all"
    since: str = ""
    until: str = ""
    timestamps: bool = False
    details: bool = False


class Remote:
    def __init__(self, host: str) -> None:
        # as a client only: an in-process command talks to no daemon (tests/test_start_up.py)
        from dockyard.client.daemon import Daemon

        self.daemon = Daemon(host)

    def call(self, method: str, path: str, query: Query | None = None, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        with self.daemon.request(method, path, query,
                                 body=(lambda w: w.write(data)) if data is not None else None) as reply:
            reply.check()
            raw = b"".join(iter(lambda: reply.read(), b""))
        return json.loads(raw) if raw.strip() else None

    def copy(self, method: str, path: str, out: Any, query: Query | None = None) -> None:
        """The answer's body (a tar: export, save) written to `out` as it comes."""
        with self.daemon.request(method, path, query) as reply:
            reply.check()
            while data := reply.read():
                out.write(data)

    def stream(self, method: str, path: str, query: Query | None = None, *,
               headers: list[tuple[str, str]] | None = None, body: Any = None,
               content_type: str = "application/json") -> Iterator[dict]:
        """The JSON messages of a request; `body`, when given, writes the request's body (cli
        `load`: the archive, streamed)."""
        with self.daemon.request(method, path, query, headers=headers, body=body,
                                 content_type=content_type) as reply:
            reply.check()
            yield from reply.json_messages()

    def attach(self, container: str, *, stdin: bool = False, tty: bool = False,
               detach_keys: str = "", logs: bool = True) -> RemoteStreams:
        """The container's output from its start and its input, over a hijacked attach made
        before the start (as the docker CLI's `run` attaches), with the user's detach keys
        (the daemon's attach has no logs=1: a running container's output from now on, whatever
        `logs` says)."""
        query = [("stream", "1"), ("stdout", "1"), ("stderr", "1")] + ([("stdin", "1")] if stdin else [])
        query += [("detachKeys", detach_keys)] if detach_keys else []
        conn = self.daemon.hijack("POST", f"/containers/{container}/attach", query)
        return RemoteStreams(self, conn, tty, f"/containers/{container}/resize")

    def wait_async(self, container: str, condition: str) -> Waiter:
        return Waiter(lambda: int(self.call("POST", f"/containers/{container}/wait",
                                            [("condition", condition)])["StatusCode"]))

    def exec_streams(self, exec_id: str, *, tty: bool, size: tuple[int, int] | None) -> RemoteStreams:
        """An exec started attached: its output and input over the hijacked start (the
        terminal's size given with it, as API 1.42's ConsoleSize)."""
        body: dict[str, Any] = {"Detach": False, "Tty": tty}
        if size is not None:
            body["ConsoleSize"] = list(size)
        conn = self.daemon.hijack("POST", f"/exec/{exec_id}/start", body=json.dumps(body).encode())
        return RemoteStreams(self, conn, tty, f"/exec/{exec_id}/resize")

    def logs(self, container: str, follow: bool, options: LogOptions = LogOptions()) -> Iterator[tuple[int, bytes]]:
        """(1 or 2, bytes) of the container's log: raw for a TTY container, else multiplexed."""
        from dockyard.multiplex import read_frames

        tty = bool(self.call("GET", f"/containers/{container}/json")["Config"].get("Tty"))
        query = [("stdout", "1"), ("stderr", "1")] + ([("follow", "1")] if follow else [])
        query += [(k, v) for k, v in (("tail", options.tail), ("since", options.since),
                                      ("until", options.until)) if v and v != "all"]
        query += [("timestamps", "1")] if options.timestamps else []
        query += [("details", "1")] if options.details else []
        with self.daemon.request("GET", f"/containers/{container}/logs", query) as reply:
            reply.check()
            if tty:
                while data := reply.read():
                    yield 1, data
                return
            for stream, data in read_frames(reply.read):
                yield (2 if stream == 2 else 1), data


    # -- docker cp: the archive API ------------------------------------------------------------
    def path_stat(self, container: str, path: str) -> dict:
        """`HEAD /containers/{id}/archive`: the path's stat (its header); a 404 (no such
        container or path) has no body to read."""
        with self.daemon.request("HEAD", f"/containers/{container}/archive", [("path", path)]) as reply:
            if reply.status == 404:
                raise NotFound(f"No such container:path: {container}:{path}")
            if reply.status >= 400:
                from dockyard.errors import DockyardError

                raise DockyardError(f"the daemon answered {reply.status} to the stat of {container}:{path}")
            return _path_stat(reply.headers.get(_STAT_HEADER, ""))

    def get_archive(self, container: str, path: str, consume: Callable[[dict, Any], None]) -> None:
        """`GET /containers/{id}/archive`: `consume(stat, reader)` reads the tar as it comes."""
        with self.daemon.request("GET", f"/containers/{container}/archive", [("path", path)]) as reply:
            reply.check()
            consume(_path_stat(reply.headers.get(_STAT_HEADER, "")), reply)

    def stats_stream(self, container: str) -> Iterator[dict]:
        """`GET /containers/{id}/stats?stream=1`: a message each second, until it stops."""
        return self.stream("GET", f"/containers/{container}/stats", [("stream", "1")])

    def put_archive(self, container: str, path: str, write: Callable[[Any], None], *,
                    copy_uid_gid: bool = False) -> None:
        """`PUT /containers/{id}/archive`: the tar `write(out)` writes, streamed as the body, as
        the docker CLI sends it (noOverwriteDirNonDir, copyUIDGID with -a)."""
        query = [("path", path), ("noOverwriteDirNonDir", "true")] + ([("copyUIDGID", "true")] if copy_uid_gid else [])
        with self.daemon.request("PUT", f"/containers/{container}/archive", query, body=write,
                                 content_type="application/x-tar") as reply:
            reply.check()


class Local:
    def __init__(self, root: Any, ctx: Any = None) -> None:
        self.root = root
        self.ctx = ctx   # the CliContext (its store), for the container streams

    def attach(self, container: str, *, stdin: bool = False, tty: bool = False,
               detach_keys: str = "", logs: bool = True) -> LocalStreams:
        """The container's output from its start (without `logs`: a running one's from now
        on, as the daemon's attach without logs=1), and its input (cli/attach.py's Streams)."""
        return LocalStreams(self.ctx.store, container, logs)

    def logs(self, container: str, follow: bool, options: LogOptions = LogOptions()) -> Iterator[tuple[int, bytes]]:
        from dockyard.engine import containers as engine

        for entry in engine.logs(self.ctx.store, container, follow=follow, tail=options.tail,
                                 since=options.since or None, until=options.until or None):
            stamp = f"{entry.time} ".encode() if options.timestamps else b""
            # --details: the entry's attributes (none: no labels/env log-opts) and a space
            yield (2 if entry.stream == "stderr" else 1), stamp + (b" " if options.details else b"") + entry.data

    def wait_async(self, container: str, condition: str) -> Waiter:
        """Docker's wait, begun now (before a start) and answered by `result()`."""
        from dockyard.engine import containers as engine

        def wait() -> int:
            state = engine.wait(self.ctx.store, container, condition)
            return state.exit_code if state is not None else 0
        return Waiter(wait)

    def call(self, method: str, path: str, query: Query | None = None, body: Any = None) -> Any:
        q: dict[str, Any] = dict(query or [])
        for key in _LISTS & q.keys():
            q[key] = [v for k, v in query or [] if k == key]
        for (m, pattern), handler in _LOCAL.items():
            match = re.fullmatch(pattern, path)
            if m == method and match:
                return handler(self.root, q, body, *match.groups())
        for (m, pattern), handler in _LOCAL_STORE.items():
            match = re.fullmatch(pattern, path)
            if m == method and match:
                return handler(self.ctx.store, q, body, *match.groups())
        raise NotFound(f"{method} {path}: not available in this process")  # pragma: no cover

    def stream(self, method: str, path: str, query: Query | None = None) -> Iterator[dict]:
        from dockyard.engine import events

        q = dict(query or [])
        for message in events.stream(self.root, q.get("since"), q.get("until"), q.get("filters"),
                                     lambda: False):
            if message is not None:
                yield message


    def stats_stream(self, container: str) -> Iterator[dict]:
        from dockyard.engine import containers as engine

        return engine.stats(self.ctx.store, container, stream=True)

    # -- docker cp: engine/container_files, as the archive API calls it ---------------------------
    def path_stat(self, container: str, path: str) -> dict:
        from dockyard.engine import container_files

        return container_files.stat(self.ctx.store, container, path)

    def get_archive(self, container: str, path: str, consume: Callable[[dict, Any], None]) -> None:
        """The engine writes the tar into a pipe in a thread; `consume(stat, reader)` reads it
        here as it comes (bounded: the pipe's buffer)."""
        import os

        from dockyard.engine import container_files

        read_fd, write_fd = os.pipe()
        reader, writer = open(read_fd, "rb"), open(write_fd, "wb")
        stat: list[dict] = []
        ready = threading.Event()

        def start(found: dict) -> Any:
            stat.append(found)
            ready.set()
            return writer

        def produce() -> int:
            try:
                container_files.get(self.ctx.store, container, path, start)
                writer.flush()
            finally:
                ready.set()
                _close_quietly(writer)
            return 0
        waiter = Waiter(produce)
        try:
            ready.wait()
            if stat:
                consume(stat[0], reader)
        except BaseException:
            reader.close()         # the engine's next write fails: it stops
            _join_quietly(waiter)
            raise
        reader.close()
        waiter.result()

    def put_archive(self, container: str, path: str, write: Callable[[Any], None], *,
                    copy_uid_gid: bool = False) -> None:
        """The tar `write(out)` writes, made in a thread into a pipe the engine reads here."""
        import os

        from dockyard.engine import container_files

        read_fd, write_fd = os.pipe()
        reader, writer = open(read_fd, "rb"), open(write_fd, "wb")

        def produce() -> int:
            try:
                write(writer)
                writer.flush()
            finally:
                _close_quietly(writer)
            return 0
        waiter = Waiter(produce)
        try:
            container_files.put(self.ctx.store, container, path, reader, no_overwrite_dir_non_dir=True,
                                copy_uid_gid=copy_uid_gid)
        except BaseException:
            reader.close()
            _join_quietly(waiter)
            raise
        reader.close()
        waiter.result()


def for_target(target: Any) -> Local | Remote:
    return Remote(target) if isinstance(target, str) else Local(target.root, target)


class Waiter:
    """`func()` in a thread; `result()` its answer (or its exception)."""

    def __init__(self, func: Callable[[], int]) -> None:
        self._result: list[Any] = []
        self._thread = threading.Thread(target=self._run, args=(func,), daemon=True, name="wait")
        self._thread.start()

    def _run(self, func: Callable[[], int]) -> None:
        try:
            self._result.append(func())
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._result.append(exc)

    def result(self) -> int:
        self._thread.join()
        value = self._result[0]
        if isinstance(value, BaseException):
            raise value
        return value


_STAT_HEADER = "x-docker-container-path-stat"


def _path_stat(header: str) -> dict:
    """The archive API's stat header: base64 of the path's JSON stat."""
    import base64

    try:
        return json.loads(base64.b64decode(header)) if header else {}
    except ValueError:
        return {}


def _close_quietly(f: Any) -> None:
    try:
        f.close()
    except OSError:
        pass    # its reader went away: the copy stopped there


def _join_quietly(waiter: Waiter) -> None:
    try:
        waiter.result()
    except BaseException:  # noqa: BLE001 - the reader's own error is the one raised
        pass


class LocalStreams:
    """cli/attach.py's Streams of a container in this process's store: its output read from
    its log as the monitor writes it, its input sent to its monitor."""

    def __init__(self, store: Any, container: str, logs: bool = True) -> None:
        self._store, self._container = store, container
        self._channel: Any = None
        self._opened = False
        self._entries: Any = None
        if not logs:   # a running container's output from now: before its input can reach it
            from dockyard.engine import containers as engine

            self._entries = engine.attach(store, container, stream=True, logs=False)

    def output(self) -> Iterator[tuple[int, bytes]]:
        from dockyard.engine import containers as engine

        entries = self._entries
        if entries is None:
            entries = engine.attach(self._store, self._container, stream=True)
        for entry in entries:
            yield (2 if entry.stream == "stderr" else 1), entry.data

    def _input(self) -> Any:
        if not self._opened:
            from dockyard.engine import containers as engine

            self._opened = True
            self._channel = engine.input_channel(self._store, self._container)
        return self._channel

    def send(self, data: bytes) -> None:
        if (channel := self._input()) is not None:
            channel.send(data)

    def close_input(self) -> None:
        if (channel := self._input()) is not None:
            channel.end()

    def resize(self, rows: int, cols: int) -> None:
        from dockyard.engine import containers as engine
        from dockyard.errors import Conflict

        try:
            engine.resize(self._store, self._container, rows, cols)
        except Conflict:
            pass   # not running (yet, or any more)


class LocalExecStreams:
    """cli/attach.py's Streams of an `exec -it` run by this process: the exec's terminal is its
    own (the engine copies its output to a pipe of ours, the input is written into it), so the
    user can leave it with the detach keys as through a daemon; the exec runs on."""

    def __init__(self, store: Any, container: str, opts: Any) -> None:
        import os

        from dockyard.dataclass import replace
        from dockyard.engine import containers as engine
        from dockyard.engine.execs import Console

        self._console = Console()
        if opts.console_size is not None:
            self._console.resize(*opts.console_size)
        self._output, out_w = os.pipe()
        self._result: list[Any] = []
        opts = replace(opts, interactive=False)     # its input is written into its terminal by send()

        def run() -> None:
            try:
                self._result.append(engine.exec_in(store, container, opts, stdout=out_w, stderr=out_w,
                                                   console=self._console))
            except BaseException as exc:  # noqa: BLE001 - raised again by result()
                self._result.append(exc)
            finally:
                os.close(out_w)
        self._thread = threading.Thread(target=run, daemon=True, name="exec")
        self._thread.start()

    def output(self) -> Iterator[tuple[int, bytes]]:
        import os

        while True:
            data = os.read(self._output, 65536)
            if not data:     # the exec ended
                return
            yield 1, data

    def send(self, data: bytes) -> None:
        self._console.write(data)

    def close_input(self) -> None:
        pass     # a terminal's input has no end of its own (ctrl-d is a byte)

    def resize(self, rows: int, cols: int) -> None:
        self._console.resize(rows, cols)

    def leave(self) -> None:
        """The user detached: the exec runs on after this process exits."""
        self._console.leave()

    def result(self) -> int:
        """The exec's exit code once its output ended (its error raised again)."""
        self._thread.join()
        outcome = self._result[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return int(outcome)


class RemoteStreams:
    """cli/attach.py's Streams over a hijacked connection to the daemon: the output raw (a TTY)
    or in Docker's multiplexed frames; resizes are requests of their own."""

    def __init__(self, remote: Remote, conn: Any, tty: bool, resize_path: str) -> None:
        self._remote, self._conn, self._tty, self._resize_path = remote, conn, tty, resize_path

    def output(self) -> Iterator[tuple[int, bytes]]:
        from dockyard.multiplex import read_frames

        try:
            if self._tty:
                while data := self._conn.read():
                    yield 1, data
            else:
                for stream, data in read_frames(self._conn.read):
                    yield (2 if stream == 2 else 1), data
        finally:
            self._conn.close()

    def send(self, data: bytes) -> None:
        self._conn.send(data)

    def close_input(self) -> None:
        self._conn.close_input()

    def resize(self, rows: int, cols: int) -> None:
        from dockyard.errors import DockyardError

        try:
            self._remote.call("POST", self._resize_path, [("h", str(rows)), ("w", str(cols))])
        except DockyardError:
            pass   # not running (yet, or any more)


# -- the in-process table: (method, path pattern) -> engine call ---------------------------------
# Each handler imports its engine as it runs: the image commands use this table too, and
# `images` loads no network or volume engine, nor the runtime behind them (tests/test_start_up.py)
def _networks(root: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import networks

    return networks.list_networks(root, q.get("filters"))


def _network_create(root: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import networks

    return {"Id": networks.create(root, body).id, "Warning": ""}


def _network_inspect(root: Any, q: dict, body: Any, ref: str) -> Any:
    from dockyard.engine import networks

    return networks.inspect(root, ref)


def _network_remove(root: Any, q: dict, body: Any, ref: str) -> Any:
    from dockyard.engine import networks

    networks.remove(root, ref)


def _network_prune(root: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import networks

    return {"NetworksDeleted": networks.prune(root, q.get("filters")) or None}


def _volumes(root: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import volumes

    return {"Volumes": volumes.list_volumes(root, q.get("filters")), "Warnings": None}


def _volume_create(root: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import volumes

    return volumes.create(root, body or {}).to_docker()


def _volume_inspect(root: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import volumes

    return volumes.inspect(root, name)


def _volume_remove(root: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import volumes

    volumes.remove(root, name, force=q.get("force") == "1")


def _volume_prune(root: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import volumes

    removed, freed = volumes.prune(root, q.get("filters"), api_at_least_1_42=True)
    return {"VolumesDeleted": removed or None, "SpaceReclaimed": freed}


_LOCAL: dict[tuple[str, str], Callable[..., Any]] = {
    ("GET", "/networks"): _networks,
    ("POST", "/networks/create"): _network_create,
    ("POST", "/networks/prune"): _network_prune,
    ("GET", "/networks/([^/]+)"): _network_inspect,
    ("DELETE", "/networks/([^/]+)"): _network_remove,
    ("GET", "/volumes"): _volumes,
    ("POST", "/volumes/create"): _volume_create,
    ("POST", "/volumes/prune"): _volume_prune,
    ("GET", "/volumes/([^/]+)"): _volume_inspect,
    ("DELETE", "/volumes/([^/]+)"): _volume_remove,
}


# -- containers: the same routes on this process's store -----------------------------------------
def _containers(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import containers as engine

    return engine.rows(store, q.get("all") == "1", q.get("filters"), int(q.get("limit", -1)),
                       size=q.get("size") == "1")


def _container_create(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import containers as engine

    from dockyard.engine.create_config import warnings

    return {"Id": engine.create_from_api(store, body, q.get("name")).id, "Warnings": warnings(body)}


def _container_inspect(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    return engine.inspect(store, name)


def _image_inspect(store: Any, q: dict, body: Any, name: str) -> Any:
    """As the daemon answers the client's API version (1.47: no VirtualSize since 1.44)."""
    from dockyard.engine import images

    data = images.inspect_image(store, name)
    data.pop("VirtualSize", None)
    return data


def _images(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import images

    return images.image_rows(store, all_images=q.get("all") == "1", raw_filters=q.get("filters"))


def _image_history(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import images

    return [h.to_docker() for h in images.image_history(store, name)]


def _image_tag(store: Any, q: dict, body: Any, name: str) -> Any:
    """As the daemon: the target given as repo and tag (no tag: latest)."""
    from dockyard.engine import images

    repo, tag = q.get("repo") or "", q.get("tag") or ""
    images.tag_image(store, name, f"{repo}:{tag}" if tag else repo)


def _image_remove(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import images

    report = images.remove_image(store, name, force=q.get("force") == "1", prune=q.get("noprune") != "1")
    return report.to_docker()


def _disk_usage(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import system

    return system.disk_usage(store, placeholders=False)


def _build_prune(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import build_cache

    removed, freed = build_cache.prune(store, all_=q.get("all") == "1", raw_filters=q.get("filters"),
                                       keep_storage=int(q.get("keep-storage") or 0))
    return {"CachesDeleted": removed or None, "SpaceReclaimed": freed}


def _container_prune(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import containers as engine

    deleted, freed = engine.prune(store, q.get("filters"))
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": freed}


def _image_prune(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import images

    reports, freed = images.prune_images(store, q.get("filters"))
    return {"ImagesDeleted": [item for r in reports for item in r.to_docker()] or None, "SpaceReclaimed": freed}


def _container_changes(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    return [{"Path": line[2:], "Kind": "CAD".index(line[0])} for line in engine.diff(store, name)] or None


def _commit(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine.commit import commit  # not engine.containers: tests/test_start_up.py

    repo, tag = q.get("repo") or "", q.get("tag") or ""
    image_id = commit(store, q["container"], (f"{repo}:{tag}" if tag else repo) or None,
                      pause_container=q.get("pause") != "0", message=q.get("comment") or "",
                      author=q.get("author") or "", changes=q.get("changes") or [])
    return {"Id": str(image_id)}


def _container_start(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    engine.start(store, name)


def _container_stop(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    engine.stop(store, name, int(q["t"]) if "t" in q else None)


def _container_kill(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    engine.kill(store, name, q.get("signal") or "KILL")


def _container_remove(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    engine.remove(store, name, q.get("force") == "1", volumes=q.get("v") == "1")


def _container_pause(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    engine.pause(store, name)


def _container_unpause(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    engine.unpause(store, name)


def _container_wait(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    state = engine.wait(store, name, q.get("condition") or "not-running")
    return {"StatusCode": state.exit_code if state is not None else 0}


def _container_restart(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    engine.restart(store, name, int(q["t"]) if "t" in q else None)


def _container_rename(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    engine.rename(store, name, q.get("name") or "")


def _version(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import daemon_info

    return daemon_info.version()


def _info(store: Any, q: dict, body: Any) -> Any:
    from dockyard.engine import daemon_info

    return daemon_info.info(store, store.root)


def _container_top(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    return engine.top(store, name, q.get("ps_args") or "-ef")


def _container_stats(store: Any, q: dict, body: Any, name: str) -> Any:
    """One message (stream=0): the CLI's --no-stream."""
    from dockyard.engine import containers as engine

    return next(engine.stats(store, name, stream=False, one_shot=q.get("one-shot") == "1"))


def _container_update(store: Any, q: dict, body: Any, name: str) -> Any:
    from dockyard.engine import containers as engine

    engine.update(store, name, body or {})
    return {"Warnings": []}


_LOCAL_STORE: dict[tuple[str, str], Callable[..., Any]] = {
    ("GET", "/containers/json"): _containers,
    ("POST", "/containers/create"): _container_create,
    ("GET", "/containers/([^/]+)/json"): _container_inspect,
    ("GET", "/images/json"): _images,
    ("GET", "/images/(.+)/json"): _image_inspect,
    ("GET", "/images/(.+)/history"): _image_history,
    ("POST", "/images/(.+)/tag"): _image_tag,
    ("DELETE", "/images/(.+)"): _image_remove,
    ("GET", "/system/df"): _disk_usage,
    ("POST", "/build/prune"): _build_prune,
    ("POST", "/containers/prune"): _container_prune,
    ("POST", "/images/prune"): _image_prune,
    ("GET", "/containers/([^/]+)/changes"): _container_changes,
    ("POST", "/commit"): _commit,
    ("POST", "/containers/([^/]+)/start"): _container_start,
    ("POST", "/containers/([^/]+)/stop"): _container_stop,
    ("POST", "/containers/([^/]+)/kill"): _container_kill,
    ("DELETE", "/containers/([^/]+)"): _container_remove,
    ("POST", "/containers/([^/]+)/pause"): _container_pause,
    ("POST", "/containers/([^/]+)/unpause"): _container_unpause,
    ("POST", "/containers/([^/]+)/wait"): _container_wait,
    ("POST", "/containers/([^/]+)/restart"): _container_restart,
    ("POST", "/containers/([^/]+)/rename"): _container_rename,
    ("POST", "/containers/([^/]+)/update"): _container_update,
    ("GET", "/containers/([^/]+)/top"): _container_top,
    ("GET", "/containers/([^/]+)/stats"): _container_stats,
    ("GET", "/version"): _version,
    ("GET", "/info"): _info,
}
