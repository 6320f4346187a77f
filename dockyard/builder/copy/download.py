"""ADD <url>: the file fetched into a private temp dir, hashed while it is written and checked
against `--checksum`."""

from __future__ import annotations

import os
import posixpath
import time
from pathlib import Path

from dockyard.archive.fstree import remove_path
from dockyard.atomic import temp_dir
from dockyard.builder.copy.match import Source
from dockyard.digest import CHUNK, Digest
from dockyard.errors import DigestMismatch, InvalidParameter, Unavailable

__all__ = ["download"]


def download(url: str, tmp_dir: Path, checksum_spec: str = "") -> Source:
    """ADD <url>: fetch into a private temp dir; the source is named after the URL's last path
    element, mode 0600, mtime from Last-Modified (Docker's remote source)."""
    # An ADD of a URL only (http.client, email, ssl): see the in-process budget, tests/test_start_up.py
    import hashlib
    import urllib.parse
    from email.utils import parsedate_to_datetime

    from dockyard.urls import open_url

    work = temp_dir(tmp_dir, "build-url-")
    name = posixpath.basename(urllib.parse.urlparse(url).path.rstrip("/")) or "__unnamed__"
    target = work / name
    h = hashlib.sha256()
    try:
        response = open_url(url)
    except OSError as exc:   # in Go's words (dockyard/urls.py)
        raise Unavailable(str(exc)) from None
    with response, open(target, "wb") as out:
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
            out.write(chunk)
        modified = response.headers.get("Last-Modified")
    mtime = int(time.time())
    if modified:
        try:
            mtime = int(parsedate_to_datetime(modified).timestamp())
        except (TypeError, ValueError):
            pass
    if checksum_spec:
        try:
            expected = Digest.parse(checksum_spec)
        except (InvalidParameter, ValueError):
            raise InvalidParameter(f"invalid checksum digest format: {checksum_spec}") from None
        actual = Digest("sha256", h.hexdigest())
        if expected != actual:
            remove_path(work, ignore_errors=True)
            raise DigestMismatch(f"digest mismatch {expected}: {actual}")
    os.chmod(target, 0o600)
    st = os.lstat(target)
    return Source(work, name, name, st, None, mode=0o600, mtime=mtime, origin="download")
