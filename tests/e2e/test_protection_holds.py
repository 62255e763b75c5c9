"""Protection never turns off silently (issue 22), through a real `pixelguard run`: every bypass found in use is
closed, and every state in which pixelguard protects less than usual is said wherever the user looks."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import h2client
import pytest
from harness import REPO, Certs, Origin, Proxy, free_port, open_tunnel, wait_for

from pixelguard.invocation import cmd

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
MB = 1 << 20


@pytest.fixture
def to_origin(origin: Origin, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Proxy arguments that send every upstream connection (real names on ports 80/443) to the local origin."""
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    return ["--set", f"scripts={HERE / 'resolve_local.py'}"]


def pixelguard(proxy: Proxy, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(proxy.home / "data"), "XDG_CONFIG_HOME": str(proxy.home / "config"),
           "PIXELGUARD_CONFDIR": str(proxy.confdir)}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "pixelguard", "--config", str(proxy.config), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


# --- 2. a body never carries a blocked request past the decision -------------------------------------------


def _post_h1(proxy: Proxy, url: str, size: int, chunked: bool) -> int | None:
    """POST size bytes through the proxy over HTTP/1.1; the status, or None when the proxy cut the request."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            "127.0.0.1", proxy.port, timeout=30, context=proxy.client_context()
        )
        conn.set_tunnel(parts.hostname or "", parts.port or 443)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    else:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        target = url
    body = b"e=jane.doe%40example.com&" + b"x" * max(0, size - 25) if size else b""
    try:
        if chunked:
            conn.putrequest("POST", target)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Content-Type", "application/x-www-form-urlencoded")
            conn.endheaders()
            for i in range(0, len(body), 64 * 1024):
                piece = body[i : i + 64 * 1024]
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            conn.request(
                "POST", target, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None  # cut: the proxy closed the connection on a blocked request's big body
    finally:
        conn.close()


SIZES = [0, 1024, 262_100, 262_200, 5 * MB, 50 * MB]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_no_body_size_carries_a_blocked_request_upstream(
    make_proxy, origin: Origin, to_origin: list[str], scheme: str, chunked: bool
) -> None:
    proxy = make_proxy({}, *to_origin, bundled=("pixelguard-ads",))
    for size in SIZES:
        status = _post_h1(proxy, f"{scheme}://www.facebook.com/tr?id=1&ev=PageView", size, chunked)
        # Answered locally when the body is small enough to hold, cut when it is not; never forwarded.
        assert status in (204, None), (size, status)
        assert origin.hits["/tr"] == 0 and origin.received["/tr"] == 0, (scheme, chunked, size)
    rows = wait_for(lambda: len(proxy.events(host="www.facebook.com")) >= len(SIZES) and proxy.events(host="www.facebook.com"),
                    what="one event per blocked request")  # fmt: skip
    assert all(r["action"] == "blocked" and r["rule"] for r in rows)


def test_no_body_size_carries_a_blocked_request_upstream_over_http2(
    make_proxy, origin: Origin, to_origin: list[str]
) -> None:
    proxy = make_proxy({}, *to_origin, bundled=("pixelguard-ads",))
    for size in SIZES:
        body = b"x" * size
        r = h2client.request(proxy.port, "www.facebook.com", 443, proxy.client_context(), "POST", "/tr?id=1",
                             {"content-length": str(size)} if size % 2 else {}, body)  # fmt: skip
        assert r.alpn == "h2"
        assert r.status in (204, None), (size, r.status)
        assert origin.hits["/tr"] == 0 and origin.received["/tr"] == 0, size


def test_a_passed_request_keeps_its_big_body(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({"t": "||tracker.test^\n"})
    for size in (262_200, 5 * MB):
        for chunked in (False, True):
            before = origin.received["/upload"]
            assert _post_h1(proxy, origin.url("/upload"), size, chunked) == 200
            assert origin.received["/upload"] - before == size, (size, chunked)


# --- 1. TLS passthrough learning cannot be poisoned --------------------------------------------------------


def _tunnel(proxy: Proxy, host: str) -> socket.socket:
    return open_tunnel(proxy.port, host)


def _refuse(proxy: Proxy, host: str) -> None:
    """A client that does not trust pixelguard's CA: the handshake ends with its unknown_ca alert."""
    untrusting = ssl.create_default_context()  # the system's CAs, not pixelguard's
    with (
        _tunnel(proxy, host) as raw,
        pytest.raises(ssl.SSLError),
        untrusting.wrap_socket(raw, server_hostname=host),
    ):
        pass


def _abort(proxy: Proxy, host: str) -> None:
    """A client that sends its ClientHello and hangs up (Chromium's spare socket, a cancelled fetch)."""
    ctx = ssl.create_default_context()
    with _tunnel(proxy, host) as raw:
        tls = ctx.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        tls.setblocking(False)
        try:
            tls.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass
        tls.close()


