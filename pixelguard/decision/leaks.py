"""The leak alarm's knowledge of the user: their email addresses and phone numbers, in every form a tracker sends.

Ad platforms normalise an address before hashing it and send the hash: Meta's ``ud[em]`` (trimmed, lower-cased
SHA-256), TikTok's ``context.user.email``, Google's enhanced conversions (SHA-256 of the address with the dots of a
gmail.com local part removed, and of the phone in E.164 with its ``+``; Google Ads help, "Enhanced conversions:
normalise and hash"). So each identity is looked for as itself, in those normalised forms, and as MD5, SHA-1 and
SHA-256 (hex in either case, and the raw digest in base64); and as base64 at any offset (inside a base64 blob of
JSON). Before comparing, the text itself is normalised the ways trackers encode it: percent-decoding to a fixed
point (``%2540`` twice encoded, ``%2E`` dots), JSON ``\\u0040`` escapes, HTML character references, and, for
phones, spaces, dashes and brackets between digits. An address split over two parameters (local part in one,
domain in another) is found too.

The identities are never written anywhere: what is found is reported by kind and form ("email (sha256)"), and
``redact`` replaces them with a placeholder in anything stored or shown; text in which some encoded form survives
that replacement is cut (``safe_text``) rather than kept.

Cost: one RE2 pass over the text for every form at once (linear), and the normalised copies only when the text
holds a ``%``, ``\\u`` or ``&#``; see benchmarks/leaks.py.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import itertools
import re
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, quote, unquote

import re2

from pixelguard.engine.bounded_regex import Search, compile_search, python_search
from pixelguard.limits import LEAK_DECODE_ROUNDS, LEAK_SCAN_CHARS

GMAIL = ("gmail.com", "googlemail.com")


@dataclass(frozen=True, slots=True)
class Form:
    kind: str  # "email" | "phone"
    form: str  # "plain", "md5", "sha256", "sha256 base64", "base64", ... (how it was written)
    needle: str
    case_blind: bool  # compared against the lower-cased text
    bounded: bool = False  # only where it stands alone: an address or number, not part of a longer one

    def occurs_in(self, text: str) -> bool:
        if self.needle not in text:
            return False
        if not self.bounded:
            return True
        return _bounded(self.kind, self.needle).search(text) is not None

    @property
    def label(self) -> str:
        return self.kind if self.form == "plain" else f"{self.kind} ({self.form})"

    @property
    def placeholder(self) -> str:
        return f"[your {self.kind}{'' if self.form == 'plain' else ', ' + self.form}]"


@dataclass(frozen=True, slots=True)
class Found:
    """One form found: how the text carried it (``via``: "url-encoded", "json-escaped", ...) and where (``where``:
    "" for the URL, "body", "Cookie header", ...)."""

    form: Form
    via: str = ""
    where: str = ""

    @property
    def kind(self) -> str:
        return self.form.kind

    @property
    def label(self) -> str:
        if not self.via:
            return self.form.label
        if self.form.form == "plain":
            return f"{self.form.kind} ({self.via})"
        return f"{self.form.kind} ({self.form.form}, {self.via})"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def gmail_form(email: str) -> str | None:
    """Google's normalisation of a gmail address: dots and a +tag of the local part removed."""
    local, _, domain = email.partition("@")
    if domain not in GMAIL:
        return None
    return local.split("+", 1)[0].replace(".", "") + "@" + domain


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


def _offset_base64(raw: bytes) -> set[str]:
    """The part of raw's base64 that is the same wherever raw starts in a longer encoded text (offset 0, 1 or 2
    within a 3-byte group), in the standard and URL-safe alphabets."""
    out: set[str] = set()
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + raw).decode()
        start = (pad * 4 + 2) // 3  # characters still touched by the filler bytes
        end = len(enc) - (enc.count("=") + 1 if (pad + len(raw)) % 3 else 0)  # the last partial group
        middle = enc[start:end].rstrip("=")
        if len(middle) >= 8:
            out.add(middle)
            out.add(middle.replace("+", "-").replace("/", "_"))
    return out


