"""Credentials in docker's config.json and in docker-credential helpers.

Golden bytes below were produced by the real docker CLI 28.2.2 (`DOCKER_CONFIG=dir docker login
127.0.0.1:5799 -u alice -p ...` against a local registry, client-side login); the helpers are real
programs (`docker-credential-<name>` scripts on a PATH given to the store), speaking the
docker-credential-helpers protocol.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dockyard.errors import DockyardError, InvalidParameter, Unavailable
from dockyard.transport.registry.credentials import (
    HUB_KEY,
    Credentials,
    CredentialStore,
    config_key,
    convert_to_hostname,
)

# `docker login 127.0.0.1:5799 -u alice -p 's3cr&t<>'` into an empty DOCKER_CONFIG wrote exactly this
# (tabs, Go's \u0026-style escaping is not needed inside base64, no final newline).
DOCKER_FRESH_LOGIN = (b'{\n\t"auths": {\n\t\t"127.0.0.1:5799": {\n\t\t\t"auth": "YWxpY2U6czNjciZ0PD4="'
                      b'\n\t\t}\n\t}\n}')

# `docker login 127.0.0.1:5799 -u bob -p 'pé'` over EXISTING_FILE wrote this: auths sorted, the
# other entries kept (with docker's legacy "email"), HttpHeaders' `<`/`>` escaped the Go way,
# non-ASCII as UTF-8, the file's mode (0644) kept.
EXISTING_FILE = (b'{"auths": {"zz.example": {"auth": "dTpw"}, "aa.example": {"auth": "dTpw", "email": "e@x"}},'
                 b' "HttpHeaders": {"X-A": "<b>"}, "psFormat": "x"}')
DOCKER_AFTER_EXISTING = (
    '{\n\t"auths": {\n\t\t"127.0.0.1:5799": {\n\t\t\t"auth": "Ym9iOnDDqQ=="\n\t\t},\n'
    '\t\t"aa.example": {\n\t\t\t"auth": "dTpw",\n\t\t\t"email": "e@x"\n\t\t},\n'
    '\t\t"zz.example": {\n\t\t\t"auth": "dTpw"\n\t\t}\n\t},\n'
    '\t"HttpHeaders": {\n\t\t"X-A": "\\u003cb\\u003e"\n\t},\n\t"psFormat": "x"\n}').encode()

# With `{"credsStore":"rec"}`, docker login sent the helper this on `store` and wrote this file.
DOCKER_HELPER_STORE_INPUT = b'{"ServerURL":"127.0.0.1:5799","Username":"bob","Secret":"pw"}\n'
DOCKER_HELPER_FILE = b'{\n\t"auths": {\n\t\t"127.0.0.1:5799": {}\n\t},\n\t"credsStore": "rec"\n}'


# -- fixtures ------------------------------------------------------------------------------------


class Helpers:
    """A bin directory for docker-credential-* programs, and the environment that finds them."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.keychain = root / "keychain.json"
        self.log = root / "helper.log"
        self.env = {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(root / "home")}

    def script(self, name: str, text: str) -> Path:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)
        return path

    def keychain_helper(self, name: str) -> None:
        """A working helper keeping credentials in a JSON file, logging every call."""
        self.script(f"docker-credential-{name}", f"""#!{sys.executable}
import json, os, sys
db_path, log_path = {str(self.keychain)!r}, {str(self.log)!r}
action, data = sys.argv[1], sys.stdin.read()
with open(log_path, "a") as log:
    log.write(json.dumps({{"helper": {name!r}, "action": action, "stdin": data}}) + "\\n")
db = json.load(open(db_path)) if os.path.exists(db_path) else {{}}
if action == "store":
    c = json.loads(data)
    db[c["ServerURL"]] = [c["Username"], c["Secret"]]
elif action == "get":
    if data not in db:
        print("credentials not found in native keychain"); sys.exit(1)
    user, secret = db[data]
    print(json.dumps({{"ServerURL": data, "Username": user, "Secret": secret}}))
elif action == "list":
    print(json.dumps({{server: user for server, (user, _) in db.items()}}))
elif action == "erase":
    if data not in db:
        print("credentials not found in native keychain"); sys.exit(1)
    del db[data]
json.dump(db, open(db_path, "w"))
""")

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def secrets(self) -> dict:
        return json.loads(self.keychain.read_text()) if self.keychain.exists() else {}


