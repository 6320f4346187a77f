"""RUN in BuildKit mode: one process over an overlay of the input's layers, with its mounts, run
by the OCI runtime (runc/crun, dockyard.runtime), and the overlay's upper directory as the layer.
It is a one-shot container as runtime/oneshot.py makes them (in the temp folder, the overlay
volatile, the runtime's name one that runtime/owned.py sweeps), with BuildKit's spec.

What the process sees, as BuildKit's executor gives it (checked against dockerd 20.10):
- the environment is exactly the step's (image ENV and the declared ARGs), plus HOME from the
  user's /etc/passwd entry when unset; no HOSTNAME; hostname `buildkitsandbox`, /etc/hosts with
  `127.0.0.1 localhost buildkitsandbox` (and a line per --add-host), the host's /etc/resolv.conf
  (both read-only binds);
- the default capabilities, masked and read-only /proc paths, Docker's default seccomp profile;
  `--security=insecure`: every capability, nothing masked, /sys writable, no seccomp filter;
- network: the host's for `default` and `host`, a namespace with only loopback for `none`;
- mounts (sorted by target): bind (context, stage or image; read-only unless `rw`, whose writes
  go to a throw-away upper), cache (a directory of the store, kept between builds; `locked`
  waits for exclusive use, `private` takes a fresh directory when it is in use), tmpfs, secret
  (a file on a private tmpfs, 0400 root unless told), ssh (an agent socket, SSH_AUTH_SOCK).

What stays in the layer: whatever the process changed, plus the mount points the runtime had to
create: directories (/dev, /proc, /sys on the first RUN of a bare image, missing mount targets)
stay, the empty files made for file mounts (/etc/hosts, /etc/resolv.conf, secrets) are removed,
so their parent directory shows as changed. Nothing of a mount's content stays.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

from dockyard.archive.fstree import remove_later
from dockyard.builder.graph.ops import ExecOp, Mount
from dockyard.builder.graph.session import Session
from dockyard.dataclass import dataclass
from dockyard.digest import Digest, small_sha256
from dockyard.errors import DockyardError, InvalidParameter, NotFound, RuntimeFailure
from dockyard.runtime import bundle, cgroups, leftover, owned, pipes, rootfs
from dockyard.runtime.oci import for_store
from dockyard.runtime.spec import DEFAULT_CAPS, MASKED_PATHS, READONLY_PATHS, bounding_set
from dockyard.runtime.seccomp import oci_seccomp
from dockyard.runtime.users import resolve_user
from dockyard.store.layer_writer import layer_from_directory
from dockyard.store.layers import StoredLayer
from dockyard.store.locks import flock
from dockyard.store.store import Store

HOSTS = "127.0.0.1\tlocalhost {host}\n::1\tlocalhost ip6-localhost ip6-loopback\n"

TYPE_CHECKING = False  # typing: for type checkers only (a cold build's start, tests/test_start_up.py)
if TYPE_CHECKING:
    from typing import Callable

    Output = Callable[[int, bytes], None]


class ExecFailed(DockyardError):
    """The process exited non-zero: BuildKit's words (`executor failed running [...]`)."""

    def __init__(self, args: tuple[str, ...], code: int) -> None:
        super().__init__(f"executor failed running [{' '.join(args)}]: exit code: {code}")
        self.code = code


@dataclass
class MountSource:
    """A host directory a bind or cache mount reads from (a context path, a mounted tree)."""

    path: Path
    base: str = ""   # a stage's or an image's tree: its layers (a cache mount from= is keyed by them)


def _lowers(store: Store, layers: list[Digest], work: Path, links: dict[Digest, str] | None = None) -> list[str]:
    """The overlay's lower dirs (relative to the store root), topmost first: an empty directory
    made in `work` for no layers (scratch). `links`: the short links of the layers this build
    has already found unpacked (runtime/bundle.lower_dirs; the build holds the store's ingest
    lock, so no collection removes a tree meanwhile)."""
    if not layers:
        empty = work / "empty"
        empty.mkdir()
        return [os.path.relpath(empty, store.root)]
    return rootfs.topmost_once(bundle.lower_dirs(store, layers, links))


def _inside(root: Path, target: str) -> Path:
    return root / target.lstrip("/")


