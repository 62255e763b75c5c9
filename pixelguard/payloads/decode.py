"""Which decoder reads which request, and the generic reading for the rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pixelguard.engine.request import split_url
from pixelguard.payloads import schemas, vendors
from pixelguard.payloads.fields import body_form, body_json, kind_of, query, short

Decoder = Callable[[str, bytes | None], vendors.Decoded]

# (host suffix, path prefix or "", decoder). First match wins; the host is matched on label boundaries.
TABLE: list[tuple[str, str, Decoder]] = [
    ("facebook.com", "/tr", vendors.meta),
    ("google-analytics.com", "/g/collect", vendors.google_analytics),
    ("google-analytics.com", "/", vendors.google_analytics),
    ("analytics.google.com", "/g/collect", vendors.google_analytics),
    ("googleadservices.com", "/pagead/conversion", vendors.google_ads),
    ("googleads.g.doubleclick.net", "/pagead/viewthroughconversion", vendors.google_ads),
    ("google.com", "/pagead/1p-", vendors.google_ads),
    ("px.ads.linkedin.com", "/", vendors.linkedin),
    ("analytics.tiktok.com", "/api/v2/pixel", vendors.tiktok),
    ("t.co", "/i/adsct", vendors.twitter),
    ("analytics.twitter.com", "/i/adsct", vendors.twitter),
    ("ct.pinterest.com", "/", vendors.pinterest),
    ("bat.bing.com", "/action", vendors.microsoft_uet),
    ("alb.reddit.com", "/rp.gif", vendors.reddit),
    ("tr.snapchat.com", "/", vendors.snap),
    # Email open pixels: Mailchimp (u account, id campaign, e recipient), SendGrid (upn recipient token),
    # Klaviyo, HubSpot, Campaign Monitor: their public tracking URL shapes.
    ("list-manage.com", "/track/open.php", vendors.email_open("Mailchimp", "e", "id")),
    ("sendgrid.net", "/wf/open", vendors.email_open("SendGrid", "upn", None)),
    ("klaviyo.com", "/open", vendors.email_open("Klaviyo", "_kx", None)),
    ("hubspotemail.net", "/", vendors.email_open("HubSpot", None, None)),
    ("createsend1.com", "/t/", vendors.email_open("Campaign Monitor", None, None)),
]


def _matches(host: str, suffix: str) -> bool:
    return host == suffix or host.endswith("." + suffix)


def decode(url: str, body: bytes | None = None) -> dict[str, Any] | None:
    """The payload of one request, or None when it carries nothing. The body is read for what it holds (form,
    JSON, lines), whatever its method or declared type say."""
    host = split_url(url)[1]
    path = "/" + url.split("://", 1)[-1].split("/", 1)[1] if "/" in url.split("://", 1)[-1] else "/"
    if "?" not in url and not body:
        return None
    for suffix, prefix, decoder in TABLE:
        if _matches(host, suffix) and path.startswith(prefix):
            vendor, event, fields, ids = decoder(url, body)
            return {
                "vendor": vendor,
                "event": event,
                "fields": fields,
                "identifiers": list(dict.fromkeys(ids)),
            }
    found = schemas.detect(url, body)  # a collection protocol on a host the table does not name
    if found is not None:
        if found.decoder is not None:
            vendor, event, fields, ids = found.decoder(url, body)
            return {
                "vendor": vendor,
                "event": event,
                "fields": fields,
                "identifiers": list(dict.fromkeys(ids)),
            }
        read = generic(url, body) or {"vendor": None, "event": None, "fields": {}, "identifiers": []}
        read["vendor"] = found.vendor
        return read
    return generic(url, body)


def generic(url: str, body: bytes | None) -> dict[str, Any] | None:
    """An unknown vendor: the parameter names, and which values look like identifiers or hashes."""
    params = {**query(url), **body_form(body)}
    data = body_json(body)
    if isinstance(data, dict):
        params.update({str(k): v if isinstance(v, str) else short(v) for k, v in list(data.items())[:100]})
    if not params:
        return None
    ids = []
    for k, v in params.items():
        kind = kind_of(str(v))
        if kind in ("sha256", "sha1", "md5"):
            ids.append(f"{k} ({kind} hash)")
        elif kind in ("uuid", "id"):
            ids.append(f"{k} (identifier)")
    return {
        "vendor": None,
        "event": None,
        "fields": {"parameters": ", ".join(list(params)[:40])},
        "identifiers": ids,
    }
