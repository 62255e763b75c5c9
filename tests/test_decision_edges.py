"""The decision modules at their edges (issue 23: a mutation run of the pipeline group left these unnoticed):
redaction's query and cookie parsing, the schema learner's bounds, the $urlskip steps' limits, and pipeline
stages whose inputs (method, page, list name, Referer) must each be the right one. Pure."""

from __future__ import annotations

import json

import pytest

from pixelguard.decision.decision import Action
from pixelguard.decision.pipeline import Pipeline, path_and_query
from pixelguard.decision.redact import redact, without_cookies
from pixelguard.decision.request_model import RequestModel, header_map
from pixelguard.decision.schema_learner import MAX_PATH, MAX_PATHS, SchemaLearner
from pixelguard.decision.urlskip import MAX_JSON_ITEMS, MAX_JSON_PARSES, MAX_STEPS, run_steps
from pixelguard.engine import Engine
from pixelguard.engine.rules import METHOD_BITS

# --- redaction ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "out", "removed"),
    [
        ("https://t.example/c?cid=1", "https://t.example/c", ("cid",)),  # nothing left: no "?"
        ("https://t.example/c?cid=1#frag", "https://t.example/c#frag", ("cid",)),  # the fragment stays
        ("https://t.example/c#frag?cid=1", "https://t.example/c#frag?cid=1", ()),  # a "?" in a fragment: no query
        ("https://t.example/c?cid=a=b&x=1", "https://t.example/c?x=1", ("cid",)),  # a value holding "="
        ("https://t.example/c?x=1&u=https://b.example/?cid=2", "https://t.example/c?x=1&u=https://b.example/?cid=2", ()),
        ("https://t.example/c?CID=1&Fbp=2", "https://t.example/c", ("CID", "Fbp")),  # names compare case-blind
        ("?cid=1&a=2", "?a=2", ("cid",)),  # a query alone (a relative reference): its "?" is the first character
        ("#x?cid=1", "#x?cid=1", ()),  # a fragment alone holds no query
    ],
)  # fmt: skip
def test_redaction_reads_the_query_as_a_url_has_it(url: str, out: str, removed: tuple[str, ...]) -> None:
    red = redact(url)
    assert (red.url, red.params) == (out, removed)


def test_redaction_reads_cookie_names_before_their_first_equals_sign() -> None:
    red = redact("https://t.example/c", "_ga=GA1=2; theme=a=b; _pk_id.1.abc=x=y")
    assert red.cookies == ("_ga", "_pk_id.1.abc")
    assert without_cookies("_ga=GA1=2; theme=a=b", ("_ga",)) == "theme=a=b"
    assert without_cookies("_ga=1", ("_ga",)) == ""


# --- the schema learner -------------------------------------------------------------------------------------------


def test_the_learner_learns_after_three_by_default_once_and_at_the_longest_path() -> None:
    lr = SchemaLearner()
    for i in range(2):
        assert lr.match("h.example", f"https://h.example/m?{i}", "GA4") is None
    assert lr.match("h.example", "https://h.example/m?2", "GA4") is not None
    for i in range(6):  # learned once: later matches do not learn it again
        assert lr.match("h.example", f"https://h.example/m?{i}", "GA4") is None
    longest = "/" + "p" * (MAX_PATH - 1)
    assert [lr.match("h.example", f"https://h.example{longest}", "GA4") for _ in range(3)][-1] is not None
    too_long = "/" + "p" * MAX_PATH
    assert all(lr.match("h.example", f"https://h.example{too_long}", "GA4") is None for _ in range(3))


def test_the_learner_forgets_the_least_recently_seen_path_first_and_holds_exactly_its_bound() -> None:
    lr = SchemaLearner(3)
    lr.match("h.example", "https://h.example/old", "GA4")
    lr.match("h.example", "https://h.example/old", "GA4")
    for i in range(MAX_PATHS):
        lr.match("h.example", f"https://h.example/p{i}", "GA4")
    assert len(lr) == MAX_PATHS
    assert lr.match("h.example", "https://h.example/old", "GA4") is None  # forgotten: counting starts again
    lr.match("h.example", f"https://h.example/p{MAX_PATHS - 1}", "GA4")
    assert lr.match("h.example", f"https://h.example/p{MAX_PATHS - 1}", "GA4") is not None  # the newest kept


