"""Beyond blocking, through a real `pixelguard run`: tracking parameters stripped, Global Privacy Control sent,
a temporary allow that ends on time, and allowed hosts keeping their pixels."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness import REPO, Certs, Origin, Proxy, start_proxy, wait_for
from helpers import write_config
from imagedata import BUILDERS
from test_urlskip import _drip, _mandrill

from pixelguard import lists
from pixelguard.proxy.responses import TRANSPARENT_GIF

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
IMAGE = {"Accept": "image/avif,image/webp,*/*"}


def test_origin_sees_the_cleaned_url_and_the_gpc_header(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({}, bundled=("pixelguard-params",))
    r = proxy.get(origin.url("/beyond/api?id=7&fbclid=IwAR3&utm_source=news"), {"Accept": "application/json"})
    assert r.status == 200
    _, path, headers = origin.requests[-1]
    assert path == "/beyond/api?id=7"
    assert headers.get("Sec-GPC") == "1"
    row = wait_for(lambda: proxy.events(reason="param"), what="the param event")[0]
    assert row["action"] == "cleaned" and row["detail"] == "removed fbclid, utm_source"
    assert row["list"] == "pixelguard-params"


def test_a_page_load_is_redirected_to_its_cleaned_url(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({}, bundled=("pixelguard-params",))
    before = origin.hits["/beyond/article"]
    url = origin.url("/beyond/article?gclid=Cj0&page=2")
    r = proxy.get(url, {"Sec-Fetch-Dest": "document", "Accept": "text/html"})
    assert r.status == 307 and r.headers["Location"] == origin.url("/beyond/article?page=2")
    assert origin.hits["/beyond/article"] == before  # the tracking URL never reached the site
    # A link opened from a mail client: HTML asked for, no Referer, no Sec-Fetch-Dest.
    r = proxy.get(origin.url("/beyond/article?mc_eid=abc"), {"Accept": "text/html,application/xhtml+xml"})
    assert r.status == 307 and r.headers["Location"] == origin.url("/beyond/article")


def test_gpc_can_be_switched_off(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({}, extra="privacy: {gpc: false}\n")
    proxy.get(origin.url("/beyond/nogpc"))
    assert "Sec-GPC" not in origin.requests[-1][2]


def test_a_two_second_allow_ends_on_time(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({"t": "||localhost^$image\n"})
    path = "/beyond/allowed.png"
    origin.serve(path, BUILDERS["png"](40, 40), "image/png")

    def passes() -> bool:
        before = origin.hits[path]
        proxy.get(origin.url(path, host="localhost"), IMAGE)
        return origin.hits[path] == before + 1

    assert not passes()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pixelguard",
            "--config",
            str(proxy.config),
            "allow",
            "localhost",
            "--for",
            "2s",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert lists.UNTIL in proxy.user_list.read_text()
    wait_for(passes, what="the temporary allow to apply")
    ends = lists.next_expiry(proxy.user_list)
    assert ends is not None and ends <= datetime.now(UTC) + timedelta(seconds=3)
    wait_for(lambda: not passes(), what="the temporary allow to end")
    assert datetime.now(UTC) >= ends  # it ended on time, not before
    assert "localhost" not in proxy.user_list.read_text()  # and the file no longer holds it


def test_an_allowed_host_keeps_its_pixels(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({}, extra="pixels: {learn_after: 1000}\n")
    path = "/beyond/px.gif"
    origin.serve(path, BUILDERS["gif"](1, 1), "image/gif")
    assert proxy.get(origin.url(path, host="localhost"), IMAGE).body == TRANSPARENT_GIF
    lists.allow(proxy.user_list, "localhost")
    wait_for(
        lambda: proxy.get(origin.url(path, host="localhost"), IMAGE).body == BUILDERS["gif"](1, 1),
        what="the allowed host's pixel to pass untouched",
    )
    # Trusting a site does the same for every pixel on its pages.
    assert (
        proxy.get(origin.url(path), {**IMAGE, "Referer": "https://trusted.example/a"}).body == TRANSPARENT_GIF
    )
    lists.trust_site(proxy.user_list, "trusted.example")
    wait_for(
        lambda: (
            proxy.get(origin.url(path), {**IMAGE, "Referer": "https://trusted.example/a"}).body
            == BUILDERS["gif"](1, 1)
        ),
        what="pixels on a trusted site to pass",
    )


def test_cname_cloaked_tracker_is_uncloaked(
    make_proxy, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys as _sys

    _sys.path.insert(0, str(REPO / "tests"))
    from dns_server import DnsServer

    with DnsServer(
        {"metrics.shop.test": "shop.test.sc.omtrdc.net", "cdn.shop.test": "shop.test.edge.example"}
    ) as dns:
        monkeypatch.delenv("PIXELGUARD_NO_CNAME")  # this test brings its own DNS server
        proxy = make_proxy(
            {"t": "||omtrdc.net^\n"}, extra=f"cname: {{nameservers: ['127.0.0.1:{dns.port}']}}\n"
        )
        r = proxy.get("http://metrics.shop.test/b/ss/rsid/1/JS-2.22?AQB=1", IMAGE)
        assert r.status == 200 and r.body == TRANSPARENT_GIF and r.headers["X-Pixelguard"] == "blocked"
        row = wait_for(lambda: proxy.events(reason="cname"), what="the cname event")[0]
        assert row["host"] == "metrics.shop.test" and row["rule"] == "||omtrdc.net^"
        assert row["detail"] == "metrics.shop.test → shop.test.sc.omtrdc.net"
        assert "metrics.shop.test" in dns.asked
        # A second request for the host is answered from the cache: no new query.
        asked = len(dns.asked)
        proxy.get("http://metrics.shop.test/b/ss/rsid/1/JS-2.22?AQB=2", IMAGE)
        assert len(dns.asked) == asked
        # An alias to another site that is no tracker is let through (upstream, this name resolves nowhere).
        r = proxy.get("http://cdn.shop.test/logo.png", IMAGE)
        assert r.headers.get("X-Pixelguard") != "blocked" and "cdn.shop.test" in dns.asked
        assert not proxy.events(host="cdn.shop.test")


def test_cname_lookups_start_before_requests_need_them_and_page_loads_never_wait(
    make_proxy, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CONNECT starts its host's lookup before the client's handshake, so the request in the tunnel finds the
    chain known; a page load is not judged by its host's aliases (uBO's cnameIgnoreRootDocument) and starts the
    lookup its own requests to that host will use; neither asks DNS twice."""
    from dns_server import DnsServer
    from harness import open_tunnel

    # What passes lands on the local origin (resolve_local.py), never on a name the system would have to resolve.
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    origin.serve("/home", b"<html>the page</html>", "text/html")
    chains = {"metrics.shop.test": "shop.test.sc.omtrdc.net", "stats.blog.test": "blog.test.omtrdc.net"}
    with DnsServer(chains) as dns:
        monkeypatch.delenv("PIXELGUARD_NO_CNAME")
        proxy = make_proxy(
            {"t": "||omtrdc.net^\n||ads.blog.test^\n@@||ads.blog.test/ok.gif\n"},
            "--set", f"scripts={REPO / 'tests' / 'e2e' / 'resolve_local.py'}",
            extra=f"cname: {{nameservers: ['127.0.0.1:{dns.port}']}}\n",
        )  # fmt: skip
        with open_tunnel(proxy.port, "metrics.shop.test") as raw:
            wait_for(lambda: "metrics.shop.test" in dns.asked, what="the lookup started at CONNECT")
            with proxy.client_context().wrap_socket(raw, server_hostname="metrics.shop.test") as tls:
                tls.sendall(b"GET /b/ss/1 HTTP/1.1\r\nHost: metrics.shop.test\r\nAccept: image/*\r\n"
                            b"Connection: close\r\n\r\n")  # fmt: skip
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = tls.recv(4096)
                    assert chunk, head
                    head += chunk
        assert b"x-pixelguard: blocked" in head.lower(), head
        assert dns.asked.count("metrics.shop.test") == 1
        # No lookup for a tunnel the lists block by host (its requests are blocked anyway) or an apex.
        open_tunnel(proxy.port, "ads.blog.test").close()
        open_tunnel(proxy.port, "shop.test").close()
        page = {"Accept": "text/html", "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
        r = proxy.get("http://stats.blog.test/home", page)
        assert r.status == 200 and r.body == b"<html>the page</html>"  # not judged by its alias
        wait_for(lambda: "stats.blog.test" in dns.asked, what="the lookup the page load started")
        r = proxy.get("http://stats.blog.test/pixel.gif", {**IMAGE, "Referer": "http://stats.blog.test/home"})
        assert r.headers.get("X-Pixelguard") == "blocked"
        again = proxy.get("http://stats.blog.test/home", page)  # with the chain known now
        assert again.body == b"<html>the page</html>"
        assert dns.asked.count("stats.blog.test") == 1
        assert "shop.test" not in dns.asked and "ads.blog.test" not in dns.asked
        rows = wait_for(lambda: proxy.events(reason="cname", host="stats.blog.test"), what="the cname event")
        assert rows[0]["detail"] == "stats.blog.test → blog.test.omtrdc.net"


def test_a_nameserver_gone_quiet_neither_lets_cloaked_trackers_through_nor_goes_unsaid(
    make_proxy, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first nameserver that never answers (a VPN's, after the VPN went down) took the whole budget of every
    lookup, so the second was never asked and every cloaked tracker passed. Now each gets its share; and with no
    server answering at all, the proxy says so in dns.json (the UI's header) after three lookups in a row."""
    import socket

    from dns_server import DnsServer

    from pixelguard import dns_health

    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    monkeypatch.delenv("PIXELGUARD_NO_CNAME")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    quiet = f"127.0.0.1:{silent.getsockname()[1]}"
    local = ("--set", f"scripts={REPO / 'tests' / 'e2e' / 'resolve_local.py'}")
    try:
        with DnsServer({"metrics.shop.test": "shop.test.sc.omtrdc.net"}) as dns:
            proxy = make_proxy(
                {"t": "||omtrdc.net^\n"},
                *local,
                extra=f"cname: {{nameservers: ['{quiet}', '127.0.0.1:{dns.port}']}}\n",
            )
            r = proxy.get("http://metrics.shop.test/b/ss/1", IMAGE)
            assert r.headers.get("X-Pixelguard") == "blocked" and "metrics.shop.test" in dns.asked
            assert not (proxy.data_dir / dns_health.FILE).exists()
        proxy = make_proxy({"t": "||omtrdc.net^\n"}, *local, extra=f"cname: {{nameservers: ['{quiet}']}}\n")
        for i in range(dns_health.SILENT_AFTER):
            r = proxy.get(f"http://m.site{i}.test/p.gif", IMAGE)
            assert r.status == 200 and r.headers.get("X-Pixelguard") != "blocked"  # fails open: traffic flows
        wait_for(lambda: dns_health.silent_since(proxy.data_dir) is not None, what="dns.json from the proxy")
    finally:
        silent.close()


def _issuer(proxy: Proxy, port: int, context) -> str:  # type: ignore[no-untyped-def]
    """CONNECT localhost:port through the proxy, handshake, and return the certificate issuer's common name."""
    import socket

    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        raw.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += raw.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200"), reply
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            cert = tls.getpeercert()
    return dict(x[0] for x in cert["issuer"])["commonName"]


def test_passthrough_hosts_keep_their_own_certificate(make_proxy, origin: Origin) -> None:
    import ssl

    proxy = make_proxy({}, extra="tls: {passthrough: [localhost]}\n")
    trusts_both = ssl.create_default_context(cafile=str(origin.certs.ca))
    trusts_both.load_verify_locations(cafile=str(proxy.ca))
    assert _issuer(proxy, origin.https_port, trusts_both) == "pixelguard test origin CA"


def test_a_client_refusing_the_ca_gets_passthrough_next_time(make_proxy, origin: Origin) -> None:
    import ssl

    from pixelguard.limits import TLS_LEARN_AFTER

    proxy = make_proxy({})
    trusts_origin_only = ssl.create_default_context(cafile=str(origin.certs.ca))
    # pixelguard's certificate: refused every time, as a pinned app refuses it
    for _ in range(TLS_LEARN_AFTER):
        with pytest.raises(ssl.SSLError):
            _issuer(proxy, origin.https_port, trusts_origin_only)
    learned = proxy.data_dir / "tls-learned.json"
    wait_for(lambda: learned.exists() and "localhost" in learned.read_text(), what="the learned passthrough")
    assert _issuer(proxy, origin.https_port, trusts_origin_only) == "pixelguard test origin CA"
    r = subprocess.run(
        [sys.executable, "-m", "pixelguard", "--config", str(proxy.config), "tls", "forget", "localhost"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**__import__("os").environ, "XDG_DATA_HOME": str(proxy.home / "data")},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    wait_for(lambda: _refused(proxy, origin, trusts_origin_only), what="the host to be decrypted again")
    # Decrypted again, and counting from zero: one more refusal does not pass it through.
    assert _refused(proxy, origin, trusts_origin_only)


def _refused(proxy: Proxy, origin: Origin, context) -> bool:  # type: ignore[no-untyped-def]
    import ssl

    try:
        _issuer(proxy, origin.https_port, context)
    except ssl.SSLError:
        return True
    return False


# Each redirector of the bundled pixelguard-links list, as a mail or a page links it: (link, destination).
DESTINATION = "https://shop.example/item?id=7"
REDIRECTORS = [
    ("https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fshop.example%2Fitem%3Fid%3D7&data=05%7C02&reserved=0", DESTINATION),
    ("https://www.google.com/url?q=https://shop.example/item?id%3D7&sa=D&ust=1700000000", DESTINATION),
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example%2Fitem%3Fid%3D7&h=AT0xyz", DESTINATION),
    ("https://abcdef.r.us-east-1.awstrack.me/L0/https:%2F%2Fshop.example%2Fitem%3Fid=7/1/010001-abc-000000/Xyz0=344", DESTINATION),
    ("https://www.youtube.com/redirect?event=video_description&q=https%3A%2F%2Fshop.example%2Fitem%3Fid%3D7", DESTINATION),
    ("https://www.linkedin.com/redir/redirect?url=https%3A%2F%2Fshop.example%2Fitem%3Fid%3D7&urlhash=x", DESTINATION),
    (f"https://mandrillapp.com/track/click/30042264/shop.example?p={_mandrill(DESTINATION)}", DESTINATION),
    (_drip(DESTINATION), DESTINATION),
    (_drip(DESTINATION, jwt=True), DESTINATION),
    ("https://links.sender.example/click?destination=https%3A%2F%2Fshop.example%2Fitem%3Fid%3D7&sig=9f8e", DESTINATION),
    ("https://forum.example/redirect?url=https%3A%2F%2Fshop.example%2Fitem%3Fid%3D7", DESTINATION),
]  # fmt: skip


def test_a_tracked_link_is_answered_with_its_destination_and_the_redirector_sees_nothing(
    make_proxy, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every upstream connection lands on the local origin (resolve_local.py): a request that got past the proxy
    # to a redirector would be counted there.
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    proxy = make_proxy({}, "--set", f"scripts={REPO / 'tests' / 'e2e' / 'resolve_local.py'}",
                       "--set", "ssl_insecure=true", bundled=("pixelguard-links",))  # fmt: skip
    page_load = {"Sec-Fetch-Dest": "document", "Accept": "text/html"}
    seen_before = len(origin.requests)  # the origin serves the whole session: only what comes now counts
    for link, destination in REDIRECTORS:
        r = proxy.get(link, page_load)
        assert (r.status, r.headers.get("Location"), r.headers.get("X-Pixelguard")) == (
            307, destination, "unwrapped"), link  # fmt: skip
    assert origin.requests[seen_before:] == []  # no redirector received anything
    events = wait_for(lambda: len(proxy.events(reason="unwrapped")) == len(REDIRECTORS) and
                      proxy.events(reason="unwrapped"), what="an event per link")  # fmt: skip
    assert [e["action"] for e in events] == ["unwrapped"] * len(REDIRECTORS)
    assert all(e["detail"] == f"to {DESTINATION}" and e["list"] == "pixelguard-links" for e in events)
    # An opaque link (the destination is on the sender's servers) still works: it goes to its redirector.
    opaque = "https://u123.ct.sendgrid.net/ls/click?upn=u001.abc-2Bdef"
    origin.serve("/ls/click", b"moved", "text/plain")
    r = proxy.get(opaque, page_load)
    assert r.status == 200 and r.body == b"moved"
    assert [(host, path) for host, path, _ in origin.requests[seen_before:]] == [
        ("u123.ct.sendgrid.net", "/ls/click?upn=u001.abc-2Bdef")
    ]


def test_a_server_whose_first_address_never_answers_is_reached_at_its_next(
    make_proxy, origin: Origin
) -> None:
    """A browser races a name's addresses (Happy Eyeballs) and keeps an answer a minute; so does the proxy
    (proxy/happy_eyeballs.py, proxy/address_cache.py). Without the race the request hangs on the first address,
    about two minutes, and the client gives up after 10 s."""
    from test_happy_eyeballs import Silent

    silent = Silent()
    try:
        proxy = make_proxy({}, "--set", f"scripts={HERE / 'two_addresses.py'}")
        name = f"p{silent.port}-{origin.http_port}.addresses.test"
        origin.serve("/beyond/two", b"second address", "text/plain")
        for _ in range(3):
            r = proxy.get(f"http://{name}/beyond/two", timeout=10)
            assert (r.status, r.body) == (200, b"second address")
        # Three requests, one lookup: each came on a client connection of its own, so each opened its own
        # connection to the server, and the answer was kept for the next.
        lookups = proxy.home / "cache" / "lookups.txt"
        assert lookups.read_text().split() == [name]
    finally:
        silent.close()


@pytest.mark.parametrize("trusted", [True, False], ids=["system-trusts-it", "system-does-not"])
def test_servers_are_checked_against_the_systems_cas(
    tmp_path: Path, confdir: Path, certs: Certs, origin: Origin, trusted: bool
) -> None:
    """A CA added to the system (a company's TLS inspection, a home server's CA) is trusted through the proxy as
    the machine's own programs trust it, where mitmproxy trusted certifi's roots alone (proxy/upstream_trust.py).
    SSL_CERT_FILE names the system's bundle here, as OpenSSL and Go honour it; the proxy is given no CA of its
    own."""
    import certifi

    bundle = tmp_path / "system-ca.pem"
    bundle.write_text(Path(certifi.where()).read_text() + (certs.ca.read_text() if trusted else ""))
    home = tmp_path / "home"
    proxy = start_proxy(
        home, write_config(home, {}), confdir, certs, env={"SSL_CERT_FILE": str(bundle)}, trust_origin=False
    )
    try:
        path = f"/beyond/own-ca-{trusted}"
        origin.serve(path, b"private server", "text/plain")
        r = proxy.get(origin.url(path, https=True, host="localhost"))
        if trusted:
            assert (r.status, r.body) == (200, b"private server")
        else:
            assert r.status == 502 and b"certificate" in r.body.lower()
            assert origin.hits[path] == 0
        doctor = proxy.cli("doctor", SSL_CERT_FILE=str(bundle))
        assert f"checked against the system's CAs ({bundle})" in " ".join(doctor.stdout.split())
    finally:
        assert proxy.stop() == 0, proxy.log()
