"""Tracked links unwrapped ($urlskip): uBO's steps one by one, the bundled pixelguard-links list rule by rule (a
rule without a row here fails the last list test), uBO's own $urlskip rules, which lists are trusted, and the
pipeline's UNWRAPPED decision. Pure: the proxy's 307 is tested in e2e/test_proxy_beyond.py."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from shared_data import shared_path

from pixelguard.config import ListSpec, bundled_filters_dir
from pixelguard.decision.decision import Action
from pixelguard.decision.pipeline import Pipeline
from pixelguard.decision.request_model import RequestModel, header_map
from pixelguard.decision.urlskip import run_steps, unwrap
from pixelguard.engine import Engine
from pixelguard.engine.engine import ParamRule
from pixelguard.engine.request import Request
from pixelguard.engine.rules import validate
from pixelguard.protection import trusted_list

LIST = bundled_filters_dir() / "pixelguard-links.txt"
DEST = "https://shop.example/item?id=7&x=a%20b"


@pytest.mark.parametrize(
    ("url", "steps", "expected"),
    [
        ("https://r.test/?url=https%3A%2F%2Fa.example%2Fp%3Fq%3D1", "?url", "https://a.example/p?q=1"),
        ("https://r.test/?u=https://a.example/a+b", "?u", "https://a.example/a%20b"),  # + is a space, as %20
        ("https://r.test/?a=1&https%3A%2F%2Fa.example%2F", "&2", "https://a.example/"),  # 2nd parameter's name
        ("https://r.test/go#https://a.example/x", "#", "https://a.example/x"),
        ("https://r.test/?d=aHR0cHM6Ly9hLmV4YW1wbGUvP3g9MQ", "?d -base64", "https://a.example/?x=1"),  # unpadded
        ("https://r.test/?d=aHR0cHM6Ly9hLmV4YW1wbGUvPz8_", "?d -safebase64", "https://a.example/???"),
        ("https://r.test/L0/https:%2F%2Fa.example%2Fp/1/x", r"/\/L0\/([^\/]+)\// -uricomponent", "https://a.example/p"),
        ("https://r.test/?to=a.example/p", "?to +https", "https://a.example/p"),
        ("https://r.test/?to=http://a.example/p", "?to +https", "https://a.example/p"),  # +https upgrades
        ('https://r.test/?j={"a":{"url":"https:\\/\\/a.example\\/p"}}', "?j -json=url", "https://a.example/p"),
        ("https://r.test/?u=https://a.example/é", "?u", "https://a.example/%C3%A9"),  # Location is ASCII
    ],
)  # fmt: skip
def test_each_step_as_ubo_runs_it(url: str, steps: str, expected: str) -> None:
    assert run_steps(url, steps) == expected


@pytest.mark.parametrize(
    ("url", "steps"),
    [
        ("https://r.test/?other=https://a.example/", "?url"),  # no such parameter
        ("https://r.test/?url=javascript:alert(1)", "?url"),  # only http(s)
        ("https://r.test/?url=data:text/html,x", "?url"),
        ("https://r.test/?url=https://", "?url"),  # no host
        ("https://r.test/?url=/relative/path", "?url"),
        ("https://r.test/?d=not*base64", "?d -base64"),
        ("https://r.test/?d=abcde", "?d -base64"),  # a length base64 cannot have
        ("https://r.test/?u=https%253A%25ZZ", "?u -uricomponent"),  # a stray % is an error, as in JavaScript
        ("https://r.test/?u=https%3A%2F%2Fa.example%2F%25FF", "?u -uricomponent"),  # %FF is not UTF-8
        ("https://r.test/x", r"/(\d+)/"),  # no match
        ("https://r.test/x", r"/x/"),  # no capture group
        ("https://r.test/?url=https://a.example/", "?url -unknownstep"),  # an unknown step stops it
        ("https://r.test/?url=https://a.example/", ""),
        ("https://r.test/?a=1", "&0"),
        ("https://r.test/?a=1", "&5"),
        ("https://r.test/?to=a:b", "?to +https"),  # a port that is not a number
        ("https://r.test/?to=x://a.example/", "?to +https"),  # uBO's +https refuses a scheme it would bury
        (
            "https://r.test/?url=https://a.example/",
            " ".join(["#"] * 17),
        ),  # more steps than any redirector has
        ("https://r.test/?j=" + "[" * 5000, "?j -json=url"),  # JSON too deep for the parser: no destination
        ('https://r.test/?j={"b":"x"}', "?j -json=url"),  # no such key
    ],
)
def test_a_step_that_does_not_apply_gives_no_destination(url: str, steps: str) -> None:
    assert run_steps(url, steps) is None


def test_a_blocked_request_is_unwrapped_only_when_the_rule_says_so() -> None:
    url = "https://r.test/?url=https://a.example/"
    assert run_steps(url, "?url", blocked=True) is None
    assert run_steps(url, "?url -blocked", blocked=True) == "https://a.example/"
    assert run_steps(url, "-blocked ?url", blocked=False) == "https://a.example/"


def test_a_hostile_regex_step_stays_linear() -> None:
    # Exponential for a backtracking engine on this URL; RE2 answers at once (a hang fails on the timeout).
    url = "https://r.test/" + "a" * 50_000 + "!"
    assert run_steps(url, r"/((a+)+)b/") is None


def _rule(steps: str, lst: str = "pixelguard-links") -> ParamRule:
    return ParamRule(steps, f"||r.test^$urlskip={steps}", lst, 1)


def test_the_first_rule_that_finds_a_destination_wins_and_untrusted_lists_are_ignored() -> None:
    url = "https://r.test/?q=https://a.example/&url=https://b.example/"
    trusted = frozenset({"pixelguard-links"})
    rules = [_rule("?q", "some-list"), _rule("?missing"), _rule("?url"), _rule("?q")]
    found = unwrap(url, "r.test", rules, trusted)
    assert found is not None and found.url == "https://b.example/" and found.rule == rules[2]


def test_a_destination_on_the_redirector_itself_is_no_way_out() -> None:
    url = "https://r.test/?url=https://r.test/?url=https://a.example/"
    assert unwrap(url, "r.test", [_rule("?url")], frozenset({"pixelguard-links"})) is None


@pytest.mark.parametrize(
    ("spec", "trusted"),
    [
        (ListSpec("pixelguard-links", Path("x.txt"), bundled=True), True),
        (ListSpec("ubo-privacy", Path("p.txt"), url="https://ublockorigin.github.io/uAssets/filters/privacy.txt"), True),
        (ListSpec("ubo", Path("p.txt"), url="https://cdn.jsdelivr.net/gh/uBlockOrigin/uAssets@latest/filters/filters.txt"), True),
        (ListSpec("ubo", Path("p.txt"), url="https://raw.githubusercontent.com/uBlockOrigin/uAssets/master/filters/privacy.txt"), True),
        (ListSpec("easyprivacy", Path("e.txt"), url="https://easylist.to/easylist/easyprivacy.txt"), False),
        (ListSpec("lookalike", Path("l.txt"), url="https://ublockorigin.github.io.evil.example/filters.txt"), False),
        (ListSpec("local", Path("l.txt")), False),
    ],
)  # fmt: skip
def test_which_lists_may_unwrap_links(spec: ListSpec, trusted: bool) -> None:
    assert trusted_list(spec) is trusted


# --- the bundled list: one row per rule -----------------------------------------------------------------------


def _mandrill(url: str) -> str:
    """A Mandrill p= value as its links carry it: URL-safe base64 of JSON whose "p" is JSON holding the url (with
    JSON's escaped slashes), as a published decoding of a real link shows (gist medmunds/1b696ee88ccb0480d71f)."""
    import base64
    import json

    inner = json.dumps({"u": 30042264, "v": 1, "url": url.replace("/", "\\/"), "id": "99db2b3b9353"})
    outer = json.dumps({"s": "di5d3m3k-xjFps", "v": 1, "p": inner})
    return base64.urlsafe_b64encode(outer.encode()).decode().rstrip("=")


def _drip(url: str, jwt: bool = False) -> str:
    """A Drip link: URL-safe base64 (unpadded) of JSON with the url, JSON's escapes as Drip writes them (``&`` as
    \\u0026), or a JWT whose payload is that JSON (both shapes appear in published newsletters)."""
    import json

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    payload = json.dumps({"account_id": "4254497", "delivery_id": "z66ith", "url": url}).replace(
        "&", "\\u0026"
    )
    if not jwt:
        return "https://t.dripemail2.com/c/" + b64(payload)
    header = b64(json.dumps({"alg": "HS256"}))
    return f"https://t.dripemail2.com/c/{header}.{b64(payload)}.GWh8YwLAAPFSkab8XMi286VHRWkKgqtmnKzndDOGUPg"


def _relays() -> list[tuple[str, str]]:
    """Each generic click-relay rule, with a link only it unwraps."""
    from urllib.parse import quote

    rows = []
    for path in ("click", "redirect", "redir"):
        for param in ("url", "u", "destination", "redirect"):
            link = f"https://links.sender.example/{path}?{param}={quote(DEST, safe='')}&sig=9f8e"
            rows.append((link, f"/{path}?$doc,urlskip=?{param}"))
    return rows


TABLE = [
    (f"https://nam12.safelinks.protection.outlook.com/?url={DEST.replace(':', '%3A').replace('/', '%2F').replace('?', '%3F').replace('=', '%3D').replace('&', '%26').replace('%20', '%2520')}&data=05%7C02%7C&sdata=abc&reserved=0",
     "||safelinks.protection.outlook.com^$doc,urlskip=?url"),
    (f"https://www.google.com/url?sa=t&q={DEST.replace('&', '%26')}&ust=1700000000", "||www.google.com/url?$doc,urlskip=?q"),
    (f"https://www.google.com/url?url={DEST.replace('&', '%26')}&sa=D", "||www.google.com/url?$doc,urlskip=?url"),
    (f"https://l.facebook.com/l.php?u={DEST.replace('&', '%26')}&h=AT0xyz", "||l.facebook.com/l.php?$doc,urlskip=?u"),
    (f"https://lm.facebook.com/l.php?u={DEST.replace('&', '%26')}&h=AT0xyz", "||lm.facebook.com/l.php?$doc,urlskip=?u"),
    (f"https://l.instagram.com/?u={DEST.replace('&', '%26')}&e=ATM", "||l.instagram.com^$doc,urlskip=?u"),
    ("https://abcdef.r.us-east-1.awstrack.me/L0/https:%2F%2Fshop.example%2Fitem%3Fid=7%26x=a%2520b/1/010001-abc-000000/Xyz0=344",
     r"||awstrack.me/L0/$doc,urlskip=/\/L0\/([^\/]+)\// -uricomponent"),
    (f"https://www.youtube.com/redirect?event=video_description&q={DEST.replace('&', '%26')}&v=abc", "||www.youtube.com/redirect?$doc,urlskip=?q"),
    (f"https://www.linkedin.com/redir/redirect?url={DEST.replace('&', '%26')}&urlhash=x", "||www.linkedin.com/redir/redirect?$doc,urlskip=?url"),
    (f"https://steamcommunity.com/linkfilter/?url={DEST.replace('&', '%26')}", "||steamcommunity.com/linkfilter/?$doc,urlskip=?url"),
    (f"https://steamcommunity.com/linkfilter/?u={DEST.replace('&', '%26')}", "||steamcommunity.com/linkfilter/?$doc,urlskip=?u"),
    (f"https://mandrillapp.com/track/click/30042264/shop.example?p={_mandrill(DEST)}", "||mandrillapp.com/track/click/$doc,urlskip=?p -safebase64 -json=url"),
    (f"https://click.shop.example/track/click/30042264/shop.example?p={_mandrill(DEST)}", "/track/click/*?p=eyJ$doc,urlskip=?p -safebase64 -json=url"),
    (_drip(DEST), r"||dripemail2.com/c/$doc,urlskip=/\/c\/(?:eyJ[\w-]*\.)?(eyJ[\w-]+)/ -safebase64 -json=url"),
    (_drip(DEST, jwt=True), r"||dripemail2.com/c/$doc,urlskip=/\/c\/(?:eyJ[\w-]*\.)?(eyJ[\w-]+)/ -safebase64 -json=url"),
    (f"https://click.convertkit-mail4.com/p9unqonzo5iq/6qheh8hprod6/{base64.b64encode(DEST.encode()).decode()}",
     r"||convertkit-mail*.com/$doc,urlskip=/\/(aHR0c[\w+=-]*)(?:[?#]|$)/ -safebase64"),
    *_relays(),
]  # fmt: skip


@pytest.fixture(scope="module")
def links() -> Engine:
    return Engine.from_files([LIST])


def _unwrapped(engine: Engine, url: str, rtype: str = "document") -> tuple[str, str] | None:
    req = Request(url, None, rtype)
    found = unwrap(url, req.host, engine.urlskips_for(req), frozenset(engine.lists))
    return (found.url, found.rule.rule) if found else None


@pytest.mark.parametrize(("url", "rule"), TABLE)
def test_each_bundled_redirector_is_unwrapped(links: Engine, url: str, rule: str) -> None:
    assert _unwrapped(links, url) == (DEST, rule)
    assert _unwrapped(links, url, "image") is None  # a link's rule: page loads only ($doc)


@pytest.mark.parametrize(
    "url",
    [
        "https://u123.ct.sendgrid.net/ls/click?upn=u001.abc-2Bdef",  # opaque: the destination is on its servers
        "https://example.us1.list-manage.com/track/click?u=abc&id=def&e=ghi",
        "https://t.co/AbCdEf",
        "https://www.google.com/search?q=https://shop.example/",  # a search for a URL is not a redirect
        "https://www.google.com/url?q=https://www.google.com/maps",  # back to the redirector's host
        "https://l.facebook.com/l.php?h=AT0",  # the destination missing
        "https://sso.example/redirect?url=https://sso.example/account",  # back to the redirector's host
        "https://forum.example/redirect?url=javascript:alert(1)",  # not an http(s) destination
        "https://forum.example/redirect?next=https://shop.example/",  # a parameter not named for a destination
        "https://shop.example/login?redirect=https://app.example/",  # a login, not a relay: its path says so
        "https://t.dripemail2.com/c/bm90LWpzb24",  # base64, but not JSON
    ],
)
def test_other_links_pass(links: Engine, url: str) -> None:
    assert _unwrapped(links, url) is None


def test_the_list_is_valid_and_every_rule_is_in_the_table(links: Engine) -> None:
    lines = LIST.read_text(encoding="utf-8").splitlines()
    rules = [ln for ln in lines if ln.strip() and not ln.startswith(("!", "["))]
    assert rules and all(validate(r) is None for r in rules)
    assert links.errors == [] and links.stats["pixelguard-links"].skipped == {}
    assert sorted(rules) == sorted({rule for _, rule in TABLE})
    for i, ln in enumerate(lines):  # each rule says whose redirector it is, with the URL's shape
        if ln in rules:
            j = i - 1
            while lines[j] in rules:
                j -= 1
            assert lines[j].startswith("! ") and "://" in lines[j], ln


def test_ubo_lists_urlskip_rules_are_loaded_and_run() -> None:
    """uBO's own $urlskip rules (237 in its privacy and main lists), with their option order and regex steps."""
    files = [shared_path("filterlists", f) for f in ("ubo-privacy.min.txt", "ubo-filters.min.txt")]
    engine = Engine.from_files(files)
    assert not any("urlskip" in s for st in engine.stats.values() for s in st.skipped)
    from pixelguard.engine.rules import URLSKIP, parse_line

    lines = [
        ln.strip() for p in files for ln in p.read_text(encoding="utf-8").splitlines() if "urlskip=" in ln
    ]
    rules = [ln for ln in lines if not ln.startswith("!")]
    assert len(rules) >= 200
    parsed = [parse_line(ln) for ln in rules]
    read = [
        ln
        for ln, out in zip(rules, parsed, strict=True)
        if isinstance(out, list) and any(r.flags & URLSKIP for r in out)
    ]
    assert read == rules  # every one is read as a $urlskip rule
    cases = {
        "https://click.redditmail.com/CL0/https:%2F%2Fwww.reddit.com%2Fr%2Fpython/1/0100018a-b1c2/abc=":
            "https://www.reddit.com/r/python",
        "https://www.google.de/url?sa=t&source=web&cd=&ved=2ahUKE&url=https://shop.example/":
            "https://shop.example/",
    }  # fmt: skip
    for url, dest in cases.items():
        assert _unwrapped(engine, url) is not None and _unwrapped(engine, url)[0] == dest, url  # type: ignore[index]


# --- the pipeline -------------------------------------------------------------------------------------------


def _pipeline(rules: str, trusted: bool = True) -> Pipeline:
    return Pipeline(Engine.from_text(rules, "links"), urlskip_lists=frozenset({"links"} if trusted else ()))


def _page(url: str) -> RequestModel:
    return RequestModel.from_url(url, headers=header_map([("Sec-Fetch-Dest", "document")]))


def test_the_pipeline_answers_a_tracked_link_with_its_destination() -> None:
    d = _pipeline("||r.test^$doc,urlskip=?url\n").decide(_page("https://r.test/c?url=https://a.example/"))
    assert d.action is Action.UNWRAPPED and d.url == "https://a.example/" and d.redirect
    assert (
        d.reason is not None and d.reason.stage == "unwrapped" and d.reason.detail == "to https://a.example/"
    )
    assert d.reason.rule == "||r.test^$doc,urlskip=?url" and d.reason.list == "links" and d.reason.line == 1


def test_a_blocked_redirector_stays_blocked_unless_its_rule_says_blocked() -> None:
    url = "https://r.test/c?url=https://a.example/"
    d = _pipeline("||r.test^\n||r.test^$doc,urlskip=?url\n").decide(_page(url))
    assert d.action is Action.BLOCKED
    d = _pipeline("||r.test^\n||r.test^$doc,urlskip=?url -blocked\n").decide(_page(url))
    assert d.action is Action.UNWRAPPED and d.url == "https://a.example/"


def test_an_untrusted_list_and_an_exception_unwrap_nothing() -> None:
    url = "https://r.test/c?url=https://a.example/"
    assert _pipeline("||r.test^$doc,urlskip=?url\n", trusted=False).decide(_page(url)).action is Action.PASSED
    rules = "||r.test^$doc,urlskip=?url\n@@||r.test/c$urlskip\n"
    assert _pipeline(rules).decide(_page(url)).action is Action.PASSED
    rules = "||r.test^$doc,urlskip=?url\n@@||r.test/c$doc,urlskip=?url\n"  # the same steps excepted
    assert _pipeline(rules).decide(_page(url)).action is Action.PASSED
    for only in (
        "domain=elsewhere.example",
        "method=post",
        "3p",
    ):  # for other requests only (a page is 1p to itself)
        rules = f"||r.test^$doc,urlskip=?url\n@@||r.test/c$urlskip,{only}\n"
        assert _pipeline(rules).decide(_page(url)).action is Action.UNWRAPPED, only
