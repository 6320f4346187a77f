"""Registry credentials for both servers: the CLI's `login`/`logout` against docker's config.json
(credential helpers included), and the credentials an Engine API request carries (dockerd reads
no credentials file of its own: X-Registry-Auth for pull, push and /auth, X-Registry-Config for a
build's base images)."""

from __future__ import annotations

import os

from dockyard.dataclass import dataclass
from dockyard.engine.registry import RegistryAccess, login as check_credentials
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


def client_detach_keys() -> str:
    """The config's detachKeys, the client's detach keys when --detach-keys is not given ("")."""
    return CredentialStore.default(os.environ).detach_keys()


def login(server: str, username: str, password: str) -> str:
    """Check the credentials against the registry, then save them; Docker's status line."""
    server = server or DEFAULT_SERVER
    creds = Credentials(username=username, password=password)
    status = check_credentials(server, creds, _settings())
    CredentialStore.default(os.environ).store(server, creds)
    return status


def logout(server: str) -> tuple[str, bool]:
    """Forget the saved credentials of `server`: its config.json key, and whether there were any."""
    server = server or DEFAULT_SERVER
    store = CredentialStore.default(os.environ)
    if store.get(server) is None:
        return config_key(server), False
    store.erase(server)
    return config_key(server), True
