"""--dns-search and --dns as the docker CLI takes them (opts.ValidateDNSSearch,
ValidateIPAddress: the CLI refuses, dockerd takes any value): dockyard's own CLI sent any
search domain. The refusals print the docker CLI's words (one `Error:` line); the values taken
are sent as it sends them (spaces trimmed, a final dot dropped, an address in its canonical
form). Debian's docker CLI 20.10 against both engines, dockyard's own CLI as a client of serve."""

from __future__ import annotations

from tests.interop.conftest import Engine

BAD = [("--dns-search", "-bad"), ("--dns-search", "a..b"), ("--dns-search", "123"),
       ("--dns-search", "a_b"), ("--dns-search", "a" * 260), ("--dns", "notanip"), ("--dns", "1.2.3.4 5")]
GOOD = [("--dns-search", " x "), ("--dns-search", "example.com."), ("--dns-search", "."),
        ("--dns-search", ":a"), ("--dns", " 1.2.3.4"), ("--dns", "::0001")]


def test_dns_flags(engine: Engine) -> None:
    dockyard = engine.own_cli if engine.name == "dockyard" else None
    own = dockyard.argv("-H", engine.host) if dockyard else None
    for flag, value in BAD:
        docker = engine.docker("create", f"{flag}={value}", "busybox", "true", check=False)
        assert docker.returncode != 0
        if own:
            r = dockyard.run("-H", engine.host, "create", f"{flag}={value}", "busybox", "true", check=False)
            assert r.returncode != 0
            assert r.stderr == f"Error: {docker.stderr.decode().splitlines()[0]}\n"
    created = []
    try:
        for flag, value in GOOD:
            cid = engine.docker("create", f"{flag}={value}", "busybox", "true").stdout.decode().strip()
            created.append(cid)
            key = "{{json .HostConfig.DnsSearch}} {{json .HostConfig.Dns}}"
            sent = engine.docker("inspect", "-f", key, cid).stdout
            if own:
                cid = dockyard.run("-H", engine.host, "create", f"{flag}={value}", "busybox", "true").stdout.strip()
                created.append(cid)
                assert engine.docker("inspect", "-f", key, cid).stdout == sent, (flag, value)
    finally:
        if created:
            engine.docker("rm", *created, check=False)


def test_a_network_with_dns_answers_whatever_the_dns_flags(engine: Engine) -> None:
    """On a user network a container asks the network's DNS server whatever its --dns: dockerd's
    resolv.conf names its embedded server (127.0.0.11), which answers the network's names and
    forwards the rest to the --dns servers, and its options get ndots:0 unless one was given.
    dockyard wrote the --dns servers alone (the network's names went unresolved: `ping: bad
    address`), and never ndots:0 (a bare name was tried with each search domain first)."""
    try:
        engine.docker("network", "create", "dnsf-net")
        engine.docker("run", "-d", "--name", "dnsf-target", "--network", "dnsf-net", "busybox", "sleep", "100")
        ip = engine.docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"dnsf-net\").IPAddress}}",
                           "dnsf-target").stdout.decode().strip()
        for flags, options in (([], "options ndots:0"), (["--dns", "192.0.2.53"], "options ndots:0"),
                               (["--dns-option", "ndots:3"], "options ndots:3"),
                               (["--dns-option", "timeout:2"], "options timeout:2 ndots:0")):
            seen = engine.docker("run", "--rm", "--network", "dnsf-net", *flags, "busybox", "sh", "-c",
                                 "grep ^options /etc/resolv.conf; ping -c 1 -W 2 dnsf-target | head -n 1",
                                 check=False).stdout.decode().splitlines()
            assert seen == [options, f"PING dnsf-target ({ip}): 56 data bytes"], (flags, seen)
    finally:
        engine.docker("rm", "-f", "dnsf-target", check=False)
        engine.docker("network", "rm", "dnsf-net", check=False)


def test_no_network_has_a_resolv_conf_too(engine: Engine) -> None:
    """A container of `--network none` gets the resolv.conf any other gets: dockerd 20.10 writes
    the host's servers, or --dns, --dns-search, --dns-option; dockyard wrote an empty file, the
    flags ignored."""
    seen = engine.docker("run", "--rm", "--network", "none", "--dns", "192.0.2.53", "--dns-search", "x.example",
                         "--dns-option", "ndots:2", "busybox", "cat", "/etc/resolv.conf").stdout.decode()
    assert seen.split("\n") == ["search x.example", "nameserver 192.0.2.53", "options ndots:2", ""]
