"""Container endpoints and `POST /commit`, through dockyard.engine.containers.

Logs and attach without a TTY use Docker's multiplexed framing (dockyard.api.framing.mux_frame);
with a TTY the bytes go out raw. Attach is served from the container's log (the monitor owns
the container's stdio): output streams; stdin is not forwarded.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from dockyard.api.framing import STDERR, STDOUT, go_json, mux_frame
from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.api.streams import binary_writer
from dockyard.engine import containers as engine
from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.image.config import parse_time

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


def counts(ctx: ApiContext) -> tuple[int, int, int, int]:
    """(total, running, paused, stopped) for /info."""
    items = engine.list_containers(ctx.store(), True)
    running = sum(1 for s in items if s.state.status == "running" and not s.state.paused)
    paused = sum(1 for s in items if s.state.paused)
    return len(items), running, paused, len(items) - running - paused


# -- create ----------------------------------------------------------------------------------------
def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InvalidParameter(f"invalid {what}: want a list of strings")


def _network(mode: str | None) -> str:
    """Docker's default network is a bridge; dockyard runs in the host's (or no) network."""
    if mode in (None, "", "default", "bridge", "host"):
        return "host"
    if mode == "none":
        return "none"
    raise InvalidParameter(f"network {mode} not found")


def create_options(body: dict[str, Any], name: str | None) -> engine.CreateOptions:
    """Docker's container config JSON -> the engine's options. An entrypoint of several words
    becomes its first word plus leading arguments (the engine takes one entrypoint word)."""
    image = body.get("Image")
    if not isinstance(image, str) or not image:
        raise InvalidParameter("config.Image is required")
    host = body.get("HostConfig") or {}
    if not isinstance(host, dict):
        raise InvalidParameter("invalid HostConfig: want an object")
    cmd = _str_list(body.get("Cmd"), "Cmd")
    entrypoint: str | None = None
    if "Entrypoint" in body and body["Entrypoint"] is not None:
        words = _str_list(body["Entrypoint"], "Entrypoint")
        entrypoint = words[0] if words else ""
        cmd = words[1:] + cmd
    for key in ("WorkingDir", "User"):
        if body.get(key) is not None and not isinstance(body.get(key), str):
            raise InvalidParameter(f"invalid {key}: want a string")
    return engine.CreateOptions(
        image=image, cmd=cmd, entrypoint=entrypoint, env=_str_list(body.get("Env"), "Env"),
        workdir=body.get("WorkingDir") or None, user=body.get("User") or None, name=name or None,
        tty=bool(body.get("Tty")), interactive=bool(body.get("OpenStdin")),
        binds=_str_list(host.get("Binds"), "HostConfig.Binds"), network=_network(host.get("NetworkMode")),
        auto_remove=bool(host.get("AutoRemove")), runtime=host.get("Runtime") or "")


def create(ctx: ApiContext, req: Request, resp: Response) -> None:
    body = req.json(required=True)
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: expected an object")
    options = create_options(body, req.q("name"))
    auto_remove = options.auto_remove
    options.auto_remove = False  # see _reap: removed by the server after its exit is recorded
    record = engine.create(ctx.store(), options)
    if auto_remove:
        with ctx.lock:
            ctx.auto_remove[record.id] = None
    resp.json({"Id": record.id, "Warnings": []}, 201)


def _reap(ctx: ApiContext, container_id: str) -> None:
    """Docker's AutoRemove, done here rather than by the monitor, so the exit code is known
    to `wait` before the container disappears."""
    store = ctx.store()
    try:
        cdir = engine.resolve(store, container_id)
        state = engine.wait_exit(cdir)
        while state is None or state.status == "running":  # pragma: no cover - defensive
            state = engine.wait_exit(cdir)
        with ctx.lock:
            ctx.auto_remove[container_id] = state.exit_code
        engine.remove(store, container_id, force=True)
    except Exception as exc:  # noqa: BLE001 - a background thread: log, never raise
        ctx.log(f"auto-remove of {container_id[:12]} failed: {exc}")
    finally:
        time.sleep(5)  # keep the code a little for late waiters
        with ctx.lock:
            ctx.auto_remove.pop(container_id, None)


# -- lifecycle -------------------------------------------------------------------------------------
def start(ctx: ApiContext, req: Request, resp: Response) -> None:
    store = ctx.store()
    cdir = engine.resolve(store, req.params["id"])
    if engine.current_state(cdir).status == "running":
        resp.send(304)  # Docker: "container already started"
        return
    engine.start(store, req.params["id"])
    with ctx.lock:
        reap = cdir.id in ctx.auto_remove
    if reap:
        threading.Thread(target=_reap, args=(ctx, cdir.id), daemon=True).start()
    resp.no_content()


def stop(ctx: ApiContext, req: Request, resp: Response) -> None:
    store = ctx.store()
    cdir = engine.resolve(store, req.params["id"])
    if engine.current_state(cdir).status != "running":
        resp.send(304)
        return
    engine.stop(store, req.params["id"], req.qint("t"))
    resp.no_content()


def restart(ctx: ApiContext, req: Request, resp: Response) -> None:
    store = ctx.store()
    engine.stop(store, req.params["id"], req.qint("t"))
    engine.wait(store, req.params["id"])
    engine.start(store, req.params["id"])
    resp.no_content()


def kill(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.kill(ctx.store(), req.params["id"], req.q("signal") or "KILL")
    resp.no_content()


def pause(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.pause(ctx.store(), req.params["id"])
    resp.no_content()


def unpause(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.unpause(ctx.store(), req.params["id"])
    resp.no_content()


def _exit_state(cdir, condition: str, ctx: ApiContext):  # noqa: ANN001, ANN202
    """The state the wait ends with. `not-running` ends at once for a stopped container;
    `next-exit` and `removed` wait for an exit that happens after the call (Docker's `run`
    waits before it starts the container), `removed` also for the container to be gone."""
    initial = engine.current_state(cdir)
    if condition == "not-running" and initial.status != "running":
        return initial
    seen = None
    while not ctx.stopping.is_set():
        gone = not (cdir.path / "state.json").exists()
        if not gone:
            state = engine.current_state(cdir)
            if state.status == "exited" and (initial.status == "running"
                                             or state.finished_at != initial.finished_at):
                seen = state
                if condition != "removed":
                    return state
        if gone:
            with ctx.lock:
                code = ctx.auto_remove.get(cdir.id)
            if seen is None and code is not None:
                seen = engine.ContainerState(status="exited", exit_code=code)
            return seen if seen is not None else initial
        time.sleep(0.002 if seen is None else 0.02)
    return None


def wait(ctx: ApiContext, req: Request, resp: Response) -> None:
    condition = req.q("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidParameter(f"invalid condition: {condition!r}")
    cdir = engine.resolve(ctx.store(), req.params["id"])
    # Docker sends the head at once, the body when the container stops.
    write = resp.stream("application/json")
    write(b"")
    state = _exit_state(cdir, condition, ctx)
    if state is None:
        return
    body: dict[str, Any] = {"StatusCode": state.exit_code}
    if state.error:
        body["Error"] = {"Message": state.error}
    write(go_json(body) + b"\n")


def remove(ctx: ApiContext, req: Request, resp: Response) -> None:
    if req.qbool("link"):
        raise InvalidParameter("links are not supported")
    engine.remove(ctx.store(), req.params["id"], force=req.qbool("force"))
    resp.no_content()


# -- list / inspect / changes ----------------------------------------------------------------------
def list_containers(ctx: ApiContext, req: Request, resp: Response) -> None:
    from dockyard.cli.container_cmds import status_text  # Docker's STATUS wording, one place

    filters = req.qjson("filters", {}) or {}
    if not isinstance(filters, dict):
        raise InvalidParameter("invalid filters: want a JSON object")
    store = ctx.store()
    items = engine.list_containers(store, req.qbool("all") or bool(filters.get("status")))
    statuses = filters.get("status")
    out = []
    for s in items:
        docker_state = engine.docker_status(s.state)
        if statuses and docker_state not in statuses:
            continue
        try:
            record = engine.resolve(store, s.id).read_record()
        except NotFound:
            continue
        created = parse_time(record.created)
        out.append({
            "Id": s.id, "Names": ["/" + s.name], "Image": s.image, "ImageID": record.image_id,
            "Command": s.command, "Created": int(created.timestamp()) if created else 0,
            "Ports": [], "Labels": record.config.labels or {}, "State": docker_state,
            "Status": status_text(s), "HostConfig": {"NetworkMode": record.host.network_mode},
            "NetworkSettings": {"Networks": {}}, "Mounts": [],
        })
    limit = req.qint("limit", -1)
    if limit is not None and limit > 0:
        out = out[:limit]
    resp.json(out)


def inspect(ctx: ApiContext, req: Request, resp: Response) -> None:
    data = engine.inspect(ctx.store(), req.params["id"])
    # Fields clients read that the engine's inspect does not carry (the SDK reads LogConfig).
    host = data.setdefault("HostConfig", {})
    host.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    with ctx.lock:
        if data.get("Id") in ctx.auto_remove:
            host["AutoRemove"] = True
    data.setdefault("NetworkSettings", {"Networks": {}, "Ports": {}})
    resp.json(data)


_KINDS = {"C": 0, "A": 1, "D": 2}


def changes(ctx: ApiContext, req: Request, resp: Response) -> None:
    out = []
    for line in engine.diff(ctx.store(), req.params["id"]):
        kind, _, path = line.partition(" ")
        out.append({"Path": path, "Kind": _KINDS.get(kind, 0)})
    resp.json(out or None)


def export(ctx: ApiContext, req: Request, resp: Response) -> None:
    store = ctx.store()
    engine.resolve(store, req.params["id"])
    out = binary_writer(resp.stream("application/x-tar"), ctx.stopping)
    engine.export(store, req.params["id"], out)
    out.flush()


# -- logs / attach ---------------------------------------------------------------------------------
def _log_lines(ctx: ApiContext, req: Request, name: str, follow: bool, tail: str | None):  # noqa: ANN202
    entries = engine.logs(ctx.store(), name, follow=follow)
    if tail in (None, "", "all"):
        yield from entries
        return
    try:
        n = int(tail)
    except ValueError:
        raise InvalidParameter(f"invalid tail value: {tail!r}") from None
    if follow:
        raise InvalidParameter("tail with follow is not supported")
    kept = list(entries)[-n:] if n > 0 else []
    yield from kept


def _send_logs(write, entries, tty: bool, want_out: bool, want_err: bool,  # noqa: ANN001
               timestamps: bool, stopping) -> None:  # noqa: ANN001
    for entry in entries:
        if stopping.is_set():
            return
        stream = STDERR if entry.stream == "stderr" else STDOUT
        if (stream == STDOUT and not want_out) or (stream == STDERR and not want_err):
            continue
        data = entry.data
        if timestamps:
            data = f"{entry.time} ".encode() + data
        write(data if tty else mux_frame(stream, data))


def logs(ctx: ApiContext, req: Request, resp: Response) -> None:
    want_out, want_err = req.qbool("stdout"), req.qbool("stderr")
    if not (want_out or want_err):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    store = ctx.store()
    cdir = engine.resolve(store, req.params["id"])
    record = cdir.read_record()
    follow = req.qbool("follow")
    if follow and req.q("tail") in (None, "", "all") and cdir.log.exists():
        log = open(cdir.log, "rb")  # followed here: the loop also watches for a server stop
        entries = _follow(cdir, log, True, ctx)
    else:
        log = None
        entries = _log_lines(ctx, req, req.params["id"], follow, req.q("tail"))
    content_type = RAW_STREAM if record.tty or not req.version_at_least("1.42") else MULTIPLEXED_STREAM
    write = resp.stream(content_type)
    write(b"")
    try:
        _send_logs(write, entries, record.tty, want_out, want_err, req.qbool("timestamps"), ctx.stopping)
    finally:
        if log is not None:
            log.close()


def attach(ctx: ApiContext, req: Request, resp: Response) -> None:
    """Hijack the connection and stream the container's output (from its log) until it exits."""
    store = ctx.store()
    cdir = engine.resolve(store, req.params["id"])
    record = cdir.read_record()
    want_out, want_err = req.qbool("stdout"), req.qbool("stderr")
    upgrade = req.head.header("upgrade").lower() == "tcp"
    content_type = RAW_STREAM if record.tty or not req.version_at_least("1.42") else MULTIPLEXED_STREAM
    conn = resp.hijack(upgrade, content_type)
    if not req.qbool("stream") and not req.qbool("logs"):
        return
    # Docker's `run` attaches before it starts the container: wait for the log to appear and
    # keep it open, so output is not lost if the container exits and is removed (--rm) at once.
    log = None
    while log is None and not ctx.stopping.is_set():
        try:
            log = open(cdir.log, "rb")
        except FileNotFoundError:
            if not (cdir.path / "state.json").exists():
                return
            time.sleep(0.001)
    if log is None:
        return
    with log:
        entries = _follow(cdir, log, req.qbool("stream"), ctx)
        _send_logs(conn.send, entries, record.tty, want_out, want_err, False, ctx.stopping)


