"""`pixelguard check` and the proxy give the same decision (action, reason, rule) for the same request: one table
that covers each pipeline stage, and 2,000 real requests of ../shared/requests with their real types.

The proxy's decision is read from what it did (answered with X-Pixelguard, or let the origin see the request)
and from the event it recorded; check's from its Decision, built in this process from the same config files
(checking.Checker, what `pixelguard check` runs)."""

from __future__ import annotations

import csv
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from harness import Certs, Origin, Proxy, fetch, start_proxy, wait_for
from shared_data import shared_path

from pixelguard import config as configmod
from pixelguard.checking import Checker
from pixelguard.decision.decision import STAGES, Action
from pixelguard.decision.pipeline import REFUSED_TUNNEL
from pixelguard.store.event import MAX_URL

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent

# Sec-Fetch-Dest a browser sends for each webRequest type of the HAR files.
DEST = {"main_frame": "document", "sub_frame": "iframe", "script": "script", "stylesheet": "style",
        "image": "image", "font": "font", "xmlhttprequest": "empty", "ping": "report", "media": "video"}  # fmt: skip


def browser_headers(rtype: str, url: str, page: str | None) -> list[tuple[str, str]]:
    headers = [("Sec-Fetch-Dest", DEST[rtype])] if rtype in DEST else []
    if page and rtype != "main_frame":
        headers.append(("Referer", page))
    return headers


def _proxy_decision(proxy: Proxy, url: str, headers: list[tuple[str, str]]) -> tuple[str, int]:
    context = proxy.client_context() if url.startswith("https") else None
    try:
        r = fetch(url, proxy.port, dict(headers), context=context)
    except ssl.SSLCertVerificationError:
        return "passthrough", 0  # not pixelguard's certificate: the TLS was passed through undecrypted
    except OSError as e:
        if "Tunnel connection failed: 403" in str(e):
            return "blocked", 403  # the CONNECT was refused: every request to the host would be blocked
        raise
    return r.headers.get("X-Pixelguard") or "", r.status


def _compare(proxy: Proxy, checker: Checker, cases: list[tuple[str, list[tuple[str, str]]]]) -> int:
    """Send every case through the proxy (8 at a time) and ask check about each; returns how many were stopped."""
    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(lambda c: _proxy_decision(proxy, *c), cases))
    expected = [checker.check(url, header_pairs=headers).decision for url, headers in cases]
    stops = sum(d.action is Action.BLOCKED for d in expected)
    recorded = sum(d.action in (Action.BLOCKED, Action.CLEANED, Action.UNWRAPPED) for d in expected)
    events: list[dict] = []
    if recorded:
        try:
            events = wait_for(lambda: len(proxy.events()) >= recorded and proxy.events(), timeout=60)
        except AssertionError:
            # Fewer events than check expects: go on with those there are, so that the comparison below names the
            # request that has none (a bare time-out once said only "timed out waiting for the events").
            events = proxy.events()
            print(f"\n{len(events)} events recorded, {recorded} expected")
            said = [line for line in proxy.log().splitlines() if "pixelguard:" in line or "rror" in line]
            print("the proxy's log, what pixelguard said and any error:", *said[-40:], sep="\n  ")
    by_url: dict[str, list[dict]] = {}
    for e in events:
        # mitmproxy drops an empty query's "?"
        by_url.setdefault(e["url"].rstrip("?")[:MAX_URL], []).append(e)
    stored = checker.built.pipeline.identity.safe_text  # events keep the URL as the recorder stores it
    for (raw_url, headers), (mark, status), d in zip(cases, seen, expected, strict=True):
        url = (stored(raw_url, url=True) or raw_url).rstrip("?")[:MAX_URL]  # as the store keeps it
        if d.reason is not None and d.reason.detail == REFUSED_TUNNEL:
            url = f"https://{urlsplit(raw_url).hostname}/"  # a refused CONNECT is recorded as its tunnel
        what = f"{url} {headers}: check says {d.action} {d.reason}, the proxy answered {status} {mark!r}"
        if d.action is Action.BLOCKED:
            assert mark == "blocked", what
        elif d.action in (Action.CLEANED, Action.UNWRAPPED) and d.redirect:
            assert status == 307 and mark == str(d.action), what
        elif d.action is Action.PASSTHROUGH:
            assert mark == "passthrough", what
        else:
            assert mark not in ("blocked", "passthrough"), what
        if d.action in (Action.BLOCKED, Action.CLEANED, Action.UNWRAPPED):
            rows = by_url.get(url)
            assert rows, what + " (no event)"
            assert d.reason is not None
            assert (rows[0]["reason"], rows[0]["rule"]) == (STAGES[d.reason.stage], d.reason.rule), what
        else:
            assert url not in by_url, what + f" (an event: {by_url.get(url)})"
    return stops