def _garbage(proxy: Proxy, host: str) -> None:
    with _tunnel(proxy, host) as raw:
        raw.sendall(b"\x16\x03\x01\x00\x05hello, not TLS at all\r\n" * 4)
        raw.settimeout(5)
        try:
            raw.recv(100)
        except OSError:
            pass


def _issuer(proxy: Proxy, host: str, context: ssl.SSLContext) -> str:
    with _tunnel(proxy, host) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
        cert = tls.getpeercert()
    return dict(x[0] for x in cert["issuer"])["commonName"]


def test_aborted_and_refused_handshakes_never_blind_the_blocker(
    make_proxy, origin: Origin, to_origin: list[str]
) -> None:
    proxy = make_proxy({}, *to_origin, bundled=("pixelguard-ads",))
    for _ in range(20):
        _abort(proxy, "www.facebook.com")
        _refuse(proxy, "www.facebook.com")
        _garbage(proxy, "www.google-analytics.com")
    # The user's browser, trusting the CA, still gets the tracker stopped by its path rule over HTTPS.
    r = proxy.get("https://www.facebook.com/tr?id=1", {"Accept": "image/*"})
    assert r.headers.get("X-Pixelguard") == "blocked" and origin.hits["/tr"] == 0
    learned = proxy.data_dir / "tls-learned.json"
    assert not learned.exists() or "facebook" not in learned.read_text()
    assert not proxy.events(reason="tls-learned")


def test_a_pinning_client_is_learned_after_repeated_refusals_and_everything_says_so(
    make_proxy, origin: Origin, to_origin: list[str]
) -> None:
    from pixelguard.limits import TLS_LEARN_AFTER

    proxy = make_proxy({"t": "||tracker.test^\n"}, *to_origin)
    trusts_origin = ssl.create_default_context(cafile=str(origin.certs.ca))
    host = "pinned.unlisted.test"
    # A refusal, then a completed handshake (the same app, or a browser, trusting the CA): not pinning.
    for _ in range(TLS_LEARN_AFTER - 1):
        _refuse(proxy, host)
    assert _issuer(proxy, host, proxy.client_context()) != "pixelguard test origin CA"
    for _ in range(TLS_LEARN_AFTER - 1):
        _refuse(proxy, host)
    assert not proxy.events(reason="tls-learned")
    _refuse(proxy, host)  # the TLS_LEARN_AFTER-th in a row
    row = wait_for(lambda: proxy.events(reason="tls-learned"), what="the tls-learned event")[0]
    assert row["host"] == host and row["action"] == "passthrough" and "pixelguard tls forget" in row["detail"]
    assert _issuer(proxy, host, trusts_origin) == "pixelguard test origin CA"  # passed through, undecrypted
    doctor = pixelguard(proxy, "doctor")
    assert doctor.returncode == 1
    assert f"{host} is passed through undecrypted" in doctor.stdout
    assert f"→ {cmd('tls forget ' + host)}" in doctor.stdout
    check = pixelguard(proxy, "check", f"https://{host}/collect")
    assert check.returncode == 0 and check.stdout.startswith("passthrough")
    assert "not decrypted: passed through undecrypted since" in check.stdout
    assert f"`{cmd('tls forget ' + host)}`" in check.stdout


def test_a_flood_of_junk_hosts_fills_nothing_real_refusals_need(make_proxy, to_origin: list[str]) -> None:
    from pixelguard.limits import TLS_LEARN_AFTER

    proxy = make_proxy({}, *to_origin)
    # (The candidate table's bound itself is tested without a proxy, test_tls_policy.py.)
    for i in range(200):
        _refuse(proxy, f"junk{i}.unlisted.test")
    assert not proxy.events(reason="tls-learned")
    for _ in range(TLS_LEARN_AFTER):
        _refuse(proxy, "pinned.unlisted.test")
    row = wait_for(lambda: proxy.events(reason="tls-learned"), what="the real host learned after the flood")
    assert [r["host"] for r in row] == ["pinned.unlisted.test"]


# --- 3. a lists: section adds to the defaults -------------------------------------------------------------


