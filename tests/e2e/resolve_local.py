"""mitmproxy script for the browser test: every upstream connection goes to the local origin.

The page uses real host names on default ports (http://www.facebook.com/tr...) so that the bundled list applies
as it does for a user; this makes sure anything the proxy lets through lands on the local origin, where it is
counted, never on the internet. Ports come from PIXELGUARD_TEST_ORIGIN_HTTP / _HTTPS.
"""

import os

from mitmproxy.proxy import server_hooks


def server_connect(data: server_hooks.ServerConnectionHookData) -> None:
    if not data.server.address:
        return
    port = data.server.address[1]
    if port == 80:
        port = int(os.environ["PIXELGUARD_TEST_ORIGIN_HTTP"])
    elif port == 443:
        port = int(os.environ["PIXELGUARD_TEST_ORIGIN_HTTPS"])
    data.server.address = ("127.0.0.1", port)
