"""A real browser through the proxy: Debian's headless Chromium loads a page with a Meta-Pixel-style tag,
a 1x1 pixel from an unlisted host and normal images."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from harness import Origin, start_proxy, wait_for, write_config
from imagedata import BUILDERS

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("PIXELGUARD_REQUIRE_BROWSER") == "1":
        pytest.fail(
            "chromium is not installed but PIXELGUARD_REQUIRE_BROWSER=1 (CI): apt-get install chromium"
        )
    pytest.skip("chromium is not installed (apt-get install chromium); the browser test needs it")


def test_headless_chromium_through_the_proxy(
    tmp_path: Path, origin: Origin, confdir: Path, certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = chromium()
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    page = """<!doctype html><html><head><title>loading</title></head><body>
<h1>A blog post</h1>
<img id="photo" src="http://cdn.blog.test/browser/photo.png">
<img id="logo" src="http://www.blog.test/browser/logo.png">
<!-- Meta Pixel noscript tag, as sites paste it -->
<img id="meta" height="1" width="1" style="display:none"
     src="http://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1">
<img id="open" src="http://mail.unlisted.test/browser/o.gif?u=42">
<script>
window.addEventListener("load", () => {
  document.title = "loaded " + [...document.images].map(i => i.id + "=" + i.naturalWidth + "x" + i.naturalHeight).join(" ");
});
</script></body></html>"""
    origin.serve("/browser/page.html", page.encode(), "text/html; charset=utf-8")
    origin.serve("/browser/photo.png", BUILDERS["png"](64, 48), "image/png")
    origin.serve("/browser/logo.png", BUILDERS["png"](120, 30), "image/png")
    origin.serve("/tr", BUILDERS["gif"](1, 1), "image/gif", ("Set-Cookie", "fr=tracking-id"))
    origin.serve("/browser/o.gif", BUILDERS["gif"](1, 1), "image/gif", ("Set-Cookie", "uid=42"))

    home = tmp_path / "proxy"
    # The bundled list is the one a user gets: pixelguard-ads holds ||facebook.com/tr^.
    config = write_config(home, {}, bundled=("pixelguard-ads",))
    proxy = start_proxy(home, config, confdir, certs, "--set", f"scripts={HERE / 'resolve_local.py'}")
    try:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium'}",
            f"--proxy-server=http://127.0.0.1:{proxy.port}",
            "--proxy-bypass-list=<-loopback>",
            # Chromium itself resolves nothing but the proxy; any other lookup would stay local.
            "--host-resolver-rules=MAP * 127.0.0.1",
            "--virtual-time-budget=10000",
            "--dump-dom",
            "http://www.blog.test/browser/page.html",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
        title = re.search(r"<title>(.*?)</title>", out.stdout)
        assert title, f"no DOM from chromium:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        sizes = dict(kv.split("=") for kv in html.unescape(title.group(1)).split()[1:])
        assert sizes["photo"] == "64x48" and sizes["logo"] == "120x30", sizes  # the page renders
        assert sizes["meta"] == "1x1" and sizes["open"] == "1x1", sizes  # local transparent GIFs
        assert origin.hits["/tr"] == 0, "the Meta Pixel request reached its server"
        assert origin.hits["/browser/o.gif"] == 1 and origin.hits["/browser/photo.png"] == 1
        blocked = wait_for(lambda: proxy.events(host="www.facebook.com"), what="the Meta Pixel event")[0]
        assert blocked["reason"] == "filter" and blocked["list"] == "pixelguard-ads"
        assert blocked["type"] == "image" and blocked["site"] == "blog.test"
        pixel = wait_for(lambda: proxy.events(host="mail.unlisted.test"), what="the pixel event")[0]
        assert pixel["reason"] == "pixel" and pixel["detail"] == "1x1 gif"
    finally:
        assert proxy.stop() == 0, proxy.log()
