"""`dockyard cp`: files between a container and the host, both ways, as the docker CLI 20.10 copies
them. The container's side is the archive API (HEAD, GET, PUT /containers/{id}/archive: the
engine in process, the daemon as a client, through cli/backend); the host's side is
engine/host_files (where the copy lands, the tar of a host path, the extraction with the
hostile-archive checks). `-` is a tar stream: stdout out of a container, stdin into one."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any

from dockyard.cli.backend import for_target
from dockyard.engine import host_files
from dockyard.errors import InvalidParameter, NotFound


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cp", help="Copy files/folders between a container and the local filesystem")
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
    p.add_argument("source", metavar="SRC")
    p.add_argument("destination", metavar="DEST")
    p.set_defaults(func=cmd_cp, client=cmd_cp)


def split_argument(arg: str) -> tuple[str, str]:
    """(container, path) of a cp argument; no container for a host path (the docker CLI's
    splitCpArg: an absolute path, no colon, or a relative path starting with '.')."""
    if arg.startswith("/"):
        return "", arg
    container, colon, path = arg.partition(":")
    if not colon or container.startswith("."):
        return "", arg
    return container, path


def cmd_cp(args: argparse.Namespace, target: Any) -> int:
    source_container, source = split_argument(args.source)
    dest_container, dest = split_argument(args.destination)
    if source_container and dest_container:
        raise InvalidParameter("copying between containers is not supported")
    if source_container:
        _from_container(target, source_container, source, dest, args.follow_link)
    elif dest_container:
        _to_container(target, dest_container, dest, source, args.follow_link, args.archive)
    else:
        raise InvalidParameter("must specify at least one container source")
    return 0


def _missing(container: str, path: str) -> NotFound:
    return NotFound(f"No such container:path: {container}:{path}")


def _from_container(target: Any, container: str, source: str, dest: str, follow_link: bool) -> None:
    """copyFromContainer: with -L a link at the source is followed (its entries named as the
    link); the tar to stdout with `-`, else extracted where the destination says."""
    if dest != "-":
        dest = host_files.local_path(dest)
        host_files.check_output_path(dest)
    backend = for_target(target)
    rebase = ""
    if follow_link:
        try:
            found = backend.path_stat(container, source)
        except NotFound:
            found = {}
        if found.get("mode", 0) & (1 << 27) and found.get("linkTarget"):   # Go's os.ModeSymlink
            link = found["linkTarget"]
            if not link.startswith("/"):
                link = host_files.split_dir_entry(source)[0].rstrip("/") + "/" + link
            source, rebase = host_files.rebase_name(source, link)

    def consume(stat: dict, reader: Any) -> None:
        if dest == "-":
            out = _stdout(target)
            shutil.copyfileobj(reader, out, 1 << 20)
            out.flush()
            return
        # the daemon names the entries after the path it copied (a followed link's target):
        # renamed to the destination's name, or to the link's when that is a directory
        info = host_files.CopyInfo(source, True, bool(stat.get("mode", 0) & (1 << 31)))
        dest_dir, names = host_files.prepare(info, host_files.destination_info(dest))
        if names is None and rebase:
            names = (host_files.split_dir_entry(source)[1], rebase)
        host_files.extract(reader, dest_dir, names)

    try:
        backend.get_archive(container, source, consume)
    except NotFound:
        raise _missing(container, source) from None


def _to_container(target: Any, container: str, dest: str, source: str, follow_link: bool,
                  copy_uid_gid: bool) -> None:
    """copyToContainer: the destination stat'ed in the container (a link there followed), the
    host's tar (or stdin's, into a directory) extracted where the destination says."""
    if source != "-":
        source = host_files.local_path(source)
    backend = for_target(target)
    dest_info = host_files.CopyInfo(dest)
    try:
        found: dict | None = backend.path_stat(container, dest)
    except NotFound:
        found = None
    if found is not None and found.get("mode", 0) & (1 << 27):
        link = found.get("linkTarget") or ""
        if not link.startswith("/"):
            link = host_files.split_dir_entry(dest)[0].rstrip("/") + "/" + link
        dest_info = host_files.CopyInfo(link)
        try:
            found = backend.path_stat(container, link)
        except NotFound:
            found = None
    if found is not None:
        mode = found.get("mode", 0)
        if mode & ((1 << 26) | (1 << 19)):   # Go's os.ModeDevice, os.ModeIrregular
            kind = "a device" if mode & (1 << 26) else "an irregular file"
            raise InvalidParameter(f'destination "{container}:{dest}" must be a directory or a regular file: '
                                   f"got {kind}")
        dest_info = host_files.CopyInfo(dest_info.path, True, bool(mode & (1 << 31)))
    if source == "-":
        if not dest_info.is_dir:
            raise InvalidParameter(f'destination "{container}:{dest}" must be a directory')
        where = dest_info.path
        stdin = sys.stdin.buffer

        def write(out: Any) -> None:
            shutil.copyfileobj(stdin, out, 1 << 20)
    else:
        source_info = host_files.source_info(source, follow_link)
        where, names = host_files.prepare(source_info, dest_info)
        if names is not None:
            source_info = host_files.CopyInfo(source_info.path, True, source_info.is_dir, names[1])

        def write(out: Any) -> None:
            host_files.write_tar(source_info, out)
    try:
        backend.put_archive(container, where, write, copy_uid_gid=copy_uid_gid)
    except NotFound:
        raise _missing(container, where) from None


def _stdout(target: Any) -> Any:
    if isinstance(target, str):
        sys.stdout.flush()
        return sys.stdout.buffer
    return target.stdout_binary
