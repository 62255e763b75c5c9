"""The payload readers, value by value: each vendor's decoder, the generic reading and the field helpers give
exactly what their documentation says (issue 23: tests that notice when the code changes, not only that it
returns something). Pure functions, no I/O."""

from __future__ import annotations

import base64
import json

import pytest

from pixelguard.payloads import decode, schemas, vendors
from pixelguard.payloads import fields as f

SHA256 = "a" * 64
SHA1 = "b" * 40


# --- decode: the table, the protocols, the generic reading ------------------------------------------------------


def test_a_protocol_on_a_site_of_its_own_is_read_by_its_vendors_decoder() -> None:
    url = "https://www.shop.example/m?v=2&tid=G-ABC123XYZ9&cid=5.1&en=purchase&ep.value=9&_et=40"
    assert decode(url) == {
        "vendor": "Google Analytics 4",
        "event": "purchase",
        "fields": {"property": "G-ABC123XYZ9", "value": "9", "engagement time ms": "40"},
        "identifiers": ["client ID cid"],
    }
    li = decode("https://www.shop.example/li?pid=42&fmt=js&url=https%3A%2F%2Fshop.example%2F")
    assert li is not None and (li["vendor"], li["event"], li["fields"]) == (
        "LinkedIn Insight Tag",
        "page view",
        {"partner": "42"},
    )


def test_a_protocol_without_a_decoder_gets_the_generic_reading_under_its_vendors_name() -> None:
    body = json.dumps([{"event": "Viewed", "properties": {"token": "t0k3n"}}]).encode()
    assert decode("https://www.shop.example/mp", body) == {
        "vendor": "Mixpanel", "event": None, "fields": {}, "identifiers": []
    }  # fmt: skip


def test_a_url_in_the_query_does_not_move_the_path_the_table_reads() -> None:
    got = decode("https://www.facebook.com/tr?id=1&ev=PageView&next=a://b")
    assert got is not None and got["vendor"] == "Meta Pixel"


def test_the_generic_reading_names_parameters_and_the_identifiers_among_them() -> None:
    uuid = "123e4567-e89b-12d3-a456-426614174000"
    got = decode(f"https://t.example/c?h={SHA1}&u={uuid}&tok=abcdef0123456789XYZab&plain=hello")
    assert got == {
        "vendor": None,
        "event": None,
        "fields": {"parameters": "h, u, tok, plain"},
        "identifiers": ["h (sha1 hash)", "u (identifier)", "tok (identifier)"],
    }
    many = "&".join(f"p{i}=1" for i in range(45))
    names = decode(f"https://t.example/c?{many}")["fields"]["parameters"].split(", ")  # type: ignore[index]
    assert names == [f"p{i}" for i in range(40)]  # at most 40 named
    keys = {f"k{i}": "x" for i in range(100)} | {"late": SHA256}  # the 101st key of a JSON body is not read
    assert decode("https://t.example/j", json.dumps(keys).encode())["identifiers"] == []  # type: ignore[index]


# --- the field helpers ---------------------------------------------------------------------------------------------


def test_query_and_bodies_keep_blank_values_and_read_what_they_should() -> None:
    assert f.query("https://a.example/?x=&y=1") == {"x": "", "y": "1"}
    assert f.body_form(b"a=&b=1\nc=2") == {"a": "", "b": "1"}  # the first line only
    for not_form in (b"{a=1", b"  {a=1", b"[a=1", b"no equals sign", b""):
        assert f.body_form(not_form) == {}, not_form
    assert f.body_lines(b"en=x&ep.a=\nen=y") == [{"en": "x", "ep.a": ""}, {"en": "y"}]
    assert f.body_text(b"") == "" and f.body_text(None) == ""
    assert f.body_text("é".encode()) == "é"


