"""mitmproxy script for the address tests: the DNS answers of a simulated internet, served in the proxy itself.

A name ``p<FIRST>-<SECOND>.addresses.test`` has two addresses, 127.0.0.1:FIRST and 127.0.0.1:SECOND, in that order
(a server reachable at its second address only, when the first never answers). Every lookup the proxy makes of
such a name is appended to ``lookups.txt`` in the proxy's cache dir, so a test can count them. Other names are
looked up as usual.
"""

import os
import re
import socket
from pathlib import Path

NAME = re.compile(r"p(\d+)-(\d+)\.addresses\.test")
_system = socket.getaddrinfo


def _answer(host, port, family=0, type=0, proto=0, flags=0):
    m = NAME.fullmatch(str(host))
    if m is None:
        return _system(host, port, family, type, proto, flags)
    with open(Path(os.environ["XDG_CACHE_HOME"]) / "lookups.txt", "a") as f:
        f.write(f"{host}\n")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(p))) for p in m.groups()]


socket.getaddrinfo = _answer  # asyncio looks names up with socket.getaddrinfo, in a thread of its executor
