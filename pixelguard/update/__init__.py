"""Subscriptions: download filter lists (EasyPrivacy & co.) safely, and say how every list is doing.

One module per job: ``download`` (fetch and verify one list), ``expiry`` (when a list is due), ``background``
(the proxy's hourly updater) and ``status`` (how each list is doing). Terminal output is the CLI's.

These downloads are the only network requests pixelguard itself ever makes, and only when the user asked:
``pixelguard lists update``, or the proxy's background updater for enabled subscriptions.

A download replaces the working copy only when it is verified: HTTP 200, UTF-8 text, an ``[Adblock`` header
(or at least ``! Title:``), it parses, and it is not truncated (at least half the rules of the previous copy).
Anything else keeps the previous copy byte for byte and says why. Conditional requests (ETag, Last-Modified)
and the list's ``! Expires:`` live in a small sidecar JSON file next to the list (``NAME.txt.meta.json``).

The rule of the tree (pixelguard/__init__.py says it whole): engine/, decision/ and payloads/ are pure logic;
proxy/ holds mitmproxy adapters only; store/ is SQLite; the top-level modules are services with state on disk
or the network, and the front ends (cli, render, display, doctor, scan, checking, tui/).
"""

from pixelguard.update.background import CHECK_INTERVAL, start_background_updater
from pixelguard.update.download import (
    FAILED,
    NOT_MODIFIED,
    SKIPPED,
    UPDATED,
    Progress,
    UpdateResult,
    include_dir,
    iter_update,
    update_list,
)
from pixelguard.update.expiry import (
    MAX_EXPIRES,
    MIN_EXPIRES,
    due,
    expires_of,
    last_checked,
    meta_path,
    parse_expires,
    read_meta,
)
from pixelguard.update.status import list_status

__all__ = [
    "CHECK_INTERVAL",
    "FAILED",
    "MAX_EXPIRES",
    "MIN_EXPIRES",
    "NOT_MODIFIED",
    "SKIPPED",
    "UPDATED",
    "Progress",
    "UpdateResult",
    "due",
    "expires_of",
    "include_dir",
    "iter_update",
    "last_checked",
    "list_status",
    "meta_path",
    "parse_expires",
    "read_meta",
    "start_background_updater",
    "update_list",
]
