"""Collection protocols recognised by what a request carries (payloads/schemas.py): one row per protocol and shape,
on a first-party host and a renamed path, parameters in another order, GET and POST; first-party API calls that
share their parameter names pass; the pipeline blocks with reason `schema` and the vendor, and the payload is
decoded."""

from __future__ import annotations

import base64
import json
import random
from urllib.parse import urlencode

import pytest

from pixelguard.decision.bodies import view_of
from pixelguard.decision.decision import Action
from pixelguard.decision.pipeline import Pipeline
from pixelguard.decision.request_model import RequestModel, header_map
from pixelguard.engine import Engine
from pixelguard.payloads import decode
from pixelguard.payloads.schemas import detect

SITE = "https://www.shop.example"


def _b64(obj: object) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


GA4 = {"v": "2", "tid": "G-ABC123XYZ9", "gtm": "45je", "_p": "1712", "cid": "1234567890.1712000000",
       "ul": "en-us", "sr": "1920x1080", "en": "page_view", "dl": f"{SITE}/", "dt": "Shop"}  # fmt: skip
UA = {"v": "1", "_v": "j101", "t": "pageview", "tid": "UA-12345678-1", "cid": "555.666", "dl": f"{SITE}/"}
META = {"id": "1234567890123456", "ev": "Purchase", "dl": f"{SITE}/checkout", "rl": "", "if": "false",
        "cd[value]": "49.99", "cd[currency]": "EUR", "fbp": "fb.1.1712000000000.123456789"}  # fmt: skip
MATOMO = {"idsite": "3", "rec": "1", "action_name": "Home", "url": f"{SITE}/", "_id": "0123456789abcdef",
          "rand": "42", "apiv": "1"}  # fmt: skip
SNOWPLOW = {"e": "pv", "url": f"{SITE}/", "page": "Shop", "tv": "js-3.17.0", "tna": "sp", "aid": "shop",
            "p": "web", "duid": "2f0a3c5e-1b2d-4c3e-9f8a-7b6c5d4e3f2a", "eid": "8b1e7c2a-0000-4000-8000-000000000001"}  # fmt: skip
ADOBE = {"AQB": "1", "ndh": "1", "pageName": "home", "g": f"{SITE}/", "mid": "123", "AQE": "1"}
LINKEDIN = {"v": "2", "fmt": "js", "pid": "2801748", "time": "1712000000000", "url": f"{SITE}/"}
PINTEREST = {
    "event": "checkout",
    "ed": '{"value":10}',
    "tid": "2612345678901",
    "pd": '{"em":"abc"}',
    "ad": '{"loc":"x"}',
}
SEGMENT = {"type": "track", "event": "Order Completed", "anonymousId": "a0c1e2d3-4b5a-6978-8a9b-0c1d2e3f4a5b",
           "properties": {"revenue": 10}, "context": {"library": {"name": "analytics.js", "version": "next-1.70"}},
           "messageId": "ajs-next-1712000000000-abc", "writeKey": "WRITEKEY", "sentAt": "2026-12-03T10:00:00Z"}  # fmt: skip
MIXPANEL = {
    "event": "Viewed Page",
    "properties": {"token": "0123456789abcdef0123456789abcdef", "distinct_id": "x"},
}
KLAVIYO = {
    "token": "PubKey",
    "event": "Viewed Product",
    "customer_properties": {"$exchange_id": "abc"},
    "properties": {},
}


def _shuffled(params: dict[str, str]) -> str:
    items = list(params.items())
    random.Random(7).shuffle(items)  # another order than the vendor's (fixed seed: the same every run)
    return urlencode(items)


