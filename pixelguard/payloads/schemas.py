"""Collection protocols recognised by what a request carries, not by where it goes (issue 26).

Sites serve Google Tag Manager from their own domain, rename GA4's ``/g/collect`` and proxy Segment, Snowplow or
Matomo through first-party paths: a list names none of that, but the request still speaks its protocol. Each
detector below asks for the parameters the protocol cannot do without, as its documentation defines them, several
at once (a lone ``v``, ``id``, ``tid`` or ``e`` is ordinary: an API's version, a record, a tenant): parameter order,
path, host and method play no part. Query string, form body, JSON body and batches (GA4's lines, Segment's and
Meta's arrays, Snowplow's payload_data, Matomo's bulk requests, Mixpanel's and Klaviyo's base64 ``data=``) are
all read.

Cost: ``detect`` runs on every request that passes the lists, so a prefilter (one regex over the query, one over
the body's head) turns away a request holding none of the protocols' anchor names before anything is parsed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pixelguard.payloads import vendors
from pixelguard.payloads.fields import MAX_PARAMS, body_json, body_text

Params = dict[str, str]
MAX_ITEMS = 50  # events of one batch looked at (a batch of more is still one request)

# A protocol's query or form body has at least one of these names (GA: tid; Meta: ev; Matomo: idsite; Snowplow:
# tv; Adobe: AQB; LinkedIn: pid; Pinterest: tid; Mixpanel and Klaviyo: data).
_QUERY_ANCHOR = re.compile(r"(?:^|[&;])(?:tid|ev|idsite|tv|AQB|pid|data)=")
# A body's: those, or a JSON protocol's key.
_BODY_ANCHOR = re.compile(
    r'(?:^|[&;\n])(?:tid|ev|idsite|tv|AQB|pid|data)=|"(?:anonymousId|userId|pixel_code|event_name|client_id|'
    r'schema|requests|event)"'
)
_GA4_ID = re.compile(r"G-[A-Z0-9]{4,}\Z")
_UA_ID = re.compile(r"UA-\d+-\d+\Z")
_META_ID = re.compile(r"\d{8,20}\Z")
_TRACKER_VERSION = re.compile(r"[a-z]+-\d")  # Snowplow's tv: js-3.17.0, py-0.13.0, andr-5.0.0
# Snowplow event types (Snowplow docs, "Snowplow Tracker Protocol": e).
_SNOWPLOW_EVENTS = frozenset({"pv", "pp", "se", "ue", "tr", "ti", "ad"})
# Segment's message types (Segment docs, "Spec: Common Fields"); RudderStack's are the same.
_SEGMENT_TYPES = frozenset({"track", "page", "screen", "identify", "group", "alias"})
_SNOWPLOW_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data"


@dataclass(frozen=True)
class Match:
    vendor: str
    evidence: str  # the parameters that gave it away, e.g. "v=2, tid=G-…, cid, en"
    decoder: Callable[[str, bytes | None], vendors.Decoded] | None = (
        None  # its payload decoder, if pixelguard has one
    )


def detect(url: str, body: bytes | None = None) -> Match | None:
    """The collection protocol a request speaks, or None."""
    query = urlsplit(url).query if "?" in url else ""
    head = body_text(body) if body else ""
    if not (query and _anchored(query)) and not (head and _BODY_ANCHOR.search(head)):
        return None
    q = dict(parse_qsl(query, keep_blank_values=True)[:MAX_PARAMS]) if query else {}
    for params in _param_sets(q, head):
        found = _from_params(params)
        if found is not None:
            return found
    data = body_json(body) if head.lstrip()[:1] in ("{", "[") else None
    return _from_json(data) if data is not None else None


def _anchored(query: str) -> bool:
    """Does the query name a protocol's key, spelt as sent or with its escapes undone (``%74id=`` is ``tid=``,
    as the server and parse_qsl read it)?"""
    return bool(_QUERY_ANCHOR.search(query)) or ("%" in query and bool(_QUERY_ANCHOR.search(unquote(query))))


def _param_sets(q: Params, body: str) -> Iterator[Params]:
    """The query, and the query with each form line of the body (GA4 sends one event a line)."""
    yield q
    if body and "=" in body and body.lstrip()[:1] not in ("{", "["):
        for line in body.split("\n")[:MAX_ITEMS]:
            if "=" in line:
                yield {**q, **dict(parse_qsl(line, keep_blank_values=True)[:MAX_PARAMS])}


# --- parameters (query string and form bodies) -------------------------------------------------------------


def _from_params(p: Params) -> Match | None:
    for check in _PARAM_CHECKS:
        found = check(p)
        if found is not None:
            return found
    return None


def _ga(p: Params) -> Match | None:
    """Google Analytics. GA4 (gtag.js and the /g/collect protocol): v=2, tid=G-..., a client ID (cid) or page
    session (_p), and an event name (en). Universal Analytics / Measurement Protocol v1: v=1, tid=UA-n-n, cid
    or uid, and a hit type t (Google's "Measurement Protocol parameter reference")."""
    tid, v = p.get("tid", ""), p.get("v")
    if v == "2" and _GA4_ID.match(tid) and ("cid" in p or "_p" in p) and "en" in p:
        return Match("Google Analytics 4", "v=2, tid=G-…, cid, en", vendors.google_analytics)
    if v == "1" and _UA_ID.match(tid) and ("cid" in p or "uid" in p) and p.get("t"):
        return Match("Google Analytics", "v=1, tid=UA-…, cid, t", vendors.google_analytics)
    return None


def _meta(p: Params) -> Match | None:
    """Meta Pixel (Meta for Developers, "Meta Pixel" reference): the pixel's numeric id, an event ev, and the
    page (dl), its referrer (rl), the browser ID fbp or custom/user data cd[...]/ud[...]."""
    if p.get("ev") and _META_ID.match(p.get("id", "")):
        extra = [k for k in ("fbp", "dl", "rl") if k in p] or [k for k in p if k.startswith(("cd[", "ud["))][
            :1
        ]
        if extra:
            return Match("Meta Pixel", "id, ev, " + extra[0], vendors.meta)
    return None


def _matomo(p: Params) -> Match | None:
    """Matomo / Piwik (Matomo "Tracking HTTP API"): idsite and rec=1 are required in every tracking request."""
    if p.get("rec") == "1" and p.get("idsite"):
        return Match("Matomo", "idsite, rec=1")
    return None


def _snowplow(p: Params) -> Match | None:
    """Snowplow ("Snowplow Tracker Protocol"): e the event type, tv the tracker version (js-3.x, py-0.x), and
    one of the IDs every tracker sends: eid event, duid domain user, aid application."""
    if p.get("e") in _SNOWPLOW_EVENTS and _TRACKER_VERSION.match(p.get("tv", "")):
        ident = next((k for k in ("eid", "duid", "aid") if k in p), None)
        if ident:
            return Match("Snowplow", f"e, tv, {ident}")
    return None


def _adobe(p: Params) -> Match | None:
    """Adobe Analytics image requests (Adobe "Data collection query parameters"): the data begins with AQB=1
    and ends with AQE=1."""
    if p.get("AQB") == "1" and p.get("AQE") == "1":
        return Match("Adobe Analytics", "AQB=1, AQE=1")
    return None


def _linkedin(p: Params) -> Match | None:
    """LinkedIn Insight Tag (LinkedIn Marketing Solutions help): the partner ID pid, the format fmt, and the
    page url or a conversionId."""
    if p.get("pid", "").isdigit() and "fmt" in p and ("url" in p or "conversionId" in p):
        return Match("LinkedIn Insight Tag", "pid, fmt, url", vendors.linkedin)
    return None


def _pinterest(p: Params) -> Match | None:
    """Pinterest Tag (Pinterest business help, "tag parameters"): the tag ID tid (13 digits), an event, and
    the browser data ad or hashed user data pd."""
    if p.get("event") and re.fullmatch(r"\d{10,16}", p.get("tid", "")) and ("ad" in p or "pd" in p):
        return Match("Pinterest Tag", "tid, event, ad", vendors.pinterest)
    return None


def _base64_json(p: Params) -> Match | None:
    """Mixpanel and Klaviyo's track calls: data=, base64 of a JSON event (Mixpanel: event and properties with the
    project token; Klaviyo's legacy track API: token, event and customer_properties)."""
    raw = p.get("data", "").replace(" ", "+")  # a + the query decoding read as a space
    if len(raw) < 16 or len(raw) > 65536:
        return None
    alphabet = b"-_" if "-" in raw or "_" in raw else None
    try:
        data = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=alphabet))
    except (ValueError, binascii.Error, RecursionError):
        return None
    return _from_json(data)


