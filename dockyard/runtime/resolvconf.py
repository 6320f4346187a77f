"""/etc/resolv.conf of a container, as Docker writes it: the host's file, with `--dns`,
`--dns-search` and `--dns-option` replacing its lines, loopback servers dropped in a network
namespace of the container's own; on networks with DNS, their servers (aardvark-dns at each
gateway, which forwards what it does not know) in place of the host's and the --dns servers,
as Docker's embedded DNS server replaces them."""

from __future__ import annotations


def resolv_conf(host_resolv: bytes, dns: list[str], dns_search: list[str], dns_options: list[str],
                *, own_namespace: bool, network_servers: list[str] | None = None) -> bytes:
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in host_resolv.decode(errors="replace").splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options += words[1:]
    if dns:
        servers = list(dns)
    if dns_search:
        search = [] if dns_search == ["."] else list(dns_search)
    if dns_options:
        options = list(dns_options)
    if own_namespace:
        # loopback servers would be the container's own
        servers = [s for s in servers if not s.startswith("127.") and s != "::1"]
    if network_servers:
        # as dockerd's embedded server (127.0.0.11) in place of every other: aardvark-dns
        # answers the networks' names and forwards the rest to the container's --dns (netavark
        # gives them to it) or the host's; ndots:0 first asks a bare name as it is, unless an
        # ndots option was given (dockerd's rebuildDNS)
        servers = list(network_servers)
        if not any(o.startswith("ndots:") for o in options):
            options.append("ndots:0")
    lines = []
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return ("\n".join(lines) + "\n").encode() if lines else b""
