"""The leak alarm's knowledge of the user: their email addresses and phone numbers, in every form a tracker sends.

Ad platforms normalise an address before hashing it (trim, lower-case; a phone to E.164 digits) and send the
hash (Meta's ud[em], TikTok's context.user.email, Google's enhanced conversions). So each identity is looked for
plain, URL-encoded, base64 (standard and URL-safe, padded or not), and as MD5, SHA-1 and SHA-256 hex (either
case). The identities themselves are never written anywhere: what is found is reported by kind and form
("email (sha256)"), and ``redact`` puts a placeholder in their place in anything stored or shown.

Cost: a handful of ``in`` tests per request (lower-cased text for the case-blind forms); see benchmarks/leaks.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Form:
    kind: str  # "email" | "phone"
    form: str  # "plain", "url-encoded", "base64", "md5", "sha1", "sha256"
    needle: str
    case_blind: bool  # compare against the lower-cased text

    @property
    def label(self) -> str:
        return self.kind if self.form == "plain" else f"{self.kind} ({self.form})"

    @property
    def placeholder(self) -> str:
        return f"[your {self.kind}{'' if self.form == 'plain' else ', ' + self.form}]"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str, country: str = "") -> str:
    """E.164 digits without '+': '+1 (555) 010-0100' → '15550100100'; '0555 0100' with country '49' → '495550100'."""
    raw = phone.strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        return digits
    if digits.startswith("00"):
        return digits[2:]
    if country and digits.startswith("0"):
        return country + digits[1:]
    if country and not digits.startswith(country):
        return country + digits
    return digits


def _forms(kind: str, value: str) -> list[Form]:
    raw = value.encode()
    out = [
        Form(kind, "plain", value, True),
        Form(kind, "url-encoded", quote(value, safe="").lower(), True),
    ]
    if kind == "phone":
        out.append(Form(kind, "plain", "+" + value, True))
    for b64 in {
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }:
        if len(b64) >= 8:
            out.append(Form(kind, "base64", b64, False))
    for name in ("md5", "sha1", "sha256"):
        out.append(Form(kind, name, hashlib.new(name, raw).hexdigest(), True))
    return [f for f in out if (f.needle and f.needle != value) or f.form == "plain"]


class Identity:
    """What to look for; empty (and free) when the config names no identity."""

    def __init__(self, emails: tuple[str, ...] = (), phones: tuple[str, ...] = (), country: str = ""):
        forms: list[Form] = []
        for e in emails:
            if normalise_email(e):
                forms += _forms("email", normalise_email(e))
        for p in phones:
            digits = normalise_phone(p, country)
            if len(digits) >= 6:
                forms += _forms("phone", digits)
        # Longest first: a hash is found as itself, not as a shorter form that happens to be inside it.
        forms.sort(key=lambda f: -len(f.needle))
        self.blind = [f for f in forms if f.case_blind]
        self.exact = [f for f in forms if not f.case_blind]

    def __bool__(self) -> bool:
        return bool(self.blind or self.exact)

    def find(self, *texts: str) -> list[Form]:
        """The forms of any identity that occur in the texts (each form once, longest first)."""
        found: list[Form] = []
        for text in texts:
            if not text:
                continue
            low = text.lower()
            found += [f for f in self.blind if f.needle in low and f not in found]
            found += [f for f in self.exact if f.needle in text and f not in found]
        return found

    def redact(self, text: str | None) -> str | None:
        """text with every identity form replaced by its placeholder (case-blind forms in any case)."""
        if not text or not self:
            return text
        for f in self.blind:
            if f.needle in text.lower():
                text = re.sub(re.escape(f.needle), f.placeholder, text, flags=re.IGNORECASE)
        for f in self.exact:
            if f.needle in text:
                text = text.replace(f.needle, f.placeholder)
        return text