def test_a_custom_list_keeps_the_default_lists(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("||mine.example^\n")
    config = tmp_path / "config.yaml"
    config.write_text("lists:\n  - {name: my-rules, path: mine.txt}\n")  # as README shows it
    run = lambda *a: subprocess.run([sys.executable, "-m", "pixelguard", "--config", str(config), *a],  # noqa: E731
                                    cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    r = run("check", "https://www.facebook.com/tr?id=1")
    assert r.returncode == 1 and "BLOCKED" in r.stdout and "pixelguard-ads" in r.stdout, r.stdout + r.stderr
    assert run("check", "https://mine.example/").returncode == 1
    shown = run("config", "show").stdout
    assert "my-rules:" in shown and "pixelguard-ads: bundled (enabled)" in shown and "default_lists" in shown
    doctor = run("doctor").stdout
    assert "pixelguard-ads:" in doctor and "my-rules:" in doctor


# --- 4. a pause is visible everywhere ----------------------------------------------------------------------


def test_a_pause_says_when_it_ends_and_doctor_and_check_say_it(make_proxy) -> None:
    proxy = make_proxy({"t": "||tracker.test^\n"})
    r = pixelguard(proxy, "pause", "30d")
    assert r.returncode == 0
    from datetime import datetime, timedelta

    end = (datetime.now().astimezone() + timedelta(days=30)).strftime("%Y-%m-%d")
    assert "until " in r.stdout and end in r.stdout, r.stdout  # a date, not only a time of day
    doctor = pixelguard(proxy, "doctor")
    assert doctor.returncode == 1 and "protection is paused until" in doctor.stdout
    assert f"→ {cmd('resume')}" in doctor.stdout
    check = pixelguard(proxy, "check", "http://tracker.test/p.gif")
    assert check.returncode == 0 and "protection is paused" in check.stdout, check.stdout
    wait_for(lambda: proxy.get("http://tracker.test/p.gif").headers.get("X-Pixelguard") != "blocked",
             what="the running proxy to pause")  # fmt: skip
    assert pixelguard(proxy, "resume").returncode == 0
    assert pixelguard(proxy, "check", "http://tracker.test/p.gif").returncode == 1


# --- 5. one proxy per data dir -------------------------------------------------------------------------------


def test_a_second_proxy_on_the_same_data_dir_is_refused(make_proxy, confdir: Path, certs: Certs) -> None:
    first = make_proxy({"t": "||tracker.test^\n"})
    info = json.loads((first.data_dir / "proxy.json").read_text())
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(first.home / "data"), "XDG_CONFIG_HOME": str(first.home / "config"),
           "PIXELGUARD_CONFDIR": str(confdir)}  # fmt: skip
    second = subprocess.run(
        [sys.executable, "-m", "pixelguard", "--config", str(first.config), "run", "--port", str(port)],
        cwd=REPO, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert second.returncode == 2, second.stdout + second.stderr
    line = second.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert f"pid {info['pid']}" in line and info["listen"] in line and "pixelguard ui" in line
    assert "listening" not in second.stdout  # it never claimed to protect anything
    assert json.loads((first.data_dir / "proxy.json").read_text())["pid"] == info["pid"]
    assert first.get("http://tracker.test/p.gif").headers.get("X-Pixelguard") == "blocked"
    status = pixelguard(first, "service", "status")
    assert f"pid {info['pid']}" in status.stdout


# --- 7. parameter spelling cannot keep a click ID ------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "fbclid=IwAR3&id=7",
        "FBCLID=IwAR3&id=7",
        "fb%63lid=IwAR3&id=7",
        "fbclid[]=IwAR3&id=7",
        "id=7;fbclid=IwAR3",
        "&".join(f"p{i}=1" for i in range(1500)) + "&fbclid=IwAR3&id=7",
    ],
    ids=["plain", "upper", "percent", "brackets", "semicolon", "1500-params"],
)
def test_a_click_id_never_reaches_the_site_whatever_its_spelling(
    make_proxy, origin: Origin, query: str
) -> None:
    proxy = make_proxy({}, bundled=("pixelguard-params",))
    r = proxy.get(origin.url(f"/params/api?{query}"), {"Accept": "application/json"})
    assert r.status == 200
    _, path, _ = origin.requests[-1]
    assert "IwAR3" not in path and "id=7" in path, path[-80:]


# --- 8. a deep CNAME chain hides nothing -------------------------------------------------------------------