@pytest.fixture
def helpers(tmp_path: Path) -> Helpers:
    return Helpers(tmp_path)


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    return tmp_path / "cfg" / "docker"   # neither exists yet


@pytest.fixture
def store(cfg_dir: Path, helpers: Helpers) -> CredentialStore:
    return CredentialStore(cfg_dir, env=helpers.env)


def write_config(cfg_dir: Path, doc: dict | bytes) -> Path:
    cfg_dir.mkdir(parents=True, exist_ok=True)
    path = cfg_dir / "config.json"
    path.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    return path


def read_config(cfg_dir: Path) -> dict:
    return json.loads((cfg_dir / "config.json").read_bytes())


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("server, key", [
    # docker keeps Docker Hub under its historical index address, in every spelling
    ("docker.io", HUB_KEY),
    ("index.docker.io", HUB_KEY),
    ("registry-1.docker.io", HUB_KEY),
    ("https://index.docker.io/v1/", HUB_KEY),
    ("https://registry-1.docker.io/v2/", HUB_KEY),
    ("", HUB_KEY),
    # anything else: host[:port], scheme and path stripped (docker's ConvertToHostname)
    ("https://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
    ("http://registry.example/v1/", "registry.example"),
    ("localhost:5000", "localhost:5000"),
    ("localhost:5000/some/repo", "localhost:5000"),
    ("Registry.Example:443", "Registry.Example:443"),   # case kept, as docker does
    ("https://[::1]:5000/v2/", "[::1]:5000"),
    ("https://user@host:1/x", "host:1"),
])
def test_config_key(server: str, key: str) -> None:
    assert config_key(server) == key


def test_convert_to_hostname_keeps_a_hub_url_a_host() -> None:
    # docker's file store never matches the hub key loosely: its host form is index.docker.io
    assert convert_to_hostname(HUB_KEY) == "index.docker.io"


# -- the file ------------------------------------------------------------------------------------


def test_fresh_store_writes_what_docker_login_writes(store: CredentialStore, cfg_dir: Path) -> None:
    store.store("127.0.0.1:5799", Credentials(username="alice", password="s3cr&t<>"))
    assert (cfg_dir / "config.json").read_bytes() == DOCKER_FRESH_LOGIN
    # docker: os.MkdirAll(dir, 0700) for every missing directory, the file 0600
    assert stat.S_IMODE(cfg_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(cfg_dir.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((cfg_dir / "config.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in cfg_dir.iterdir()) == ["config.json"]   # no temp file left


def test_round_trip_get_erase(store: CredentialStore, cfg_dir: Path) -> None:
    creds = Credentials(username="alice", password="pa:ss wörd")
    store.store("https://127.0.0.1:5000/v2/", creds)
    assert list(read_config(cfg_dir)["auths"]) == ["127.0.0.1:5000"]
    assert store.get("127.0.0.1:5000") == creds
    assert store.get("http://127.0.0.1:5000") == creds
    assert store.get("127.0.0.1:5001") is None
    assert store.erase("127.0.0.1:5000") is True
    assert store.get("127.0.0.1:5000") is None
    assert store.erase("127.0.0.1:5000") is False
    # docker logout leaves an empty auths object behind
    assert (cfg_dir / "config.json").read_bytes() == b'{\n\t"auths": {}\n}'


def test_missing_file_reads_as_no_credentials(store: CredentialStore, cfg_dir: Path) -> None:
    assert store.get("docker.io") is None
    assert store.erase("docker.io") is False
    assert not cfg_dir.exists()   # reading and a no-op erase create nothing


def test_identity_token_is_kept_as_docker_login_keeps_it(store: CredentialStore, cfg_dir: Path) -> None:
    # docker login with an identity token in the response: Password blanked, IdentityToken set,
    # so "auth" is base64("user:") next to "identitytoken"
    store.store("reg.example", Credentials(username="u", identity_token="refresh-tok"))
    assert read_config(cfg_dir)["auths"]["reg.example"] == {"auth": b64("u:"), "identitytoken": "refresh-tok"}
    assert store.get("reg.example") == Credentials(username="u", identity_token="refresh-tok")


def test_registry_token_round_trip(store: CredentialStore, cfg_dir: Path) -> None:
    store.store("reg.example", Credentials(registry_token="bearer-xyz"))
    assert read_config(cfg_dir)["auths"]["reg.example"] == {"registrytoken": "bearer-xyz"}
    assert store.get("reg.example") == Credentials(registry_token="bearer-xyz")


def test_docker_hub_key(store: CredentialStore, cfg_dir: Path) -> None:
    store.store("docker.io", Credentials(username="hubuser", password="hubpw"))
    assert list(read_config(cfg_dir)["auths"]) == [HUB_KEY]
    for spelling in ("docker.io", "index.docker.io", "registry-1.docker.io", HUB_KEY):
        assert store.get(spelling) == Credentials(username="hubuser", password="hubpw")
    assert store.get("index.docker.io.example") is None
    assert store.erase("index.docker.io") is True
    assert read_config(cfg_dir)["auths"] == {}


def test_existing_file_matches_docker_bytes(store: CredentialStore, cfg_dir: Path) -> None:
    path = write_config(cfg_dir, EXISTING_FILE)
    path.chmod(0o644)
    store.store("127.0.0.1:5799", Credentials(username="bob", password="pé"))
    assert path.read_bytes() == DOCKER_AFTER_EXISTING
    assert stat.S_IMODE(path.stat().st_mode) == 0o644   # docker copies the old file's mode


def test_other_keys_are_kept(store: CredentialStore, cfg_dir: Path) -> None:
    original = {
        "zeta": {"b": 1, "a": [1, 2.5, None, True]},
        "auths": {"other.example": {"auth": b64("o:p"), "email": "e@x", "future": 7}},
        "credHelpers": {"gcr.example": ""},
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        "HttpHeaders": {"User-Agent": "kept", "X-Meta": "v"},
        "detachKeys": "",
    }
    write_config(cfg_dir, original)
    store.store("reg.example", Credentials(username="u", password="p"))
    after = read_config(cfg_dir)
    # every key and value other than the one entry is untouched, in the file's own order
    assert list(after) == list(original)
    assert after["auths"] == {"other.example": original["auths"]["other.example"],
                              "reg.example": {"auth": b64("u:p")}}
    assert {k: v for k, v in after.items() if k != "auths"} == {k: v for k, v in original.items() if k != "auths"}
    store.erase("reg.example")
    assert read_config(cfg_dir) == original


def test_auths_is_added_first_as_docker_orders_it(store: CredentialStore, cfg_dir: Path) -> None:
    write_config(cfg_dir, {"psFormat": "table", "currentContext": "default"})
    store.store("r.example", Credentials(username="u", password="p"))
    assert list(read_config(cfg_dir)) == ["auths", "psFormat", "currentContext"]


def test_unchanged_store_does_not_rewrite(store: CredentialStore, cfg_dir: Path) -> None:
    store.store("r.example", Credentials(username="u", password="p"))
    inode = (cfg_dir / "config.json").stat().st_ino
    store.store("r.example", Credentials(username="u", password="p"))
    assert (cfg_dir / "config.json").stat().st_ino == inode   # docker skips the save too
    store.store("r.example", Credentials(username="u", password="q"))
    assert (cfg_dir / "config.json").stat().st_ino != inode   # replaced by rename, not rewritten


def test_username_password_fields_are_read(store: CredentialStore, cfg_dir: Path) -> None:
    # old config files keep username/password apart; "auth" wins when both are there (docker)
    write_config(cfg_dir, {"auths": {
        "a.example": {"username": "ua", "password": "pa"},
        "b.example": {"username": "ignored", "password": "ignored", "auth": b64("ub:pb\x00")},
        "c.example": {},
    }})
    assert store.get("a.example") == Credentials(username="ua", password="pa")
    assert store.get("b.example") == Credentials(username="ub", password="pb")
    assert store.get("c.example") is None


def test_loose_key_matching(store: CredentialStore, cfg_dir: Path) -> None:
    # docker's file store: a legacy key with scheme or path still matches its host
    write_config(cfg_dir, {"auths": {
        "https://127.0.0.1:5000": {"auth": b64("a:1")},
        "http://legacy.example/v1/": {"auth": b64("b:2")},
        "https://both.example/": {"auth": b64("old:x")},
        "both.example": {"auth": b64("new:y")},
        "https://index.docker.io/v1/": {"auth": b64("hub:h")},
    }})
    assert store.get("127.0.0.1:5000") == Credentials(username="a", password="1")
    assert store.get("https://legacy.example/v2/") == Credentials(username="b", password="2")
    assert store.get("both.example") == Credentials(username="new", password="y")   # exact key wins
    assert store.get("docker.io") == Credentials(username="hub", password="h")
    # erase forgets every spelling that get would have matched
    assert store.erase("both.example") is True
    assert store.get("both.example") is None
    assert store.erase("127.0.0.1:5000") is True
    assert sorted(read_config(cfg_dir)["auths"]) == ["http://legacy.example/v1/", HUB_KEY]


def test_symlinked_config_is_written_through(store: CredentialStore, cfg_dir: Path, tmp_path: Path) -> None:
    # docker resolves a symlinked config.json (dotfiles managers) and replaces the target
    real = tmp_path / "dotfiles" / "docker-config.json"
    real.parent.mkdir()
    real.write_text('{"auths": {}}')
    cfg_dir.mkdir(parents=True)
    (cfg_dir / "config.json").symlink_to(real)
    store.store("r.example", Credentials(username="u", password="p"))
    assert (cfg_dir / "config.json").is_symlink()
    assert json.loads(real.read_text())["auths"]["r.example"] == {"auth": b64("u:p")}


def test_concurrent_stores_lose_nothing(cfg_dir: Path, helpers: Helpers) -> None:
    def one(i: int) -> None:
        CredentialStore(cfg_dir, env=helpers.env).store(f"r{i}.example", Credentials(username="u", password=str(i)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(read_config(cfg_dir)["auths"]) == sorted(f"r{i}.example" for i in range(16))


def test_username_with_colon_is_refused(store: CredentialStore, cfg_dir: Path) -> None:
    with pytest.raises(InvalidParameter, match="':'"):
        store.store("r.example", Credentials(username="a:b", password="p"))
    assert not (cfg_dir / "config.json").exists()


def test_credentials_are_an_immutable_value() -> None:
    creds = Credentials("u", "p", registry_token="t")
    assert creds == Credentials(username="u", password="p", registry_token="t") != Credentials("u")
    assert hash(creds) == hash(Credentials("u", "p", "", "t"))
    assert creds.replace(password="q") == Credentials("u", "q", "", "t") and creds.password == "p"
    with pytest.raises(AttributeError):
        creds.username = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        creds.replace(secret="x")


def test_credentials_repr_hides_secrets() -> None:
    text = repr(Credentials(username="alice", password="hunter2", identity_token="SECRET1", registry_token="SECRET2"))
    assert "alice" in text and "password=***" in text
    assert "hunter2" not in text and "SECRET1" not in text and "SECRET2" not in text
    assert Credentials().empty and not Credentials(registry_token="x").empty


@pytest.mark.parametrize("content, message", [
    (b"{not json", "config.json: invalid JSON: Expecting property name"),
    (b'{"auths": {"a": {"auth": "x"}}', "config.json: invalid JSON"),
    (b"[1, 2]", "config.json: invalid JSON: not an object"),
    (b'{"auths": NaN}', "config.json: invalid JSON"),
    (b"\xff\xfe{}", "config.json: invalid JSON: not UTF-8"),
    ('{"auths": {}}'.encode("utf-16"), "config.json: invalid JSON: not UTF-8"),   # Go reads UTF-8 only
    (b'\xef\xbb\xbf{"auths": {}}', "config.json: invalid JSON"),                # nor a BOM
    (b'{"auths": []}', '"auths" must map registries to objects'),
    (b'{"auths": {"r.example": "x"}}', '"auths" must map registries to objects'),
    (b'{"credsStore": 5}', '"credsStore" must be a string'),
    (b'{"credHelpers": {"r.example": 1}}', '"credHelpers" must map'),
])
def test_corrupt_config_is_a_clear_error(store: CredentialStore, cfg_dir: Path, content: bytes, message: str) -> None:
    path = write_config(cfg_dir, content)
    with pytest.raises(InvalidParameter) as info:
        store.get("r.example")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    # a file that cannot be parsed is never overwritten (docker's own issue 5075 is exactly that)
    for change in (lambda: store.store("r.example", Credentials(username="u", password="p")),
                   lambda: store.erase("r.example")):
        with pytest.raises(InvalidParameter):
            change()
        assert path.read_bytes() == content


@pytest.mark.parametrize("entry, message", [
    ({"auth": "!!!"}, 'the "auth" of "r.example" is not base64 of user:password'),
    ({"auth": b64("nocolon")}, "invalid auth configuration file"),
    ({"auth": b64(":nouser")}, "invalid auth configuration file"),
    ({"identitytoken": 5}, '"identitytoken" of "r.example" must be a string'),
])
def test_corrupt_entry_is_a_clear_error(store: CredentialStore, cfg_dir: Path, entry: dict, message: str) -> None:
    write_config(cfg_dir, {"auths": {"r.example": entry, "good.example": {"auth": b64("g:p")}}})
    with pytest.raises(InvalidParameter) as info:
        store.get("r.example")
    assert message in str(info.value) and "config.json" in str(info.value)
    # only that entry is unusable: others read, and a new login replaces the bad one
    assert store.get("good.example") == Credentials(username="g", password="p")
    store.store("r.example", Credentials(username="u", password="p"))
    assert store.get("r.example") == Credentials(username="u", password="p")


def test_empty_config_file_reads_as_empty(store: CredentialStore, cfg_dir: Path) -> None:
    write_config(cfg_dir, b"  \n")   # docker's decoder reads EOF as an empty configuration
    assert store.get("r.example") is None
    store.store("r.example", Credentials(username="u", password="p"))
    assert store.get("r.example") == Credentials(username="u", password="p")


def test_unreadable_config_is_an_error(store: CredentialStore, cfg_dir: Path) -> None:
    cfg_dir.mkdir(parents=True)
    (cfg_dir / "config.json").mkdir()   # a directory where the file should be: EISDIR even for root
    with pytest.raises(DockyardError, match="loading config file"):
        store.get("r.example")


def test_default_location(tmp_path: Path) -> None:
    assert CredentialStore.default({"DOCKER_CONFIG": str(tmp_path / "d"), "HOME": "/nope"}).path \
        == tmp_path / "d" / "config.json"
    assert CredentialStore.default({"HOME": str(tmp_path)}).path == tmp_path / ".docker" / "config.json"
    assert CredentialStore.default({"DOCKER_CONFIG": "", "HOME": str(tmp_path)}).config_dir == tmp_path / ".docker"


# -- credential helpers --------------------------------------------------------------------------


def test_helper_store_get_erase(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    helpers.keychain_helper("rec")
    write_config(cfg_dir, b'{"credsStore":"rec"}')
    store.store("127.0.0.1:5799", Credentials(username="bob", password="pw"))
    # what docker login sends the helper and leaves in the file, byte for byte
    assert helpers.calls() == [{"helper": "rec", "action": "store", "stdin": DOCKER_HELPER_STORE_INPUT.decode()}]
    assert (cfg_dir / "config.json").read_bytes() == DOCKER_HELPER_FILE
    assert b"pw" not in (cfg_dir / "config.json").read_bytes()
    assert helpers.secrets() == {"127.0.0.1:5799": ["bob", "pw"]}

    assert store.get("https://127.0.0.1:5799/v2/") == Credentials(username="bob", password="pw")
    assert helpers.calls()[-1] == {"helper": "rec", "action": "get", "stdin": "127.0.0.1:5799"}

    assert store.erase("127.0.0.1:5799") is True
    # docker logout asks the helper to erase the key and the legacy spellings of the host
    assert [c["stdin"] for c in helpers.calls() if c["action"] == "erase"] == [
        "127.0.0.1:5799", "http://127.0.0.1:5799", "https://127.0.0.1:5799"]
    assert helpers.secrets() == {}
    assert read_config(cfg_dir) == {"auths": {}, "credsStore": "rec"}
    assert store.get("127.0.0.1:5799") is None        # "credentials not found in native keychain"
    assert store.erase("127.0.0.1:5799") is False


def test_helper_identity_token(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    helpers.keychain_helper("rec")
    write_config(cfg_dir, {"credsStore": "rec"})
    store.store("r.example", Credentials(username="u", identity_token="refresh"))
    # docker's native store: an identity token travels as username "<token>"
    assert helpers.secrets() == {"r.example": ["<token>", "refresh"]}
    assert store.get("r.example") == Credentials(identity_token="refresh")
    assert read_config(cfg_dir)["auths"] == {"r.example": {}}


def test_cred_helpers_win_over_creds_store(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    helpers.keychain_helper("global")
    helpers.keychain_helper("special")
    write_config(cfg_dir, {"credsStore": "global",
                           "credHelpers": {"special.example": "special", "plain.example": ""}})
    store.store("special.example", Credentials(username="s", password="1"))
    store.store("other.example", Credentials(username="o", password="2"))
    store.store("plain.example", Credentials(username="p", password="3"))   # "" pins the file
    assert [(c["helper"], c["action"]) for c in helpers.calls()] == [("special", "store"), ("global", "store")]
    assert read_config(cfg_dir)["auths"] == {"other.example": {}, "plain.example": {"auth": b64("p:3")},
                                             "special.example": {}}
    assert store.helper_for("special.example") == "special"
    assert store.helper_for("plain.example") is None
    assert store.get("special.example") == Credentials(username="s", password="1")
    assert store.get("plain.example") == Credentials(username="p", password="3")


def test_helper_not_found_ignores_file_secrets(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    # docker's native store takes the secret from the helper only; a registry token stays in the file
    helpers.keychain_helper("rec")
    write_config(cfg_dir, {"credsStore": "rec", "auths": {
        "r.example": {"auth": b64("stale:pw")}, "t.example": {"registrytoken": "bt"}}})
    assert store.get("r.example") is None
    assert store.get("t.example") == Credentials(registry_token="bt")


def test_missing_helper_binary(store: CredentialStore, cfg_dir: Path) -> None:
    write_config(cfg_dir, {"credsStore": "x"})
    with pytest.raises(Unavailable) as info:
        store.get("r.example")
    # docker-credential-helpers' client wording around Go's exec error
    assert str(info.value) == ('error getting credentials - err: exec: "docker-credential-x": '
                               'executable file not found in $PATH, out: ``')
    with pytest.raises(DockyardError, match='error storing credentials - err: exec: "docker-credential-x"'):
        store.store("r.example", Credentials(username="u", password="p"))
    assert read_config(cfg_dir) == {"credsStore": "x"}   # nothing written when the helper failed


def test_failing_helper(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    helpers.script("docker-credential-broken", "#!/bin/sh\necho 'keychain is locked'\necho noise >&2\nexit 3\n")
    write_config(cfg_dir, {"credsStore": "broken", "auths": {"r.example": {}}})
    with pytest.raises(Unavailable) as info:
        store.get("r.example")
    assert str(info.value) == "error getting credentials - err: exit status 3, out: `keychain is locked`"
    with pytest.raises(Unavailable, match="error storing credentials - err: exit status 3"):
        store.store("r.example", Credentials(username="u", password="p"))
    with pytest.raises(Unavailable, match="error erasing credentials - err: exit status 3"):
        store.erase("r.example")
    assert read_config(cfg_dir)["auths"] == {"r.example": {}}


def test_helper_killed_by_signal(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    helpers.script("docker-credential-dies", "#!/bin/sh\nkill -9 $$\n")
    write_config(cfg_dir, {"credsStore": "dies"})
    with pytest.raises(Unavailable, match=r"err: signal: killed, out: ``"):
        store.get("r.example")


def test_helper_with_bad_output(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    helpers.script("docker-credential-garbage", "#!/bin/sh\necho 'not json'\n")
    write_config(cfg_dir, {"credsStore": "garbage"})
    with pytest.raises(Unavailable, match="invalid JSON from docker-credential-garbage"):
        store.get("r.example")


def test_helper_reply_fields_are_caseless(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    # Go's encoding/json matches field names caselessly, so docker accepts this reply
    helpers.script("docker-credential-lc", '#!/bin/sh\necho \'{"username": "u", "secret": "s"}\'\n')
    write_config(cfg_dir, {"credsStore": "lc"})
    assert store.get("r.example") == Credentials(username="u", password="s")


def test_default_store_is_detected_like_docker_on_linux(store: CredentialStore, cfg_dir: Path,
                                                        helpers: Helpers) -> None:
    # docker on Linux, with no credentials configured: `pass` if installed, else secretservice,
    # provided docker-credential-<that> exists; docker then writes credsStore into the file
    helpers.keychain_helper("secretservice")
    assert store.helper_for("r.example") == "secretservice"
    store.store("r.example", Credentials(username="u", password="p"))
    assert (cfg_dir / "config.json").read_bytes() == \
        b'{\n\t"auths": {\n\t\t"r.example": {}\n\t},\n\t"credsStore": "secretservice"\n}'
    assert helpers.secrets() == {"r.example": ["u", "p"]}
    helpers.script("pass", "#!/bin/sh\nexit 0\n")
    helpers.keychain_helper("pass")
    fresh = CredentialStore(cfg_dir.parent / "fresh", env=helpers.env)
    assert fresh.helper_for("r.example") == "pass"
    # once the file holds anything, no detection: a plain file entry stays in the file
    write_config(cfg_dir.parent / "plain", {"auths": {"x.example": {}}})
    assert CredentialStore(cfg_dir.parent / "plain", env=helpers.env).helper_for("r.example") is None


def test_helper_runs_with_the_given_environment(cfg_dir: Path, helpers: Helpers, tmp_path: Path) -> None:
    out = tmp_path / "seen-env"
    helpers.script("docker-credential-envy",
                   f'#!/bin/sh\necho "$MARKER" > {out}\necho "credentials not found in native keychain"\nexit 1\n')
    write_config(cfg_dir, {"credsStore": "envy"})
    env = {**helpers.env, "MARKER": "from-env"}
    assert CredentialStore(cfg_dir, env=env).get("r.example") is None
    assert out.read_text().strip() == "from-env"
    assert "MARKER" not in os.environ


# -- all credentials, as docker's GetAllCredentials -----------------------------------------------


def test_get_all_from_the_file(store: CredentialStore, cfg_dir: Path) -> None:
    """Every `auths` entry under its key as written; `auth` decoded; the address its key."""
    assert store.get_all() == {}   # no file
    write_config(cfg_dir, {"auths": {
        "r.example:5000": {"auth": b64("u:p"), "email": "e@x"},
        "https://legacy.example/v1/": {"username": "l", "password": "lp"},
        "empty.example": {},
        "tok.example": {"identitytoken": "it", "registrytoken": "rt"},
    }})
    assert store.get_all() == {
        "r.example:5000": {"username": "u", "password": "p", "email": "e@x", "serveraddress": "r.example:5000"},
        "https://legacy.example/v1/": {"username": "l", "password": "lp",
                                       "serveraddress": "https://legacy.example/v1/"},
        "empty.example": {"serveraddress": "empty.example"},
        "tok.example": {"serveraddress": "tok.example", "identitytoken": "it", "registrytoken": "rt"},
    }
    assert list(store.get_all()["r.example:5000"]) == ["username", "password", "email", "serveraddress"]


def test_get_all_from_helpers(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    """A default helper: what it lists (not the file's other entries), with the email and
    registry token of the file entry of the same key; then each credHelpers registry through
    its own helper, the file for an empty name, nothing found giving an empty config."""
    helpers.keychain_helper("global")
    helpers.keychain_helper("special")
    write_config(cfg_dir, {"credsStore": "global", "credHelpers": {
        "special.example": "special", "plain.example": "", "unknown.example": "special"}})
    store.store("a.example", Credentials(username="a", password="1"))
    store.store("tok.example", Credentials(identity_token="idt", registry_token="rt"))
    store.store("special.example", Credentials(username="s", password="2"))
    store.store("plain.example", Credentials(username="p", password="3"))
    doc = read_config(cfg_dir)
    doc["auths"]["a.example"] = {"email": "a@x"}
    doc["auths"]["https://fileonly.example"] = {"auth": b64("f:4")}
    write_config(cfg_dir, doc)
    assert store.get_all() == {
        "a.example": {"username": "a", "password": "1", "email": "a@x", "serveraddress": "a.example"},
        "tok.example": {"serveraddress": "tok.example", "identitytoken": "idt", "registrytoken": "rt"},
        "special.example": {"username": "s", "password": "2", "serveraddress": "special.example"},
        "plain.example": {"username": "p", "password": "3", "serveraddress": "plain.example"},
        "unknown.example": {},
    }
    # a registry listed by the default helper and with a helper of its own: its own one wins
    helpers.script("docker-credential-own", '#!/bin/sh\necho \'{"Username": "own", "Secret": "x"}\'\n')
    doc["credHelpers"]["a.example"] = "own"
    write_config(cfg_dir, doc)
    assert store.get_all()["a.example"] == {"username": "own", "password": "x", "email": "a@x",
                                            "serveraddress": "a.example"}


def test_get_all_with_failing_helpers(store: CredentialStore, cfg_dir: Path, helpers: Helpers) -> None:
    """As docker: a registry's own helper that fails leaves that registry out (and says so); a
    default helper that fails fails it all."""
    helpers.script("docker-credential-broken", "#!/bin/sh\necho 'keychain is locked'\nexit 3\n")
    write_config(cfg_dir, {"auths": {"r.example": {"auth": b64("u:p")}},
                           "credHelpers": {"b.example": "broken"}})
    warnings: list[str] = []
    assert store.get_all(warnings.append) == {
        "r.example": {"username": "u", "password": "p", "serveraddress": "r.example"}}
    assert warnings == ["Failed to get credentials for registry: b.example: error getting credentials - "
                        "err: exit status 3, out: `keychain is locked`"]
    write_config(cfg_dir, {"auths": {"r.example": {"auth": b64("u:p")}}, "credsStore": "broken"})
    with pytest.raises(Unavailable, match="error listing credentials - err: exit status 3"):
        store.get_all()
    helpers.script("docker-credential-garbage", "#!/bin/sh\necho '[1]'\n")
    write_config(cfg_dir, {"credsStore": "garbage"})
    with pytest.raises(Unavailable, match="invalid reply from docker-credential-garbage"):
        store.get_all()


def test_registry_config_header_is_go_s_json() -> None:
    """What the client sends: base64url of Go's json.Marshal (registries sorted, fields in the
    given order, `<`, `>`, `&`, U+2028 escaped, other non-ASCII as UTF-8)."""
    from dockyard.client.daemon import registry_config_header

    header = registry_config_header({"z.example": {"username": "u", "password": "<&>\u2028é"},
                                     "a.example": {}})
    assert base64.urlsafe_b64decode(header) == \
        '{"a.example":{},"z.example":{"username":"u","password":"\\u003c\\u0026\\u003e\\u2028é"}}'.encode()
    assert registry_config_header({}) == "e30="


# -- against the real docker CLI ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not (shutil.which("docker") and shutil.which("docker-registry")),
                    reason="needs the docker CLI and docker-registry")
def test_docker_cli_reads_and_writes_the_same_file(tmp_path: Path, helpers: Helpers) -> None:
    """`docker login` (client-side: no daemon) and dockyard write identical bytes; each reads
    the other's file (docker logout finds and removes dockyard's entry)."""
    port = _free_port()
    conf = tmp_path / "registry.yml"
    conf.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'reg'}\n"
                    f"http:\n  addr: 127.0.0.1:{port}\n")
    registry = subprocess.Popen(["docker-registry", "serve", str(conf)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.skip("local registry did not start")
                time.sleep(0.05)
        env = {**helpers.env, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock", "DOCKER_CONFIG": str(tmp_path / "by-docker")}
        server = f"127.0.0.1:{port}"
        subprocess.run(["docker", "login", server, "-u", "alice", "--password-stdin"], input="p&ss<wörd>".encode(),
                       env=env, check=True, capture_output=True, timeout=30)
        ours = CredentialStore(tmp_path / "by-dockyard", env=env)
        ours.store(server, Credentials(username="alice", password="p&ss<wörd>"))
        docker_bytes = (tmp_path / "by-docker" / "config.json").read_bytes()
        assert ours.path.read_bytes() == docker_bytes
        assert CredentialStore(tmp_path / "by-docker", env=env).get(server) == \
            Credentials(username="alice", password="p&ss<wörd>")
        env["DOCKER_CONFIG"] = str(tmp_path / "by-dockyard")
        out = subprocess.run(["docker", "logout", f"http://{server}/v2/"], env=env, check=True,
                             capture_output=True, timeout=30)
        assert f"Removing login credentials for {server}" in out.stdout.decode()
        assert ours.get(server) is None
    finally:
        registry.terminate()
        registry.wait(timeout=10)