def test_the_learner_remembers_exactly_its_bound_of_learned_paths() -> None:
    lr = SchemaLearner(1)  # learned at the first sighting
    paths = [f"https://h.example/p{i}" for i in range(MAX_PATHS)]
    assert all(lr.match("h.example", u, "GA4") is not None for u in paths)
    assert [u for u in paths if lr.match("h.example", u, "GA4") is not None] == []  # each one still known


# --- $urlskip steps -----------------------------------------------------------------------------------------------


def test_steps_at_their_limits() -> None:
    url = "https://r.test/?url=https://a.example/"
    assert run_steps(url, " ".join(["?url", *["+https"] * (MAX_STEPS - 1)])) == "https://a.example/"
    assert run_steps(url, " ".join(["?url", *["+https"] * MAX_STEPS])) is None
    assert run_steps("https://r.test/?url=http://a.example/", "?url") == "http://a.example/"
    assert (
        run_steps("https://r.test/?d=aHR0cHM6Ly9hLmV4YW1wbGUvPj4-", "?d -safebase64")
        == "https://a.example/>>>"
    )


def _nested(levels: int) -> str:
    """JSON holding JSON ``levels`` deep, the url at the bottom."""
    text = _compact({"url": "https://a.example/"})
    for _ in range(levels):
        text = _compact({"p": text})
    return text


def _compact(obj: object) -> str:
    """JSON without spaces, as senders write it (the ?name step turns a space into %20, as uBO does)."""
    return json.dumps(obj, separators=(",", ":"))


def test_the_json_step_reads_arrays_strings_of_json_and_stops_at_its_bounds() -> None:
    def json_url(text: str) -> str | None:
        from urllib.parse import quote

        return run_steps(f"https://r.test/?j={quote(text)}", "?j -json=url")

    assert json_url('[{"url":"https://a.example/"}]') == "https://a.example/"
    assert json_url(_compact({"p": _compact([{"url": "https://a.example/"}])})) == "https://a.example/"
    assert json_url(_nested(MAX_JSON_PARSES - 1)) == "https://a.example/"
    assert json_url(_nested(MAX_JSON_PARSES)) is None  # the top parse and MAX_JSON_PARSES - 1 inner ones
    assert json_url(_nested(MAX_JSON_PARSES + 1)) is None

    def crowd(n: int) -> str:  # the top list, n objects, then the one with the url: n + 2 values to look at
        return _compact([{"k": i} for i in range(n)] + [{"url": "https://a.example/"}])

    assert json_url(crowd(MAX_JSON_ITEMS - 2)) == "https://a.example/"
    assert json_url(crowd(MAX_JSON_ITEMS - 1)) is None  # past the values one step may look at
    # base64 with line breaks or spaces in it (as atob reads it)
    assert (
        run_steps("https://r.test/?b=aHR0cHM6Ly9h%0ALmV4YW1w%20bGUv", "?b -uricomponent -base64")
        == "https://a.example/"
    )


# --- the request model ----------------------------------------------------------------------------------------------


def test_the_request_model_reads_a_websocket_an_http_page_and_the_method() -> None:
    from pixelguard.decision.request_model import resource_type, source_url

    assert resource_type(header_map([("Upgrade", "WebSocket")]), "https://ws.example/s") == "websocket"
    assert source_url(header_map([("Referer", "http://plain.example/page")])) == "http://plain.example/page"
    assert source_url(header_map([("Origin", "http://plain.example")])) == "http://plain.example/"
    req = RequestModel.build("https://px.example/e", "px.example", "POST", header_map([]))
    assert req.engine.method == METHOD_BITS["post"]  # a $method rule reads it there


def test_a_url_with_an_empty_host_has_its_path_read_from_the_first_slash() -> None:
    assert path_and_query("file:///a/b?c=1") == "/a/b?c=1"
    assert path_and_query("https://h.example?q=1") == "/?q=1"


def test_a_streamed_bodys_view_joins_head_and_tail_with_a_line_break_and_identity_is_no_encoding() -> None:
    from pixelguard.decision.bodies import BODY_HOLD, StreamedBody

    body = StreamedBody("text/plain", " Identity ")
    body.feed(b"h" * BODY_HOLD + b"tail")
    view = body.view(complete=True)
    assert view.data == b"h" * BODY_HOLD + b"\ntail" and view.size == BODY_HOLD + 4 and not view.complete