_PARAM_CHECKS = (_ga, _meta, _matomo, _snowplow, _adobe, _linkedin, _pinterest, _base64_json)


# --- JSON bodies ---------------------------------------------------------------------------------------------


def _items(data: Any, key: str) -> list[dict[str, Any]]:
    got = data.get(key) if isinstance(data, dict) else None
    return [x for x in got[:MAX_ITEMS] if isinstance(x, dict)] if isinstance(got, list) else []


def _from_json(data: Any) -> Match | None:
    events = [x for x in data[:MAX_ITEMS] if isinstance(x, dict)] if isinstance(data, list) else [data]
    events += _items(data, "batch")  # Segment's and RudderStack's batch endpoint
    for e in events:
        if not isinstance(e, dict):
            continue
        found = _json_event(e)
        if found is not None:
            return found
    return None


def _json_event(e: dict[str, Any]) -> Match | None:
    # Segment / RudderStack (Segment "Spec: Common Fields"): a message type and who (anonymousId or userId),
    # with the library's context, a messageId or the source's writeKey.
    who = "anonymousId" if "anonymousId" in e else "userId" if "userId" in e else None
    if e.get("type") in _SEGMENT_TYPES and who and any(k in e for k in ("writeKey", "messageId", "context")):
        vendor = "RudderStack" if "rudderId" in e or "channel" in e else "Segment"
        return Match(vendor, f"type={e['type']}, {who}")
    # TikTok Pixel / Events API (TikTok for Business): pixel_code and event.
    if e.get("pixel_code") and e.get("event"):
        return Match("TikTok Pixel", "pixel_code, event", vendors.tiktok)
    # Meta Conversions API (Meta for Developers): data[] of events with event_name and user_data.
    for item in _items(e, "data"):
        if item.get("event_name") and isinstance(item.get("user_data"), dict):
            return Match("Meta Conversions API", "data[].event_name, user_data")
    # GA4 Measurement Protocol (Google): client_id and events[] with a name.
    if e.get("client_id") and any("name" in x for x in _items(e, "events")):
        return Match("Google Analytics 4", "client_id, events[].name")
    # Snowplow POST (payload_data schema): data[] of events in the tracker protocol.
    if isinstance(e.get("schema"), str) and e["schema"].startswith(_SNOWPLOW_SCHEMA):
        for item in _items(e, "data"):
            found = _snowplow({k: str(v) for k, v in item.items()})
            if found is not None:
                return found
    # Matomo bulk tracking: requests[] of tracking query strings.
    reqs = e.get("requests")
    if isinstance(reqs, list):
        for r in reqs[:MAX_ITEMS]:
            if isinstance(r, str):
                found = _matomo(dict(parse_qsl(r.lstrip("?"), keep_blank_values=True)[:MAX_PARAMS]))
                if found is not None:
                    return found
    props = e.get("properties")
    # Mixpanel (Mixpanel "Ingestion API"): event, and properties with the project token.
    if e.get("event") and isinstance(props, dict) and props.get("token"):
        return Match("Mixpanel", "event, properties.token")
    # Klaviyo's legacy track API: token, event, and who (customer_properties).
    if e.get("token") and e.get("event") and isinstance(e.get("customer_properties"), dict):
        return Match("Klaviyo", "token, event, customer_properties")
    return None
