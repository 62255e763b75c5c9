"""The leak alarm's matching: normalisation as ad platforms do it, every encoding and hash, redaction."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

import pytest

from pixelguard.identity import Identity, normalise_email, normalise_phone

EMAIL = "me@example.com"
ME = Identity(emails=(" Me@Example.com ",), phones=("+1 (555) 010-0100",))


def test_normalisation() -> None:
    assert normalise_email("  Me@Example.COM ") == EMAIL
    assert normalise_phone("+1 (555) 010-0100") == "15550100100"
    assert normalise_phone("0049 170 1234567") == "491701234567"
    assert normalise_phone("0170 1234567", country="49") == "491701234567"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        (f"https://t.example/p?e={EMAIL}", "email"),
        (f"https://t.example/p?e={quote(EMAIL, safe='')}", "email (url-encoded)"),
        (f"https://t.example/p?e={base64.b64encode(EMAIL.encode()).decode()}", "email (base64)"),
        (
            f"https://t.example/p?e={base64.urlsafe_b64encode(EMAIL.encode()).decode().rstrip('=')}",
            "email (base64)",
        ),
        (f"https://t.example/p?h={hashlib.md5(EMAIL.encode()).hexdigest()}", "email (md5)"),
        (f"https://t.example/p?h={hashlib.sha1(EMAIL.encode()).hexdigest().upper()}", "email (sha1)"),
        (f"https://t.example/p?h={hashlib.sha256(EMAIL.encode()).hexdigest()}", "email (sha256)"),
        ("https://t.example/p?ph=15550100100", "phone"),
        (f"https://t.example/p?ph={hashlib.sha256(b'15550100100').hexdigest()}", "phone (sha256)"),
    ],
)
def test_every_form_is_found(text: str, label: str) -> None:
    assert label in [f.label for f in ME.find(text)]


def test_nothing_else_is_found() -> None:
    assert (
        ME.find("https://t.example/p?e=you@example.com&h=" + hashlib.sha256(b"you@example.com").hexdigest())
        == []
    )
    assert not Identity() and Identity().find("anything") == []


def test_redaction_leaves_no_form_behind() -> None:
    sha = hashlib.sha256(EMAIL.encode()).hexdigest()
    text = f"https://t.example/p?a={EMAIL}&b={sha.upper()}&c={quote(EMAIL, safe='')}"
    out = ME.redact(text)
    assert out is not None and ME.find(out) == []
    assert "[your email]" in out and "[your email, sha256]" in out and "[your email, url-encoded]" in out
