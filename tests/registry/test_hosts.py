"""Which endpoints a registry gets (Docker's rules: 127.0.0.0/8 insecure by default, listed
names and CIDRs insecure, everything else HTTPS verified), and the daemon.json settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.errors import InvalidParameter
from dockyard.transport.registry.hosts import RegistrySettings


def test_loopback_is_insecure_by_default_others_are_not() -> None:
    s = RegistrySettings()
    assert s.is_insecure("127.0.0.1:5000") and s.is_insecure("127.5.6.7")
    assert s.is_insecure("localhost:5000")  # resolves to 127.0.0.1, as Docker looks it up
    assert not s.is_insecure("10.1.2.3:5000")
    eps = s.endpoints("127.0.0.1:5000")
    assert [(e.url, e.verify) for e in eps] == [("https://127.0.0.1:5000", False), ("http://127.0.0.1:5000", False)]
    (secure,) = s.endpoints("10.1.2.3:5000")
    assert secure.url == "https://10.1.2.3:5000" and secure.secure


def test_daemon_json_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "daemon.json"
    cfg.write_text(json.dumps({"insecure-registries": ["reg.internal:5000", "10.0.0.0/8"],
                               "certs-dir": str(tmp_path / "certs.d")}))
    s = RegistrySettings.load({"DOCKYARD_DAEMON_CONFIG": str(cfg)})
    assert s.is_insecure("reg.internal:5000") and not s.is_insecure("reg.internal:5001")
    assert s.is_insecure("10.9.9.9:443") and s.is_insecure("127.0.0.1:5000")
    assert s.certs_dirs == (tmp_path / "certs.d",)
    cfg.write_text(json.dumps({"loopback-insecure": False}))
    assert not RegistrySettings.load({"DOCKYARD_DAEMON_CONFIG": str(cfg)}).is_insecure("127.0.0.1:5000")
    assert RegistrySettings.load({"DOCKYARD_DAEMON_CONFIG": str(tmp_path / "absent.json")}) == RegistrySettings()


@pytest.mark.parametrize("text", ["{", "[]", '{"insecure-registries": "x"}'])
def test_bad_daemon_json_is_one_clear_error(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "daemon.json"
    cfg.write_text(text)
    with pytest.raises(InvalidParameter, match="invalid daemon configuration"):
        RegistrySettings.load({"DOCKYARD_DAEMON_CONFIG": str(cfg)})


def test_certs_dir_ca_and_client_cert_pairs(tmp_path: Path) -> None:
    from tests.registry.registryd import make_ca_and_cert

    ca, crt, key = make_ca_and_cert(tmp_path / "pki")
    host = tmp_path / "certs.d" / "reg:5000"
    host.mkdir(parents=True)
    (host / "ca.crt").write_bytes(ca.read_bytes())
    s = RegistrySettings(insecure=(), certs_dirs=(tmp_path / "certs.d",))
    ctx = s.tls_context("reg:5000")
    assert any(c["subject"] == ((("commonName", "dockyard test CA"),),) for c in ctx.get_ca_certs())
    (host / "client.key").write_bytes(key.read_bytes())  # a key without its certificate
    with pytest.raises(InvalidParameter, match="missing client certificate client.cert"):
        RegistrySettings(insecure=(), certs_dirs=(tmp_path / "certs.d",)).tls_context("reg:5000")
    (host / "client.cert").write_bytes(crt.read_bytes())
    RegistrySettings(insecure=(), certs_dirs=(tmp_path / "certs.d",)).tls_context("reg:5000")