def test_a_cname_chain_deeper_than_resolvers_go_is_judged_on_every_name(
    make_proxy, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from dns_server import DnsServer

    deep = {f"hop{i}.cdn{i}.example": f"hop{i + 1}.cdn{i + 1}.example" for i in range(1, 20)}
    deep["metrics.shop.test"] = "hop1.cdn1.example"
    deep["hop20.cdn20.example"] = "shop.test.sc.omtrdc.net"
    # The same chain from a resolver that gives up after 12 hops: the tracker is named in it nowhere, but the
    # names seen so far are judged (one of them is listed).
    cut = {f"c{i}.hop{i}.example": f"c{i + 1}.hop{i + 1}.example" for i in range(1, 30)}
    cut["stats.news.test"] = "c1.hop1.example"
    with DnsServer(deep, max_hops=40) as dns, DnsServer(cut, max_hops=12) as short:
        monkeypatch.delenv("PIXELGUARD_NO_CNAME")
        proxy = make_proxy(
            {"t": "||omtrdc.net^\n||hop5.example^\n"},
            extra=f"cname: {{nameservers: ['127.0.0.1:{dns.port}']}}\n",
        )
        r = proxy.get("http://metrics.shop.test/b/ss/1", {"Accept": "image/*"})
        assert r.headers.get("X-Pixelguard") == "blocked"
        row = wait_for(lambda: proxy.events(reason="cname"), what="the cname event")[0]
        assert row["rule"] == "||omtrdc.net^" and row["detail"].count("→") >= 21
        other = make_proxy(
            {"t": "||hop5.example^\n"}, extra=f"cname: {{nameservers: ['127.0.0.1:{short.port}']}}\n"
        )
        r = other.get("http://stats.news.test/collect", {"Accept": "image/*"})
        assert r.headers.get("X-Pixelguard") == "blocked"


# --- 6. the leak alarm sees through encodings and never writes the identity --------------------------------


def test_every_encoding_of_the_identity_is_stopped_and_none_is_written_anywhere(
    make_proxy, origin: Origin
) -> None:
    from test_leaks import E164, EMAIL, FORMS, GMAIL, PHONE, me

    identity = f"identity: {{emails: ['{EMAIL}', '{GMAIL}'], phones: ['{PHONE}']}}\n"
    proxy = make_proxy({}, bundled=("pixelguard-ads",), extra=identity)
    for i, (what, url, headers, body, encoding) in enumerate(FORMS):
        path = f"/leak/{i}"
        target = origin.url(path + url.split("/p", 1)[1])
        hdrs = {"Referer": "https://shop.example/checkout", **{k.title(): v for k, v in headers.items()}}
        if encoding:
            hdrs["Content-Encoding"] = encoding
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("POST" if body else "GET", target, body=body or None, headers=hdrs)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        assert resp.headers.get("X-Pixelguard") == "blocked", what
        assert origin.hits[path] == 0, what
    # A tracker a list blocks, carrying the address in a field longer than what a payload keeps of it, and a
    # body whose JSON nests deeper than the decoder recurses.
    long_field = "x" * 290 + EMAIL
    proxy.get(f"http://www.facebook.com/tr?id=1&ev=Lead&cd[note]={quote(long_field)}", {"Accept": "image/*"})
    deep = b'{"a":' * 5000 + json.dumps(EMAIL).encode() + b"}" * 5000
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request(
        "POST", "http://www.facebook.com/tr?id=2", body=deep, headers={"Content-Type": "application/json"}
    )
    conn.getresponse().read()
    conn.close()
    wait_for(lambda: len(proxy.events()) >= len(FORMS) + 2, what="every stop recorded")
    assert proxy.stop() == 0

    forms = me().forms
    needles = {f.needle for f in forms} | {f.needle.upper() for f in forms if f.case_blind}
    needles |= {"jane.doe", "janedoe", E164, E164[1:], "jane%2edoe", "jane%2Edoe"}
    stored = [p for p in proxy.home.rglob("*") if p.is_file() and p.name != "config.yaml"]
    assert any(p.name == "proxy.log" for p in stored) or proxy.log()
    text = proxy.log()
    for p in stored:
        data = p.read_bytes()
        for n in needles:
            assert n.encode() not in data, f"a form of the identity ({n[:12]}…) is in {p}"
    for n in needles:
        assert n not in text, f"a form of the identity ({n[:12]}…) is in the proxy's output"


def test_a_body_sent_over_http2_without_its_length_reaches_an_http1_server_whole(
    make_proxy, origin: Origin, to_origin: list[str]
) -> None:
    # HTTP/2 frames a body itself: a client need not send a Content-Length. HTTP/1 needs one, or chunked encoding;
    # mitmproxy wrote such a request to an HTTP/1 server with neither, and the server read an empty body.
    proxy = make_proxy({}, *to_origin, "--set", "ssl_insecure=true")
    for size in (1000, 300_000, 5 * MB):
        path = f"/h2-upload-{size}"
        r = h2client.request(proxy.port, "uploads.example", 443, proxy.client_context(), "POST", path,
                             {"content-type": "application/octet-stream"}, b"u" * size, timeout=60)  # fmt: skip
        assert r.alpn == "h2" and r.status == 200, (size, r)
        assert origin.received[path] == size, (size, origin.received[path])
    # With its length, as before: the header is the client's, nothing added.
    r = h2client.request(proxy.port, "uploads.example", 443, proxy.client_context(), "POST", "/h2-upload-length",
                         {"content-length": "1000"}, b"u" * 1000)  # fmt: skip
    assert r.status == 200 and origin.received["/h2-upload-length"] == 1000
