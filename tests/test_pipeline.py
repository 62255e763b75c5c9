"""The decision pipeline, stage by stage, as tables: what each stage decides, with which reason, and what it leaves
to the next. Pure: no proxy, no files (the proxy's use of it is tested in test_addon.py and e2e/)."""

from __future__ import annotations

import time

import pytest

from pixelguard.decision.bodies import view_of
from pixelguard.decision.decision import PASSED, Action, Decision, Reason
from pixelguard.decision.leaks import Identity
from pixelguard.decision.pipeline import Pipeline, path_and_query
from pixelguard.decision.request_model import RequestModel, header_map, is_navigation, named_host
from pixelguard.engine import Engine

RULES = """\
||tracker.test^
||ads.test^$image
@@||tracker.test/allowed/
||redirected.test/lib.js$script,redirect=noop.js
||sc.omtrdc.net^
||whole.test^
$removeparam=fbclid
$removeparam=utm_source
"""
PAGE = "https://news.example/article"


def pipeline(**kw: object) -> Pipeline:
    return Pipeline(Engine.from_text(RULES, "t"), **kw)  # type: ignore[arg-type]


def model(url: str, headers: dict[str, str] | None = None, **kw: object) -> RequestModel:
    return RequestModel.from_url(url, headers=header_map((headers or {}).items()), **kw)  # type: ignore[arg-type]


def img(url: str, page: str | None = PAGE, **extra: str) -> RequestModel:
    return model(url, {"Sec-Fetch-Dest": "image", **({"Referer": page} if page else {}), **extra})


def test_a_list_rule_blocks_with_its_rule_list_and_line() -> None:
    d = pipeline().decide(img("http://tracker.test/p.gif"))
    assert d.action is Action.BLOCKED and d.stopped and not d.goes_upstream
    assert d.reasons == (Reason("filter", "||tracker.test^", "t", 1),)
    assert d.payload is None  # a URL with no query and no body tells nothing


def test_a_blocked_request_says_what_it_carried() -> None:
    d = pipeline().decide(img("http://tracker.test/p.gif?uid=0123456789abcdef0123"))
    assert d.payload is not None and d.payload["fields"] == {"parameters": "uid"}
    assert d.payload["identifiers"] == ["uid (identifier)"]


def test_a_redirect_rule_names_its_resource() -> None:
    d = pipeline().decide(
        model("https://redirected.test/lib.js", {"Sec-Fetch-Dest": "script", "Referer": PAGE})
    )
    assert d.stopped and d.redirect_resource == "noop.js"
    assert pipeline().decide(img("http://tracker.test/p.gif")).redirect_resource is None


def test_an_exception_lets_the_request_through_and_says_what_it_overrode() -> None:
    d = pipeline().decide(img("http://tracker.test/allowed/p.gif"))
    assert d.action is Action.PASSED and d.allowed and d.goes_upstream
    assert d.reasons == (Reason("allowed", "@@||tracker.test/allowed/", "t", 3, "||tracker.test^"),)


def test_nothing_matching_passes_with_no_reason() -> None:
    assert pipeline().decide(img("https://cdn.example/logo.png")) is PASSED


@pytest.mark.parametrize(
    ("host_header", "blocked"),
    [("px.tracker.test", True), ("cdn.example", False), ("bad name!", False), ("a" * 300, False)],
)
def test_the_name_in_the_host_header_is_judged_too(host_header: str, blocked: bool) -> None:
    req = img("http://127.0.0.1:8000/p.gif", Host=host_header)
    d = pipeline().decide(req)
    assert d.stopped is blocked
    if blocked:
        assert d.reasons == (
            Reason("filter", "||tracker.test^", "t", 1, "Host header names px.tracker.test"),
        )


def test_named_host_reads_a_plausible_name_only() -> None:
    assert named_host({"host": "Shop.Example.:8080"}) == "shop.example"
    assert named_host({}, "cdn.example:443") == "cdn.example"
    assert named_host({"host": "a b"}) is None and named_host({"host": "x" * 254}) is None
    assert named_host({"host": "[::1]:80"}) is None  # not a name


def test_a_rule_learned_a_moment_ago_blocks_images_under_its_path() -> None:
    p = pipeline(pending_learned={"px.example": "/t/"})
    d = p.decide(img("https://px.example/t/open.gif?u=1"))
    assert d.stopped and d.reasons == (Reason("learned", "||px.example/t/$image", "learned"),)
    assert not p.decide(img("https://px.example/photo.jpg")).stopped  # not under the learned path
    script = model("https://px.example/t/x.js", {"Sec-Fetch-Dest": "script", "Referer": PAGE})
    assert not p.decide(script).stopped  # learned from images: images only
    whole = pipeline(pending_learned={"px.example": ""})
    assert whole.decide(img("https://px.example/any.gif")).stopped