@pytest.mark.parametrize("piece", [1 << 20, 65536, 4099])
def test_the_views_of_a_body_are_those_the_proxy_decides_on(piece: int) -> None:
    from pixelguard.decision.bodies import BODY_HOLD, BODY_TAIL, view_of, views_of

    small = b"s" * BODY_HOLD
    (whole,) = views_of([small[i : i + piece] for i in range(0, len(small), piece)])
    assert whole == view_of(small) and whole.complete
    big = b"h" * BODY_HOLD + b"m" * (3 * BODY_TAIL) + b"t" * BODY_TAIL
    head, end = views_of(big[i : i + piece] for i in range(0, len(big), piece))
    assert head.data == b"h" * BODY_HOLD and not head.complete  # before any of it leaves
    assert (
        end.data == b"h" * BODY_HOLD + b"\n" + b"t" * BODY_TAIL and end.size == len(big) and not end.complete
    )


def test_a_decision_says_the_referer_it_sets() -> None:
    from pixelguard.decision.decision import Decision

    d = Decision(Action.PASSED, set_referer="https://news.example/")
    assert d.to_dict()["set_referer"] == "https://news.example/"
    assert "set_referer" not in Decision(Action.PASSED).to_dict()


# --- pipeline stages and their inputs --------------------------------------------------------------------------------


def _req(url: str, method: str = "GET", **headers: str) -> RequestModel:
    return RequestModel.from_url(url, method=method, headers=header_map(headers.items()))


def test_a_learned_rule_is_reported_as_learned() -> None:
    d = Pipeline(Engine.from_text("||px.example^\n", "learned")).decide(_req("https://px.example/p.gif"))
    assert d.reason is not None and d.reason.stage == "learned"


def test_the_host_header_check_and_the_cname_check_keep_the_requests_page_and_method() -> None:
    rules = "||px.tracker.test^$method=post,domain=news.example\n"
    pipe = Pipeline(
        Engine.from_text(rules, "t"),
        cname_chain=lambda h: ("px.tracker.test",) if h == "m.news.example" else None,
    )
    fronted = _req("https://cdn.example/p", "POST", Host="px.tracker.test", Referer="https://news.example/a")
    assert pipe.decide(fronted).action is Action.BLOCKED
    assert pipe.decide(_req("https://cdn.example/p", "POST", Host="px.tracker.test")).action is Action.PASSED
    cloaked = _req("https://m.news.example/p", "POST", Referer="https://news.example/a")
    assert pipe.decide(cloaked).action is Action.BLOCKED
    assert (
        pipe.decide(_req("https://m.news.example/p", "GET", Referer="https://news.example/a")).action
        is Action.PASSED
    )


def test_cleaning_names_every_parameter_it_removed() -> None:
    pipe = Pipeline(Engine.from_text("$removeparam=fbclid\n$removeparam=gclid\n", "t"))
    d = pipe.decide(_req("https://shop.example/p?fbclid=1&id=2&gclid=3", Referer="https://shop.example/"))
    assert d.reason is not None and d.reason.detail == "removed fbclid, gclid"


def test_a_blocked_requests_payload_is_read_from_its_body_too() -> None:
    from pixelguard.decision.bodies import view_of

    pipe = Pipeline(Engine.from_text("||facebook.com/tr^\n", "t"))
    req = _req("https://www.facebook.com/tr", "POST", Referer="https://shop.example/")
    d = pipe.decide(req, view_of(b"id=1&ev=Purchase&cd[value]=9", "application/x-www-form-urlencoded"))
    assert d.payload is not None and d.payload["event"] == "Purchase" and d.payload["fields"]["value"] == "9"


def test_hygiene_leaves_a_referer_that_is_already_an_origin_and_still_drops_validators() -> None:
    pipe = Pipeline(Engine.from_text("||x.test^\n", "t"), tracker_host=lambda h: True)
    d = pipe.decide(
        _req("https://t.example/l.js", Referer="https://news.example/", **{"If-None-Match": '"1"'})
    )
    assert d.drop_headers == ("if-none-match",) and d.set_referer is None
    plain = pipe.decide(_req("https://t.example/l.js", Referer="https://news.example/"))
    assert plain.drop_headers == () and plain.set_referer is None and plain.action is Action.PASSED


@pytest.mark.parametrize(
    ("url", "expected"),
    [("https://a.example/p?q=1", "/p?q=1"), ("https://a.example?q=1", "/?q=1"), ("https://a.example", "/"),
     ("https://a.example/p?u=https://b.example/x", "/p?u=https://b.example/x")],
)  # fmt: skip
def test_path_and_query(url: str, expected: str) -> None:
    assert path_and_query(url) == expected


