"""Payload decoders, one table row per vendor, with requests shaped as the vendors document their pixels.

Shapes (and the parameter names read) come from each vendor's public documentation, named in the decoder's
docstring in pixelguard/payloads/vendors.py: Meta Pixel reference and advanced matching; Google Analytics
Measurement Protocol (Universal) and GA4's gtag requests; Google Ads conversion tag; LinkedIn Insight Tag;
TikTok Events API; X conversion tracking; Pinterest tag; Microsoft Advertising UET; Reddit Pixel; Snap Pixel;
the ESPs' open-pixel URL shapes (Mailchimp's track/open.php, SendGrid's wf/open).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from pixelguard.payloads import decode

SHA = hashlib.sha256(b"me@example.com").hexdigest()

CASES = [
    # (url, method, body, vendor, event, fields expected (subset), identifiers expected (subset))
    (
        f"https://www.facebook.com/tr?id=1234567890&ev=Purchase&cd[value]=49.99&cd[currency]=EUR"
        f"&cd[content_ids]=%5B%228812%22%5D&ud[em]={SHA}&fbp=fb.1.1700000000.123",
        "GET",
        None,
        "Meta Pixel",
        "Purchase",
        {"value": "49.99", "currency": "EUR", "content_ids": '["8812"]', "pixel": "1234567890"},
        ["email (sha256)", "browser ID fbp"],
    ),
    (
        "https://www.facebook.com/tr/",
        "POST",
        f"id=1&ev=Lead&ud[ph]={hashlib.sha256(b'15550100100').hexdigest()}&fbc=fb.1.2.abc".encode(),
        "Meta Pixel",
        "Lead",
        {"pixel": "1"},
        ["phone (sha256)", "browser ID fbc"],
    ),
    (
        "https://www.google-analytics.com/collect?v=1&tid=UA-1-1&t=event&ec=video&ea=play&el=intro&cid=555.666",
        "GET",
        None,
        "Google Analytics",
        "video / play / intro",
        {"property": "UA-1-1"},
        ["client ID cid"],
    ),
    (
        "https://www.google-analytics.com/collect",
        "POST",
        b"v=1&tid=UA-1-1&t=transaction&ti=T-1&tr=99.5&cu=EUR&cid=1.2&uid=user-42",
        "Google Analytics",
        "transaction",
        {"transaction": "T-1", "revenue": "99.5", "currency": "EUR"},
        ["client ID cid", "user ID uid"],
    ),
    (
        "https://region1.google-analytics.com/g/collect?v=2&tid=G-ABC123&cid=111.222",
        "POST",
        b"en=page_view&_et=1200\nen=purchase&epn.value=25&ep.currency=USD&ep.transaction_id=T9",
        "Google Analytics 4",
        "page_view",
        {"property": "G-ABC123", "value": "25", "currency": "USD", "events": "page_view, purchase"},
        ["client ID cid"],
    ),
    (
        "https://www.googleadservices.com/pagead/conversion/987654321/?label=AbC-D_efG&value=10.0"
        "&currency_code=EUR&url=https%3A%2F%2Fshop.example%2F%3Fgclid%3DCj0",
        "GET",
        None,
        "Google Ads",
        "conversion",
        {"label": "AbC-D_efG", "value": "10.0", "currency": "EUR", "conversion ID": "987654321"},
        ["click ID gclid"],
    ),
    (
        "https://googleads.g.doubleclick.net/pagead/viewthroughconversion/987654321/?random=1",
        "GET",
        None,
        "Google Ads",
        "remarketing",
        {"conversion ID": "987654321"},
        [],
    ),
    (
        "https://px.ads.linkedin.com/collect/?pid=12345&conversionId=678&fmt=gif",
        "GET",
        None,
        "LinkedIn Insight Tag",
        "conversion",
        {"partner": "12345", "conversion": "678"},
        [],
    ),
    (
        "https://analytics.tiktok.com/api/v2/pixel",
        "POST",
        json.dumps(
            {
                "event": "CompletePayment",
                "pixel_code": "C123",
                "properties": {"value": 12.5, "currency": "USD"},
                "context": {"user": {"email": SHA, "phone_number": hashlib.sha256(b"1555").hexdigest()}},
            }
        ).encode(),
        "TikTok Pixel",
        "CompletePayment",
        {"value": "12.5", "currency": "USD", "pixel": "C123"},
        ["email (sha256)", "phone (sha256)"],
    ),
    (
        "https://t.co/i/adsct?txn_id=o1abc&p_id=Twitter&tw_sale_amount=20&events=%5B%5B%22pageview%22%2C%7B%7D%5D%5D",
        "GET",
        None,
        "X (Twitter) pixel",
        "pageview",
        {"pixel": "o1abc", "value": "20"},
        [],
    ),
    (
        "https://ct.pinterest.com/v3/?event=checkout&tid=2612345&ed=%7B%22value%22%3A30%2C%22currency%22%3A%22USD%22%7D",
        "GET",
        None,
        "Pinterest Tag",
        "checkout",
        {"tag": "2612345", "value": "30", "currency": "USD"},
        [],
    ),
    (
        "https://bat.bing.com/action/0?ti=5555&evt=custom&ec=ecommerce&ea=purchase&gv=40&gc=EUR&mid=abc-def",
        "GET",
        None,
        "Microsoft UET",
        "purchase",
        {"category": "ecommerce", "value": "40", "currency": "EUR"},
        ["browser ID mid"],
    ),
    (
        "https://alb.reddit.com/rp.gif?ts=1&id=t2_abc&event=Purchase&m.itemCount=2&m.value=15",
        "GET",
        None,
        "Reddit Pixel",
        "Purchase",
        {"itemCount": "2", "value": "15", "pixel": "t2_abc"},
        [],
    ),
    (
        "https://tr.snapchat.com/p",
        "POST",
        f"pid=abc-123&ev=PURCHASE&u_hem={SHA}".encode(),
        "Snap Pixel",
        "PURCHASE",
        {"pixel": "abc-123"},
        ["email (sha256)"],
    ),
    (
        "https://shop.us3.list-manage.com/track/open.php?u=5e78d7ef2297&id=2ed1232679&e=8a3f2b1c9d",
        "GET",
        None,
        "Mailchimp",
        "email open",
        {"campaign": "2ed1232679"},
        ["recipient ID e"],
    ),
    (
        "https://u123.ct.sendgrid.net/wf/open?upn=AbCdEf0123456789-xyz",
        "GET",
        None,
        "SendGrid",
        "email open",
        {},
        ["recipient ID upn"],
    ),
]


@pytest.mark.parametrize(("url", "method", "body", "vendor", "event", "fields", "ids"), CASES)
def test_vendor_payloads(
    url: str, method: str, body: bytes | None, vendor: str, event: str, fields: dict, ids: list[str]
) -> None:
    p = decode(url, body)
    assert p is not None
    assert (p["vendor"], p["event"]) == (vendor, event)
    assert fields.items() <= p["fields"].items(), p["fields"]
    assert all(i in p["identifiers"] for i in ids), p["identifiers"]


def test_unknown_vendor_gets_the_generic_reading() -> None:
    p = decode(
        "https://stats.unknown.example/p.gif?uid=3f2a9c1b7e5d4a6b8c0d1e2f3a4b5c6d"
        "&session=550e8400-e29b-41d4-a716-446655440000&page=home",
        json.dumps({"visitor": SHA, "n": 3}).encode(),
    )
    assert p is not None and p["vendor"] is None
    assert p["fields"]["parameters"].split(", ")[:3] == ["uid", "session", "page"]
    assert set(p["identifiers"]) >= {"uid (md5 hash)", "session (identifier)", "visitor (sha256 hash)"}


@pytest.mark.parametrize("url", ["https://x.example/", "https://x.example/p.gif"])
def test_nothing_to_decode(url: str) -> None:
    assert decode(url) is None


def test_json_nested_deeper_than_any_payload_is_not_parsed() -> None:
    from pixelguard.payloads.fields import MAX_DEPTH, body_json

    assert body_json(b'{"a": [1, {"b": "[[[[ not brackets"}]}') == {"a": [1, {"b": "[[[[ not brackets"}]}
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000  # raised RecursionError from json's C parser
    assert body_json(deep) is None
    assert body_json(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)) is None
    assert body_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    wide = b"[" + b"[1]," * 5000 + b"[1]]"  # many brackets, shallow: parsed
    assert body_json(wide) is not None
