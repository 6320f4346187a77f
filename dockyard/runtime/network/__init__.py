"""Container networks, driven through podman's network stack (Debian's netavark and aardvark-dns).

    records.py   the networks of a store (bridge networks, the default `bridge`, `host`, `none`)
    subnets.py   a free subnet for a new network (host routes and other stores' networks avoided)
    ipam.py      addresses of containers in a network (one file per address, made exclusively)
    netavark.py  netavark's JSON, setup/teardown of a container's network namespace, the netns file
    endpoints.py a container joins its networks at start and leaves them at exit

netavark makes the bridge, the veth pair, the iptables rules (masquerade, published ports,
127.0.0.1 included) and starts aardvark-dns, which resolves container names and aliases inside
each network with DNS enabled (every network but the default `bridge`, as in Docker). Nothing
here sets up an interface or a firewall rule by itself.
"""