def _follow(cdir, log, follow: bool, ctx: ApiContext):  # noqa: ANN001, ANN202
    """Entries of an open json-file log; with `follow` until the container stops.
    (engine.logs opens the log by name, which a removed container no longer has.)"""
    pending = b""
    while True:
        data = log.read(65536)
        if data:
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    entry = json.loads(line)
                    yield engine.LogEntry(entry.get("stream", "stdout"),
                                          entry.get("log", "").encode("utf-8", "surrogateescape"),
                                          entry.get("time", ""))
            continue
        if not follow or ctx.stopping.is_set():
            return
        try:
            running = engine.current_state(cdir).status == "running"
        except (FileNotFoundError, NotFound):
            running = False
        if not running:
            data = log.read()
            if data:
                pending += data
                continue
            return
        time.sleep(0.02)


# -- commit ----------------------------------------------------------------------------------------
def commit(ctx: ApiContext, req: Request, resp: Response) -> None:
    container = req.q("container")
    if not container:
        raise InvalidParameter("container parameter is required")
    body = req.json()
    if body is not None and not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: expected an object")
    repo, tag = req.q("repo") or "", req.q("tag") or ""
    repository = (f"{repo}:{tag}" if tag else repo) or None
    image_id = engine.commit(ctx.store(), container, repository,
                             pause_container=req.qbool("pause", True), message=req.q("comment") or "",
                             author=req.q("author") or "", changes=req.qlist("changes"))
    resp.json({"Id": str(image_id)}, 201)