def test_json_nested_past_the_limit_is_not_parsed() -> None:
    deep = b'{"a":' * 70 + b"1" + b"}" * 70
    assert f.body_json(deep) is None
    shallow = b'{"a":' * 10 + b"1" + b"}" * 10
    assert f.body_json(shallow) is not None
    assert f.body_json(b'["' + b"{" * 100 + b'"]') == ["{" * 100]  # brackets inside strings are text


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (SHA256, "sha256"), (SHA1, "sha1"), ("c" * 32, "md5"), ("0123456789abcdef0", "id"), ("abc123", None),
        ("123e4567-e89b-12d3-a456-426614174000", "uuid"), ("abcdefghijklmnopqrstuv", None),
        ("hello world 123 abc", None), ("dGhpcyBpcyBhbiBpZDEyMw9", "id"),
    ],
)  # fmt: skip
def test_kind_of(value: str, kind: str | None) -> None:
    assert f.kind_of(value) == kind


def test_short_cuts_at_the_limit_and_keeps_non_ascii() -> None:
    assert f.short("a" * f.MAX_VALUE) == "a" * f.MAX_VALUE
    assert f.short("a" * (f.MAX_VALUE + 1)) == "a" * (f.MAX_VALUE - 1) + "…"
    assert f.short({"a": "é"}) == '{"a": "é"}'


# --- the protocols' detectors, on what tells them apart --------------------------------------------------------


def _b64_with(char: str, altchars: bytes | None = None) -> tuple[str, dict[str, object]]:
    """A Mixpanel event whose base64 holds ``char`` (found by trying values: the encoding decides)."""
    for i in range(10_000):
        event = {"event": "Viewed", "properties": {"token": "t", "n": f"{i}>>??"}}
        raw = json.dumps(event).encode()
        text = base64.b64encode(raw, altchars=altchars).decode()
        if char in text:
            return text, event
    raise AssertionError(char)


def test_base64_data_read_with_a_plus_the_query_turned_to_a_space_and_in_the_url_safe_alphabet() -> None:
    text, _ = _b64_with("+")
    found = schemas.detect(f"https://www.shop.example/t?data={text}")  # + unescaped: the query reads a space
    assert found is not None and found.vendor == "Mixpanel"
    text, _ = _b64_with("-", altchars=b"-_")
    found = schemas.detect(f"https://www.shop.example/t?data={text}")
    assert found is not None and found.vendor == "Mixpanel"


@pytest.mark.parametrize(
    ("params", "vendor", "evidence"),
    [
        (
            {"v": "2", "tid": "G-ABC123XYZ9", "cid": "1.2", "en": "x"},
            "Google Analytics 4",
            "v=2, tid=G-…, cid, en",
        ),
        (
            {"v": "2", "tid": "G-ABC123XYZ9", "_p": "1", "en": "x"},
            "Google Analytics 4",
            "v=2, tid=G-…, cid, en",
        ),
        (
            {"v": "1", "tid": "UA-1-1", "cid": "1.2", "t": "event"},
            "Google Analytics",
            "v=1, tid=UA-…, cid, t",
        ),
        ({"v": "1", "tid": "UA-1-1", "uid": "u", "t": "event"}, "Google Analytics", "v=1, tid=UA-…, cid, t"),
        ({"id": "1234567890", "ev": "Lead", "fbp": "fb.1.2"}, "Meta Pixel", "id, ev, fbp"),
        ({"id": "1234567890", "ev": "Lead", "rl": ""}, "Meta Pixel", "id, ev, rl"),
        ({"id": "1234567890", "ev": "Lead", "ud[em]": SHA256}, "Meta Pixel", "id, ev, ud[em]"),
        ({"e": "se", "tv": "py-0.13.0", "eid": "1"}, "Snowplow", "e, tv, eid"),
        ({"e": "se", "tv": "py-0.13.0", "aid": "app"}, "Snowplow", "e, tv, aid"),
        ({"pid": "42", "fmt": "gif", "conversionId": "7"}, "LinkedIn Insight Tag", "pid, fmt, url"),
        ({"event": "lead", "tid": "2612345678901", "pd": "{}"}, "Pinterest Tag", "tid, event, ad"),
        ({"idsite": "1", "rec": "1"}, "Matomo", "idsite, rec=1"),
    ],
)
def test_each_detector_on_its_minimum(params: dict[str, str], vendor: str, evidence: str) -> None:
    from urllib.parse import urlencode

    found = schemas.detect(f"https://www.shop.example/x?{urlencode(params)}")
    assert found is not None and (found.vendor, found.evidence) == (vendor, evidence)


