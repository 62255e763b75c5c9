"""The leak alarm: every form and encoding trackers send the user's address or phone in is found, through the
decision pipeline (URL, headers and bodies as the proxy hands them over), and none is ever stored or logged."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from urllib.parse import quote

import pytest

from pixelguard.decision.bodies import BodyView, StreamedBody, view_of
from pixelguard.decision.leaks import Identity, gmail_form, normalise_email, normalise_phone
from pixelguard.decision.pipeline import Pipeline
from pixelguard.decision.request_model import RequestModel
from pixelguard.engine import Engine

EMAIL = "jane.doe@example.com"
GMAIL = "Jane.Doe+news@gmail.com"  # Google hashes it as janedoe@gmail.com
PHONE = "+1 (555) 010-0100"
E164 = "15550100100"
EMAILS = (f" {EMAIL.title()} ", GMAIL)


def me() -> Identity:
    """The test user, made anew by each test (a module-level object would be built once, before a mutation
    test switches on the mutant it is about)."""
    return Identity(emails=EMAILS, phones=(PHONE,))


PAGE = "https://shop.example/checkout"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def b64(raw: bytes, urlsafe: bool = False) -> str:
    return (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode().rstrip("=")


def _every_char_encoded(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode())


def _in_blob(offset: int) -> str:
    """The address inside base64 of a JSON document, starting at byte offset mod 3 == offset."""
    doc = json.dumps({"p": "x" * offset, "email": EMAIL}).encode()
    return b64(doc)


def test_normalisation() -> None:
    assert normalise_email("  Me@Example.COM ") == "me@example.com"
    assert gmail_form("jane.doe+news@gmail.com") == "janedoe@gmail.com" and gmail_form(EMAIL) is None
    assert normalise_phone(PHONE) == E164
    assert normalise_phone("0049 170 1234567") == "491701234567"
    assert normalise_phone("0170 1234567", country="49") == "491701234567"


# (what, URL, headers, body, content-encoding)
# fmt: off
FORMS = [
    ("plain", f"https://t.example/p?e={EMAIL}", {}, b"", ""),
    ("upper case", f"https://t.example/p?e={EMAIL.upper()}", {}, b"", ""),
    ("url-encoded", f"https://t.example/p?e={quote(EMAIL, safe='')}", {}, b"", ""),
    ("every character encoded", f"https://t.example/p?e={_every_char_encoded(EMAIL)}", {}, b"", ""),
    ("double-encoded", "https://t.example/p?e=jane.doe%2540example.com", {}, b"", ""),
    ("%2E dots", "https://t.example/p?e=jane%2Edoe%40example%2Ecom", {}, b"", ""),
    ("json unicode escape", "https://t.example/p", {}, b'{"email":"jane.doe\\u0040example.com"}', ""),
    ("html entity", "https://t.example/p", {}, b"<p>jane.doe&#64;example.com</p>", ""),
    ("md5", f"https://t.example/p?h={hashlib.md5(EMAIL.encode()).hexdigest()}", {}, b"", ""),
    ("sha1 upper", f"https://t.example/p?h={hashlib.sha1(EMAIL.encode()).hexdigest().upper()}", {}, b"", ""),
    ("sha256", f"https://t.example/p?ud[em]={sha256(EMAIL)}", {}, b"", ""),
    ("sha256 as base64", f"https://t.example/p?h={quote(b64(hashlib.sha256(EMAIL.encode()).digest()))}", {}, b"", ""),
    ("sha256 base64url", f"https://t.example/p?h={b64(hashlib.sha256(EMAIL.encode()).digest(), True)}", {}, b"", ""),
    ("base64", f"https://t.example/p?d={b64(EMAIL.encode())}", {}, b"", ""),
    ("base64url", f"https://t.example/p?d={b64(EMAIL.encode(), True)}", {}, b"", ""),
    ("base64 blob, offset 0", f"https://t.example/p?d={_in_blob(0)}", {}, b"", ""),
    ("base64 blob, offset 1", f"https://t.example/p?d={_in_blob(1)}", {}, b"", ""),
    ("base64 blob, offset 2", f"https://t.example/p?d={_in_blob(2)}", {}, b"", ""),
    ("gmail normalised sha256", f"https://t.example/p?em={sha256('janedoe@gmail.com')}", {}, b"", ""),
    ("gmail as written", "https://t.example/p?e=jane.doe%2Bnews%40gmail.com", {}, b"", ""),
    ("split over two parameters", "https://t.example/p?user=jane.doe&domain=example.com", {}, b"", ""),
    ("split in a form body", "https://t.example/p", {"content-type": "application/x-www-form-urlencoded"},
     b"local=jane.doe&host=example.com", ""),
    ("Cookie header", "https://t.example/p", {"cookie": f"uid=1; em={quote(EMAIL)}"}, b"", ""),
    ("Referer header", "https://t.example/p", {"referer": f"https://shop.example/?email={EMAIL}"}, b"", ""),
    ("X- header", "https://t.example/p", {"x-user-email": EMAIL}, b"", ""),
    ("form body", "https://t.example/p", {}, f"email={quote(EMAIL)}".encode(), ""),
    ("gzip body", "https://t.example/p", {}, gzip.compress(f'{{"em":"{EMAIL}"}}'.encode()), "gzip"),
    ("gzip body, json escape", "https://t.example/p", {}, gzip.compress(b'{"em":"jane.doe\\u0040example.com"}'), "gzip"),
    ("body past 64 KB", "https://t.example/p", {}, b"x" * 100_000 + b"&em=" + EMAIL.encode(), ""),
    ("phone digits", f"https://t.example/p?ph={E164}", {}, b"", ""),
    ("phone with +", f"https://t.example/p?ph=%2B{E164}", {}, b"", ""),
    ("phone as written", f"https://t.example/p?ph={quote(PHONE)}", {}, b"", ""),
    ("phone sha256", f"https://t.example/p?ph={sha256(E164)}", {}, b"", ""),
    ("phone sha256 of E.164 with +", f"https://t.example/p?ph={sha256('+' + E164)}", {}, b"", ""),
    ("phone md5", f"https://t.example/p?ph={hashlib.md5(E164.encode()).hexdigest()}", {}, b"", ""),
    ("phone in json", "https://t.example/p", {}, json.dumps({"phone_number": f"+{E164}"}).encode(), ""),
]
# fmt: on


def _decide(url: str, headers: dict[str, str], body: bytes, encoding: str, page: str | None = PAGE):
    pipeline = Pipeline(Engine.from_text(""), identity=me())
    hdrs = {**({"referer": page} if page and "referer" not in headers else {}), **headers}
    if encoding:
        hdrs["content-encoding"] = encoding
    req = RequestModel.from_url(url, method="POST" if body else "GET", headers=hdrs)
    view = view_of(body, hdrs.get("content-type", ""), encoding) if body else None
    return pipeline.decide(req, view)


@pytest.mark.parametrize(("what", "url", "headers", "body", "encoding"), FORMS, ids=[f[0] for f in FORMS])
def test_every_form_is_caught(what: str, url: str, headers: dict, body: bytes, encoding: str) -> None:
    d = _decide(url, headers, body, encoding)
    assert d.stopped, what
    assert d.reason is not None and d.reason.stage == "leak", d
    assert "your email" in (d.reason.detail or "") or "your phone" in (d.reason.detail or "")


def test_the_end_of_a_streamed_body_is_read_too() -> None:
    pipeline = Pipeline(Engine.from_text(""), identity=me())
    req = RequestModel.from_url("https://t.example/batch", method="POST", headers={"referer": PAGE})
    body = StreamedBody("application/json")
    for _ in range(40):  # 2.5 MB of events, the address in the last one
        body.feed(b"x" * 65536)
    body.feed(json.dumps({"email": EMAIL}).encode())
    early = pipeline.decide_url(req)
    assert not early.stopped
    assert pipeline.decide_body(req, early, body.view(complete=True)).stopped


# fmt: off
NOT_ME = [
    ("another address", "https://t.example/p?e=john.doe@example.com", {}, b"", ""),
    ("another hash", f"https://t.example/p?h={sha256('john.doe@example.com')}", {}, b"", ""),
    ("local part alone", "https://t.example/p?user=jane.doe", {}, b"", ""),
    ("domain alone", "https://t.example/p?site=example.com", {}, b"", ""),
    ("a longer local part", "https://t.example/p?e=xjane.doe@example.community", {}, b"", ""),
    ("other digits", "https://t.example/p?n=15550100199&t=1701234567890", {}, b"", ""),
    ("a base64 of something else", f"https://t.example/p?d={b64(b'john.doe@example.com')}", {}, b"", ""),
]
# fmt: on


@pytest.mark.parametrize(("what", "url", "headers", "body", "encoding"), NOT_ME, ids=[f[0] for f in NOT_ME])
def test_no_false_alarm(what: str, url: str, headers: dict, body: bytes, encoding: str) -> None:
    assert not _decide(url, headers, body, encoding).stopped, what


def test_first_party_requests_carry_the_address_freely() -> None:
    d = _decide(f"https://shop.example/login?email={EMAIL}", {}, b"", "")
    assert not d.stopped


def test_redaction_leaves_no_form_behind() -> None:
    text = f"https://t.example/p?a={EMAIL}&b={sha256(EMAIL).upper()}&c={quote(EMAIL, safe='')}&d={E164}"
    ME = me()
    out = ME.redact(text)
    assert out is not None and ME.find(out) == []
    assert "[your email]" in out and "[your email, sha256]" in out and "[your email, url-encoded]" in out
    # A form redact cannot replace in place (here: twice encoded) is cut, not stored.
    sneaky = "https://t.example/p?e=jane.doe%2540example.com&x=1"
    assert ME.safe_text(sneaky, url=True) == "https://t.example/p?[query removed: it holds your identity]"
    assert ME.safe_text("plain text with jane.doe%2540example.com") == "[removed: it holds your identity]"


def test_a_body_view_is_bounded() -> None:
    from pixelguard.limits import BODY_HOLD, BODY_INFLATE

    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    view = view_of(bomb, "", "gzip")
    assert isinstance(view, BodyView) and len(view.data) <= BODY_INFLATE
    big = view_of(b"y" * (BODY_HOLD * 3))
    assert len(big.data) == BODY_HOLD and not big.complete and big.size == BODY_HOLD * 3


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://t.example/p?x=1", "https://t.example/p?x=1"),  # nothing of the user's: unchanged
        (
            "https://t.example/p?a=1?e=jane.doe%2540example.com",
            "https://t.example/p?[query removed: it holds your identity]",
        ),
        (
            "https://t.example/p#e=jane.doe%2540example.com",
            "https://t.example/p?[query removed: it holds your identity]",
        ),
        (
            "https://t.example/p#a#e=jane.doe%2540example.com",
            "https://t.example/p?[query removed: it holds your identity]",
        ),
        (
            "https://t.example/a b?e=jane.doe%2540example.com",
            "https://t.example/a b?[query removed: it holds your identity]",
        ),
    ],
)
def test_a_url_keeps_what_holds_nothing_of_the_user(url: str, kept: str) -> None:
    assert me().safe_text(url, url=True) == kept


@pytest.mark.parametrize(
    ("text", "label"),
    [
        (f"e={EMAIL}", "email"),
        (f"e={quote(EMAIL, safe='')}", "email (url-encoded)"),
        ("e=jane.doe%2540example.com", "email (url-encoded)"),
        ('{"e":"jane.doe\\u0040example.com"}', "email (json-escaped)"),
        ('{"e":"jane.doe\\U0040example.com"}', "email (json-escaped)"),
        ("<b>jane.doe&#64;example.com</b>", "email (html-escaped)"),
        ("<b>jane.doe&commat;example.com</b>", "email (html-escaped)"),
        ("tel=+1 555 010 0100", "phone (spaced)"),
        ("tel=1 - 555 . 010 (0100)", "phone (spaced)"),  # three separators between digits, at most
        ("user=jane.doe&domain=example.com", "email (split over two parameters)"),
        # the local part decoded as the query is, then lowered: %4A is "J"
        ("user=%4Aane%2Edoe&domain=Example.com", "email (split over two parameters)"),
        (
            "user=jane.doe+&domain=example.com",
            "email (split over two parameters)",
        ),  # "+" is a space, stripped
        (f"h={sha256(EMAIL)}", "email (sha256)"),
        (f"h={sha256('janedoe@gmail.com')}", "email (normalised sha256)"),
        (f"h={b64(hashlib.md5(EMAIL.encode()).digest())}", "email (md5 base64)"),
    ],
)
def test_each_form_is_named_by_how_it_was_written(text: str, label: str) -> None:
    assert label in [f.label for f in me().find(text)]


@pytest.mark.parametrize(
    "text", ["tel=1 5550 1001 00 9", "tel=1 -- 555 --- 010 ---- 0100", "u=jane.dough&d=example.com"]
)
def test_near_misses_are_not_forms(text: str) -> None:
    # Digits with four separators between them are not joined; a local part that only begins like the address's
    # is not it (the quick tests that skip joining digits and reading the query must not change these answers).
    assert me().find(text) == []


def test_an_address_split_between_two_texts_is_found() -> None:
    # The local part in the URL's query, the domain in the body: the texts of one request are read together.
    found = me().find("https://t.example/p?user=jane.doe", "domain=example.com")
    assert [f.label for f in found] == ["email (split over two parameters)"]


def test_the_place_is_not_part_of_the_label() -> None:
    found = me().find(f"em={EMAIL}", where="Cookie header")
    assert [(f.label, f.where) for f in found] == [("email", "Cookie header")]


def test_gmail_form_drops_the_dots_and_everything_from_the_first_plus() -> None:
    assert gmail_form("a.b+c+d@gmail.com") == "ab@gmail.com"
    assert gmail_form("a.b@googlemail.com") == "ab@googlemail.com"


def test_a_three_letter_local_part_split_over_parameters_is_found() -> None:
    short = Identity(emails=("abc@example.org",))
    assert [f.label for f in short.find("u=abc&d=example.org")] == ["email (split over two parameters)"]
    assert [f.label for f in short.find("u=abc;d=example.org")] == ["email (split over two parameters)"]
    assert short.find("u=abc&d=") == [] and short.find("d=example.org") == []
    # a body of one parameter a line (a text/plain form) splits them too
    assert [f.label for f in short.find("u=abc\nd=example.org\n")] == ["email (split over two parameters)"]
    assert Identity(emails=("ab@example.org",)).find("u=ab&d=example.org") == []  # too short to mean anything


def test_a_phone_written_without_its_calling_code_takes_the_configured_one() -> None:
    de = Identity(phones=("0170 1234567",), country="49")
    assert [f.label for f in de.find("p=491701234567")] == ["phone"]
    assert de.find("p=01701234567") == []  # the national form is not what trackers send
    assert [f.label for f in de.find(f"h={sha256('+491701234567')}")] == ["phone (sha256)"]


def test_redaction_replaces_an_encoded_form_in_any_case() -> None:
    assert me().redact("a=JANE.DOE%40EXAMPLE.COM&b=1") == "a=[your email, url-encoded]&b=1"


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        (f"d={b64(EMAIL.encode())}", ["email (base64)"]),
        (
            f"h={quote(b64(hashlib.sha256(EMAIL.encode()).digest()), safe='')}",
            ["email (sha256 base64, url-encoded)"],
        ),
        (f"e={EMAIL}&n=1 2", ["email"]),  # digits spaced apart nearby: no phone made of them
        ("n=+1 555 010 0100&e=x", ["phone (spaced)"]),
    ],
)
def test_exactly_the_forms_present_are_found(text: str, labels: list[str]) -> None:
    assert [f.label for f in me().find(text)] == labels


def test_every_text_is_read() -> None:
    assert [f.label for f in me().find("", f"e={EMAIL}")] == ["email"]
    assert me().find("", "") == []


@pytest.mark.parametrize(
    ("written", "country", "e164"),
    [
        ("+1 (555) 010-0100", "49", "15550100100"),  # an international number keeps its own calling code
        ("49 170 1234567", "49", "491701234567"),
        ("170 1234567", "49", "491701234567"),
        ("0170 1234567", "49", "491701234567"),
        ("0049 170 1234567", "", "491701234567"),
    ],
)
def test_phone_numbers_become_e164(written: str, country: str, e164: str) -> None:
    assert normalise_phone(written, country) == e164


def test_a_phone_number_needs_six_digits_to_be_looked_for() -> None:
    assert Identity(phones=("123456",)) and not Identity(phones=("12345",))


def test_forms_are_still_found_when_re2_refuses_the_alternation(monkeypatch: pytest.MonkeyPatch) -> None:
    # When the engine's compile_search refuses the identities' alternation (RE2 past its memory budget and its
    # Python fallback judged unsafe), it goes to Python's re, which literals cannot make slow, not to no search.
    from pixelguard.decision import leaks

    monkeypatch.setattr(leaks, "compile_search", lambda src: None)
    found = me().find(f"https://t.example/p?e={quote(EMAIL)}&ph=+1-555-010-0100", "")
    assert {f.form.kind for f in found} == {"email", "phone"}
    assert not me().find("https://t.example/p?e=someone.else@example.com", "")