def test_a_cname_chain_blocks_under_the_name_of_a_listed_host() -> None:
    chains = {"metrics.shop.example": ("shop.example.sc.omtrdc.net",), "cdn.shop.example": ("edge.example",)}
    p = pipeline(cname_chain=chains.get)
    d = p.decide(img("https://metrics.shop.example/b/ss/1"))
    assert d.stopped and d.reasons == (
        Reason("cname", "||sc.omtrdc.net^", "t", 5, "metrics.shop.example → shop.example.sc.omtrdc.net"),
    )
    assert not p.decide(img("https://cdn.shop.example/logo.png")).stopped
    assert not p.decide(img("https://unknown.example/a.png")).stopped  # no chain known: nothing to judge


def test_a_page_load_is_not_judged_by_its_hosts_aliases() -> None:
    """uBO's cnameIgnoreRootDocument (on by default): the page opens, the requests it makes are uncloaked."""
    p = pipeline(cname_chain={"metrics.shop.example": ("shop.example.sc.omtrdc.net",)}.get)
    page = RequestModel.build(
        "https://metrics.shop.example/", "metrics.shop.example", "GET", {"sec-fetch-dest": "document"}
    )
    assert page.type == "document" and not p.decide(page).stopped
    assert p.decide(img("https://metrics.shop.example/b/ss/1")).stopped


def test_an_allowed_request_is_not_uncloaked() -> None:
    p = pipeline(cname_chain=lambda host: ("x.sc.omtrdc.net",))
    assert not p.decide(img("http://tracker.test/allowed/p.gif")).stopped


ME = "jane.doe@example.com"


@pytest.mark.parametrize(
    ("url", "headers", "where"),
    [
        (f"https://collector.example/c?e={ME}", {}, "the URL"),
        ("https://collector.example/c", {"Cookie": f"em={ME}"}, "the Cookie header"),
        ("https://collector.example/c", {"X-User": ME}, "the x-user header"),
        (f"https://collector.example/c?e={ME}", {"Cookie": f"em={ME}"}, "the URL and the Cookie header"),
    ],
)
def test_the_leak_alarm_stops_the_identity_going_to_a_third_party(
    url: str, headers: dict, where: str
) -> None:
    p = pipeline(identity=Identity(emails=(ME,)))
    d = p.decide(model(url, {"Referer": PAGE, **headers}))
    assert d.stopped and d.reason is not None and d.reason.stage == "leak"
    assert d.reason.detail == f"your email in {where}"
    assert d.payload is not None and "your email" in d.payload["identifiers"]


def test_the_leak_alarm_leaves_first_party_requests_and_blocked_ones_alone() -> None:
    p = pipeline(identity=Identity(emails=(ME,)))
    assert not p.decide(model(f"https://login.news.example/in?e={ME}", {"Referer": PAGE})).stopped
    d = p.decide(img(f"http://tracker.test/p.gif?e={ME}"))
    assert d.reason is not None and d.reason.stage == "filter"  # the list decided; the leak only adds
    assert d.payload is not None and d.payload["identifiers"][0] == "your email"
    assert ME not in str(d.payload)  # read from the redacted URL


def test_the_body_is_read_for_the_leak_alarm() -> None:
    p = pipeline(identity=Identity(emails=(ME,)))
    req = model("https://collector.example/batch", {"Referer": PAGE}, method="POST")
    early = p.decide_url(req)
    assert early is PASSED
    assert p.decide_body(req, early, view_of(b"")) is early
    assert p.decide_body(req, early, view_of(b"nothing of the user")) is early
    d = p.decide_body(req, early, view_of(f"em={ME}".encode()))
    assert d.stopped and d.reason is not None and d.reason.detail == "your email in the body"
    blocked = p.decide_url(img("http://tracker.test/p.gif"))
    assert p.decide_body(req, blocked, view_of(f"em={ME}".encode())) is blocked  # already stopped
    first = model("https://api.news.example/save", {"Referer": PAGE}, method="POST")
    assert not p.decide_body(first, early, view_of(f"em={ME}".encode())).stopped


def test_a_pause_passes_everything_and_says_until_when() -> None:
    now = time.time()
    p = pipeline(paused_until=now + 60, clock=lambda: now)
    for d in (p.decide(img("http://tracker.test/p.gif")), p.decide_connect("whole.test")):
        assert (
            d.action is Action.PASSED and d.paused and d.goes_upstream
        )  # paused: everything goes, untouched
        assert (
            d.reason is not None
            and d.reason.stage == "paused"
            and (d.reason.detail or "").startswith("until ")
        )
    body = p.decide_body(
        img("http://tracker.test/p.gif"), p.decide_url(img("http://tracker.test/p.gif")), view_of(b"x")
    )
    assert body.paused
    expired = pipeline(paused_until=now - 1, clock=lambda: now)
    assert expired.decide(img("http://tracker.test/p.gif")).stopped
    assert not pipeline(paused_until=0).paused()


