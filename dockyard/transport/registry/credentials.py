"""Registry credentials where the docker CLI keeps them: `config.json` and credential helpers.

The file is `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`):

    {
    	"auths": {
    		"registry.example:5000": {
    			"auth": "<base64 of user:password>",
    			"identitytoken": "<OAuth2 refresh token>"
    		}
    	},
    	"credsStore": "pass",
    	"credHelpers": {"gcr.io": "gcloud"}
    }

Docker Hub's entry is keyed `https://index.docker.io/v1/`, every other registry by `host[:port]`;
when reading, a legacy key carrying a scheme or a path (`https://host:5000`, `http://host/v1/`)
still matches its host. `credHelpers[key]` names the helper for one registry, else `credsStore`
for all of them; a helper is the program `docker-credential-<name>` speaking the
docker-credential-helpers protocol (`get`/`store`/`erase`, the server or a JSON object on stdin).
With a helper the secret never reaches the file: the `auths` entry stays `{}`, as docker writes it.

Writing matches the docker CLI byte for byte for a file docker wrote (tab indentation, sorted
`auths`, Go's escaping of `<`, `>`, `&`, no final newline, 0600 for a new file, 0700 for a new
directory, an existing file's mode and owner kept, a symlinked config.json written through). Unlike
docker, keys dockyard does not know are kept rather than dropped, and empty fields stay as they were.
"""

from __future__ import annotations

import binascii
import os

from dockyard.errors import DockyardError, InvalidParameter, Unavailable
from dockyard.gojson import go_json, loads, reject_constant
from dockyard.programs import which

# A client-mode build (`dockyard -H ... build`) imports this module at each start when a
# config.json exists, to send the credentials along: what only writing, helpers or type checkers
# need (pathlib, typing, dataclasses, subprocess, the store's atomic writes: ~20 ms in all) is
# imported where it is used; and what reading needs is read without json, base64, re nor shutil
# (with fnmatch, bz2, lzma: dockyard.programs.which): together they were 40.7M instructions of
# the client's 83.1M with a config.json of `{}` (bench_all's), the bare interpreter's start
# 27.7M (callgrind).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import Any

HUB_KEY = "https://index.docker.io/v1/"
HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
CONFIG_FILE = "config.json"
HELPER_PREFIX = "docker-credential-"
TOKEN_USERNAME = "<token>"          # a helper's username meaning "Secret is an identity token"
NOT_FOUND_MESSAGE = "credentials not found in native keychain"
MAX_CONFIG_SIZE = 16 << 20          # a config.json larger than this is not one
MAX_HELPER_OUTPUT = 1 << 20

# The docker CLI's ConfigFile fields in the order it writes them; a key dockyard adds to the file
# goes where docker would put it, so a file docker wrote stays byte-identical to docker's output.
_DOCKER_FIELD_ORDER = (
    "auths", "HttpHeaders", "psFormat", "imagesFormat", "networksFormat", "pluginsFormat",
    "volumesFormat", "statsFormat", "detachKeys", "credsStore", "credHelpers",
    "serviceInspectFormat", "servicesFormat", "tasksFormat", "secretFormat", "configFormat",
    "nodesFormat", "pruneFilters", "proxies", "currentContext", "cliPluginsExtraDirs", "plugins",
    "aliases", "features",
)