def _forms(kind: str, values: Iterable[str], normalised: AbstractSet[str] = frozenset()) -> list[Form]:
    """Every form of each value; those in ``normalised`` (an address as Google rewrites it) say so in their
    label, the others are the identity as written."""
    out: list[Form] = []
    for value in values:
        raw = value.encode()
        prefix = "normalised " if value in normalised else ""
        out.append(Form(kind, prefix.strip() or "plain", value, True, bounded=True))
        encoded = quote(value, safe="")
        if encoded != value:  # found in decoded text anyway; a needle of its own so that redact() replaces it
            out.append(Form(kind, "url-encoded", encoded.lower(), True))
        for name in ("md5", "sha1", "sha256"):
            digest = hashlib.new(name, raw).digest()
            out.append(Form(kind, prefix + name, digest.hex(), True))
            for b64 in {
                base64.b64encode(digest).decode().rstrip("="),
                base64.urlsafe_b64encode(digest).decode().rstrip("="),
            }:
                out.append(Form(kind, f"{prefix}{name} base64", b64, False))
        for b64 in _offset_base64(raw):
            out.append(Form(kind, "base64", b64, False))
    return out


class Identity:
    """What to look for; empty (and free) when the config names no identity."""

    def __init__(self, emails: tuple[str, ...] = (), phones: tuple[str, ...] = (), country: str = ""):
        forms: list[Form] = []
        self._split: list[tuple[str, str]] = []  # (local part, domain) of each address
        for e in emails:
            email = normalise_email(e)
            if not email:
                continue
            gmail = gmail_form(email)
            extra = {gmail} if gmail and gmail != email else set()
            forms += _forms("email", [email, *extra], extra)
            local, _, domain = email.partition("@")
            if len(local) >= 3 and "." in domain:
                self._split.append((local, domain))
        for p in phones:
            digits = normalise_phone(p, country)
            if len(digits) >= 6:
                forms += _forms("phone", [digits, "+" + digits])  # E.164 is written both ways
        # Longest first: a hash is reported as itself, not as a shorter form that happens to be inside it.
        unique = {(f.needle, f.case_blind): f for f in forms}
        self.forms = sorted(unique.values(), key=lambda f: -len(f.needle))
        self._blind = [f for f in self.forms if f.case_blind]
        self._exact = [f for f in self.forms if not f.case_blind]
        # A phone form in the text with spaces, dashes, dots or brackets between its digits: asked first, in one
        # RE2 pass, before the digits are joined (a Python regex pass, some 15 µs for a 1 KB URL) to find which.
        self._spaced_phones = _alternation_of(
            _spaced(f.needle) for f in self.forms if f.kind == "phone" and f.case_blind
        )
        # One RE2 pass per text answers "is any form here" (the common answer is no): a search function, through
        # the compiled object's own call (engine/bounded_regex.py: the public one costs about 0.6 µs more a call).
        self._blind_re = _alternation(f.needle for f in self._blind)
        self._exact_re = _alternation(f.needle for f in self._exact)

    def __bool__(self) -> bool:
        return bool(self.forms)

    def find(self, *texts: str, where: str = "") -> list[Found]:
        """The forms of any identity in the texts (each form once, longest first). ``where`` names the place
        the texts come from ("Cookie header") in the labels."""
        if not self.forms:
            return []
        found: dict[Form, Found] = {}
        for text in texts:
            if not text:
                continue
            text = text[:LEAK_SCAN_CHARS]
            for variant, via in _variants(text):
                self._scan(variant, via, found)
        if self._split and len(found) < len(self.forms):
            self._find_split(texts, found)
        ordered = sorted(found.values(), key=lambda f: -len(f.form.needle))
        kept: list[Found] = []
        for f in ordered:  # a form inside a longer one found (15550100100 in +15550100100) is that one
            if not any(f.form.needle in k.form.needle for k in kept):
                kept.append(replace(f, where=where))
        return kept

    def _scan(self, text: str, via: str, found: dict[Form, Found]) -> None:
        low = text.lower()
        if self._blind_re is not None and self._blind_re(low) >= 0:
            for f in self._blind:
                if f not in found and f.occurs_in(low):
                    found[f] = Found(f, via)
        spaced = self._spaced_phones is not None and self._spaced_phones(low) >= 0
        compact = _compact_digits(low) if spaced else low
        if compact is not low and self._blind_re is not None and self._blind_re(compact) >= 0:
            for f in self._blind:
                if f.kind == "phone" and f not in found and f.occurs_in(compact):
                    found[f] = Found(f, via or "spaced")
        if self._exact_re is not None and self._exact_re(text) >= 0:
            for f in self._exact:
                if f not in found and f.needle in text:
                    found[f] = Found(f, via)

    def _find_split(self, texts: tuple[str, ...], found: dict[Form, Found]) -> None:
        queries = [t[:LEAK_SCAN_CHARS] for t in texts if t and "=" in t]
        # An address can be split only where one of its local parts stands, decoded as a query is, in one of the
        # texts (the domain may come in another: a URL's query and a body): a substring test on each instead of
        # reading every parameter (some 57 µs for a 1 KB URL).
        decoded = [unquote(t.replace("+", " ")).lower() for t in queries]
        if not any(local in d for d in decoded for local, _ in self._split):
            return
        values: set[str] = set()
        for text in queries:
            # A URL is read as a query whole: its path only makes the first parameter's name odd.
            for sep_text in text.split("\n"):
                for _, v in parse_qsl(sep_text.replace(";", "&"), keep_blank_values=True):
                    values.add(v.strip().lower())
        for local, domain in self._split:
            if local in values and (domain in values or "@" + domain in values):
                form = Form("email", "plain", f"{local}@{domain}", True)
                found.setdefault(form, Found(form, "split over two parameters"))

    def redact(self, text: str | None) -> str | None:
        """text with every identity form replaced by its placeholder (case-blind forms in any case)."""
        if not text or not self.forms:
            return text
        low = text.lower()
        for f in self._blind:
            if f.needle in low:
                text = re.sub(re.escape(f.needle), f.placeholder, text, flags=re.IGNORECASE)
                low = text.lower()
        for f in self._exact:
            if f.needle in text:
                text = text.replace(f.needle, f.placeholder)
        return text

    def safe_text(self, text: str | None, *, url: bool = False) -> str | None:
        """What may be stored or logged of text: redacted, and when an encoded form survives redaction (a
        percent-encoded address, a split one), cut: a URL loses its query, anything else is replaced whole."""
        out = self.redact(text)
        if not out or not self.find(out):
            return out
        if url:
            return out.split("?", 1)[0].split("#", 1)[0] + "?[query removed: it holds your identity]"
        return "[removed: it holds your identity]"


