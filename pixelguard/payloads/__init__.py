"""What a stopped tracking request would have told the tracker: vendor, event, fields and identifiers.

Pure functions: a request (URL, method, body, content type) in, a payload out, no I/O. Shapes come from the
vendors' public documentation of their pixel parameters (each decoder names its source); an unknown vendor gets
the generic reading (parameter names, and which values look like identifiers or hashes).

``decode(...) -> {"vendor", "event", "fields": {...}, "identifiers": [...]}`` or None for a request that carries
nothing (no query, no body).

The rule of the tree (pixelguard/__init__.py says it whole): engine/, decision/ and payloads/ are pure logic;
proxy/ holds mitmproxy adapters only; store/ is SQLite; the top-level modules are services with state on disk
or the network, and the front ends (cli, render, display, doctor, scan, checking, tui/).
"""

from __future__ import annotations

from pixelguard.payloads.decode import decode

__all__ = ["decode"]
