"""Collection protocols on the site's own host and paths, through a real `pixelguard run` (issue 26): no list
names them, the detectors do; each is answered locally, recorded with reason `schema` and its vendor, and never
reaches the origin. The site's other calls, with the same parameter names, pass."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from harness import Origin, wait_for
from test_schemas import CASES, ORDINARY

pytestmark = pytest.mark.e2e


def _send(port: int, url: str, body: bytes | None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Referer": "http://www.shop.example/", "Content-Type": "application/json" if body and body[:1] in b"[{"
               else "text/plain"}  # fmt: skip
    conn.request("POST" if body else "GET", url, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, resp.headers.get("X-Pixelguard", "")


def test_each_protocol_is_stopped_on_a_first_party_path_and_ordinary_calls_pass(
    make_proxy, origin: Origin
) -> None:
    proxy = make_proxy({"t": "||tracker.test^\n"})
    site = origin.url("")  # the origin plays the site: http://127.0.0.1:PORT
    sent = []
    for i, (vendor, url, body) in enumerate(CASES):
        path = f"/schema/{i}"
        target = site + path + "?" + url.split("?", 1)[1] if "?" in url else site + path
        status, mark = _send(proxy.port, target, body)
        assert mark == "blocked", (vendor, url)
        assert origin.hits[path] == 0, vendor
        sent.append(vendor)
        if body is None:  # the same parameters POSTed as a form, as sendBeacon sends them
            status, mark = _send(proxy.port, site + path + "/post", url.split("?", 1)[1].encode())
            assert mark == "blocked" and origin.hits[path + "/post"] == 0, (vendor, "POST")
            sent.append(vendor)
    events = wait_for(lambda: len(proxy.events(reason="schema")) >= len(sent) and proxy.events(reason="schema"),
                      what="an event per request")  # fmt: skip
    assert len(events) == len(sent)
    vendors = [json.loads(e["payload"])["vendor"] if e["payload"] else None for e in events]
    assert vendors == sent
    assert all(
        e["rule"] == f"{v} collection protocol" and e["list"] == "schema"
        for e, v in zip(events, vendors, strict=True)
    )
    for i, url in enumerate(ORDINARY):
        path = f"/ordinary/{i}"
        origin.serve(path, b"{}", "application/json")
        status, mark = _send(proxy.port, site + path + "?" + url.split("?", 1)[1], None)
        assert (status, mark) == (200, ""), url
        assert origin.hits[path] == 1


def test_three_matches_on_one_path_teach_a_rule_for_that_path_only(
    make_proxy, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from harness import REPO

    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    proxy = make_proxy(
        {"t": "||tracker.test^\n"}, "--set", f"scripts={REPO / 'tests' / 'e2e' / 'resolve_local.py'}"
    )
    hit = "http://www.shop.example/learn/m?v=2&tid=G-ABC123XYZ9&cid=1.2&en=page_view&_n={}"
    for i in range(3):
        assert _send(proxy.port, hit.format(i), None)[1] == "blocked"
    learned = proxy.home / "learned.txt"
    wait_for(
        lambda: learned.exists() and "||www.shop.example/learn/m^" in learned.read_text(), what="the rule"
    )
    text = learned.read_text()
    assert "Google Analytics 4 collection protocol sent there 3 times" in text
    assert "||www.shop.example^" not in text  # never the whole site

    def check(url: str) -> str:
        r = subprocess.run([sys.executable, "-m", "pixelguard", "--config", str(proxy.config), "check", url],
                           cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert r.returncode in (0, 1), r.stderr
        return r.stdout.split()[0]

    assert check("http://www.shop.example/learn/m?a=b") == "BLOCKED"  # a fourth URL, no protocol in it
    assert check("http://www.shop.example/learn/more") != "BLOCKED"
    assert check("http://www.shop.example/") != "BLOCKED"


def _resolving_proxy(make_proxy, origin: Origin, monkeypatch: pytest.MonkeyPatch, tracker: str) -> Any:
    """A proxy whose lists block ``tracker`` and whose user list allows it, every host routed to the origin."""
    from harness import REPO

    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    script = f"scripts={REPO / 'tests' / 'e2e' / 'resolve_local.py'}"
    return make_proxy({"t": f"||{tracker}^\n"}, "--set", script, user=f"@@||{tracker}^\n")


def test_an_allowed_ga4_hit_reaches_upstream_with_its_event_and_without_who_sent_it(
    make_proxy, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _resolving_proxy(make_proxy, origin, monkeypatch, "google-analytics.com")
    origin.serve("/g/collect", b"", "text/plain", ("Set-Cookie", "_ga=GA1.1.999; Path=/"))
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    url = "http://www.google-analytics.com/g/collect?v=2&tid=G-ABC123XYZ9&cid=555.1&uid=u-42&en=page_view"
    sent = {"Cookie": "_ga=GA1.1.555.1; consent=yes", "If-None-Match": '"id-7"', "X-Client-Data": "CIa2yQEI",
            "Referer": "http://www.shop.example/cart?item=7"}  # fmt: skip
    conn.request("GET", url, headers=sent)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200 and resp.headers.get("Set-Cookie") is None  # it sets no new ID either
    host, path, headers = origin.requests[-1]
    assert host == "www.google-analytics.com"
    assert path == "/g/collect?v=2&tid=G-ABC123XYZ9&en=page_view"  # the event, without cid and uid
    assert headers.get("Cookie") == "consent=yes"  # without _ga
    # Header hygiene: no ETag ID, no Chrome install ID, and the Referer only says which site.
    assert "If-None-Match" not in headers and "X-Client-Data" not in headers
    assert headers.get("Referer") == "http://www.shop.example/"
    event = wait_for(lambda: proxy.events(reason="redacted"), what="the redacted event")[0]
    assert event["action"] == "redacted" and event["detail"] == "removed cid, uid, cookie _ga"


def test_an_allowed_segment_call_reaches_upstream_without_who_sent_it(
    make_proxy, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy: Any = _resolving_proxy(make_proxy, origin, monkeypatch, "api.segment.io")
    event = {"type": "track", "event": "Order Completed", "anonymousId": "a-1", "userId": "u-2",
             "properties": {"revenue": 10}, "context": {"traits": {"user_id": "u-2"}}}  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("POST", "http://api.segment.io/v1/t", body=json.dumps(event).encode(),
                 headers={"Content-Type": "application/json", "Referer": "http://www.shop.example/"})  # fmt: skip
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200
    sent = json.loads(origin.bodies["/v1/t"])
    assert sent == {
        "type": "track",
        "event": "Order Completed",
        "properties": {"revenue": 10},
        "context": {"traits": {}},
    }
    event_row = wait_for(lambda: proxy.events(reason="redacted"), what="the redacted event")[0]
    assert event_row["detail"] == "removed body anonymousId, body userId, body user_id"
