"""Make a container runnable (rootfs mounted, OCI spec written); runtime/removal.py takes it
down and away."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from dockyard.atomic import create_file
from dockyard.digest import Digest
from dockyard.runtime import removal, rootfs
from dockyard.runtime.hostconfig import HOST_GATEWAY, HostConfig
from dockyard.runtime.spec import (
    Bind, ProcessSpec, SpecInput, build_spec, capabilities, process_env, rlimits,
)
from dockyard.runtime.resolvconf import resolv_conf
from dockyard.runtime.state import RUNNING, ContainerDir, ContainerRecord, write_file
from dockyard.runtime.users import ExecUser, additional_groups, resolve_user
from dockyard.store.store import Store

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Callable, Iterator

    from dockyard.runtime.joined import Joined


def layer_dirs(store: Store, image_id: str) -> list[Path]:
    """The unpacked layer directories of an image, topmost first (unpacking on first use)."""
    image = store.image(Digest.parse(image_id))
    return [store.layers.unpacked(d) for d in reversed(image.config.diff_ids)]


def lowers(store: Store, cdir: ContainerDir, record: ContainerRecord,
           init: Path | None = None, diff_ids: list[Digest] | None = None,
           links: dict[Digest, str] | None = None) -> list[str]:
    """The overlay's lower directories, relative to the store root: the init layer (the
    container's own, or `init`), then the image's layers (its `diff_ids`, when the caller has
    them), topmost first. `links`: see lower_dirs."""
    out = [str((init or cdir.init).relative_to(store.root))]
    if diff_ids is None:
        diff_ids = store.image(Digest.parse(record.image_id)).config.diff_ids
    return rootfs.topmost_once(out + lower_dirs(store, diff_ids, links))


def lower_dirs(store: Store, diff_ids: list[Digest], links: dict[Digest, str] | None = None) -> list[str]:
    """The layers' unpacked trees (unpacked on first use) as overlay lower dirs relative to the
    store root (their short links, `l/<link>`), topmost first. `links`: the short links of the
    layers a build has already found unpacked, filled here; only for a caller whose lease or
    ingest hold keeps the layers from the collector meanwhile (a build: the n-th step of a RUN
    chain looked each of its n layers up again, two file reads each)."""
    out = []
    for diff_id in reversed(diff_ids):
        link = links.get(diff_id) if links is not None else None
        if link is None:
            store.layers.unpacked(diff_id)
            link = store.layers.link_name(diff_id)
            if links is not None:
                links[diff_id] = link
        out.append(f"l/{link}")
    return out


def mount(store: Store, cdir: ContainerDir, record: ContainerRecord) -> None:
    if rootfs.is_mounted(cdir.merged):
        return
    low = lowers(store, cdir, record)
    cdir.lower_file.write_text(":".join(low))
    rootfs.mount_overlay(store.root, low, cdir.upper, cdir.work, cdir.merged)


@contextmanager
def mounted(store: Store, cdir: ContainerDir, *, volumes: bool = False) -> Iterator[Path]:
    """The container's root filesystem, mounted for the time of the block: a stopped
    container's is mounted by the first of the blocks that use it at once (two `cp` into it,
    a `cp` and an `export`) and unmounted by the last, unless it started meanwhile (the first
    one's unmount pulled the rootfs from under the second, whose copy then found an empty
    folder). `volumes`: its volumes made with driver options (a tmpfs, an NFS export) too,
    mounted as for its run, as dockerd mounts them for a copy (a copy into one went into the
    folder under it, which its run never shows); released with the rootfs."""
    record = cdir.read_record()
    with cdir.locked():
        share = cdir.share_rootfs()
        try:
            mount(store, cdir, record)
        except BaseException:
            cdir.last_rootfs_user(share)
            raise
    try:
        if volumes:
            hold_volumes(store, cdir, record)
        yield cdir.merged
    finally:
        with cdir.locked():
            if cdir.last_rootfs_user(share) and cdir.read_state().status != RUNNING:
                release_volumes(store, cdir, record)   # unless it started: its run holds them
                removal.unmount(cdir)


def _writer(fresh: bool) -> Callable[[Path, bytes], None]:
    """How a container's files are written: replaced atomically (a container's directory that
    others read, where a file may exist from an earlier start), or, `fresh`, created in place (a
    one-shot container's new directory, read by nobody before its runtime: a temp file and a
    rename per file bought nothing there)."""
    if not fresh:
        return lambda path, data: write_file(path, data, durable=False)
    return create_file


def write_files(cdir: ContainerDir, record: ContainerRecord, *, fresh: bool = False) -> None:
    """/etc/hostname, /etc/hosts, /etc/resolv.conf of the container (bind mounted by the
    runtime); `fresh`: see _writer."""
    write = _writer(fresh)
    host = record.hostname
    write(cdir.path / "hostname", f"{host}\n".encode())
    hosts = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
             "ff02::2\tip6-allrouters\n")
    if record.host.network_mode != "host":
        hosts += f"127.0.0.1\t{host}\n"
    else:
        try:
            hosts = Path("/etc/hosts").read_text()
        except OSError:
            pass
    for entry in record.host.extra_hosts:      # --add-host NAME:IP
        name, _, ip = entry.partition(":")
        if ip == HOST_GATEWAY:
            if record.host.network_mode != "host":
                continue    # the network hook names its network's gateway at join (none: no host)
            ip = "127.0.0.1"
        hosts += f"{ip}\t{name}\n"
    write(cdir.path / "hosts", hosts.encode())
    try:
        resolv = Path("/etc/resolv.conf").read_bytes()
    except OSError:
        resolv = b""
    h = record.host
    # a network of none too (dockerd's: the host's servers, or --dns, --dns-search, --dns-option)
    resolv = resolv_conf(resolv, h.dns, h.dns_search, h.dns_options, own_namespace=h.network_mode != "host")
    write(cdir.path / "resolv.conf", resolv)


def process_spec(cdir: ContainerDir, record: ContainerRecord, *, args: list[str] | None = None,
                 extra_env: list[str] | None = None, workdir: str | None = None,
                 user: str | None = None, tty: bool | None = None,
                 privileged: bool = False, linked: list[str] = ()) -> ProcessSpec:  # type: ignore[assignment]
    """The process to run in the (mounted) container; defaults are the container's own.
    `linked`: the variables of its links (runtime/links.py)."""
    cfg = record.config
    exec_user: ExecUser = resolve_user(cdir.merged, record.config.user if user is None else user, daemon=True)
    if record.host.group_add:   # the container's, for its process and every exec, as dockerd's
        exec_user = ExecUser(exec_user.uid, exec_user.gid, exec_user.additional_gids
                             + additional_groups(cdir.merged, record.host.group_add), exec_user.home)
    use_tty = record.tty if tty is None else tty
    env = process_env(cfg.env, extra_env or [], record.hostname, use_tty, exec_user.home, linked)
    return ProcessSpec(args=args if args is not None else record.command, env=env,
                       cwd=(workdir if workdir is not None else cfg.working_dir) or "/",
                       user=exec_user, terminal=use_tty,
                       capabilities=capabilities(record.host, privileged),
                       no_new_privileges=record.host.no_new_privileges,
                       rlimits=rlimits(record.host))


def write_spec(cdir: ContainerDir, record: ContainerRecord, *, fresh: bool = False,
               joins: "Joined | None" = None, shm: str = "", linked: list[str] = (),  # type: ignore[assignment]
               host: HostConfig | None = None, runtime_id: str = "") -> None:
    """The container's config.json; `fresh`: see _writer; `joins`: the namespaces (and files)
    it takes from other containers; `shm`: the host's tmpfs bound at its /dev/shm; `linked`:
    its links' variables; `host`: the record's, with what the start resolved (subpaths);
    `runtime_id`: the runtime's name for it when that is not its ID (a one-shot container's,
    which says its owner: its cgroups are named so, runtime/owned.py)."""
    proc = process_spec(cdir, record, linked=linked)
    spec = build_spec(SpecInput(
        container_id=runtime_id or record.id, hostname=record.hostname, process=proc,
        files_dir=(joins and joins.files_dir) or str(cdir.path),
        binds=[Bind.parse(b) for b in record.host.binds],
        host=host or record.host, domainname=record.config.extra.get("Domainname") or "",
        joined=dict(joins.namespaces) if joins else {}, shm_source=(joins and joins.shm) or shm))
    # compact: json's C encoder (indent= takes the pure-Python one, ~2.5 ms a spec)
    _writer(fresh)(cdir.spec, json.dumps(spec, separators=(",", ":")).encode())


def prepare(store: Store, cdir: ContainerDir, record: ContainerRecord) -> None:
    """Mount the rootfs and write the spec; on failure nothing stays mounted. A container that
    joins another's namespaces (runtime/joined.py) fails first when that one does not run."""
    from dockyard.runtime.joined import at_start
    from dockyard.runtime.links import environment

    joins = at_start(store, record)
    linked = environment(store, record) if record.host.links else []
    if joins is not None and joins.files_dir:
        _take_hostname(cdir, record, joins)
    mount(store, cdir, record)
    try:
        hold_volumes(store, cdir, record)
        shm = ""
        if record.host.ipc_mode == "shareable":   # on the host, where joiners find it
            rootfs.unmount(cdir.shm)
            rootfs.mount_tmpfs(cdir.shm, f"mode=1777,size={record.host.shm_size // 1024}k")
            shm = str(cdir.shm)
        if joins is None or not joins.files_dir:   # a joined network's are the other's
            write_files(cdir, record)
        host = record.host
        if any(m.subpath for m in host.mounts):   # checked and bound at each start, as moby's
            from dockyard.dataclass import replace
            from dockyard.runtime.volumes import subpath_source   # not a build's RUN (tests/test_start_up.py)

            rootfs.unmount_each(cdir.subpaths)   # an earlier start's, if its stop left them
            host = replace(host, mounts=[
                replace(m, source=subpath_source(m.source, m.subpath, cdir.subpaths / str(i))) if m.subpath else m
                for i, m in enumerate(host.mounts)])
        write_spec(cdir, record, joins=joins, shm=shm, linked=linked, host=host)  # the runtime makes a missing workdir
    except BaseException:
        removal.unmount(cdir)
        release_volumes(store, cdir, record)
        raise


