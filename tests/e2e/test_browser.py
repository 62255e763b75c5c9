"""A real browser through the proxy, set up as a user sets it up: Debian's headless Chromium with pixelguard's CA
in its NSS database (the store Chromium reads on Linux, filled with `certutil` as README tells users to).

Two page loads, as real pages load trackers:
- an HTTPS page whose Meta Pixel, unlisted open pixel and normal images all come over HTTPS through the proxy;
- a plain-HTTP page with a plain-HTTP tracker and a plain-HTTP unlisted pixel.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from harness import Origin, Proxy, start_proxy, wait_for, write_config
from imagedata import BUILDERS

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent

# Reports in the title, which --dump-dom prints: the page's protocol, the one its load spoke with the proxy (ALPN:
# "h2", "http/1.1"), and every image's natural size.
REPORT = """<script>
window.addEventListener("load", () => {
  const hop = performance.getEntriesByType("navigation")[0].nextHopProtocol || "none";
  document.title = "loaded " + location.protocol + " " + hop + " " +
    [...document.images].map(i => i.id + "=" + i.naturalWidth + "x" + i.naturalHeight).join(" ");
});
</script>"""


def required_tool(*names: str, package: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("PIXELGUARD_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"{names[0]} is not installed but PIXELGUARD_REQUIRE_BROWSER=1 (CI): apt-get install {package}"
        )
    pytest.skip(f"{names[0]} is not installed (apt-get install {package}); the browser test needs it")


def trusting_home(tmp_path: Path, ca: Path) -> Path:
    """A HOME whose NSS database trusts the proxy's CA for websites, exactly as README's certutil line does."""
    certutil = required_tool("certutil", package="libnss3-tools")
    home = tmp_path / "browser-home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run([certutil, "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True, timeout=30)
    subprocess.run(
        [certutil, "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "pixelguard test CA", "-i", str(ca)],
        check=True,
        timeout=30,
    )
    listed = subprocess.run(
        [certutil, "-d", f"sql:{nssdb}", "-L"], capture_output=True, text=True, timeout=30
    )
    assert "pixelguard test CA" in listed.stdout, listed.stdout
    return home


def load(browser: str, home: Path, proxy: Proxy, url: str) -> tuple[str, str, dict[str, str]]:
    """Load url in a fresh headless Chromium profile through the proxy; (protocol, the protocol spoken with the
    proxy, {image id: WxH})."""
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
        f"--user-data-dir={home / 'profile'}",
        f"--proxy-server=http://127.0.0.1:{proxy.port}",
        "--proxy-bypass-list=<-loopback>",
        # Chromium itself resolves nothing but the proxy; any other lookup would stay local.
        "--host-resolver-rules=MAP * 127.0.0.1",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    env = {**os.environ, "HOME": str(home)}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)
    title = re.search(r"<title>(.*?)</title>", out.stdout)
    assert title and title.group(1).startswith("loaded "), (
        f"no loaded page from chromium:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}\n{proxy.log()[-3000:]}"
    )
    words = html.unescape(title.group(1)).split()
    return words[1], words[2], dict(kv.split("=") for kv in words[3:])


def test_headless_chromium_through_the_proxy(
    tmp_path: Path, origin: Origin, confdir: Path, certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = required_tool("chromium", "chromium-browser", package="chromium")
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    secure = f"""<!doctype html><html><head><title>loading</title></head><body>
<h1>A blog post</h1>
<img id="photo" src="https://cdn.blog.test/browser/photo.png">
<img id="logo" src="https://www.blog.test/browser/logo.png">
<!-- Meta Pixel noscript tag, as sites paste it -->
<img id="meta" height="1" width="1" style="display:none"
     src="https://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1">
<img id="open" src="https://mail.unlisted.test/browser/o.gif?u=42">
{REPORT}</body></html>"""
    plain = f"""<!doctype html><html><head><title>loading</title></head><body>
