"""Real browsers through the proxy, set up as a user sets them up: Debian's headless Chromium with pixelguard's CA
in its NSS database (the store Chromium reads on Linux, filled with `certutil` as README tells users to), and
Debian's Firefox ESR with the CA put in its profile by `pixelguard ca install` and its manual proxy settings.

Chromium loads two pages, as real pages load trackers:
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
from urllib.parse import unquote, urlsplit

import pytest
from harness import Origin, Proxy, start_proxy, wait_for, write_config
from imagedata import BUILDERS

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent


def report_script(deliver: str) -> str:
    """A script that, once the page has loaded, hands ``deliver`` (JavaScript taking `report`) the words "loaded",
    the page's protocol, the one its load spoke with the proxy (ALPN: "h2", "http/1.1") and each image's natural
    size as id=WxH; read_report reads them back."""
    return f"""<script>
window.addEventListener("load", () => {{
  const hop = performance.getEntriesByType("navigation")[0].nextHopProtocol || "none";
  const report = ["loaded", location.protocol, hop,
    ...[...document.images].map(i => i.id + "=" + i.naturalWidth + "x" + i.naturalHeight)].join(" ");
  {deliver}
}});
</script>"""


def read_report(report: str) -> tuple[str, str, dict[str, str]] | None:
    """(protocol, the protocol spoken with the proxy, {image id: WxH}) from report_script's words, or None."""
    words = report.split()
    if words[:1] != ["loaded"]:
        return None
    return words[1], words[2], dict(kv.split("=") for kv in words[3:])


# Chromium reports in the title, which --dump-dom prints.
REPORT = report_script("document.title = report;")


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
    report = read_report(html.unescape(title.group(1))) if title else None
    assert report, (
        f"no loaded page from chromium:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}\n{proxy.log()[-3000:]}"
    )
    return report


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


# Firefox has no --dump-dom: the page reports by asking its origin for one more URL once it has loaded.
FIREFOX_REPORT = report_script('new Image().src = "/browser/ff/report?" + encodeURIComponent(report);')

# A profile's user.js, as Settings → Network Settings → Manual proxy configuration with "Also use this proxy for
# HTTPS" writes it (network.proxy.*), plus what keeps a test profile quiet: no HTTP/3 (QUIC would go around an
# HTTP proxy anyway), no DNS of its own (over HTTPS, prefetched, or any name the system resolver would be asked:
# Mozilla's test harnesses answer those with localhost the same way), no captive-portal or connectivity probes,
# remote settings, studies, telemetry, updates or safe-browsing downloads.
FIREFOX_PREFS = """
user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", {port});
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", {port});
user_pref("network.proxy.share_proxy_settings", true);
user_pref("network.proxy.no_proxies_on", "");
user_pref("network.proxy.allow_hijacking_localhost", true);
user_pref("network.http.http3.enable", false);
user_pref("network.trr.mode", 5);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.update.auto", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("services.settings.server", "data:,#remote-settings-dummy/v1");
user_pref("app.normandy.enabled", false);
user_pref("network.dns.native-is-localhost", true);
"""


def firefox_profile(firefox: str, home: Path, proxy: Proxy) -> Path:
    """A Firefox profile under ~/.mozilla/firefox, where `pixelguard ca install` looks for profiles, made by
    Firefox (-CreateProfile) with the proxy settings in its user.js and its certificate database made as Firefox's
    first start makes it (NSS's cert9.db and key4.db, no password). A first start of Firefox itself would make the
    same, but asked the system's DNS for a Mozilla host on the way, proxy settings or not (seen with strace)."""
    profile = home / ".mozilla" / "firefox" / "test.default"
    env = {**os.environ, "HOME": str(home)}
    subprocess.run(
        [firefox, "--headless", "-CreateProfile", f"test {profile}"], env=env, timeout=60, check=True
    )
    (profile / "user.js").write_text(FIREFOX_PREFS.format(port=proxy.port))
    certutil = required_tool("certutil", package="libnss3-tools")
    subprocess.run([certutil, "-d", f"sql:{profile}", "-N", "--empty-password"], check=True, timeout=30)
    return profile


def test_headless_firefox_through_the_proxy(
    tmp_path: Path, origin: Origin, confdir: Path, certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Firefox, set up as README tells a user: `pixelguard ca install` puts the CA in its profile's own database,
    its manual proxy settings name pixelguard for HTTP and HTTPS. The page loads over HTTPS, its Meta Pixel is
    answered by the proxy, and the page reports which protocol Firefox spoke with the proxy."""
    firefox = required_tool("firefox-esr", "firefox", package="firefox-esr")
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    page = f"""<!doctype html><html><head><title>a blog</title></head><body>
<img id="photo" src="https://cdn.blog.test/browser/ff/photo.png">
<img id="meta" height="1" width="1" style="display:none"
     src="https://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1&from=firefox">
{FIREFOX_REPORT}</body></html>"""
    origin.serve("/browser/ff/page.html", page.encode(), "text/html; charset=utf-8")
    origin.serve("/browser/ff/photo.png", BUILDERS["png"](64, 48), "image/png")
    origin.serve("/tr", BUILDERS["gif"](1, 1), "image/gif", ("Set-Cookie", "fr=tracking-id"))

    home = tmp_path / "proxy"
    config = write_config(home, {}, bundled=("pixelguard-ads",))
    proxy = start_proxy(home, config, confdir, certs, "--set", f"scripts={HERE / 'resolve_local.py'}")
    try:
        browser_home = tmp_path / "firefox-home"
        profile = firefox_profile(firefox, browser_home, proxy)
        installed = proxy.cli("ca", "install", "--store", "firefox", HOME=str(browser_home))
        assert installed.returncode == 0 and f"{profile}: now trusts the CA" in installed.stdout, (
            installed.stdout + installed.stderr
        )

        # Firefox's output goes to a file: a pipe no one reads could fill and stall it.
        firefox_log = tmp_path / "firefox.log"
        with firefox_log.open("wb") as out:
            load = subprocess.Popen(
                [firefox, "--headless", "--no-remote", "--profile", str(profile),
                 "https://www.blog.test/browser/ff/page.html"],
                env={**os.environ, "HOME": str(browser_home)}, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            report = wait_for(
                lambda: [p for _, p, _ in list(origin.requests) if p.startswith("/browser/ff/report?")],
                timeout=90,
                what="the page's report from Firefox",
            )[0]
        except AssertionError:
            said = firefox_log.read_text(errors="replace")[-2000:]
            raise AssertionError(f"no report from Firefox:\n{said}\n{proxy.log()[-3000:]}") from None
        finally:
            if load.poll() is None:
                load.terminate()
                try:
                    load.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    load.kill()  # Firefox left hanging on its way out must not hang the suite
                    load.wait(timeout=30)
        said = read_report(unquote(urlsplit(report).query))
        assert said, report
        protocol, spoken, sizes = said
        assert protocol == "https:"
        # Firefox speaks HTTP/2 with pixelguard inside its tunnel, as Chromium does (README says so).
        assert spoken == "h2", said
        # The page renders, and the pixel is the proxy's transparent GIF.
        assert sizes == {"photo": "64x48", "meta": "1x1"}, sizes
        assert origin.hits["/tr"] == 0, "the Meta Pixel request reached its server"
        blocked = wait_for(lambda: proxy.events(host="www.facebook.com"), what="the Meta Pixel event")[0]
        assert blocked["reason"] == "filter" and blocked["list"] == "pixelguard-ads"
        assert blocked["type"] == "image" and blocked["site"] == "blog.test"
    finally:
        assert proxy.stop() == 0, proxy.log()