@functools.lru_cache(maxsize=256)
def _bounded(kind: str, needle: str) -> re.Pattern[str]:
    """needle where it stands alone: not inside a longer address (a local-part character before it, a domain
    character after it) or a longer number."""
    if kind == "phone":
        return re.compile(r"(?<!\d)" + re.escape(needle) + r"(?!\d)")
    return re.compile(r"(?<![a-z0-9._%+-])" + re.escape(needle) + r"(?![a-z0-9-])")


def _alternation(needles: Iterable[str]) -> Search | None:
    """A search for any of the needles: the end of the first found, or -1."""
    return _alternation_of(re2.escape(n) for n in needles if n)


def _spaced(needle: str) -> str:
    """A pattern for ``needle`` as it may stand before _compact_digits joins it: up to three separators between
    any two of its digits, as many as the joining removes (so text whose joined form holds the needle matches)."""
    out = [re2.escape(needle[0])] if needle else []
    for before, c in itertools.pairwise(needle):
        if before.isdigit() and c.isdigit():
            out.append(r"[ \t().\-]{0,3}")
        out.append(re2.escape(c))
    return "".join(out)


def _alternation_of(patterns: Iterable[str]) -> Search | None:
    parts = [p for p in patterns if p]
    if not parts:
        return None
    src = "|".join(parts)
    found = compile_search(src)
    if found is not None:
        return found
    # Refused (RE2 past its memory budget, and Python's re judged unsafe for it there, a rule's test): these are
    # literals, or digits with at most three separators between them (never a digit), which cannot make Python's
    # re backtrack.
    return python_search(re.compile(src))


_HEX_ESCAPE = re.compile(r"\\[uU]([0-9a-fA-F]{4})")
_DIGIT_GAPS = re.compile(r"(?<=\d)[ \t().\-]{1,3}(?=\d)")


def _variants(text: str) -> list[tuple[str, str]]:
    """The text and its decoded readings: percent-decoded to a fixed point (bounded), JSON and HTML escapes."""
    out = [(text, "")]
    if "%" in text:
        current = text
        for _ in range(LEAK_DECODE_ROUNDS):
            decoded = unquote(current)
            if decoded == current:
                break
            current = decoded
            out.append((current, "url-encoded"))
    for base, via in list(out):
        if "\\u" in base or "\\U" in base:
            out.append((_HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), base), via or "json-escaped"))
        if "&#" in base or "&commat;" in base:
            out.append((html.unescape(base), via or "html-escaped"))
    return out


def _compact_digits(text: str) -> str:
    """Digits written with spaces, dashes, dots or brackets between them, joined (+1 (555) 010-0100); the text
    itself, the same object, when it has none (``sub`` returns it unchanged: no test for digits first, which cost
    as much as the substitution)."""
    return _DIGIT_GAPS.sub("", text)


def form_labels(found: Iterable[Found]) -> list[str]:
    return list(dict.fromkeys(f"your {f.label}" for f in found))