def prune(ctx: ApiContext, req: Request, resp: Response) -> None:
    """`docker container prune`: every container that is not running."""
    if req.qjson("filters", {}):
        raise InvalidParameter("filters are not supported by container prune")
    store = ctx.store()
    deleted = []
    for s in engine.list_containers(store, True):
        if s.state.status == "running":
            continue
        try:
            engine.remove(store, s.id)
        except (NotFound, Conflict):
            continue
        deleted.append(s.id)
    resp.json({"ContainersDeleted": deleted or None, "SpaceReclaimed": 0})


def routes() -> list[Route]:
    c = "/containers/(?P<id>[^/]+)"
    return [
        route("GET", "/containers/json", list_containers, "all limit size filters before since trunc_cmd"),
        route("POST", "/containers/create", create, "name platform"),
        route("POST", "/containers/prune", prune, "filters"),
        route("GET", f"{c}/json", inspect, "size"),
        route("GET", f"{c}/logs", logs, "follow stdout stderr since until timestamps tail details"),
        route("GET", f"{c}/changes", changes, ""),
        route("GET", f"{c}/export", export, ""),
        route("POST", f"{c}/start", start, "detachKeys"),
        route("POST", f"{c}/stop", stop, "signal t"),
        route("POST", f"{c}/restart", restart, "signal t"),
        route("POST", f"{c}/kill", kill, "signal"),
        route("POST", f"{c}/pause", pause, ""),
        route("POST", f"{c}/unpause", unpause, ""),
        route("POST", f"{c}/attach", attach, "detachKeys logs stream stdin stdout stderr"),
        route("POST", f"{c}/wait", wait, "condition"),
        route("DELETE", c, remove, "v force link"),
        route("POST", "/commit", commit, "container repo tag comment author pause changes"),
    ]