@pytest.mark.parametrize(
    ("event", "vendor"),
    [
        ({"type": "track", "userId": "u", "writeKey": "k"}, "Segment"),
        ({"type": "page", "anonymousId": "a", "messageId": "m"}, "Segment"),
        ({"type": "identify", "userId": "u", "context": {}}, "Segment"),
        ({"type": "track", "userId": "u", "messageId": "m", "rudderId": "r"}, "RudderStack"),
        ({"type": "track", "userId": "u", "messageId": "m", "channel": "web"}, "RudderStack"),
    ],
)
def test_segment_and_rudderstack_by_what_their_messages_carry(event: dict[str, object], vendor: str) -> None:
    found = schemas.detect("https://www.shop.example/v1", json.dumps(event).encode())
    assert found is not None and found.vendor == vendor


# --- each vendor's decoder, field by field --------------------------------------------------------------------------


def test_vendor_decoders_field_by_field() -> None:
    assert vendors.meta(f"https://www.facebook.com/tr?id=1&ev=Lead&dl=https%3A%2F%2Fs.example%2F&ud[ct]={SHA256}", None) == (
        "Meta Pixel", "Lead", {"pixel": "1", "page": "https://s.example/"}, ["ct (sha256)"])  # fmt: skip
    assert vendors.google_ads("https://www.googleadservices.com/pagead/conversion/abc/?label=x", None)[2] == {
        "label": "x"
    }  # no conversion ID: the last path part is not a number
    ga = vendors.google_analytics(
        "https://www.google-analytics.com/g/collect?v=2&tid=G-1&cid=1&uid=u&en=x", None
    )
    assert ga[3] == ["client ID cid", "user ID uid"]
    assert vendors.microsoft_uet("https://bat.bing.com/action/0?evt=custom&ti=5", None)[:3] == (
        "Microsoft UET", "custom", {"tag": "5"})  # fmt: skip
    pin = vendors.pinterest(
        'https://ct.pinterest.com/v3/?event=checkout&tid=1&ed={"order_quantity":2}&pd={"em":"h"}', None
    )
    assert pin == ("Pinterest Tag", "checkout", {"tag": "1", "order_quantity": "2"}, ["email (sha256)"])
    assert vendors.pinterest("https://ct.pinterest.com/v3/?event=x&pd={}", None)[3] == []
    assert vendors.reddit("https://alb.reddit.com/rp.gif?id=p&event=Lead&rdt_cid=c", None)[3] == [
        "click ID rdt_cid"
    ]
    assert vendors.snap(f"https://tr.snapchat.com/p?pid=1&ev=x&u_hpn={SHA256}", None)[3] == ["phone (sha256)"]
    tt = json.dumps({"event": "Buy", "properties": {"content_type": "product", "other": 1}}).encode()
    assert vendors.tiktok("https://analytics.tiktok.com/api/v2/pixel", tt)[1:3] == (
        "Buy",
        {"content_type": "product"},
    )
    assert vendors.tiktok("https://analytics.tiktok.com/api/v2/pixel?event=View", b'{"properties": 5}')[
        1:3
    ] == ("View", {})
    assert vendors.twitter("https://t.co/i/adsct?txn_id=t&twclid=c", None)[3] == ["click ID twclid"]
    opened = vendors.email_open("Mailchimp", "e", "id")
    assert opened("https://x.list-manage.com/track/open.php?u=1&id=c7&e=r", None) == (
        "Mailchimp", "email open", {"campaign": "c7"}, ["recipient ID e"])  # fmt: skip
    assert opened("https://x.list-manage.com/track/open.php?u=1", None) == ("Mailchimp", "email open", {}, [])


def test_ga4_posted_as_one_form_is_read_as_ga4_with_its_property_and_ids() -> None:
    body = b"v=2&tid=G-ABC123XYZ9&cid=5.1&uid=u&en=purchase"
    assert decode("https://www.shop.example/m", body) == {
        "vendor": "Google Analytics 4",
        "event": "purchase",
        "fields": {"property": "G-ABC123XYZ9"},
        "identifiers": ["client ID cid", "user ID uid"],
    }
