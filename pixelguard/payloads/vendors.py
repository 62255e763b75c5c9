"""One decoder per tracking pixel: its request's parameters, named as the vendor's documentation names them.

Each returns (vendor, event, fields, identifiers); fields are what the tracker would have recorded (value,
currency, content), identifiers what ties the event to a person or a browser. Sources are named per decoder.
"""

from __future__ import annotations

import json
from typing import Any

from pixelguard.payloads.fields import body_form, body_json, body_lines, kind_of, query, short

Decoded = tuple[str, str | None, dict[str, str], list[str]]

_HASH_NAMES = {
    "em": "email",
    "ph": "phone",
    "fn": "first name",
    "ln": "last name",
    "external_id": "external ID",
}


def _hashed(name: str, value: str) -> str:
    k = kind_of(value)
    return f"{name} ({k})" if k in ("sha256", "sha1", "md5") else name


def meta(url: str, body: bytes | None) -> Decoded:
    """Meta Pixel, facebook.com/tr (Meta for Developers: Meta Pixel reference, advanced matching): ev is the
    event, cd[...] custom data (value, currency, content_ids), ud[...] hashed user data, fbp/fbc browser and
    click IDs, id the pixel."""
    p = {**query(url), **body_form(body)}
    fields = {k[3:-1]: short(v) for k, v in p.items() if k.startswith("cd[") and k.endswith("]")}
    if p.get("id"):
        fields["pixel"] = p["id"]
    if p.get("dl"):
        fields["page"] = short(p["dl"])
    ids = [_hashed(_HASH_NAMES.get(k[3:-1], k[3:-1]), v) for k, v in p.items() if k.startswith("ud[") and v]
    ids += [f"browser ID {k}" for k in ("fbp", "fbc") if p.get(k)]
    return "Meta Pixel", p.get("ev"), fields, ids


def google_analytics(url: str, body: bytes | None) -> Decoded:
    """Google Analytics: Universal (Measurement Protocol v1: t hit type, ec/ea/el event, ti/tr transaction,
    cid client ID, uid user ID) and GA4 (/g/collect: en event, ep.*/epn.* parameters, several events per body,
    one per line)."""
    q = query(url)
    lines = body_lines(body)
    # The shared parameters: in the URL, or POSTed with the first event. GA4 is told by its path, or on a path of
    # the site's own (payloads/schemas.py) by its protocol version.
    head = {**q, **lines[0]} if lines else q
    if "/g/collect" in url or head.get("v") == "2":
        events = [{**q, **line} for line in lines] or [q]
        names = [e.get("en") for e in events if e.get("en")]
        fields: dict[str, str] = {"property": head.get("tid", "")}
        for e in events:
            for k, v in e.items():
                if k.startswith(("ep.", "epn.")):
                    fields[k.split(".", 1)[1]] = short(v)
            if e.get("_et"):
                fields["engagement time ms"] = e["_et"]
        if len(names) > 1:
            fields["events"] = ", ".join(n for n in names if n)
        ids = [label for key, label in (("cid", "client ID cid"), ("uid", "user ID uid")) if head.get(key)]
        return "Google Analytics 4", names[0] if names else None, {k: v for k, v in fields.items() if v}, ids
    p = {**q, **body_form(body)}
    event = p.get("t")
    if event == "event":
        event = " / ".join(x for x in (p.get("ec"), p.get("ea"), p.get("el")) if x) or "event"
    fields = {name: short(p[k]) for k, name in (("tid", "property"), ("ti", "transaction"), ("tr", "revenue"),
                                                ("cu", "currency"), ("dl", "page"), ("dt", "title")) if p.get(k)}  # fmt: skip
    ids = [label for key, label in (("cid", "client ID cid"), ("uid", "user ID uid")) if p.get(key)]
    return "Google Analytics", event, fields, ids


def google_ads(url: str, body: bytes | None) -> Decoded:
    """Google Ads conversion and remarketing (googleadservices.com/pagead/conversion/ID/,
    /pagead/viewthroughconversion/ID/; Google Ads help: conversion tag parameters): label, value,
    currency_code, gclid click ID."""
    p = query(url)
    parts = [x for x in url.split("?", 1)[0].split("/") if x]
    conversion_id = parts[-1] if parts and parts[-1].isdigit() else ""
    event = "remarketing" if "viewthroughconversion" in url or "1p-user-list" in url else "conversion"
    fields = {name: short(p[k]) for k, name in (("label", "label"), ("value", "value"), ("currency_code", "currency"),
                                                ("url", "page")) if p.get(k)}  # fmt: skip
    if conversion_id:
        fields["conversion ID"] = conversion_id
    ids = ["click ID gclid"] if p.get("gclid") or "gclid=" in p.get("url", "") else []
    return "Google Ads", event, fields, ids


def linkedin(url: str, body: bytes | None) -> Decoded:
    """LinkedIn Insight Tag (px.ads.linkedin.com/collect; LinkedIn Marketing Solutions help): pid partner,
    conversionId conversion."""
    p = query(url)
    fields = {name: p[k] for k, name in (("pid", "partner"), ("conversionId", "conversion")) if p.get(k)}
    event = "conversion" if p.get("conversionId") else "page view"
    return "LinkedIn Insight Tag", event, fields, ["browser ID li_fat_id"] if p.get("li_fat_id") else []


