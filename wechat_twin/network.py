"""Whether a host name stays on this machine: the one test behind every loopback rule.

The server refuses to listen beyond loopback without a key, the bridge follows an iLink redirect to a local
host only when `allow_loopback` says so, and `twin-train data` reads a chatlog API on loopback only. All three
must agree on what loopback is (`localhost`, 127.0.0.0/8, `::1`), so they read it from here; standard library
only, because the bridge, the server and training import it.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback IP address; any other name (which DNS could point anywhere) is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