def test_an_allowed_trackers_body_loses_its_identifiers() -> None:
    from pixelguard.decision.bodies import view_of
    from pixelguard.decision.redact import redact_body

    assert redact_body(b"en=page_view&cid=1&uid=2\nen=scroll&cid=1") == (
        b"en=page_view\nen=scroll",
        ("cid", "uid"),
    )
    assert redact_body(b'{"userId":"u","e":{"anonymousId":"a","k":1},"l":[{"client_id":"c"}]}') == (
        b'{"e":{"k":1},"l":[{}]}', ("userId", "anonymousId", "client_id"))  # fmt: skip
    for untouched in (b"no form here", b'{"event":"x"}', b"{broken json", b"a=1&b=2"):
        assert redact_body(untouched) == (untouched, ())
    # a JSON array (batched events), text that is not ASCII kept as UTF-8, bytes that are not UTF-8 kept as they came
    assert redact_body(b'[{"cid":"1","n":"Gr\xc3\xbc\xc3\x9fe"}]') == ('[{"n":"Grüße"}]'.encode(), ("cid",))
    assert redact_body(b"cid=1&n=%FF\xff\xfe") == (b"n=%FF\xff\xfe", ("cid",))
    pipe = Pipeline(Engine.from_text("||api.t.example^\n@@||api.t.example^\n", "user"))
    req = _req("https://api.t.example/v1/t?cid=9", "POST", Referer="https://shop.example/")
    d = pipe.decide(req, view_of(b'{"type":"track","userId":"u"}', "application/json"))
    assert d.action is Action.REDACTED and d.body == b'{"type":"track"}'
    assert d.reason is not None and d.reason.detail == "removed cid, body userId"
    assert (d.reason.stage, d.reason.rule) == ("redacted", "identifiers of an allowed tracker")
    off = Pipeline(pipe.engine, redact_allowed=False).decide(
        req, view_of(b'{"userId":"u"}', "application/json")
    )
    assert off.action is Action.PASSED and off.body is None


def test_a_json_bodys_walk_is_bounded() -> None:
    """At most MAX_JSON_NODES values are looked at, breadth first: the top list, its values in order."""
    from pixelguard.decision.redact import MAX_JSON_NODES, redact_body

    events = [0] * (MAX_JSON_NODES - 2) + [
        {"cid": "1"},
        {"cid": "2"},
    ]  # the first object is the last one looked at
    out, removed = redact_body(json.dumps(events, separators=(",", ":")).encode())
    assert removed == ("cid",)
    assert json.loads(out)[-2:] == [{}, {"cid": "2"}]


def test_a_pause_ends_at_its_moment() -> None:
    pipe = Pipeline(Engine.from_text("||t.example^\n", "t"), paused_until=1000.0, clock=lambda: 1000.0)
    assert not pipe.paused() and pipe.decide(_req("https://t.example/p")).action is Action.BLOCKED
    pipe.clock = lambda: 999.9
    assert pipe.paused()


def test_connect_in_hosts_only_mode_and_the_refused_tunnels_reason() -> None:
    engine = Engine.from_text("||t.example^\n", "t")
    hosts_only = Pipeline(engine, mode="hosts-only", passthrough=lambda host, client: "configured")
    d = hosts_only.decide_connect("other.example")
    assert (
        d.action is Action.PASSTHROUGH
        and d.reason is not None
        and d.reason.detail == "hosts-only mode decrypts no TLS"
    )
    refused = Pipeline(engine).decide_connect("t.example")
    assert refused.action is Action.BLOCKED and refused.reason is not None
    assert (refused.reason.stage, refused.reason.rule, refused.reason.list, refused.reason.line) == (
        "host",
        "||t.example^",
        "t",
        1,
    )


def test_hygiene_leaves_a_referer_it_cannot_read() -> None:
    pipe = Pipeline(Engine.from_text("||x.test^\n", "t"), tracker_host=lambda h: True)
    for referer in ("android-app://com.example.app/", "not a url"):
        d = pipe.decide(_req("https://t.example/l.js", Referer=referer, **{"X-Client-Data": "a"}))
        assert d.drop_headers == ("x-client-data",) and d.set_referer is None, referer
    d = pipe.decide(_req("https://t.example/l.js", Referer="https://news.example?x=1"))
    assert d.set_referer == "https://news.example/"
