"""The built-in test page (issue 28): http://pixelguard.test/ and https://pixelguard.test/ through a real
`pixelguard run` say whether the proxy, the CA and blocking work, and that protection is paused when it is.
Nothing goes upstream: .test resolves nowhere, and the origin counts nothing."""

from __future__ import annotations

import io
import ssl
from datetime import UTC, datetime, timedelta

import imagesize
import pytest
from harness import Origin, fetch, wait_for

from pixelguard import pause

pytestmark = pytest.mark.e2e


def test_the_test_page_says_proxy_ca_and_blocking_work(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({}, bundled=("pixelguard-ads",))
    seen_before = len(origin.requests)  # the origin serves the whole session: only what comes now counts
    r = proxy.get("http://pixelguard.test/")
    assert r.status == 200 and r.headers["X-Pixelguard"] == "test-page"
    page = r.body.decode()
    assert "your browser goes through pixelguard" in page and "(full mode)" in page
    assert "is stopped by <code>||facebook.com/tr^</code> (pixelguard-ads:8)" in page
    assert "never sent" in page and "https://pixelguard.test/https-check.png" in page
    # Over HTTPS, with a client that trusts the CA as a set-up browser does: the page says so.
    r = proxy.get("https://pixelguard.test/")
    assert r.status == 200 and "your browser trusts its CA" in r.body.decode()
    png = proxy.get("https://pixelguard.test/https-check.png")
    assert png.status == 200 and png.headers["Content-Type"] == "image/png"
    assert imagesize.get(io.BytesIO(png.body)) == (1, 1)
    # A client without the CA cannot load it over HTTPS: the certificate is pixelguard's, not a public one.
    with pytest.raises(ssl.SSLCertVerificationError):
        fetch("https://pixelguard.test/", proxy.port, context=ssl.create_default_context())
    assert origin.requests[seen_before:] == []  # nothing went upstream


def test_the_test_page_says_when_protection_is_paused_and_when_nothing_blocks(make_proxy) -> None:
    proxy = make_proxy({"t": "||tracker.test^\n"})
    page = proxy.get("http://pixelguard.test/").body.decode()
    assert "would pass: no enabled list names it" in page
    pause.pause(proxy.data_dir, datetime.now(UTC) + timedelta(hours=1))
    wait_for(lambda: "Paused:" in proxy.get("http://pixelguard.test/").body.decode(), what="the paused line")
    assert proxy.get("http://pixelguard.test/nothing-here").status == 404
