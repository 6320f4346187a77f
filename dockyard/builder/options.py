"""What a build is asked to do and where its progress goes, whichever builder runs it (the CLI and
the API fill BuildOptions; engine/build.py hands them to the builder)."""

from __future__ import annotations

from collections.abc import Callable

from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest
from dockyard.reference import Reference

__all__ = ["BuildOptions", "ImagePuller", "Output", "check_platform", "runs_here"]

# Pulls an image by name into the store, printing its status lines; returns the image ID.
ImagePuller = Callable[[str, Callable[[str], None]], Digest]


@dataclass
class BuildOptions:
    """The options of a build, as `docker build` takes them."""

    tags: list[Reference] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    rm: bool = True
    force_rm: bool = False
    # RUN's network: default (the host's), host, none, bridge, a network's name or ID, or
    # container:NAME (the classic builder's; BuildKit mode takes default, host and none)
    network: str = "default"
    pull: bool = False
    cache_from: list[str] = field(default_factory=list)   # classic: images whose history is cache
    explain_cache: bool = False   # print why each step that misses the cache missed
    # HostConfig's keyword arguments for RUN's containers beyond the network (resources,
    # shm_size, extra_hosts: docker build --memory, --shm-size, --ulimit, --add-host...)
    run_host: dict[str, object] = field(default_factory=dict)


def runs_here(platform: str) -> bool:
    """A --platform value this machine builds: linux/amd64, as containerd's platforms.Parse
    normalizes it (`amd64`, `linux/x86_64`, `LINUX/AMD64`, `linux/amd64/v1`)."""
    parts = platform.lower().split("/")
    if len(parts) == 1:
        parts = ["linux", *parts]
    return parts[0] == "linux" and parts[1:2] in (["amd64"], ["x86_64"], ["x86-64"]) and parts[2:] in ([], ["v1"])


def check_platform(platform: str | None, where: str = "") -> None:
    """A classic build's --platform: this machine's is taken, as dockerd 20.10 takes it; another
    is refused, where dockerd builds for its own platform anyway and says nothing (`--platform
    linux/arm64` with a local amd64 image: an amd64 image, exit 0)."""
    if platform and not runs_here(platform):
        from dockyard.errors import InvalidParameter

        raise InvalidParameter(f"{where}platform {platform} is not supported here (only linux/amd64)")


class Output:
    """The build's progress stream (text lines and RUN's raw bytes). With -q it is held back (in
    memory up to HELD_IN_MEMORY bytes, then in a temp file): a build that fails writes it then
    (`release`), before its error, as dockerd sends a quiet build's output when it fails (and
    the docker CLI prints it to stderr); one that succeeds drops it (`discard`)."""

    HELD_IN_MEMORY = 1 << 20

    def __init__(self, write: Callable[[bytes], None], quiet: bool = False) -> None:
        self._write = write
        self.quiet = quiet
        self._held = None   # a SpooledTemporaryFile, from the first byte held

    def line(self, text: str) -> None:
        self.raw((text + "\n").encode("utf-8", "surrogateescape"))

    def raw(self, data: bytes) -> None:
        if not self.quiet:
            self._write(data)
            return
        if self._held is None:
            import tempfile  # a quiet build only

            self._held = tempfile.SpooledTemporaryFile(self.HELD_IN_MEMORY)
        self._held.write(data)

    def release(self) -> None:
        """A quiet build failed: what it held back, written now."""
        held, self._held = self._held, None
        if held is None:
            return
        with held:
            held.seek(0)
            while chunk := held.read(64 * 1024):
                self._write(chunk)

    def discard(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()