def _mount_overlay_dir(lower: Path, work: Path, name: str) -> Path:
    """A writable view of `lower` whose writes are thrown away (`rw` bind mounts)."""
    base = work / name
    upper, wdir, merged = base / "upper", base / "work", base / "merged"
    for d in (upper, wdir, merged):
        d.mkdir(parents=True)
    opts = f"lowerdir={lower},upperdir={upper},workdir={wdir}"
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeFailure(f"cannot mount a writable bind: {proc.stderr.strip()}")
    return merged


def _mount_tmpfs(path: Path, options: str) -> None:
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeFailure(f"cannot mount a tmpfs: {proc.stderr.strip()}")


def _cache_dir(store: Store, m: Mount, source: MountSource | None, stack: ExitStack,
               work: Path, index: int) -> Path:
    """The directory of a cache mount: kept in the store, locked or private as the mount says,
    and made (owner and mode from the mount, the content of `from=` when given) once its lock is
    held: a prune empties it only under that lock (store.buildcache.empty_mount). A mount with
    `uid`, `gid` or `mode` is another cache than the same id without them or with others, as in
    dockerd 20.10's BuildKit (the cache is keyed by its id and its base: the directory made with
    those settings)."""
    key = m.cache_id
    if m.uid is not None or m.gid is not None or m.mode is not None:
        key += f"\0settings {m.uid or 0}:{m.gid or 0} {m.mode if m.mode is not None else 0o755:o}"
    if source is not None and source.base:  # `from=`: the stage's files are the base, as dockerd's
        key += f"\0from {source.base} {m.selector}"
    base = store.build_cache.mount_dir(key)
    data = base / "data"
    lock = base / "lock"
    base.mkdir(parents=True, exist_ok=True)
    if m.sharing == "locked":
        stack.enter_context(flock(lock))
    elif m.sharing == "private":
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            private = work / f"cache-{index}"
            private.mkdir()
            os.chown(private, m.uid or 0, m.gid or 0)
            os.chmod(private, m.mode if m.mode is not None else 0o755)
            return private
        stack.callback(os.close, fd)
    else:
        stack.enter_context(flock(lock, shared=True))
    with flock(base / "create.lock"):
        if not data.is_dir():
            fresh = base / f"new-{os.urandom(4).hex()}"  # not secrets: hmac and OpenSSL
            if source is not None and source.path.is_dir():
                shutil.copytree(source.path, fresh, symlinks=True)
            else:
                fresh.mkdir()
            os.chown(fresh, m.uid or 0, m.gid or 0)
            os.chmod(fresh, m.mode if m.mode is not None else 0o755)
            os.rename(fresh, data)
    return data


def run_exec(store: Store, op: ExecOp, root_layers: list[Digest], sources: dict[int, MountSource],
             session: Session, output: Output, links: dict[Digest, str] | None = None,
             make_tree: bool = False) -> StoredLayer | None:
    """Run `op` over `root_layers`; the layer of what it changed (None: nothing changed).
    `links`: the build's known unpacked layers (see _lowers). `make_tree`: a later step reads
    the layer as a tree (the root of the next RUN...): the overlay's upper dir becomes it."""
    if op.security == "insecure" and "security.insecure" not in session.allow:
        raise InvalidParameter("security.insecure is not allowed")
    runtime = for_store(store.root)
    work = Path(tempfile.mkdtemp(prefix="bk-exec-", dir=store.tmp))
    upper, wdir, merged = work / "upper", work / "work", work / "merged"
    for d in (upper, wdir, merged):
        d.mkdir()
    owned.sweep(store)
    container_id = owned.runtime_id(store)
    code = 0
    exited = False  # `runc run` returned: it removed the container itself
    try:
        rootfs.mount_overlay(store.root, _lowers(store, root_layers, work, links), upper, wdir, merged,
                             volatile=True)
        with ExitStack() as stack:
            stack.callback(rootfs.unmount, merged)
            try:
                user = resolve_user(merged, op.user)
            except InvalidParameter as exc:  # the executor's failure, in dockerd's words
                raise InvalidParameter(f"executor failed running [{' '.join(op.args)}]: {exc.message}") from None
            env = list(op.env) + list(op.proxy_env)
            if not any(e.startswith("HOME=") for e in env):
                env.append(f"HOME={user.home or '/'}")
            mounts, stubs = _mounts(store, op, sources, session, merged, work, stack, env)
            spec = _spec(op, env, user, mounts, container_id)
            (work / "config.json").write_text(json.dumps(spec))
            code = _run_runtime(runtime.exe, runtime.state_root, work, container_id, output)
            exited = True
            _remove_stubs(merged, stubs)
        if code != 0:
            raise ExecFailed(op.args, code)
        layer = layer_from_directory(store.layers, upper, keep_empty=True)
        assert layer is not None
        if make_tree and not store.layers.is_unpacked(layer.diff_id):
            # The upper dir is the layer's tree, as BuildKit's snapshot of the step is the next
            # one's lower: the files its tar was just written from (whiteouts and opaque dirs in
            # the overlay's own format, which an unpacked tree has), to the nanosecond of their
            # mtimes (the tar keeps seconds). Not unpacked from the tar again: no file written
            # twice. Published as an unpacked tree is (its record ties it to this boot; the tar
            # is the durable copy), and an unpacked tree's root is 0755. Should that fail, the
            # step that reads the tree unpacks the tar, as before.
            try:
                os.chmod(upper, 0o755)
                store.layers.adopt_tree(layer.diff_id, upper)
            except OSError:
                pass
        return layer
    finally:
        if not exited:
            subprocess.run([runtime.exe, "--root", str(runtime.state_root), "delete", "--force",
                            container_id], capture_output=True)
        leftover.leave(work)  # unmounted: removed while the next step's runtime runs


