"""Registry credentials for both servers: the CLI's `login`/`logout` against docker's config.json
(credential helpers included), and the credentials an Engine API request carries (dockerd reads
no credentials file of its own: X-Registry-Auth for pull, push and /auth, X-Registry-Config for a
build's base images)."""

from __future__ import annotations

import os

from dockyard.dataclass import dataclass
from dockyard.engine.registry import RegistryAccess, login as check_credentials
from dockyard.errors import DockyardError
from dockyard.transport.registry.credentials import Credentials, CredentialStore, config_key
from dockyard.transport.registry.hosts import RegistrySettings

DEFAULT_SERVER = "https://index.docker.io/v1/"


@dataclass
class AuthConfig:
    """Docker's AuthConfig, as clients send it."""

    username: str = ""
    password: str = ""
    server: str = ""
    identity_token: str = ""
    registry_token: str = ""

    def credentials(self) -> Credentials:
        return Credentials(self.username, self.password, self.identity_token, self.registry_token)

    def to_docker(self) -> dict[str, str]:
        """As the docker CLI sends it (X-Registry-Auth, `POST /auth`): empty fields left out."""
        config = {"username": self.username, "password": self.password, "serveraddress": self.server,
                  "identitytoken": self.identity_token, "registrytoken": self.registry_token}
        return {key: value for key, value in config.items() if value}


def _settings() -> RegistrySettings:
    return RegistrySettings.load(os.environ)


# -- what a request carries ------------------------------------------------------------------------
def request_access(auth: AuthConfig) -> RegistryAccess:
    """Registries reached with the one set of credentials a pull or push request sent (if any)."""
    creds = auth.credentials()
    return RegistryAccess(_settings(), lambda key: None if creds.empty else creds)


def build_access(auths: dict[str, AuthConfig]) -> RegistryAccess:
    """Registries reached with the credentials a build request sent, by registry."""
    by_key = {config_key(server): auth.credentials() for server, auth in auths.items()}
    return RegistryAccess(_settings(), by_key.get)


def check_login(auth: AuthConfig) -> str:
    """`POST /auth`: the credentials checked against the registry, nothing kept."""
    return check_credentials(auth.server or DEFAULT_SERVER, auth.credentials(), _settings())


# -- the CLI's config.json ---------------------------------------------------------------------------
def login_with_saved(server: str) -> bool:
    """`docker login SERVER` without a user: the saved credentials, checked; False if none."""
    saved = CredentialStore.default(os.environ).get(server or DEFAULT_SERVER)
    if saved is None or saved.empty:
        return False
    check_credentials(server or DEFAULT_SERVER, saved, _settings())
    return True


def request_auth(name: str) -> str:
    """`X-Registry-Auth` as the docker CLI sends it with a pull or push of `name` through a
    daemon: the saved credentials of its registry (URL-safe base64 of Docker's AuthConfig JSON),
    "" when there are none (the daemon then goes anonymously)."""
    import base64
    import json

    from dockyard.reference import parse_reference

    domain = parse_reference(name).domain
    saved = saved_login(DEFAULT_SERVER if domain == "docker.io" else domain)
    if saved is None:
        return ""
    return base64.urlsafe_b64encode(json.dumps(saved.to_docker()).encode()).decode("ascii")


def client_detach_keys() -> str:
    """The config's detachKeys, the client's detach keys when --detach-keys is not given ("")."""
    return CredentialStore.default(os.environ).detach_keys()


def client_username(server: str) -> str:
    """The config file's user of `server` as the docker CLI's `info` shows it ("" for none, or
    for a file it cannot read: the docker CLI warns and goes on)."""
    try:
        return CredentialStore.default(os.environ).file_username(server)
    except DockyardError:
        return ""


def login(server: str, username: str, password: str) -> str:
    """Check the credentials against the registry, then save them; Docker's status line."""
    server = server or DEFAULT_SERVER
    status = check_credentials(server, Credentials(username=username, password=password), _settings())
    save_login(server, username, password)
    return status


def saved_login(server: str) -> AuthConfig | None:
    """The saved credentials of `server` as a request sends them (a client's login without a
    user: the daemon checks them), None if there are none."""
    server = server or DEFAULT_SERVER
    saved = CredentialStore.default(os.environ).get(server)
    if saved is None or saved.empty:
        return None
    return AuthConfig(saved.username, saved.password, server, saved.identity_token, saved.registry_token)


def save_login(server: str, username: str, password: str, identity_token: str = "") -> None:
    """Keep credentials a daemon checked (a client's login: `POST /auth` answered), as the
    docker CLI keeps them: an identity token instead of the password when the daemon gave one."""
    creds = Credentials(username=username, password="" if identity_token else password,
                        identity_token=identity_token)
    CredentialStore.default(os.environ).store(server or DEFAULT_SERVER, creds)


def logout(server: str) -> tuple[str, bool]:
    """Forget the saved credentials of `server`: its config.json key, and whether there were any."""
    server = server or DEFAULT_SERVER
    store = CredentialStore.default(os.environ)
    if store.get(server) is None:
        return config_key(server), False
    store.erase(server)
    return config_key(server), True