class Credentials:
    """What authenticates to one registry; every field may be empty. An immutable value, compared
    by its fields (a frozen dataclass written out: dataclasses costs ~5 ms to import)."""

    __slots__ = ("username", "password", "identity_token", "registry_token")
    username: str
    password: str
    identity_token: str   # docker's IdentityToken (an OAuth2 refresh token)
    registry_token: str   # a bearer token used as-is

    def __init__(self, username: str = "", password: str = "", identity_token: str = "",
                 registry_token: str = "") -> None:
        for name, value in zip(self.__slots__, (username, password, identity_token, registry_token)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: Credentials are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: Credentials are immutable")

    def _fields(self) -> tuple[str, str, str, str]:
        return (self.username, self.password, self.identity_token, self.registry_token)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._fields())

    def replace(self, **changes: str) -> "Credentials":
        """A copy with the named fields changed (dataclasses.replace)."""
        values = dict(zip(self.__slots__, self._fields()))
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"Credentials has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return Credentials(**values)

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def __repr__(self) -> str:
        # Secrets stay out of logs and tracebacks; only whether they are set shows.
        hidden = [f"{name}=***" for name in ("password", "identity_token", "registry_token")
                  if getattr(self, name)]
        return f"Credentials(username={self.username!r}{''.join(', ' + h for h in hidden)})"


def convert_to_hostname(server: str) -> str:
    """`host[:port]` of a registry address that may carry a scheme and a path, as docker's
    ConvertToHostname: "https://127.0.0.1:5000/v2/" -> "127.0.0.1:5000", "host/v1/" -> "host".
    Case is kept; a URL's IPv6 host keeps its brackets only with a port, as Go's url does."""
    if "://" in server:
        rest = server.split("://", 1)[1]
        netloc = rest[:min([i for i in map(rest.find, "/?#") if i >= 0], default=len(rest))]
        host = netloc.rsplit("@", 1)[-1]
        if host:
            return _join_host_port(host)
    return server.split("/", 1)[0]


def _join_host_port(host: str) -> str:
    if host.startswith("["):
        close = host.find("]")
        if close < 0:
            return host
        name, tail = host[1:close], host[close + 1:]
        if tail.startswith(":") and tail[1:].isdigit():
            return f"[{name}]:{tail[1:]}"
        return name if not tail or tail == ":" else host
    name, sep, port = host.rpartition(":")
    if not sep:
        return host
    if port == "" and name:
        return name
    if not port.isdigit() or not name:
        return host   # Go's url rejects it; docker then keeps the text as it is
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def config_key(server: str) -> str:
    """The key docker's config.json uses for a registry: Docker Hub in any spelling ("docker.io",
    "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/", or nothing) is
    "https://index.docker.io/v1/"; anything else is its host[:port] without scheme or path."""
    server = server.strip()
    if not server or server == HUB_KEY:
        return HUB_KEY
    host = convert_to_hostname(server)
    return HUB_KEY if host in HUB_HOSTS else host


_NOT_FOUND = object()  # a helper's "credentials not found in native keychain"