def hold_volumes(store: Store, cdir: ContainerDir, record: ContainerRecord) -> None:
    """What the container's volumes made with driver options mount, mounted for its run
    (runtime/volumes.Volumes.hold)."""
    if any(m.type == "volume" for m in record.host.mounts):
        from dockyard.runtime.volumes import hold_all, names_in   # not a build's RUN (tests/test_start_up.py)

        hold_all(store.root, cdir.id, names_in(record.host.mounts))


def release_volumes(store: Store, cdir: ContainerDir, record: ContainerRecord) -> None:
    """The run ended: its volumes' mounts go when no other container holds them."""
    if any(m.type == "volume" for m in record.host.mounts):
        from dockyard.runtime.volumes import names_in, release_all   # not a build's RUN (tests/test_start_up.py)

        release_all(store.root, cdir.id, names_in(record.host.mounts))


def _take_hostname(cdir: ContainerDir, record: ContainerRecord, joins: "Joined") -> None:
    """A container joining another's network takes its hostname and domain name, kept in its
    config as dockerd keeps them (Config.Hostname is the other's from the first start on)."""
    if (record.hostname, record.config.extra.get("Domainname") or "") == (joins.hostname, joins.domainname):
        return
    with cdir.locked():
        current = cdir.read_record()
        for r in (record, current):
            r.hostname = joins.hostname
            r.config.extra.update(Hostname=joins.hostname, Domainname=joins.domainname)
        cdir.write_record(current)