def _network_files(store: Store, hosts: bytes, resolv: bytes, work: Path | None) -> Path:
    """The directory of the step's /etc/hosts and /etc/resolv.conf (bound read-only): made once
    per process for each content, in its temp folder, and shared by its steps (two files made
    and removed per step otherwise). An `insecure` step (every capability: it could remount
    them writable) gets its own, in `work`."""
    if work is None:
        key = small_sha256(hosts + b"\0" + resolv).hexdigest()[:16]
        shared = store.tmp / f"bk-files-{key}"
        if shared.is_dir():
            return shared
        files = Path(tempfile.mkdtemp(prefix="bk-files-", dir=store.tmp))
        os.chmod(files, 0o755)
    else:
        files = work / "files"
        files.mkdir()
    (files / "hosts").write_bytes(hosts)
    (files / "resolv.conf").write_bytes(resolv)
    if work is not None:
        return files
    try:
        os.rename(files, shared)
    except OSError:  # made meanwhile by another step
        remove_later(files)
    return shared


def _mounts(store: Store, op: ExecOp, sources: dict[int, MountSource], session: Session,
            merged: Path, work: Path, stack: ExitStack, env: list[str]) -> tuple[list[dict], list[str]]:
    specs: list[tuple[str, dict]] = []
    stubs = [t for t in ("/etc/hosts", "/etc/resolv.conf") if not os.path.lexists(_inside(merged, t))]
    resolv = b""
    if op.network != "none":
        try:
            resolv = Path("/etc/resolv.conf").read_bytes()
        except OSError:
            resolv = b""
    hosts = HOSTS.format(host=op.hostname) + "".join(
        f"{ip}\t{name}\n" for name, _, ip in (h.partition(":") for h in op.extra_hosts))
    files = _network_files(store, hosts.encode(), resolv,
                           work if op.security == "insecure" else None)
    for name in ("hosts", "resolv.conf"):
        specs.append((f"/etc/{name}", {"destination": f"/etc/{name}", "type": "bind",
                                       "source": str(files / name), "options": ["rbind", "ro"]}))
    secret_dir: Path | None = None
    for index, m in enumerate(op.mounts):
        if m.type == "secret":
            value = session.secret(m.secret_id)
            if value is None:
                if m.required:
                    raise NotFound(f"secret {m.secret_id} not found: not found")
                continue
            if m.env:
                env.append(f"{m.env}={value.decode('utf-8', 'surrogateescape')}")
                if not m.target:
                    continue
            if secret_dir is None:
                secret_dir = work / "secrets"
                secret_dir.mkdir(mode=0o700)
                _mount_tmpfs(secret_dir, "mode=0700,size=16m")
                stack.callback(rootfs.unmount, secret_dir)
            path = secret_dir / f"secret-{index}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(value)
            os.chown(path, m.uid or 0, m.gid or 0)
            os.chmod(path, m.mode if m.mode is not None else 0o400)
            specs.append((m.target, {"destination": m.target, "type": "bind", "source": str(path),
                                     "options": ["rbind", "ro"]}))
        elif m.type == "ssh":
            sock = session.ssh_socket(m.secret_id)
            target = m.target
            if sock is None:
                if m.required:
                    raise NotFound(f"no SSH key {m.secret_id!r} forwarded from the client")
                continue
            specs.append((target, {"destination": target, "type": "bind", "source": sock,
                                   "options": ["rbind"]}))
        elif m.type == "tmpfs":
            opts = ["nosuid", "nodev", "mode=1777"] + ([f"size={m.size}"] if m.size else [])
            specs.append((m.target, {"destination": m.target, "type": "tmpfs", "source": "tmpfs",
                                     "options": opts}))
        elif m.type == "cache":
            source = sources.get(m.input)
            if source is not None and m.selector != "/":
                source = MountSource(_inside(source.path, m.selector), source.base)
            path = _cache_dir(store, m, source, stack, work, index)
            specs.append((m.target, {"destination": m.target, "type": "bind", "source": str(path),
                                     "options": ["rbind", "ro" if m.readonly else "rw"]}))
        elif m.type == "bind":
            source = sources[m.input]
            path = source.path if m.selector == "/" else _inside(source.path, m.selector)
            if not os.path.lexists(path):
                raise NotFound(f'failed to compute cache key: "{m.selector}" not found: not found')
            if not m.readonly:
                if path.is_dir():
                    path = _mount_overlay_dir(path, work, f"rw-{index}")
                    stack.callback(rootfs.unmount, path)
                else:
                    copy = work / f"rw-{index}-{path.name}"
                    shutil.copy2(path, copy)
                    path = copy
            specs.append((m.target, {"destination": m.target, "type": "bind", "source": str(path),
                                     "options": ["rbind", "ro" if m.readonly else "rw"]}))
        else:
            raise InvalidParameter(f"unsupported mount type {m.type}")
    for target, _spec_item in specs:
        if target not in stubs and not os.path.lexists(_inside(merged, target)):
            stubs.append(target)
    specs.sort(key=lambda item: item[0].rstrip("/").count("/") if item[0] not in ("/etc/hosts", "/etc/resolv.conf") else 0)
    return [s for _t, s in specs], stubs


