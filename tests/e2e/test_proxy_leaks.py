"""Decoded payloads and the leak alarm through a real `pixelguard run`: what a stopped pixel carried is recorded,
the user's own address never leaves for a third party, and no form of it is stored anywhere."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from urllib.parse import quote

import pytest
from harness import REPO, Origin, wait_for

pytestmark = pytest.mark.e2e

EMAIL = "me@example.com"
FORMS = [
    EMAIL,
    quote(EMAIL, safe=""),
    base64.b64encode(EMAIL.encode()).decode().rstrip("="),
    *(hashlib.new(n, EMAIL.encode()).hexdigest() for n in ("md5", "sha1", "sha256")),
]


def test_payloads_and_the_leak_alarm(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({}, bundled=("pixelguard-ads",), extra=f"identity: {{emails: [{EMAIL}]}}\n")
    sha = hashlib.sha256(EMAIL.encode()).hexdigest()
    r = proxy.get(
        f"http://www.facebook.com/tr?id=1234567890&ev=Purchase&cd[value]=49.99&cd[currency]=EUR&ud[em]={sha}",
        {"Accept": "image/*", "Referer": "https://shop.example/checkout"},
    )
    assert r.headers["X-Pixelguard"] == "blocked"
    # An unlisted third party carrying the address's MD5: no list knows it, the leak alarm does.
    md5 = hashlib.md5(EMAIL.encode()).hexdigest()
    path = "/leak/collect"
    r = proxy.get(
        origin.url(f"{path}?uid={md5}&x=1"), {"Accept": "image/*", "Referer": "https://shop.example/"}
    )
    assert r.headers.get("X-Pixelguard") == "blocked" and origin.hits[path] == 0
    # First party with the plain address (a login form posting to its own site): passes, no event.
    login = "/leak/login"
    r = proxy.get(origin.url(f"{login}?email={EMAIL}"), {"Referer": origin.url("/leak/form")})
    assert r.status == 200 and origin.hits[login] == 1

    leak = wait_for(lambda: proxy.events(reason="leak"), what="the leak event")[0]
    assert leak["host"] == "127.0.0.1" and "your email (md5)" in leak["detail"]
    r = subprocess.run(
        [sys.executable, "-m", "pixelguard", "--config", str(proxy.config), "log", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    import json

    rows = [json.loads(line) for line in r.stdout.splitlines()]
    meta = next(row for row in rows if row["host"] == "www.facebook.com")["payload"]
    assert meta["vendor"] == "Meta Pixel" and meta["event"] == "Purchase"
    assert meta["fields"]["value"] == "49.99" and meta["fields"]["currency"] == "EUR"
    assert "your email (sha256)" in meta["identifiers"]
    assert not [row for row in rows if login in row["url"]]  # the first-party login is no event

    proxy.stop()  # everything flushed and checkpointed: now read every byte pixelguard wrote
    text = r.stdout + proxy.log()
    stored = b"".join(
        p.read_bytes() for p in proxy.home.rglob("*") if p.is_file() and p.name != "config.yaml"
    )
    for form in FORMS:
        for variant in {form, form.upper()}:
            assert variant not in text, f"{variant} in the log output"
            assert variant.encode() not in stored, f"{variant} stored in {proxy.home}"