# (vendor, url, body): each protocol on the site's own host at a path of the site's choosing.
# fmt: off
CASES = [
    ("Google Analytics 4", f"{SITE}/api/m?{_shuffled(GA4)}", None),
    (
        "Google Analytics 4",
        f"{SITE}/metrics/c?{_shuffled({k: v for k, v in GA4.items() if k != 'en'})}",
        b"en=page_view&_et=12\nen=scroll&epn.percent_scrolled=90",
    ),  # a batch: one event a line
    (
        "Google Analytics 4",
        f"{SITE}/mp/collect?measurement_id=G-ABC123XYZ9&api_secret=s3cr3t",
        json.dumps(
            {"client_id": "123.456", "events": [{"name": "purchase", "params": {"value": 10}}]}
        ).encode(),
    ),
    ("Google Analytics", f"{SITE}/collect-proxy?{_shuffled(UA)}", None),
    ("Google Analytics", f"{SITE}/u", _shuffled(UA).encode()),  # POST, form-encoded
    ("Meta Pixel", f"{SITE}/px?{_shuffled(META)}", None),
    ("Meta Pixel", f"{SITE}/px", _shuffled(META).encode()),
    (
        "Meta Conversions API",
        f"{SITE}/capi",
        json.dumps(
            {
                "data": [
                    {
                        "event_name": "Purchase",
                        "event_time": 1712000000,
                        "user_data": {"em": ["a" * 64]},
                        "action_source": "website",
                    }
                ]
            }
        ).encode(),
    ),
    ("Matomo", f"{SITE}/js/?{_shuffled(MATOMO)}", None),
    ("Matomo", f"{SITE}/t", json.dumps({"requests": ["?" + urlencode(MATOMO)]}).encode()),  # bulk
    ("Snowplow", f"{SITE}/i?{_shuffled(SNOWPLOW)}", None),
    (
        "Snowplow",
        f"{SITE}/com.snowplowanalytics.snowplow/tp2",
        json.dumps(
            {
                "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
                "data": [SNOWPLOW],
            }
        ).encode(),
    ),
    ("Adobe Analytics", f"{SITE}/b/ss/rsid/1/JS-2.22.0/s123?{urlencode(ADOBE)}", None),
    ("LinkedIn Insight Tag", f"{SITE}/li?{_shuffled(LINKEDIN)}", None),
    ("Pinterest Tag", f"{SITE}/pin?{_shuffled(PINTEREST)}", None),
    ("Segment", f"{SITE}/v1/t", json.dumps(SEGMENT).encode()),
    ("Segment", f"{SITE}/v1/batch", json.dumps({"batch": [SEGMENT], "writeKey": "WRITEKEY"}).encode()),
    ("RudderStack", f"{SITE}/v1/track", json.dumps({**SEGMENT, "rudderId": "r", "channel": "web"}).encode()),
    (
        "TikTok Pixel",
        f"{SITE}/api/v2/pixel",
        json.dumps(
            {
                "pixel_code": "C123ABC",
                "event": "CompletePayment",
                "context": {"user": {"email": "a" * 64}},
                "properties": {"value": 10},
            }
        ).encode(),
    ),
    ("Mixpanel", f"{SITE}/mp/track/?ip=1&data={_b64(MIXPANEL)}", None),
    ("Mixpanel", f"{SITE}/mp/track/", f"data={_b64([MIXPANEL])}".encode()),
    ("Mixpanel", f"{SITE}/mp/track/", json.dumps([MIXPANEL]).encode()),
    ("Klaviyo", f"{SITE}/k/track?data={_b64(KLAVIYO)}", None),
]
# fmt: on


@pytest.mark.parametrize(("vendor", "url", "body"), CASES)
def test_each_protocol_is_recognised_wherever_it_goes(vendor: str, url: str, body: bytes | None) -> None:
    found = detect(url, body)
    assert found is not None and found.vendor == vendor, found
    assert decode(url, body)["vendor"] == vendor  # type: ignore[index]


@pytest.mark.parametrize(("vendor", "url"), [(v, u) for v, u, b in CASES if b is None])
def test_each_query_protocol_is_recognised_posted_as_a_form_too(vendor: str, url: str) -> None:
    path, query = url.split("?", 1)
    found = detect(path, query.encode())  # sendBeacon and fetch POST the same parameters
    assert found is not None and found.vendor == vendor, found


# First-party calls that share the protocols' parameter names (v, id, tid, e, p, event, data, pid, ...).
ORDINARY = [
    f"{SITE}/api/v2/items?v=2&id=123&tid=abc&e=1&p=2",
    f"{SITE}/search?q=shoes&v=1&tid=UA-ticket-7&t=pageview",  # a ticket ID, no client ID
    f"{SITE}/api/orders?id=1234567890123456&ev=shipped",  # a numeric id and an event, no page or browser ID
    f"{SITE}/events?event=signup&tid=2612345678901",
    f"{SITE}/track?idsite=3&rec=0",  # rec is not 1: not a tracking request
    f"{SITE}/page?e=pv&tv=42&duid=7",  # tv is not a tracker version
    f"{SITE}/img?pid=123&fmt=webp&w=300",
    f"{SITE}/feed?data=hello-world-but-not-base64-json",
    f"{SITE}/api?data={_b64({'event': 'x', 'properties': {}})}",  # no token
    f"{SITE}/g/collect?v=2&tid=G-ABC123XYZ9",  # GA4's path, but no client and no event
]
ORDINARY_BODIES = [
    json.dumps({"type": "track", "userId": 1}).encode(),  # no context, messageId or writeKey
    json.dumps({"event": "click", "id": 5}).encode(),
    json.dumps({"client_id": "abc", "scope": "read"}).encode(),  # OAuth
    json.dumps({"data": [{"event_name": "x"}]}).encode(),  # no user data
    json.dumps({"schema": "https://json-schema.org/draft/2020-12/schema", "data": []}).encode(),
    b"v=2&tid=G-ABC123XYZ9&cid=1",  # no event
]