def tiktok(url: str, body: bytes | None) -> Decoded:
    """TikTok Pixel (analytics.tiktok.com/api/v2/pixel, JSON; TikTok for Business: Events API): event,
    properties (value, currency, contents), context.user hashed email and phone."""
    data = body_json(body) or {}
    if not isinstance(data, dict):
        data = {}
    props: dict[str, Any] = data["properties"] if isinstance(data.get("properties"), dict) else {}
    fields = {
        k: short(v) for k, v in props.items() if k in ("value", "currency", "content_id", "content_type")
    }
    ctx: dict[str, Any] = data["context"] if isinstance(data.get("context"), dict) else {}
    user: dict[str, Any] = ctx["user"] if isinstance(ctx.get("user"), dict) else {}
    ids = [_hashed({"phone_number": "phone"}.get(k, k), str(v)) for k, v in user.items() if v]
    if data.get("pixel_code"):
        fields["pixel"] = str(data["pixel_code"])
    return "TikTok Pixel", data.get("event") or query(url).get("event"), fields, ids


def twitter(url: str, body: bytes | None) -> Decoded:
    """X (Twitter) pixel (t.co/i/adsct, analytics.twitter.com/i/adsct; X Business help: conversion tracking):
    events (a JSON list of [name, data]), txn_id pixel ID, tw_document_href page."""
    p = query(url)
    event = None
    try:
        events = json.loads(p.get("events", "null"))
        if isinstance(events, list) and events and isinstance(events[0], list):
            event = str(events[0][0])
    except ValueError:
        pass
    fields = {name: short(p[k]) for k, name in (("txn_id", "pixel"), ("tw_sale_amount", "value"),
                                                ("tw_document_href", "page")) if p.get(k)}  # fmt: skip
    return "X (Twitter) pixel", event, fields, ["click ID twclid"] if p.get("twclid") else []


def pinterest(url: str, body: bytes | None) -> Decoded:
    """Pinterest Tag (ct.pinterest.com/v3/, /user/; Pinterest business help: tag parameters): event, ed event
    data (JSON: value, currency, order_quantity), tid tag, pd hashed user data."""
    p = query(url)
    fields: dict[str, str] = {"tag": p["tid"]} if p.get("tid") else {}
    try:
        ed = json.loads(p.get("ed", "{}"))
        if isinstance(ed, dict):
            fields.update(
                {k: short(v) for k, v in ed.items() if k in ("value", "currency", "order_quantity")}
            )
    except ValueError:
        pass
    ids = ["email (sha256)"] if "em" in p.get("pd", "") else []
    return "Pinterest Tag", p.get("event"), fields, ids


def microsoft_uet(url: str, body: bytes | None) -> Decoded:
    """Microsoft Advertising UET (bat.bing.com/action/0; Microsoft Advertising help: UET custom events):
    evt type, ea/ec/el event action/category/label, gv goal value, gc currency, ti tag ID, msclkid click ID."""
    p = query(url)
    event = p.get("ea") or p.get("evt")
    fields = {name: short(p[k]) for k, name in (("ec", "category"), ("el", "label"), ("gv", "value"),
                                                ("gc", "currency"), ("ti", "tag"), ("p", "page")) if p.get(k)}  # fmt: skip
    ids = [label for key, label in (("mid", "browser ID mid"), ("msclkid", "click ID msclkid")) if p.get(key)]
    return "Microsoft UET", event, fields, ids


def reddit(url: str, body: bytes | None) -> Decoded:
    """Reddit Pixel (alb.reddit.com/rp.gif; Reddit Ads help: pixel events): event, id pixel, m.* metadata."""
    p = query(url)
    fields = {k[2:]: short(v) for k, v in p.items() if k.startswith("m.")}
    if p.get("id"):
        fields["pixel"] = p["id"]
    ids = ["click ID rdt_cid"] if p.get("rdt_cid") else []
    return "Reddit Pixel", p.get("event"), fields, ids


def snap(url: str, body: bytes | None) -> Decoded:
    """Snap Pixel (tr.snapchat.com; Snap Business help: Snap Pixel events): ev/e event, pid pixel, u_hem and
    u_hpn hashed email and phone."""
    p = {**query(url), **body_form(body)}
    fields = {"pixel": p["pid"]} if p.get("pid") else {}
    ids = [_hashed(name, p[k]) for k, name in (("u_hem", "email"), ("u_hpn", "phone")) if p.get(k)]
    return "Snap Pixel", p.get("ev") or p.get("e"), fields, ids


def email_open(vendor: str, recipient: str | None, campaign: str | None) -> Any:
    """An ESP's open pixel: which key says whom, which says what (per the ESP's URL shape)."""

    def decode(url: str, body: bytes | None) -> Decoded:
        p = query(url)
        fields = {"campaign": short(p[campaign])} if campaign and p.get(campaign) else {}
        ids = [f"recipient ID {recipient}"] if recipient and p.get(recipient) else []
        return vendor, "email open", fields, ids

    return decode
