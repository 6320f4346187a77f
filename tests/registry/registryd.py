"""The real CNCF registry (Debian's `docker-registry`) for tests and benchmarks: plain HTTP,
htpasswd Basic auth, or TLS with a CA made here; killable and restartable on the same port and
storage; its access log parsed into (method, path, status)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca_and_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signs for IP 127.0.0.1 and DNS localhost."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, crt = (folder / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=dockyard test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(crt), "-days", "2", "-extfile", str(ext))
    return ca, crt, key


@dataclass
class RegistryServer:
    root: Path
    port: int = field(default_factory=free_port)
    tls: bool = False
    htpasswd: tuple[str, str] | None = None
    proc: subprocess.Popen | None = None
    ca_cert: Path | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    def _config(self) -> Path:
        lines = ["version: 0.1", "log:", "  level: info", "  accesslog:", "    disabled: false",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.root / 'data'}",
                 "  delete:", "    enabled: true", "  redirect:", "    disable: true",
                 "http:", f"  addr: {self.host}", "  secret: dockyard-test-secret"]
        if self.tls:
            if self.ca_cert is None:
                self.ca_cert, _, _ = make_ca_and_cert(self.root / "certs")
            lines += ["  tls:", f"    certificate: {self.root / 'certs' / 'server.crt'}",
                      f"    key: {self.root / 'certs' / 'server.key'}"]
        if self.htpasswd:
            user, password = self.htpasswd
            hp = self.root / "htpasswd"
            out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True).stdout
            hp.write_bytes(out)
            lines += ["auth:", "  htpasswd:", "    realm: dockyard-test", f"    path: {hp}"]
        config = self.root / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> "RegistryServer":
        self.root.mkdir(parents=True, exist_ok=True)
        config = self._config()
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=logf, stderr=logf)
        logf.close()
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"docker-registry did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request served so far, from the access log."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            m = _ACCESS.search(line)
            if m:
                out.append((m.group(1), m.group(2), int(m.group(3))))
        return out

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def env_without_proxy() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