@pytest.mark.parametrize("url", ORDINARY)
def test_first_party_calls_sharing_the_names_pass(url: str) -> None:
    assert detect(url) is None


@pytest.mark.parametrize("body", ORDINARY_BODIES)
def test_first_party_bodies_sharing_the_names_pass(body: bytes) -> None:
    assert detect(f"{SITE}/api/submit", body) is None


@pytest.mark.parametrize(
    "body",
    [
        b"{" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b"data=" + b"A" * 200_000,
        b"\n".join([b"v=2&tid=G-X"] * 100_000),
    ],
)
def test_hostile_bodies_are_read_in_bounded_time(body: bytes) -> None:
    assert detect(f"{SITE}/x?data=1", body) is None  # a hang fails on the suite's timeout


# --- in the pipeline ------------------------------------------------------------------------------------------


def _req(url: str, body: bytes | None = None) -> tuple[RequestModel, object]:
    method = "POST" if body else "GET"
    req = RequestModel.from_url(url, method=method, headers=header_map([("Referer", f"{SITE}/")]))
    return req, view_of(
        body, "application/json" if body and body[:1] in b"[{" else "text/plain"
    ) if body else None


def test_the_pipeline_blocks_a_protocol_on_a_first_party_path_with_its_vendor() -> None:
    pipe = Pipeline(Engine.from_text("||tracker.test^\n", "t"))
    req, body = _req(f"{SITE}/api/m?{_shuffled(GA4)}")
    d = pipe.decide(req, body)  # type: ignore[arg-type]
    assert d.action is Action.BLOCKED and d.reason is not None
    assert (d.reason.stage, d.reason.rule, d.reason.list) == (
        "schema",
        "Google Analytics 4 collection protocol",
        "schema",
    )
    assert d.reason.detail == "carries v=2, tid=G-…, cid, en"
    assert (
        d.payload is not None
        and d.payload["vendor"] == "Google Analytics 4"
        and d.payload["event"] == "page_view"
    )
    req, body = _req(f"{SITE}/v1/t", json.dumps(SEGMENT).encode())
    assert pipe.decide_url(req).action is Action.PASSED  # the URL alone says nothing
    d = pipe.decide(req, body)  # type: ignore[arg-type]
    assert (
        d.action is Action.BLOCKED and d.reason is not None and d.reason.rule == "Segment collection protocol"
    )


def test_a_protocol_whose_names_are_escaped_is_recognised_too() -> None:
    # %74id is tid, as the server reads it: the protocol is judged on the URL as the lists are (canonical_url).
    pipe = Pipeline(Engine.from_text("||tracker.test^\n", "t"))
    query = _shuffled(GA4).replace("tid=", "%74id=").replace("cid=", "c%69d=")
    req, body = _req(f"{SITE}/api/m?{query}")
    d = pipe.decide(req, body)  # type: ignore[arg-type]
    assert d.action is Action.BLOCKED and d.reason is not None
    assert d.reason.rule == "Google Analytics 4 collection protocol"


def test_a_host_the_user_allows_keeps_its_protocol() -> None:
    pipe = Pipeline(Engine.from_text("@@||www.shop.example^\n", "user"))
    req, body = _req(f"{SITE}/api/m?{_shuffled(GA4)}")
    assert pipe.decide(req, body).action is Action.PASSED  # type: ignore[arg-type]


# --- learning the path ----------------------------------------------------------------------------------------


def test_a_path_is_learned_once_after_three_matches_and_never_a_whole_host() -> None:
    from pixelguard.decision.schema_learner import MAX_PATHS, SchemaLearner, learned_rule

    lr = SchemaLearner(3)
    host = "www.shop.example"
    assert lr.match(host, f"{SITE}/api/m?a=1", "GA4") is None
    assert lr.match(host, f"{SITE}/api/other?a=1", "GA4") is None  # another path counts apart
    assert lr.match(host, f"{SITE}/api/m?a=2", "GA4") is None
    got = lr.match(host, f"{SITE}/api/m?a=3", "GA4")
    assert got is not None and got.path == "/api/m" and "3 times" in got.evidence
    assert learned_rule(host, got.path) == "||www.shop.example/api/m^"
    assert lr.match(host, f"{SITE}/api/m?a=4", "GA4") is None  # said once
    for url in (f"{SITE}/", f"{SITE}/?x=1", f"{SITE}/a*b", f"{SITE}/" + "p" * 300):
        for _ in range(5):
            assert lr.match(host, url, "GA4") is None  # the whole site, or no rule a person reads
    for i in range(MAX_PATHS + 500):
        lr.match(host, f"{SITE}/p{i}", "GA4")
    assert len(lr) <= MAX_PATHS  # bounded whatever the traffic


# --- redaction of allowed trackers ------------------------------------------------------------------------------


