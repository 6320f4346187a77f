"""What the client lends a build and nothing keeps: secrets (`--secret`) and SSH agents (`--ssh`).

`--secret id=ID,src=FILE` (also `source=`, `type=file`) or `--secret id=ID,env=VAR` (`type=env`);
`--secret id=ID` alone is the variable ID when it is set, else the file ID (buildx's detection):
the value is read when a RUN mounts it and goes only to a private tmpfs (or the RUN's
environment with `env=`); it is never part of a layer, the history, a cache key or the output.
`--ssh default` forwards `$SSH_AUTH_SOCK`; `--ssh ID=PATH[,PATH...]` forwards an agent socket,
or starts a private ssh-agent holding the given private keys for the build.
`--allow security.insecure` grants `RUN --security=insecure`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from dockyard.dataclass import dataclass, field
from dockyard.errors import InvalidParameter, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

ENTITLEMENTS = ("security.insecure", "network.host")


@dataclass(frozen=True)
class SecretSource:
    """`--secret id=...`: where the secret's value comes from."""

    id: str
    path: str = ""           # a file of the client
    env: str = ""            # or an environment variable of the client
    value: bytes | None = field(default=None, repr=False)  # or the value itself (client mode)

    def read(self) -> bytes:
        if self.value is not None:
            return self.value
        if self.path:
            try:
                with open(self.path, "rb") as f:
                    return f.read()
            except OSError as exc:
                raise InvalidParameter(f"failed to read secret {self.id}: {exc.strerror}: {self.path}") from None
        value = os.environ.get(self.env)
        if value is None:
            raise NotFound(f"secret {self.id} not found: environment variable {self.env} is not set")
        return value.encode("utf-8", "surrogateescape")


def parse_secret(text: str) -> SecretSource:
    """One `--secret` value, as docker build / buildx read it."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep:
            raise InvalidParameter(f"invalid secret specification {text!r}: expected key=value")
        if key not in ("id", "type", "src", "source", "env"):
            raise InvalidParameter(f"unexpected key '{key}' in '{part}'")
        fields[key] = value
    secret_id = fields.get("id", "")
    kind = fields.get("type", "")
    src = fields.get("src") or fields.get("source") or ""
    env = fields.get("env", "")
    if kind not in ("", "file", "env"):
        raise InvalidParameter(f"unsupported secret type {kind!r}")
    if kind == "env" and not env:
        env = src or secret_id
        src = ""
    if not secret_id:
        secret_id = os.path.basename(src) if src else env
    if not secret_id:
        raise InvalidParameter(f"invalid secret specification {text!r}: an id is required")
    if not src and not env:
        # `--secret id=tok`: the file named `tok` (the docker 20.10 CLI's default), or, as buildx
        # detects it, the variable `tok` when it is set
        if kind == "file" or secret_id not in os.environ:
            src = secret_id
        else:
            env = secret_id
    return SecretSource(secret_id, src, env if not src else "")


@dataclass(frozen=True)
class SshSource:
    """`--ssh id=...`: the agent sockets or keys forwarded."""

    id: str
    paths: tuple[str, ...]   # agent sockets or private key files


def parse_ssh(text: str) -> SshSource:
    """`default`, `default=PATH`, `ID=PATH[,PATH...]`; `default` alone is $SSH_AUTH_SOCK."""
    ssh_id, sep, rest = text.partition("=")
    if not ssh_id:
        raise InvalidParameter(f"invalid ssh specification {text!r}")
    paths = tuple(p for p in rest.split(",") if p) if sep else ()
    if not paths:
        sock = os.environ.get("SSH_AUTH_SOCK", "")
        if not sock:
            raise InvalidParameter(f"invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set ({text})")
        paths = (sock,)
    return SshSource(ssh_id, paths)


@dataclass
class Session:
    """What a build's client provides: secrets, ssh agents, entitlements."""

    secrets: dict[str, SecretSource] = field(default_factory=dict)
    ssh: dict[str, SshSource] = field(default_factory=dict)
    allow: frozenset[str] = frozenset()
    # asked for a secret not in `secrets` (the docker CLI's session serves its --secret values)
    fetch: Callable[[str], bytes | None] | None = field(default=None, repr=False)
    _agents: dict[str, tuple[subprocess.Popen, Path]] = field(default_factory=dict, repr=False)

    def secret(self, secret_id: str) -> bytes | None:
        source = self.secrets.get(secret_id)
        if source is None:
            return self.fetch(secret_id) if self.fetch is not None else None
        return source.read()

    def ssh_socket(self, ssh_id: str) -> str | None:
        """A socket of an agent holding the keys of `ssh_id` (None when not forwarded)."""
        source = self.ssh.get(ssh_id)
        if source is None:
            return None
        sockets = [p for p in source.paths if _is_socket(p)]
        if sockets and len(sockets) == len(source.paths):
            return sockets[0]
        if ssh_id in self._agents:
            return str(self._agents[ssh_id][1] / "agent.sock")
        return self._start_agent(ssh_id, source)

    def _start_agent(self, ssh_id: str, source: SshSource) -> str:
        import shutil
        import tempfile
        import subprocess  # --ssh with key files only: a build's start loads none (tests/test_start_up.py)

        if shutil.which("ssh-agent") is None:
            raise InvalidParameter("--ssh with key files needs ssh-agent (openssh-client)")
        work = Path(tempfile.mkdtemp(prefix="dockyard-ssh-"))
        sock = work / "agent.sock"
        agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        self._agents[ssh_id] = (agent, work)
        for _ in range(200):
            if sock.exists():
                break
            if agent.poll() is not None:
                raise InvalidParameter("ssh-agent failed to start")
            import time
            time.sleep(0.01)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        for path in source.paths:
            proc = subprocess.run(["ssh-add", path], env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise InvalidParameter(f"failed to load ssh key {path}: {proc.stderr.strip()}")
        return str(sock)

    def close(self) -> None:
        if not self._agents:
            return
        import shutil
        import signal
        import subprocess

        for agent, work in self._agents.values():
            try:
                agent.send_signal(signal.SIGTERM)
                agent.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                agent.kill()
            shutil.rmtree(work, ignore_errors=True)
        self._agents.clear()


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def parse_allow(values: list[str]) -> frozenset[str]:
    for value in values:
        if value not in ENTITLEMENTS:
            raise InvalidParameter(f"invalid entitlement: {value}")
    return frozenset(values)