<h1>An old blog post</h1>
<img id="photo" src="http://cdn.blog.test/browser/photo.png">
<img id="tracker" src="http://px.tracker.test/collect/p.gif?page=old">
<img id="open" src="http://mail.unlisted.test/browser/o2.gif?u=43">
{REPORT}</body></html>"""
    origin.serve("/browser/page.html", secure.encode(), "text/html; charset=utf-8")
    origin.serve("/browser/plain.html", plain.encode(), "text/html; charset=utf-8")
    origin.serve("/browser/photo.png", BUILDERS["png"](64, 48), "image/png")
    origin.serve("/browser/logo.png", BUILDERS["png"](120, 30), "image/png")
    origin.serve("/tr", BUILDERS["gif"](1, 1), "image/gif", ("Set-Cookie", "fr=tracking-id"))
    origin.serve("/collect/p.gif", BUILDERS["gif"](1, 1), "image/gif", ("Set-Cookie", "id=7"))
    for name in ("o", "o2"):
        origin.serve(f"/browser/{name}.gif", BUILDERS["gif"](1, 1), "image/gif", ("Set-Cookie", "uid=42"))

    home = tmp_path / "proxy"
    # The bundled list is the one a user gets: pixelguard-ads holds ||facebook.com/tr^.
    config = write_config(home, {"plain": "||px.tracker.test/collect/\n"}, bundled=("pixelguard-ads",))
    proxy = start_proxy(home, config, confdir, certs, "--set", f"scripts={HERE / 'resolve_local.py'}")
    try:
        browser_home = trusting_home(tmp_path, proxy.ca)

        protocol, spoken, sizes = load(
            browser, browser_home, proxy, "https://www.blog.test/browser/page.html"
        )
        assert protocol == "https:"
        assert spoken == "h2"  # Chromium speaks HTTP/2 with pixelguard over HTTPS: one connection per host
        assert sizes["photo"] == "64x48" and sizes["logo"] == "120x30", sizes  # the page renders
        assert sizes["meta"] == "1x1" and sizes["open"] == "1x1", sizes  # local transparent GIFs
        assert origin.hits["/tr"] == 0, "the Meta Pixel request reached its server"
        assert origin.hits["/browser/o.gif"] == 1 and origin.hits["/browser/logo.png"] == 1
        blocked = wait_for(lambda: proxy.events(host="www.facebook.com"), what="the Meta Pixel event")[0]
        assert blocked["reason"] == "filter" and blocked["list"] == "pixelguard-ads"
        assert blocked["type"] == "image" and blocked["site"] == "blog.test"
        assert blocked["url"].startswith("https://www.facebook.com/tr?")
        pixel = wait_for(
            lambda: proxy.events(url="https://mail.unlisted.test/browser/o.gif?u=42"), what="pixel"
        )[0]
        assert pixel["reason"] == "pixel" and pixel["detail"] == "1x1 gif"

        protocol, spoken, sizes = load(
            browser, browser_home, proxy, "http://www.blog.test/browser/plain.html"
        )
        assert protocol == "http:" and spoken == "http/1.1"  # the page really came over plain HTTP
        assert sizes == {"photo": "64x48", "tracker": "1x1", "open": "1x1"}, sizes
        assert origin.hits["/collect/p.gif"] == 0, "the plain-HTTP tracker reached its server"
        assert origin.hits["/browser/o2.gif"] == 1
        tracker = wait_for(lambda: proxy.events(host="px.tracker.test"), what="the plain-HTTP tracker event")[
            0
        ]
        assert (
            tracker["reason"] == "filter"
            and tracker["list"] == "plain"
            and tracker["url"].startswith("http://")
        )
        pixel = wait_for(
            lambda: proxy.events(url="http://mail.unlisted.test/browser/o2.gif?u=43"), what="pixel"
        )[0]
        assert pixel["reason"] == "pixel" and pixel["site"] == "blog.test"
    finally:
        assert proxy.stop() == 0, proxy.log()
