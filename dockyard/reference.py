"""Image references (`[domain/]path[:tag][@digest]`) parsed, normalized and validated as Docker does.

The grammar, the normalization (`busybox` -> `docker.io/library/busybox`) and the error messages
follow github.com/distribution/reference (regexp.go, reference.go, normalize.go) as vendored by the
docker CLI 28; each error message below is the one `docker pull <ref>` prints for that input.

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] remote-name
    domain     := host [":" port]          host: DNS-ish name, IPv4, or "[" IPv6 "]"
    remote-name:= path-component ("/" path-component)*   lowercase, separators . _ __ -+
    tag        := [\\w][\\w.-]{0,127}
    digest     := algorithm ":" hex{32,}
"""

from __future__ import annotations

from dockyard.errors import InvalidReference, go_quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.digest import Digest

# A client-mode CLI validates `-t` names with this module at every start, so it stays light: no
# dataclasses (inspect, ast, dis: ~8 ms to import), and dockyard.digest (a dataclass) only where a
# digest is parsed.

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
DEFAULT_REGISTRY_HOST = "registry-1.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

# The distribution/reference grammar, built from the same small pieces as regexp.go. Go's RE2 and
# Python's `re` agree on leftmost-first matching for these expressions; `\w` must be ASCII as in Go.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = r"(?:" + _DOMAIN_NAME + r"|" + _IPV6 + r")"
_DOMAIN_AND_PORT = _HOST + r"(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = r"(?:" + _DOMAIN_AND_PORT + r"/)?" + _REMOTE_NAME

# One expression splits a whole reference into domain, path, tag and digest (the name's own split is
# the one Go's anchored name expression finds: both try the domain first, leftmost-first). It and
# the others are compiled on first use (re's cache): most commands never need them (compiling this
# one took ~0.5 ms), and a Docker Hub name with a tag is split without it (_split_plain).
_REFERENCE = (r"((?:(" + _DOMAIN_AND_PORT + r")/)?(" + _REMOTE_NAME + r"))(?::(" + _TAG + r"))?(?:@("
              + _DIGEST + r"))?")
_HEX_DIGITS = "0123456789abcdef"
_ALNUM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_PATH_CHARS = _ALNUM_CHARS | frozenset("._-/")
_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")

# go-digest: registered algorithms and the exact form of their encoded part.
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}

ERR_INVALID_FORMAT = "invalid reference format"
ERR_NAME_UPPERCASE = "repository name must be lowercase"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_NAME_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
ERR_TAG_FORMAT = "invalid tag format"
ERR_DIGEST_FORMAT = "invalid checksum digest format"
ERR_DIGEST_LENGTH = "invalid checksum digest length"
ERR_DIGEST_UNSUPPORTED = "unsupported digest algorithm"


class Reference:
    """A normalized, validated image reference. `domain` is never empty once normalized.
    An immutable value (equal and hashed by its four parts), written out rather than a dataclass
    to keep this module light (see above)."""

    __slots__ = ("domain", "path", "tag", "digest")
    domain: str
    path: str
    tag: str | None
    digest: Digest | None

    def __init__(self, domain: str, path: str, tag: str | None = None,
                 digest: Digest | None = None) -> None:
        for name, value in (("domain", domain), ("path", path), ("tag", tag), ("digest", digest)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a Reference is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a Reference is immutable")

    def _parts(self) -> tuple[str, str, str | None, Digest | None]:
        return (self.domain, self.path, self.tag, self.digest)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Reference:
            return NotImplemented
        return self._parts() == other._parts()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._parts())

    def __repr__(self) -> str:
        return (f"Reference(domain={self.domain!r}, path={self.path!r}, tag={self.tag!r}, "
                f"digest={self.digest!r})")

    def __reduce__(self) -> tuple[type[Reference], tuple[str, str, str | None, Digest | None]]:
        return (Reference, self._parts())

    @property
    def name(self) -> str:
        """Fully qualified repository name: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """The short name the docker CLI shows: `busybox`, `user/x`, `localhost:5000/a/b`."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_REPO_PREFIX):
            rest = self.path[len(OFFICIAL_REPO_PREFIX):]
            if "/" not in rest:
                return rest
        return self.path

    @property
    def familiar(self) -> str:
        """The reference as the docker CLI prints it (FamiliarString)."""
        return self.familiar_name + self._suffix()

    @property
    def registry(self) -> str:
        """The host to talk to for the registry API (`docker.io` is served by registry-1)."""
        return DEFAULT_REGISTRY_HOST if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def repository_path(self) -> str:
        """The repository inside the registry (`library/busybox`): the `<name>` of `/v2/<name>/`."""
        return self.path

    @property
    def is_name_only(self) -> bool:
        return self.tag is None and self.digest is None

    def _suffix(self) -> str:
        out = ""
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + str(self.digest)
        return out

    def __str__(self) -> str:
        return self.name + self._suffix()

    def with_tag(self, tag: str) -> "Reference":
        """Same repository (and digest, as WithTag keeps it) with `tag`."""
        return Reference(self.domain, self.path, validate_tag(tag), self.digest)

    def with_digest(self, digest: Digest) -> "Reference":
        """Same repository (and tag, as WithDigest keeps it) pinned to `digest`."""
        import re  # see _parse_raw

        if not re.fullmatch(_DIGEST, str(digest), re.ASCII):
            raise InvalidReference("invalid digest format")
        return Reference(self.domain, self.path, self.tag, digest)

    def trimmed(self) -> "Reference":
        """The repository alone, without tag or digest (TrimNamed)."""
        return Reference(self.domain, self.path)

    def docker_ref(self) -> "Reference":
        """ParseDockerRef's form: digest wins over tag, `latest` added when neither is present."""
        if self.digest is not None:
            return Reference(self.domain, self.path, None, self.digest)
        if self.tag is None:
            return Reference(self.domain, self.path, DEFAULT_TAG)
        return self