def test_an_allowed_tracker_keeps_its_event_and_loses_who_sent_it() -> None:
    from pixelguard.decision.redact import redact, without_cookies

    url = "https://www.google-analytics.com/g/collect?v=2&tid=G-ABC123XYZ9&cid=555.1&uid=u-42&en=page_view&dl=x#f"
    red = redact(url, "_ga=GA1.1.555.1; theme=dark; _ga_ABC123=GS1.1; _fbp=fb.1.2")
    assert red.url == "https://www.google-analytics.com/g/collect?v=2&tid=G-ABC123XYZ9&en=page_view&dl=x#f"
    assert red.params == ("cid", "uid") and red.cookies == ("_ga", "_ga_ABC123", "_fbp")
    assert red.summary() == "removed cid, uid, cookie _ga, cookie _ga_ABC123, cookie _fbp"
    assert without_cookies("_ga=1; theme=dark; _fbp=2", red.cookies) == "theme=dark"
    meta = redact("https://www.facebook.com/tr?id=1&ev=Purchase&ud%5Bem%5D=abc&fbp=fb.1&cd[value]=9")
    assert meta.url == "https://www.facebook.com/tr?id=1&ev=Purchase&cd[value]=9" and meta.params == (
        "ud[em]",
        "fbp",
    )
    plain = "https://www.google-analytics.com/g/collect?v=2&en=x"
    assert not redact(plain, "theme=dark") and redact(plain).url is plain


def test_the_pipeline_redacts_an_allowed_tracker_and_only_when_configured() -> None:
    rules = "||google-analytics.com^\n@@||google-analytics.com^\n"
    url = "https://www.google-analytics.com/g/collect?v=2&tid=G-ABC123XYZ9&cid=555.1&uid=u-42&en=page_view"
    req = RequestModel.from_url(url, headers=header_map([("Cookie", "_ga=GA1.1.5; theme=dark")]))
    d = Pipeline(Engine.from_text(rules, "user")).decide(req)
    assert d.action is Action.REDACTED and d.allowed and d.goes_upstream
    assert d.url == "https://www.google-analytics.com/g/collect?v=2&tid=G-ABC123XYZ9&en=page_view"
    assert d.drop_cookies == ("_ga",) and d.reason is not None and d.reason.stage == "redacted"
    assert [r.stage for r in d.reasons] == ["redacted", "allowed"]
    off = Pipeline(Engine.from_text(rules, "user"), redact_allowed=False).decide(req)
    assert off.action is Action.PASSED and off.allowed
    # A first-party request that no rule blocks is no allowed tracker: nothing is taken from it.
    own = RequestModel.from_url(f"{SITE}/account?uid=7", headers=header_map([("Cookie", "_ga=1")]))
    assert Pipeline(Engine.from_text(rules, "user")).decide(own).action is Action.PASSED


def test_a_third_party_tracker_that_passes_loses_its_cache_validators_and_the_page_path() -> None:
    page = "https://news.example/2026/12/a-private-article?id=7"
    hdrs = [("Referer", page), ("If-None-Match", '"uid-123"'), ("If-Modified-Since", "Tue, 01 Dec 2026 10:00:00 GMT"),
            ("X-Client-Data", "CIa2yQEI"), ("Accept", "*/*")]  # fmt: skip
    pipe = Pipeline(
        Engine.from_text("||blocked.test^\n", "t"), tracker_host=lambda h: h.endswith("cdn.tracker.example")
    )
    d = pipe.decide(RequestModel.from_url("https://cdn.tracker.example/lib.js", headers=header_map(hdrs)))
    assert d.action is Action.PASSED
    assert d.drop_headers == ("if-none-match", "if-modified-since", "x-client-data")
    assert d.set_referer == "https://news.example/"
    # Not a tracker's host, the site's own request, or hygiene switched off: the headers stay.
    other = pipe.decide(RequestModel.from_url("https://fonts.cdn.example/a.woff2", headers=header_map(hdrs)))
    own = pipe.decide(RequestModel.from_url("https://news.example/api/x", headers=header_map(hdrs)))
    assert other == own and other.drop_headers == () and other.set_referer is None
    off = Pipeline(pipe.engine, header_hygiene=False, tracker_host=pipe.tracker_host)
    assert (
        off.decide(
            RequestModel.from_url("https://cdn.tracker.example/lib.js", headers=header_map(hdrs))
        ).drop_headers
        == ()
    )
    # An allowed tracker gets it too, whatever the entity table says.
    allowed = Pipeline(Engine.from_text("||t.example^\n@@||t.example^\n", "user"))
    d = allowed.decide(RequestModel.from_url("https://t.example/p", headers=header_map(hdrs)))
    assert d.allowed and d.set_referer == "https://news.example/" and "x-client-data" in d.drop_headers