@pytest.fixture
def proxy(
    tmp_path: Path, confdir: Path, certs: Certs, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Proxy]:
    easylist = shared_path("filterlists", "easylist.txt")
    easyprivacy = shared_path("filterlists", "easyprivacy.txt")
    home = tmp_path / "home"
    home.mkdir()
    (home / "user.txt").write_text("@@||allowed.tracker.test^\n@@||trusted.example^$document\n")
    config = home / "config.yaml"
    config.write_text(
        "database: pixelguard.db\nuser_list: user.txt\nlearned_list: learned.txt\n"
        f"lists:\n  - {{name: easylist, path: {easylist}}}\n  - {{name: easyprivacy, path: {easyprivacy}}}\n"
        "  - {name: stage-table, path: stages.txt}\n"
        "identity: {emails: [jane.doe@example.com]}\n"
        "tls: {passthrough: [secret.unlisted.test]}\n"
    )
    (home / "stages.txt").write_text("||tracker.test^\n||omtrdc.net^\n")
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    p = start_proxy(home, config, confdir, certs, "--set", f"scripts={HERE / 'resolve_local.py'}",
                    "--set", "ssl_insecure=true")  # fmt: skip
    # check reads the same config, data dir (pause, learned TLS) and cache as the proxy.
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    yield p
    p.stop()


def _checker(proxy: Proxy) -> Checker:
    return Checker(configmod.load(proxy.config))