@pytest.mark.parametrize(
    ("url", "headers", "expected", "redirect"),
    [
        (
            "https://cdn.example/api?id=7&fbclid=IwAR3&utm_source=mail",
            {"Sec-Fetch-Dest": "empty"},
            "https://cdn.example/api?id=7",
            False,
        ),
        (
            "https://cdn.example/page?fbclid=1#top",
            {"Sec-Fetch-Dest": "document"},
            "https://cdn.example/page#top",
            True,
        ),
        (
            "https://cdn.example/page?FB%43LID=1&x=2",
            {"Accept": "text/html"},
            "https://cdn.example/page?x=2",
            True,
        ),
    ],
)
def test_tracking_parameters_are_removed(url: str, headers: dict, expected: str, redirect: bool) -> None:
    d = pipeline().decide(model(url, headers))
    assert d.action is Action.CLEANED and d.url == expected and d.redirect is redirect
    assert d.goes_upstream is not redirect
    assert (
        d.reason is not None and d.reason.stage == "param" and (d.reason.detail or "").startswith("removed ")
    )
    assert d.reason.rule == "$removeparam=fbclid"


@pytest.mark.parametrize("referer", [None, "https://mail.example/inbox", "https://shop.example/cart"])
def test_a_page_load_is_its_own_context_whatever_linked_to_it(referer: str | None) -> None:
    """uBO judges a page load in the page's own context: ``$domain=`` names the page being loaded, and it is
    first-party to itself, whether it was typed in, followed from a mail or linked from elsewhere."""
    rules = "$removeparam=ref,domain=shop.example\n$removeparam=aff,3p\n$removeparam=src,1p\n"
    headers = {"Sec-Fetch-Dest": "document", **({"Referer": referer} if referer else {})}
    d = Pipeline(Engine.from_text(rules, "t")).decide(
        model("https://shop.example/item?ref=mail&aff=1&src=x", headers)
    )
    assert d.action is Action.CLEANED and d.url == "https://shop.example/item?aff=1"
    # An image keeps the page it was loaded by as its context.
    d = Pipeline(Engine.from_text(rules, "t")).decide(img("https://shop.example/p.gif?ref=a&aff=1&src=x"))
    assert d.action is Action.CLEANED and d.url == "https://shop.example/p.gif?ref=a&src=x"


def test_nothing_to_clean_is_no_cleaning() -> None:
    assert pipeline().decide(model("https://cdn.example/api?id=7")) is PASSED
    assert pipeline().decide(model("https://cdn.example/api")) is PASSED


def test_an_allowed_request_is_still_cleaned_and_says_both() -> None:
    d = pipeline().decide(img("http://tracker.test/allowed/p.gif?fbclid=1"))
    assert d.action is Action.CLEANED and d.allowed
    assert [r.stage for r in d.reasons] == ["param", "allowed"]


def test_connect_refuses_a_whole_host_only_where_nothing_else_can_apply() -> None:
    passthrough = {"whole.test": "a reason", "bank.example": "the bundled list"}
    p = pipeline(passthrough=lambda host, client: passthrough.get(host))
    d = p.decide_connect("whole.test")
    assert d.stopped and d.reasons == (Reason("host", "||whole.test^", "t", 6),)
    d = p.decide_connect("bank.example")
    assert d.action is Action.PASSTHROUGH and d.reasons == (Reason("tls", detail="the bundled list"),)
    assert p.decide_connect("tracker.test") is PASSED  # decrypted: its requests are judged one by one
    hosts_only = pipeline(mode="hosts-only")
    assert hosts_only.decide_connect("whole.test").stopped
    d = hosts_only.decide_connect("cdn.example")
    assert d.action is Action.PASSTHROUGH and d.reason is not None and "hosts-only" in (d.reason.detail or "")
    assert not hosts_only.decide_connect("ads.test").stopped  # an $image rule is not a whole-host rule


def test_pixels_stay_where_an_exception_covers_them() -> None:
    p = pipeline()
    assert p.keeps_pixels(img("http://tracker.test/allowed/p.gif"))
    assert not p.keeps_pixels(img("https://cdn.example/p.gif"))