def _parse_digest(text: str) -> Digest:
    """go-digest's Parse: the algorithm must be registered and the hex exactly its size."""
    algorithm, _, encoded = text.partition(":")
    size = _DIGEST_HEX_LENGTH.get(algorithm)
    if size is None:
        raise InvalidReference(ERR_DIGEST_UNSUPPORTED)
    if len(encoded) != size:
        raise InvalidReference(ERR_DIGEST_LENGTH)
    if not all(c in _HEX_DIGITS for c in encoded):  # [a-f0-9]+ (its size is above)
        raise InvalidReference(ERR_DIGEST_FORMAT)
    from dockyard.digest import Digest

    return Digest(algorithm, encoded)


def _parse_raw(text: str) -> Reference:
    """distribution/reference `Parse`: the grammar alone, no normalization (domain may be "")."""
    if text == "":
        raise InvalidReference(ERR_NAME_EMPTY)
    parts = _split_plain(text)
    if parts is None:
        # re is imported here, for a name _split_plain does not split: re (with enum) was a
        # fifth of a client-mode build's start, which checks `-t` names with this module
        import re

        match = re.fullmatch(_REFERENCE, text, re.ASCII)
        if match is None:
            lowered = text.lower()
            if lowered != text and re.fullmatch(_REFERENCE, lowered, re.ASCII):
                raise InvalidReference(ERR_NAME_UPPERCASE)
            raise InvalidReference(ERR_INVALID_FORMAT)
        parts = match.groups()[1:]
    domain, path, tag, digest_text = parts
    domain = domain or ""
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(ERR_NAME_TOO_LONG)
    digest = _parse_digest(digest_text) if digest_text else None
    return Reference(domain, path, tag, digest)


def _split_plain(text: str) -> tuple[str, str, str | None, None] | None:
    """(domain, path, tag, no digest) of `docker.io/PATH[:TAG]` whose path's components are runs
    of [a-z0-9] joined by single separators (`.`, `_`, `-`): what the expression finds in it, read
    without the expression (at every start, `-t` and FROM's names); None for anything else."""
    if not text.startswith("docker.io/"):
        return None
    path, colon, tag = text[10:].partition(":")
    if colon and not (0 < len(tag) <= 128 and tag[0] != "." and tag[0] != "-" and _TAG_CHARS.issuperset(tag)):
        return None
    if not _PATH_CHARS.issuperset(path):
        return None
    alnum = False  # the previous character was a letter or digit (the start counts as a separator)
    for c in path:
        if c in _ALNUM_CHARS:
            alnum = True
        elif not alnum:  # a separator (or /) first, after a separator, or after /: the expression's case
            return None
        else:
            alnum = False
    if not alnum:  # empty, or a separator last
        return None
    return DEFAULT_DOMAIN, path, tag if colon else None, None


def _split_docker_domain(text: str) -> tuple[str, str]:
    """normalize.go splitDockerDomain: decide whether the first component is a registry host."""
    first, slash, rest = text.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + text
    if first == "localhost":
        domain, remainder = first, rest
    elif first == LEGACY_DEFAULT_DOMAIN:
        domain, remainder = DEFAULT_DOMAIN, rest
    elif "." in first or ":" in first or first.lower() != first:
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, text
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str) -> Reference:
    """ParseNormalizedNamed: a familiar or full name to a normalized reference; no tag added."""
    if len(text) == 64 and not text.strip(_HEX_DIGITS):  # a 64-digit hex image ID
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        # distribution/reference as Docker 20.10 vendors it: no name in the message
        raise InvalidReference(f"{ERR_INVALID_FORMAT}: {ERR_NAME_UPPERCASE}")
    return _parse_raw(domain + "/" + remainder)


def parse_normalized(text: str) -> Reference:
    """TagNameOnly(ParseNormalizedNamed(text)): `busybox` -> `docker.io/library/busybox:latest`."""
    ref = parse_reference(text)
    if ref.is_name_only:
        return Reference(ref.domain, ref.path, DEFAULT_TAG)
    return ref


def parse_repository(text: str) -> Reference:
    """A name to tag an image with (`docker build -t`, `docker tag`): a digest is refused.

    Like the CLI's validateTag/ParseNormalizedNamed followed by TagNameOnly, so `-t x` means `x:latest`.
    """
    ref = parse_normalized(text)
    if ref.digest is not None:
        # docker tag: "refusing to create a tag with a digest reference"
        raise InvalidReference("refusing to create a tag with a digest reference")
    return ref


def parse_loaded_name(text: str, *, default_tag: bool = False) -> Reference:
    """A name an archive gives its image (`docker load`'s RepoTags, an OCI index's name
    annotations). A digest is a promise about content that only a verified manifest can make,
    never an archive's word: refused as Docker's load refuses `repo@sha256:...` (`invalid tag
    "..."`), and so is a name without a tag (Docker wants a reference.NamedTagged), unless
    `default_tag` (containerd's image name annotation may omit it: `:latest` is added)."""
    ref = parse_reference(text)
    if ref.digest is None and ref.tag is None and default_tag:
        return Reference(ref.domain, ref.path, DEFAULT_TAG)
    if ref.tag is None or ref.digest is not None:
        raise InvalidReference(f"invalid tag {go_quote(text)}")
    return ref


def validate_tag(tag: str) -> str:
    """A tag alone (`docker push --all-tags`, API `tag=`): same rule as in a reference."""
    import re  # see _parse_raw

    if not re.fullmatch(_TAG, tag, re.ASCII):
        raise InvalidReference(ERR_TAG_FORMAT)
    return tag