def test_check_and_the_proxy_agree_on_each_stage(proxy: Proxy, origin: Origin) -> None:
    page = "https://news.example/article"
    cases = [
        ("http://tracker.test/p.gif", [("Sec-Fetch-Dest", "image"), ("Referer", page)]),  # a list rule
        ("http://allowed.tracker.test/p.gif", [("Sec-Fetch-Dest", "image"), ("Referer", page)]),  # an allow rule
        ("http://tracker.test/p.gif?t=trust", [("Sec-Fetch-Dest", "image"), ("Referer", "https://trusted.example/")]),
        (origin.url("/stage/fronted.gif"), [("Sec-Fetch-Dest", "image"), ("Host", "px.tracker.test")]),
        (origin.url("/stage/api?id=1&fbclid=IwAR3"), [("Sec-Fetch-Dest", "empty"), ("Referer", page)]),  # removeparam
        (origin.url("/stage/page?utm_source=mail&gclid=1"), [("Sec-Fetch-Dest", "document")]),  # a 307 page load
        ("https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fnews.example%2F&data=05", [("Sec-Fetch-Dest", "document")]),  # unwrapped
        (origin.url("/stage/leak?e=jane.doe%40example.com"), [("Sec-Fetch-Dest", "image"), ("Referer", page)]),
        (origin.url("/stage/plain.txt"), [("Sec-Fetch-Dest", "empty"), ("Referer", page)]),  # nothing applies
        (origin.url("/stage/api/m?tid=G-ABC123XYZ9&en=page_view&v=2&cid=555.1"), [("Sec-Fetch-Dest", "empty"), ("Referer", page)]),  # a protocol
        ("https://www.google-analytics.com/g/collect?v=2&tid=G-1&cid=1", [("Sec-Fetch-Dest", "empty"), ("Referer", page)]),
    ]  # fmt: skip
    stops = _compare(proxy, _checker(proxy), cases)
    assert stops >= 4
    # TLS passthrough: check says so, and the proxy does not decrypt (the client sees the origin's certificate).
    d = _checker(proxy).check("https://secret.unlisted.test/collect").decision
    assert (
        d.action is Action.PASSTHROUGH
        and d.reason is not None
        and "tls.passthrough" in (d.reason.detail or "")
    )
    import socket

    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        raw.sendall(b"CONNECT secret.unlisted.test:443 HTTP/1.1\r\nHost: secret.unlisted.test:443\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        ctx = ssl.create_default_context(cafile=str(origin.certs.ca))
        with ctx.wrap_socket(raw, server_hostname="secret.unlisted.test") as tls:
            assert (
                dict(x[0] for x in tls.getpeercert()["issuer"])["commonName"] == "pixelguard test origin CA"
            )
    # Paused: both let everything through.
    from datetime import UTC, datetime, timedelta

    from pixelguard import pause

    pause.pause(proxy.data_dir, datetime.now(UTC) + timedelta(hours=1))
    paused = _checker(proxy).check(
        "http://tracker.test/p.gif?paused=1", header_pairs=[("Sec-Fetch-Dest", "image")]
    )
    assert paused.decision.action is Action.PASSED and paused.decision.paused
    wait_for(lambda: _proxy_decision(proxy, "http://tracker.test/p.gif?paused=1", [("Sec-Fetch-Dest", "image")])[0] == "",
             what="the proxy to follow the pause")  # fmt: skip


def _local(url: str) -> bool:
    """Default ports only: the test's resolver sends those to the local origin (nothing leaves the machine)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.port in (None, 80, 443)


def real_requests(n: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every distinct request of pagexray's page loads, with its real type (1,583), then subresources of the
    top-500 site list (which gives no type: the client sends none, and both read the URL's extension) with the
    page before them as their Referer, up to n."""
    cases: list[tuple[str, list[tuple[str, str]]]] = []
    seen: set[tuple[str, ...]] = set()
    with shared_path("requests", "pagexray-requests.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            url = row["url"].split("#", 1)[0]  # a client never sends the fragment
            key = (url, row["type"], row["sourceUrl"])
            if _local(url) and key not in seen:
                seen.add(key)
                cases.append((url, browser_headers(row["type"], url, row["sourceUrl"] or None)))
    page = ""
    urls = {c[0] for c in cases}
    for line in shared_path("requests", "top500-sitelist.txt").read_text(encoding="utf-8").splitlines():
        url = line.strip().split("#", 1)[0]
        if len(cases) >= n:
            break
        if not _local(url) or url in urls:
            continue
        parts = urlsplit(url)
        if parts.path in ("", "/") and not parts.query:
            page = url  # a site's front page: the page of the requests that follow it
            continue
        if page:
            urls.add(url)
            cases.append((url, [("Referer", page)]))
    return cases[:n]


def test_check_and_the_proxy_agree_on_2000_real_requests(proxy: Proxy) -> None:
    cases = real_requests(2000)
    assert len(cases) == 2000
    stops = _compare(proxy, _checker(proxy), cases)
    print(f"\n2,000 real requests: {stops} stopped by both, every decision the same")
    assert stops > 100  # EasyList and EasyPrivacy stop plenty of these: the comparison is not vacuous


def _post(proxy: Proxy, url: str, body: bytes, headers: dict[str, str]) -> int | None:
    """POST through the proxy over HTTP/1.1: the status, or None when the proxy cut the request (a time-out, the
    proxy leaving the request hanging, raises)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    try:
        conn.request("POST", url, body=body, headers=headers)
        return conn.getresponse().status
    except TimeoutError:
        raise
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


LEAK = b"&e=jane.doe%40example.com&"


def _bodies() -> dict[str, bytes]:
    from pixelguard.limits import BODY_HOLD, BODY_TAIL

    return {
        "small": LEAK + b"x" * 1000,
        "head": LEAK + b"x" * (2 * BODY_HOLD),
        # past the head and whatever came with its last piece (the proxy reads all it holds before it sends any)
        "middle": b"x" * (BODY_HOLD + 4 * BODY_TAIL) + LEAK + b"y" * (2 * BODY_TAIL),
        "tail": b"x" * (2 * BODY_HOLD) + LEAK,
    }


def test_check_and_the_proxy_agree_on_where_a_big_body_carries_a_leak(proxy: Proxy, origin: Origin) -> None:
    # A body over BODY_HOLD streams: the proxy reads its head before any of it leaves and its last BODY_TAIL bytes
    # before its end leaves, never its middle. check reads the same views (it used to read the head alone, and
    # let pass what the proxy stops at the end). A stopped request ends at once (it used to hang until the
    # client's time-out: proxy/stopped_uploads.py), and is recorded.
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Referer": "https://news.example/article"}
    checker = _checker(proxy)
    outcome = {}
    for name, body in _bodies().items():
        url = origin.url(f"/stage/upload-{name}")
        status = _post(proxy, url, body, headers)
        arrived = origin.received[f"/stage/upload-{name}"]
        proxy_stopped = status != 200 or arrived < len(body)
        d = checker.check(url, method="POST", header_pairs=list(headers.items()), body=body).decision
        assert proxy_stopped == (d.action is Action.BLOCKED), (name, status, arrived, d)
        outcome[name] = proxy_stopped
    assert outcome == {"small": True, "head": True, "middle": False, "tail": True}
    rows = wait_for(
        lambda: len(proxy.events(reason="leak")) >= 3 and proxy.events(reason="leak"), what="3 events"
    )
    assert sorted(r["url"].rsplit("-", 1)[1] for r in rows if "/stage/upload-" in r["url"]) == [
        "head",
        "small",
        "tail",
    ]


def test_a_big_body_stopped_over_http2_ends_its_stream(proxy: Proxy, origin: Origin) -> None:
    import h2client

    headers = {"content-type": "application/x-www-form-urlencoded", "referer": "https://news.example/article"}
    for name, body in _bodies().items():
        path = f"/stage/h2-upload-{name}"
        r = h2client.request(proxy.port, "127.0.0.1", origin.https_port, proxy.client_context(), "POST", path,
                             {**headers, "content-length": str(len(body))}, body, timeout=60)  # fmt: skip
        assert r.alpn == "h2" and r.ended, (name, r)  # reset or answered, never left hanging
        passed = r.status == 200 and origin.received[path] == len(body)
        assert passed == (name == "middle"), (name, r.status, origin.received[path])


def test_stopped_uploads_give_back_the_body_budget_they_held(proxy: Proxy, origin: Origin) -> None:
    # An upload holds up to BODY_HOLD of the body budget (MAX_BODIES_IN_FLIGHT) until its end; one stopped midway
    # ends without a `request` hook, and gives it back through the `error` hook. More stopped uploads than the
    # budget holds, then an upload that passes still passes.
    from pixelguard.limits import BODY_HOLD, MAX_BODIES_IN_FLIGHT

    headers = {"Content-Type": "application/x-www-form-urlencoded", "Referer": "https://news.example/article"}
    stopped = _bodies()["head"]
    for _ in range(MAX_BODIES_IN_FLIGHT // BODY_HOLD + 8):
        assert _post(proxy, origin.url("/stage/uploads"), stopped, headers) is None
    assert origin.received["/stage/uploads"] == 0
    fine = _bodies()["middle"]
    assert _post(proxy, origin.url("/stage/after"), fine, headers) == 200
    assert origin.received["/stage/after"] == len(fine)


def test_an_upload_stopped_over_http2_leaves_the_connections_other_streams_alone(
    proxy: Proxy, origin: Origin
) -> None:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
    from harness import connect_tunnel

    raw, reply = connect_tunnel(proxy.port, "127.0.0.1", origin.https_port, timeout=30)
    assert reply.startswith(b"HTTP/1.1 200")
    context = proxy.client_context()
    context.set_alpn_protocols(["h2"])
    tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
    body = _bodies()["tail"]

    def fields(method: str, path: str) -> list[tuple[str, str]]:
        return [(":method", method), (":path", path), (":scheme", "https"), (":authority", "127.0.0.1"),
                ("referer", "https://news.example/article"), ("content-type", "application/x-www-form-urlencoded"),
                *([("content-length", str(len(body)))] if method == "POST" else [])]  # fmt: skip

    # A page's request goes out on the connection while its upload is still being sent, and is stopped at its end.
    origin.serve("/stage/h2-page.txt", b"page\n", "text/plain")
    upload, page = conn.get_next_available_stream_id(), 0
    conn.send_headers(upload, fields("POST", "/stage/h2-upload-beside"))
    sent, ended = 0, {}
    with tls:
        tls.sendall(conn.data_to_send())
        while len(ended) < 2:
            while sent < len(body) and (window := min(conn.local_flow_control_window(upload), 16384)) > 0:
                piece = body[sent : sent + window]
                sent += len(piece)
                conn.send_data(upload, piece, end_stream=sent == len(body))
            if sent > len(body) // 2 and not page:
                page = conn.get_next_available_stream_id()
                conn.send_headers(page, fields("GET", "/stage/h2-page.txt"), end_stream=True)
            tls.sendall(conn.data_to_send())
            data = tls.recv(65536)
            assert data, "the proxy closed the connection"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.StreamReset):
                    ended[event.stream_id] = "reset"
                elif isinstance(event, h2.events.ResponseReceived):
                    ended[event.stream_id] = dict(event.headers)[b":status"].decode()
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
    assert ended == {upload: "reset", page: "200"}
    assert origin.received["/stage/h2-upload-beside"] < len(body)


def test_a_body_read_in_part_is_recorded_once_an_hour_and_shown_by_doctor_check_and_the_ui(
    proxy: Proxy, origin: Origin
) -> None:
    # A body over BODY_HOLD streams and its middle goes to the server unread: protection that the user sees in
    # doctor, check and the UI, as a relayed tunnel is (proxy/raw_relays.py). Recorded by host alone, never the
    # upload's path or query (an upload's URL can name the user's files), and once an hour per client and host.
    from pixelguard.limits import BODY_HOLD, BODY_TAIL
    from pixelguard.store.event import UNREAD_BODY
    from pixelguard.tui import data
    from pixelguard.tui.screens.lists_screen import passthrough_text

    before = proxy.cli("doctor").stdout
    assert "every request body in the last 24 h was read whole" in before, before
    headers = {"Content-Type": "application/octet-stream"}
    body = b"z" * (3 * BODY_HOLD)
    for n in range(2):
        assert _post(proxy, origin.url(f"/stage/backup-{n}?file=holiday.jpg"), body, headers) == 200
    # A blocked request after both uploads orders the history: events are written in the order they happen.
    assert proxy.get("http://tracker.test/p.gif?after=backups").headers.get("X-Pixelguard") == "blocked"
    wait_for(lambda: proxy.events(url="http://tracker.test/p.gif?after=backups"), what="the beacon's event")
    rows = proxy.events(reason=UNREAD_BODY)
    assert len(rows) == 1, rows
    row, host = rows[0], urlsplit(origin.url("/")).hostname
    assert (row["url"], row["host"], row["site"], row["action"], row["method"]) == (
        f"http://{host}/", host, "", "passthrough", "POST",
    )  # fmt: skip
    unread = len(body) - BODY_HOLD - BODY_TAIL
    assert f"not the {unread // 1024} KB between" in row["detail"], row
    assert "holiday" not in str(proxy.events()), "an upload's path was stored"
    doctor = proxy.cli("doctor")
    line = next(ln for ln in doctor.stdout.splitlines() if ln.split()[1:2] == ["bodies"])
    assert f"request bodies to {host} (last at" in line and "read in part" in line, doctor.stdout
    check = proxy.cli("check", origin.url("/stage/anything"))
    assert check.returncode == 0 and f"request bodies to {host} (last at" in check.stderr, check
    other = proxy.cli("check", "https://example.org/")
    assert "read in part" not in other.stderr, other
    panel = passthrough_text(data.passthrough(configmod.load(proxy.config))).plain
    assert f"Read in part in the last 24 h: request bodies to {host} (last at" in panel, panel