def test_request_model_reads_what_the_headers_say() -> None:
    r = model("https://Cdn.Example./a.gif?x=1", {"Referer": PAGE, "Sec-Fetch-Dest": "image", "Host": "other.example"},
              method="post", client="10.0.0.2")  # fmt: skip
    assert (r.host, r.method, r.type, r.source, r.site, r.client) == (
        "cdn.example", "POST", "image", PAGE, "news.example", "10.0.0.2",
    )  # fmt: skip
    assert r.host_header == "other.example" and not r.navigation and not r.first_party
    own = model("https://news.example/api", {"Referer": PAGE})
    assert own.first_party and own.host_header is None
    assert (
        model("https://a.example/", {"Host": "a.example"}).host_header is None
    )  # the same name is no fronting
    assert model("https://a.example/", resource="script").type == "script"
    assert model("https://a.example/", source="https://b.example/").site == "b.example"


@pytest.mark.parametrize(
    ("headers", "method", "navigation"),
    [
        ({"sec-fetch-dest": "document"}, "GET", True),
        ({"sec-fetch-dest": "iframe"}, "GET", False),
        ({"accept": "text/html,*/*"}, "GET", True),
        ({"accept": "application/xhtml+xml"}, "HEAD", True),
        ({"accept": "text/html", "referer": PAGE}, "GET", False),  # followed from a page, no Sec-Fetch-*
        ({"accept": "text/html"}, "POST", False),  # a form post is answered by the site, never with a 307
        ({}, "GET", False),
    ],
)
def test_navigation_is_a_page_load(headers: dict[str, str], method: str, navigation: bool) -> None:
    assert is_navigation(headers, method) is navigation


def test_header_map_joins_repeats_as_http_does() -> None:
    assert header_map([("Cookie", "a=1"), ("cookie", "b=2"), ("Accept", "x"), ("ACCEPT", "y")]) == {
        "cookie": "a=1; b=2", "accept": "x, y",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://a.test/p?q=1", "/p?q=1"),
        ("https://a.test?q=1", "/?q=1"),
        ("https://a.test", "/"),
        ("https://a.test:81/x", "/x"),
    ],
)
def test_path_and_query(url: str, path: str) -> None:
    assert path_and_query(url) == path


def test_a_decision_as_json() -> None:
    d = Decision(Action.CLEANED, (Reason("param", "$removeparam=x", "l", 3, "removed x"),), url="https://a/", redirect=True,
                 drop_headers=("referer",), drop_cookies=("_ga",), paused=True, payload={"vendor": None})  # fmt: skip
    assert d.to_dict() == {
        "action": "cleaned",
        "reasons": [{"stage": "param", "rule": "$removeparam=x", "list": "l", "line": 3, "detail": "removed x"}],
        "url": "https://a/", "redirect": True, "drop_headers": ["referer"], "drop_cookies": ["_ga"],
        "paused": True, "payload": {"vendor": None},
    }  # fmt: skip
    assert PASSED.to_dict() == {"action": "passed", "reasons": []}
    blocked = Decision(Action.BLOCKED, (Reason("filter"),), redirect_resource="1x1.gif")
    assert blocked.to_dict()["redirect_resource"] == "1x1.gif" and blocked.with_payload({"a": 1}).payload == {
        "a": 1
    }
    assert (
        Decision(Action.PASSTHROUGH).goes_upstream
        and not Decision(Action.UNWRAPPED, redirect=True).goes_upstream
    )


def test_the_pause_says_until_when_in_local_time() -> None:
    from datetime import datetime

    until = datetime(2030, 5, 6, 7, 8).astimezone().timestamp()
    p = pipeline(paused_until=until, clock=lambda: until - 10)
    d = p.decide(img("http://tracker.test/p.gif"))
    zone = datetime.fromtimestamp(until).astimezone().strftime("%Z")
    assert d.reason == Reason("paused", detail=f"until 2030-05-06 07:08 {zone}")


def test_a_cname_rule_limited_to_pages_sees_the_page() -> None:
    p = Pipeline(
        Engine.from_text("||omtrdc.net^$domain=news.example\n", "t"), cname_chain=lambda h: ("x.omtrdc.net",)
    )
    assert p.decide(img("https://metrics.shop.example/p", page=PAGE)).stopped
    assert not p.decide(img("https://metrics.shop.example/p", page="https://other.example/")).stopped


def test_a_leak_says_so_in_full() -> None:
    p = pipeline(identity=Identity(emails=(ME,)))
    d = p.decide(model(f"https://collector.example/c?e={ME}", {"Referer": PAGE}))
    assert d.reasons == (
        Reason("leak", "your identity (leak alarm)", "identity", None, "your email in the URL"),
    )
    assert d.redirect_resource is None


def test_hosts_only_passes_tls_through_by_a_reason_of_its_own() -> None:
    d = pipeline(mode="hosts-only").decide_connect("cdn.example")
    assert d.reasons == (Reason("tls", detail="hosts-only mode decrypts no TLS"),)