def _spec(op: ExecOp, env: list[str], user, mounts: list[dict], container_id: str) -> dict:  # noqa: ANN001
    insecure = op.security == "insecure"
    caps = bounding_set() if insecure else DEFAULT_CAPS
    namespaces = [{"type": t} for t in ("mount", "pid", "ipc", "uts")]
    if op.network == "none":
        namespaces.append({"type": "network"})
    base_mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev"] + ([] if insecure else ["ro"])},
    ]
    process = {
        "terminal": False,
        "user": {"uid": user.uid, "gid": user.gid,
                 **({"additionalGids": list(user.additional_gids)} if user.additional_gids else {})},
        "args": list(op.args), "env": env, "cwd": op.cwd or "/",
        "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
        "noNewPrivileges": False,
    }
    linux: dict = {
        "namespaces": namespaces,
        "cgroupsPath": cgroups.path_of(container_id),   # its owner's (runtime/owned.py)
        "resources": {"devices": [{"allow": insecure, "access": "rwm"}]},
    }
    if not insecure:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        linux["seccomp"] = oci_seccomp("", caps)
    return {"ociVersion": "1.0.2", "process": process, "root": {"path": "merged", "readonly": False},
            "hostname": op.hostname, "mounts": base_mounts + mounts, "linux": linux}


def _run_runtime(name: str, state_root: Path, bundle: Path, container_id: str, output: Output) -> int:
    """`runc run` in the foreground; its own errors (a missing executable...) come on its
    stderr, as BuildKit shows them in the step's output. Both pipes are read on this thread
    (runtime/pipes.py)."""
    proc, out_r, err_r = pipes.spawn([name, "--root", str(state_root), "run", "--bundle", str(bundle), container_id])
    leftover.release()
    pipes.drain({out_r: lambda data: output(1, data), err_r: lambda data: output(2, data)})
    return proc.wait()


def _remove_stubs(merged: Path, stubs: list[str]) -> None:
    """Empty files the runtime made as mount points go; directories stay (as in BuildKit)."""
    for target in stubs:
        path = _inside(merged, target)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            try:
                os.unlink(path)
            except OSError:
                pass
