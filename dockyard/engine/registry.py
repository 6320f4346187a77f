"""Registry operations the CLI and the API server share: pull, push, login.

Messages follow Docker's: `latest: Pulling from library/busybox`, per-layer statuses,
`Digest: ...`, `Status: Downloaded newer image for busybox:latest`; for push
`The push refers to repository [...]`, per-layer statuses, `latest: digest: ... size: N`.
"""

from __future__ import annotations

from typing import Callable, Mapping

from dockyard.dataclass import dataclass
from dockyard.digest import Digest
from dockyard.errors import InvalidParameter, NotFound
from dockyard.image.manifest import Platform
from dockyard.reference import DEFAULT_DOMAIN, DEFAULT_REGISTRY_HOST, Reference, parse_normalized, parse_reference
from dockyard.store.events import Journal
from dockyard.store.store import Store
from dockyard.transport.copy import copy
from dockyard.transport.progress import Progress, ProgressSink
from dockyard.transport.registry.client import RegistryClient
from dockyard.transport.registry.credentials import Credentials, CredentialStore, config_key
from dockyard.transport.registry.hosts import RegistrySettings
from dockyard.transport.registry.sink import PushResult, RegistrySink
from dockyard.transport.registry.source import RegistrySource, tag_or_digest
from dockyard.transport.store import StoreSink, StoreSource


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach registries: TLS/insecure settings, and credentials by config.json key."""

    settings: RegistrySettings
    credentials: Callable[[str], Credentials | None]

    def client(self, ref: Reference) -> RegistryClient:
        return RegistryClient(ref.registry, self.settings, self.credentials(config_key(ref.domain)))


@dataclass(frozen=True)
class PullOutcome:
    """What a pull did."""

    references: list[Reference]   # what was pulled, fully qualified (the CLI prints them)


def pull(store: Store, name: str, access: RegistryAccess, *, platform: str | None = None,
         all_tags: bool = False, progress: ProgressSink) -> PullOutcome:
    ref = parse_reference(name)
    if all_tags and not ref.is_name_only:
        raise InvalidParameter("tag can't be used with --all-tags/-a")
    plat = Platform.parse(platform) if platform else None
    with access.client(ref) as client:
        if all_tags:
            refs = [ref.with_tag(t) for t in client.list_tags(ref.repository_path)]
        else:
            refs = [ref.docker_ref()]
        pulled = []
        changed = False
        for one in refs:
            source = RegistrySource(client, one, plat)
            # Docker says this once the manifest is known: a missing image fails before any output.
            progress(Progress("Pulling from " + one.repository_path, tag_or_digest(one)))
            with StoreSink(store, keep_compressed=True, refresh_tags=False) as sink:
                copy(source, sink, progress=progress)
            progress(Progress(f"Digest: {source.digest}"))
            stored = sink.stored[0]
            changed = changed or any(previous != stored.image_id for _, previous in stored.previous)
            pulled.append(one)
    shown = ref.familiar_name if all_tags else refs[0].familiar
    for one in pulled:
        Journal(store.root).emit("image", "pull", one.familiar, {"name": one.familiar})
    if changed:
        progress(Progress(f"Status: Downloaded newer image for {shown}"))
    else:
        progress(Progress(f"Status: Image is up to date for {shown}"))
    return PullOutcome(pulled if not all_tags else [ref])


def push(store: Store, name: str, access: RegistryAccess, *, all_tags: bool = False,
         progress: ProgressSink, compression: str | None = None) -> list[PushResult]:
    """Push one tag (or every tag of the repository with `all_tags`)."""
    ref = parse_reference(name)
    if all_tags and not ref.is_name_only:
        raise InvalidParameter("tag can't be used with --all-tags/-a")
    if ref.digest is not None:
        raise InvalidParameter("cannot push a digest reference")
    progress(Progress(f"The push refers to repository [{ref.name}]"))  # first, as Docker does
    if all_tags:
        entries = sorted((e for e in store.tags.entries()
                          if e.reference.name == ref.name and e.reference.tag and not e.reference.digest),
                         key=lambda e: str(e.reference))
        if not entries:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        targets = [(e.reference, e.image_id) for e in entries]
    else:
        one = ref.docker_ref()
        image_id = store.tags.get(one)
        if image_id is None or not store.records.exists(image_id):
            raise NotFound(f"An image does not exist locally with the tag: {one.familiar_name}")
        targets = [(one, image_id)]
    with access.client(ref) as client:
        results = [_push_one(store, client, target, image_id, progress, compression)
                   for target, image_id in targets]
    for target, _ in targets:
        Journal(store.root).emit("image", "push", target.familiar, {"name": target.familiar})
    return results


def _push_one(store: Store, client: RegistryClient, ref: Reference, image_id: Digest,
              progress: ProgressSink, compression: str | None) -> PushResult:
    sink = RegistrySink(client, ref, compression)
    with store.ingesting():  # a push remembers the compressed digests it makes
        copy(StoreSource(store, [(image_id, [ref])]), sink, progress=progress)
        result = sink.pushed[0]
        store.add_repo_digest(image_id, ref, result.manifest)  # the repository digest, as Docker keeps it
    progress(Progress(f"{result.tag}: digest: {result.digest} size: {result.size}"))
    return result


def default_access(env: Mapping[str, str]) -> RegistryAccess:
    """The CLI's way: settings from the daemon config, credentials from docker's config.json."""
    return RegistryAccess(RegistrySettings.load(env), CredentialStore.default(env).get)


def image_puller(store: Store, access: RegistryAccess) -> Callable[[str, Callable[[str], None]], Digest]:
    """For the builder: pull `name`, printing Docker's plain status lines; returns its image ID."""
    def pull_named(name: str, line: Callable[[str], None]) -> Digest:
        def show(event: Progress) -> None:
            if event.current is None:
                line(event.line)

        ref = parse_normalized(name)
        pull(store, str(ref), access, progress=show)
        return store.resolve(str(ref))
    return pull_named


def login(server: str, credentials: Credentials, settings: RegistrySettings) -> str:
    """Check credentials against a registry, as `docker login` does; returns Docker's status."""
    host = _login_host(server)
    with RegistryClient(host, settings, credentials) as client:
        client.login()
    return "Login Succeeded"


def _login_host(server: str) -> str:
    """The host to ask: Docker Hub's index key means its registry host."""
    key = config_key(server)
    return DEFAULT_REGISTRY_HOST if key == config_key(DEFAULT_DOMAIN) else key