class CredentialStore:
    """The credentials of one docker config directory; each call reads the file afresh."""

    def __init__(self, config_dir: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> None:
        """`env` is the environment helpers are looked up in (its PATH) and run with; None: ours."""
        # Kept as text: reading needs no pathlib (see the imports).
        self._dir = os.fspath(config_dir)
        self._file = os.path.join(self._dir, CONFIG_FILE)
        self.env = env

    @classmethod
    def default(cls, env: Mapping[str, str]) -> "CredentialStore":
        """`$DOCKER_CONFIG`, else `$HOME/.docker` (the password database's home without HOME)."""
        configured = env.get("DOCKER_CONFIG")
        if configured:
            return cls(configured, env=env)
        home = env.get("HOME")
        if not home:
            import pwd

            home = pwd.getpwuid(os.getuid()).pw_dir
        return cls(os.path.join(home, ".docker"), env=env)

    @property
    def config_dir(self) -> Path:
        from pathlib import Path

        return Path(self._dir)

    @property
    def path(self) -> Path:
        from pathlib import Path

        return Path(self._file)

    def detach_keys(self) -> str:
        """The file's detachKeys: the docker CLI's detach keys when --detach-keys is not given
        ("" when unset)."""
        value = self._load().get("detachKeys")
        return value if isinstance(value, str) else ""

    def file_username(self, key: str) -> str:
        """The user of the file's `auths` entry under exactly `key` (its `auth` decoded), no
        helper asked: the docker CLI 20.10's ConfigFile().AuthConfigs[key].Username, which its
        `info` prints ("" when there is none)."""
        auths = _auths(self._load(), self._file)
        return _decode_entry(self._file, key, auths[key]).username if key in auths else ""

    def helper_for(self, server: str) -> str | None:
        """The helper name that keeps `server`'s credentials, None when the file does."""
        return self._helper(self._load(), config_key(server))

    def get(self, server: str) -> Credentials | None:
        """The stored credentials for `server` (any spelling), None when there are none."""
        key = config_key(server)
        doc = self._load()
        auths = _auths(doc, self._file)
        found = _find(auths, key)
        creds = _decode_entry(self._file, found, auths[found]) if found else Credentials()
        helper = self._helper(doc, key)
        if helper:
            # docker's native store: the secret comes from the helper, anything else (a registry
            # token) from the file entry.
            secret = self._helper_get(helper, key) or Credentials()
            creds = creds.replace(username=secret.username, password=secret.password,
                                  identity_token=secret.identity_token)
        return None if creds.empty else creds

    def get_all(self, warn: Callable[[str], None] | None = None) -> dict[str, dict[str, str]]:
        """Every registry's auth config, as docker's GetAllCredentials gives them (the docker CLI
        sends them with a classic build, in X-Registry-Config): registry -> docker's AuthConfig
        as JSON (`username`, `password`, `email`, `serveraddress`, `identitytoken`,
        `registrytoken`; empty ones left out, `auth` always empty: it is decoded).

        Without a default helper, every `auths` entry under its key as written (legacy ones
        too), `serveraddress` that key. With one (`credsStore` or the platform default), what
        the helper lists instead (`list`, then `get` each: a failure there fails the call, as in
        docker), with the email and registry token of an `auths` entry of the same key. Then
        every `credHelpers` registry through its own helper (the file for an empty name), over
        the default helper's entry; one whose helper fails is left out and told to `warn`."""
        doc = self._load()
        auths = _auths(doc, self._file)
        files = {key: _file_auth_config(self._file, key, entry) for key, entry in auths.items()}
        default = self._default_helper(doc)
        if default is None:
            found = files
        else:
            found = {}
            for server in self._helper_list(default):
                secret = self._helper_get(default, server)
                config = dict(files.get(server) or _auth_config())
                if not config["serveraddress"] and secret:
                    config["serveraddress"] = server
                found[server] = _with_secret(config, secret)
        for host, helper in (doc.get("credHelpers") or {}).items():
            stored = _find(auths, host)
            config = dict(files[stored]) if stored else _auth_config()
            if helper:
                try:
                    secret = self._helper_get(helper, host)
                except DockyardError as exc:
                    if warn is not None:
                        warn(f"Failed to get credentials for registry: {host}: {exc}")
                    continue
                # docker's native Get: the address is the helper's answer (none when not found)
                config = _with_secret({**config, "serveraddress": host if secret else ""}, secret)
            found[host] = config
        return {server: {k: v for k, v in config.items() if v} for server, config in found.items()}

    def store(self, server: str, creds: Credentials) -> None:
        """Keep `creds` for `server`: in its helper when one is configured, else in the file.
        With a helper the file entry is `{}` (plus a registry token, as docker keeps it there);
        credentials holding nothing but a registry token are not sent to the helper."""
        if ":" in creds.username:
            raise InvalidParameter("a username must not contain ':' (config.json keeps user:password)")
        key = config_key(server)
        with self._locked():
            doc = self._load()
            helper = self._helper(doc, key)
            if helper:
                if creds.username or creds.password or creds.identity_token:
                    self._helper_store(helper, key, creds)
                entry: dict[str, Any] = {}
                if creds.registry_token:
                    entry["registrytoken"] = creds.registry_token
            else:
                entry = _encode_entry(creds)
            auths = _auths(doc, self._file)
            add_store = helper is not None and not doc.get("credsStore") and not _helper_named(doc, key)
            if auths.get(key) == entry and not add_store and isinstance(doc.get("auths"), dict):
                return  # unchanged: docker leaves the file alone too
            auths[key] = entry
            _put(doc, "auths", dict(sorted(auths.items())))
            if add_store:
                _put(doc, "credsStore", helper)   # the platform default docker detected and keeps
            self._save(doc)

    def erase(self, server: str) -> bool:
        """Forget `server`'s credentials (also under legacy keys); False when nothing was stored."""
        key = config_key(server)
        with self._locked(create=False):
            doc = self._load()
            erased = False
            helper = self._helper(doc, key)
            if helper:
                erased = self._helper_erase(helper, _erase_addresses(server, key))
            auths = _auths(doc, self._file)
            gone = [k for k in auths if k == key or convert_to_hostname(k) == key]
            if gone:
                for k in gone:
                    del auths[k]
                _put(doc, "auths", auths)
                self._save(doc)
                erased = True
            return erased

    # -- the file ------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        path = self._file
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_CONFIG_SIZE + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise DockyardError(f"loading config file: {path}: {exc.strerror or exc}") from None
        if len(data) > MAX_CONFIG_SIZE:
            raise InvalidParameter(f"error parsing config file {path}: larger than {MAX_CONFIG_SIZE} bytes")
        if not data.strip():
            return {}   # docker reads an empty file as an empty configuration
        try:
            # UTF-8 only, as Go reads it (json.loads on bytes would also take UTF-16/32)
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParameter(f"error parsing config file {path}: invalid JSON: not UTF-8") from None
        try:
            doc = loads(text, constants=False)  # json's C scanner, without loading json
        except ValueError:
            doc = self._json_error(text)
        if not isinstance(doc, dict):
            raise InvalidParameter(f"error parsing config file {path}: invalid JSON: not an object")
        if doc.get("credsStore") is not None and not isinstance(doc["credsStore"], str):
            raise InvalidParameter(f'error parsing config file {path}: "credsStore" must be a string')
        helpers = doc.get("credHelpers")
        if helpers is not None and (not isinstance(helpers, dict)
                                    or not all(isinstance(v, str) for v in helpers.values())):
            raise InvalidParameter(f'error parsing config file {path}: "credHelpers" must map '
                                   "registries to helper names")
        _auths(doc, path)
        return doc

    def _json_error(self, text: str) -> dict[str, Any]:
        """Why json.loads refuses `text` (a file the light reader refused), as InvalidParameter."""
        import json

        path = self._file
        try:
            json.loads(text, parse_constant=reject_constant)
        except json.JSONDecodeError as exc:
            raise InvalidParameter(f"error parsing config file {path}: invalid JSON: {exc.msg} "
                                   f"(line {exc.lineno} column {exc.colno})") from None
        except ValueError as exc:
            raise InvalidParameter(f"error parsing config file {path}: invalid JSON: {exc}") from None
        raise AssertionError("json.loads read what its C scanner refused")  # gojson.loads is json.loads

    def _save(self, doc: dict[str, Any]) -> None:
        from pathlib import Path

        from dockyard.atomic import atomic_file

        _make_dirs(self.config_dir)
        # Like docker: write through a symlinked config.json (even a dangling one) and keep an
        # existing file's mode and owner.
        target = Path(os.path.realpath(self._file))
        try:
            st = os.stat(target)
            mode, owner = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
        except FileNotFoundError:
            mode, owner = 0o600, None
        try:
            with atomic_file(target, mode=mode) as f:
                if owner is not None and owner != (os.geteuid(), os.getegid()):
                    try:
                        os.fchown(f.fileno(), *owner)
                    except PermissionError:
                        pass
                f.write(go_json(doc, indent="\t"))
        except OSError as exc:
            raise DockyardError(f"error saving credentials: {target}: {exc.strerror or exc}") from None

    def _locked(self, *, create: bool = True) -> AbstractContextManager[None]:
        """Serialize read-modify-write of config.json between processes (flock on the directory,
        so no lock file lands in the user's config directory). Without `create`, a missing
        directory is left missing: there is no file to change. (contextlib, with collections and
        functools, only here: reading does not load it.)"""
        from contextlib import contextmanager

        return contextmanager(self._holding)(create)

    def _holding(self, create: bool) -> Iterator[None]:
        import fcntl

        if create:
            _make_dirs(self.config_dir)
        elif not os.path.isdir(self._dir):
            yield
            return
        try:
            fd = os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise DockyardError(f"config directory {self._dir}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- helpers -------------------------------------------------------------------------------

    def _helper(self, doc: dict[str, Any], key: str) -> str | None:
        helpers = doc.get("credHelpers") or {}
        if key in helpers:
            return helpers[key] or None   # an empty name pins the registry to the file
        return self._default_helper(doc)

    def _default_helper(self, doc: dict[str, Any]) -> str | None:
        """The helper of every registry without one of its own, None for the file."""
        if doc.get("credsStore"):
            return doc["credsStore"]
        if _contains_auth(doc):
            return None
        # docker on Linux: with no credentials configured at all, use `pass` when it is installed,
        # else `secretservice`, if that helper program exists.
        default = "pass" if self._which("pass") else "secretservice"
        return default if self._which(HELPER_PREFIX + default) else None

    def _which(self, program: str) -> str | None:
        env = os.environ if self.env is None else self.env
        return which(program, path=env.get("PATH", os.defpath))

    def _helper_json(self, helper: str, action: str, stdin: bytes, verb: str) -> Any:
        """The helper's JSON answer to `action`, or `_NOT_FOUND` when it says it has no
        credentials; Unavailable, worded as docker words it, when it fails or answers garbage."""
        err, out = self._run(helper, action, stdin)
        if err is not None:
            if out.strip() == NOT_FOUND_MESSAGE:
                return _NOT_FOUND
            raise Unavailable(_helper_message(verb, err, out))
        import json  # a helper's answer: the light reader's messages are not json's

        try:
            return json.loads(out)
        except ValueError as exc:
            raise Unavailable(f"error {verb} credentials - err: invalid JSON from "
                              f"{HELPER_PREFIX}{helper}: {exc}") from None

    def _helper_get(self, helper: str, key: str) -> Credentials | None:
        reply = self._helper_json(helper, "get", key.encode(), "getting")
        if reply is _NOT_FOUND:
            return None
        if not isinstance(reply, dict):
            raise Unavailable(f"error getting credentials - err: invalid reply from {HELPER_PREFIX}{helper}")
        fields = {str(k).lower(): v for k, v in reply.items()}   # Go decodes field names caselessly
        username, secret = fields.get("username") or "", fields.get("secret") or ""
        if not isinstance(username, str) or not isinstance(secret, str):
            raise Unavailable(f"error getting credentials - err: invalid reply from {HELPER_PREFIX}{helper}")
        if username == TOKEN_USERNAME:
            return Credentials(identity_token=secret)
        return Credentials(username=username, password=secret)

    def _helper_list(self, helper: str) -> list[str]:
        """The registries a helper keeps credentials for (`list`: a JSON object server -> user)."""
        reply = self._helper_json(helper, "list", b"unused", "listing")  # docker sends that stdin
        if reply is None or reply is _NOT_FOUND:
            return []
        if not isinstance(reply, dict) or not all(isinstance(v, str) for v in reply.values()):
            raise Unavailable(f"error listing credentials - err: invalid reply from {HELPER_PREFIX}{helper}")
        return list(reply)

    def _helper_store(self, helper: str, key: str, creds: Credentials) -> None:
        username, secret = creds.username, creds.password
        if creds.identity_token:
            username, secret = TOKEN_USERNAME, creds.identity_token

        payload = {"ServerURL": key, "Username": username, "Secret": secret}
        err, out = self._run(helper, "store", go_json(payload) + b"\n")
        if err is not None:
            raise Unavailable(_helper_message("storing", err, out))

    def _helper_erase(self, helper: str, addresses: list[str]) -> bool:
        """docker logout's erase: the key and its legacy spellings; True when one was erased.
        A failure is an error only when the key's own erase failed for another reason than
        "not found" and nothing was erased."""
        erased, first_error = False, None
        for i, address in enumerate(addresses):
            err, out = self._run(helper, "erase", address.encode())
            if err is None:
                erased = True
            elif i == 0 and out.strip() != NOT_FOUND_MESSAGE:
                first_error = _helper_message("erasing", err, out)
        if first_error is not None and not erased:
            raise Unavailable(first_error)
        return erased

    def _run(self, helper: str, action: str, stdin: bytes) -> tuple[str | None, str]:
        """Run `docker-credential-<helper> <action>`: (None, stdout) on success, else
        (the error as Go's os/exec words it, stdout). stderr goes where ours goes, as docker's."""
        import subprocess

        program = HELPER_PREFIX + helper
        path = self._which(program) if "/" not in program else program
        if path is None:
            return f'exec: "{program}": executable file not found in $PATH', ""
        env = None if self.env is None else dict(self.env)
        try:
            proc = subprocess.Popen([path, action], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    env=env, close_fds=True)
        except OSError as exc:
            return f"fork/exec {path}: {_go_errno_text(exc)}", ""
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(stdin)
        except BrokenPipeError:
            pass   # the helper did not read its input; its exit status tells
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        out = proc.stdout.read(MAX_HELPER_OUTPUT + 1)
        if len(out) > MAX_HELPER_OUTPUT:
            proc.kill()
        proc.stdout.close()
        code = proc.wait()
        text = out[:MAX_HELPER_OUTPUT].decode("utf-8", "replace")
        if len(out) > MAX_HELPER_OUTPUT:
            return f"output larger than {MAX_HELPER_OUTPUT} bytes", ""
        if code == 0:
            return None, text
        if code < 0:
            return f"signal: {_signal_text(-code)}", text
        return f"exit status {code}", text


# -- the pieces, without I/O -----------------------------------------------------------------------


def _auths(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """The `auths` object of a loaded file (a null or missing one reads as empty)."""
    auths = doc.get("auths")
    if auths is None:
        return {}
    if not isinstance(auths, dict) or not all(isinstance(v, dict) for v in auths.values()):
        raise InvalidParameter(f'error parsing config file {path}: "auths" must map registries to objects')
    return auths


def _find(auths: dict[str, Any], key: str) -> str | None:
    """The entry docker's file store uses for `key`: exact, else the first (in file order) whose
    legacy key (scheme, path) names the same host."""
    if key in auths:
        return key
    for stored in auths:
        if convert_to_hostname(stored) == key:
            return stored
    return None


def _decode_entry(path: str, key: str, entry: dict[str, Any]) -> Credentials:
    def text(name: str) -> str:
        value = entry.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise InvalidParameter(f'error parsing config file {path}: "{name}" of "{key}" must be a string')
        return value

    username, password = text("username"), text("password")
    auth = text("auth")
    if auth:
        # docker: "auth" (base64 of user:password) wins over the separate fields.
        try:
            # base64.b64decode(auth, validate=True)'s own steps, without base64 (which loads re)
            decoded = binascii.a2b_base64(auth.encode("ascii"), strict_mode=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidParameter(f'error parsing config file {path}: the "auth" of "{key}" is not '
                                   "base64 of user:password") from None
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            raise InvalidParameter(f'error parsing config file {path}: the "auth" of "{key}": '
                                   "invalid auth configuration file")
        password = password.strip("\x00")
    return Credentials(username=username, password=password,
                       identity_token=text("identitytoken"), registry_token=text("registrytoken"))


def _auth_config(username: str = "", password: str = "", email: str = "", server: str = "",
                 identity_token: str = "", registry_token: str = "") -> dict[str, str]:
    """docker's AuthConfig as its JSON names it, in its field order (`auth` is never set here)."""
    return {"username": username, "password": password, "email": email, "serveraddress": server,
            "identitytoken": identity_token, "registrytoken": registry_token}


def _file_auth_config(path: str, key: str, entry: dict[str, Any]) -> dict[str, str]:
    """An `auths` entry as docker loads it: `auth` decoded, the address set to its key."""
    creds = _decode_entry(path, key, entry)
    email = entry.get("email") or ""
    if not isinstance(email, str):
        raise InvalidParameter(f'error parsing config file {path}: "email" of "{key}" must be a string')
    return _auth_config(creds.username, creds.password, email, key, creds.identity_token, creds.registry_token)


def _with_secret(config: dict[str, str], secret: Credentials | None) -> dict[str, str]:
    """`config` with a helper's answer (None: not found) as its user, password and identity token."""
    secret = secret or Credentials()
    return {**config, "username": secret.username, "password": secret.password,
            "identitytoken": secret.identity_token}


def _encode_entry(creds: Credentials) -> dict[str, Any]:
    """The file entry docker writes: fields in its struct order, empty ones left out."""
    entry: dict[str, Any] = {}
    if creds.username or creds.password:
        entry["auth"] = binascii.b2a_base64(f"{creds.username}:{creds.password}".encode(), newline=False).decode()
    if creds.identity_token:
        entry["identitytoken"] = creds.identity_token
    if creds.registry_token:
        entry["registrytoken"] = creds.registry_token
    return entry


def _helper_named(doc: dict[str, Any], key: str) -> bool:
    return key in (doc.get("credHelpers") or {})


def _contains_auth(doc: dict[str, Any]) -> bool:
    """docker's ContainsAuth: a store, a helper or any entry configured."""
    return bool(doc.get("credsStore") or doc.get("credHelpers") or doc.get("auths"))


def _erase_addresses(server: str, key: str) -> list[str]:
    """What docker logout erases from a helper: the key, then the legacy spellings of a host."""
    if key == HUB_KEY:
        return [key]
    addresses = [key]
    for candidate in (server.strip(), "http://" + key, "https://" + key):
        if candidate and candidate not in addresses:
            addresses.append(candidate)
    return addresses


def _put(doc: dict[str, Any], name: str, value: Any) -> None:
    """Set a top-level key; a new one goes where docker's struct order puts it."""
    if name in doc:
        doc[name] = value
        return
    rank = _DOCKER_FIELD_ORDER.index(name)
    items = list(doc.items())
    at = 0
    for i, (k, _) in enumerate(items):
        if k in _DOCKER_FIELD_ORDER and _DOCKER_FIELD_ORDER.index(k) < rank:
            at = i + 1
    items.insert(at, (name, value))
    doc.clear()
    doc.update(items)


def _helper_message(verb: str, err: str, out: str) -> str:
    """docker-credential-helpers' client error, e.g. "error getting credentials - err: exit
    status 1, out: `...`"."""
    return f"error {verb} credentials - err: {err}, out: `{out.strip()}`"


def _make_dirs(path: Path) -> None:
    """Create `path` and missing parents with 0700, like docker's os.MkdirAll(dir, 0o700)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    try:
        for d in reversed(missing):
            try:
                d.mkdir(mode=0o700)
            except FileExistsError:
                pass
    except OSError as exc:
        raise DockyardError(f"config directory {path}: {exc.strerror or exc}") from None


def _go_errno_text(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def _signal_text(signum: int) -> str:
    import signal

    try:
        return (signal.strsignal(signum) or f"signal {signum}").lower()
    except ValueError:
        return f"signal {signum}"
