"""COPY and ADD: find the sources, checksum them for the cache, and write the layer tar directly
(no container): the copied entries plus the parent directories the copy creates or changes.

Docker behaviour matched (moby builder/dockerfile copy.go, internals.go performCopy):
- Sources are paths in the context (symlinks followed as in a chroot at the context root) or, with
  `--from`, in another stage's or image's filesystem; excluded files do not exist.
- Wildcards use Go's filepath.Match on context-relative paths; each match is its own source.
- A file goes to `dest/<name>` when dest ends with `/` or is an existing directory, else to dest;
  a directory's *contents* go into dest. Several sources need a dest ending in `/`.
- New parent directories are 0755 and owned by the --chown user (BuildKit's); the classic
  builder makes a directory's or archive's missing parents root's (only the destination takes
  --chown); copied entries keep their mode and mtime, owner 0:0 (the docker CLI sends the
  context as root) unless --chown; a context file loses set-user-ID as the daemon's chown
  clears it. The classic ADD of an archive keeps its owners.
- Several sources writing one name leave only the last.
- ADD extracts local tar archives (plain, gzip, bzip2, xz, zstd) into dest, read by the
  project's tar reader with the limits of load and import (whiteout names refused: extract.py);
  ADD of an http(s) URL downloads to `dest/<last path element>` (mode 0600), verified by
  `--checksum`.
- The cache checksum of a source is Docker's (checksum.py), so history shows dockerd's
  `file:<hex>`/`dir:<hex>` and a touched but unchanged file still hits.

Modules, each usable by any build mode: match.py (a source path or wildcard -> Source, and the
walk of a directory source through .dockerignore), checksum.py (the cache checksum),
download.py (ADD <url>), sources.py (all the sources of one COPY/ADD: context paths, URLs,
heredocs), entries.py (the layer's tar writer, copied entries, parent directories), extract.py
(ADD of a local archive), layer.py (the layer of one COPY/ADD, WORKDIR's directories).
"""
