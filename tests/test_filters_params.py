"""The bundled pixelguard-params list: every rule removes its parameter, and nothing else leaves a URL.

The table is data: (URL, the rule that must apply, the URL that remains). A rule line without a row here fails
the last test, so a new parameter cannot land untested.
"""

from __future__ import annotations

import pytest

from pixelguard.config import bundled_filters_dir
from pixelguard.decision import removeparam as params
from pixelguard.engine import Engine
from pixelguard.engine.rules import validate

LIST = bundled_filters_dir() / "pixelguard-params.txt"
PAGE = "https://shop.example/"

TABLE = [
    ("https://shop.example/p?id=7&fbclid=IwAR3xyz", "$removeparam=fbclid", "https://shop.example/p?id=7"),
    (
        "https://www.instagram.com/p/abc/?igshid=MzRlODBiNWFlZA==",
        "$removeparam=igshid",
        "https://www.instagram.com/p/abc/",
    ),
    ("https://shop.example/?gclid=Cj0KCQ&x=1", "$removeparam=gclid", "https://shop.example/?x=1"),
    ("https://shop.example/?gbraid=0AAAAA", "$removeparam=gbraid", "https://shop.example/"),
    ("https://shop.example/?wbraid=CjkKCQ", "$removeparam=wbraid", "https://shop.example/"),
    ("https://shop.example/?gclsrc=aw.ds", "$removeparam=gclsrc", "https://shop.example/"),
    ("https://shop.example/?dclid=CJyK", "$removeparam=dclid", "https://shop.example/"),
    ("https://shop.example/item?srsltid=AfmBOo", "$removeparam=srsltid", "https://shop.example/item"),
    ("https://shop.example/?msclkid=5fd1d", "$removeparam=msclkid", "https://shop.example/"),
    ("https://shop.example/?twclid=2-3abc", "$removeparam=twclid", "https://shop.example/"),
    ("https://shop.example/?ttclid=E.C.P", "$removeparam=ttclid", "https://shop.example/"),
    ("https://shop.example/?li_fat_id=abc-123", "$removeparam=li_fat_id", "https://shop.example/"),
    ("https://shop.example/?yclid=123456", "$removeparam=yclid", "https://shop.example/"),
    (
        "https://blog.example/post?mc_cid=abc123&mc_eid=def456",
        "$removeparam=mc_cid",
        "https://blog.example/post",
    ),
    ("https://blog.example/post?mc_eid=def456", "$removeparam=mc_eid", "https://blog.example/post"),
    ("https://blog.example/?_hsenc=p2ANqtz&_hsmi=123", "$removeparam=_hsenc", "https://blog.example/"),
    ("https://blog.example/?_hsmi=123", "$removeparam=_hsmi", "https://blog.example/"),
    ("https://blog.example/?hsCtaTracking=abc%7Cdef", "$removeparam=hsCtaTracking", "https://blog.example/"),
    ("https://blog.example/?mkt_tok=eyJpIjoi", "$removeparam=mkt_tok", "https://blog.example/"),
    ("https://shop.example/?_kx=abc.XYZ", "$removeparam=_kx", "https://shop.example/"),
    ("https://shop.example/?ck_subscriber_id=123", "$removeparam=ck_subscriber_id", "https://shop.example/"),
    ("https://shop.example/?__s=xyz", "$removeparam=__s", "https://shop.example/"),
    ("https://shop.example/?vero_id=abc", "$removeparam=vero_id", "https://shop.example/"),
    ("https://shop.example/?elqTrackId=abc&elq=1", "$removeparam=elqTrackId", "https://shop.example/?elq=1"),
    ("https://shop.example/?irclickid=abc", "$removeparam=irclickid", "https://shop.example/"),
    ("https://shop.example/?cjevent=abc", "$removeparam=cjevent", "https://shop.example/"),
    ("https://shop.example/?epik=dj0yJnU9", "$removeparam=epik", "https://shop.example/"),
    ("https://shop.example/?ScCid=abc", "$removeparam=ScCid", "https://shop.example/"),
    (
        "https://blog.example/a?utm_source=news&utm_medium=email&utm_campaign=fall&page=2#top",
        "$removeparam=/^utm_/",
        "https://blog.example/a?page=2#top",
    ),
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_files([LIST])


@pytest.mark.parametrize(("url", "rule", "cleaned"), TABLE)
def test_each_parameter_is_removed(engine: Engine, url: str, rule: str, cleaned: str) -> None:
    found = engine.removeparams(url, PAGE, "document")
    assert rule in [p.rule for p in found]
    assert params.clean(url, [p.param for p in found])[0] == cleaned


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/search?q=fbclid&page=2",  # the name as a value is not the parameter
        "https://shop.example/?id=utm_source",
        "https://shop.example/?myfbclid=1",
        "https://shop.example/",
    ],
)
def test_other_parameters_stay(engine: Engine, url: str) -> None:
    found = engine.removeparams(url, PAGE, "document")
    assert params.clean(url, [p.param for p in found])[0] == url


def test_the_list_is_valid_and_every_rule_is_in_the_table() -> None:
    lines = [ln.strip() for ln in LIST.read_text().splitlines()]
    rules = [ln for ln in lines if ln and not ln.startswith(("!", "["))]
    assert rules and all(validate(r) is None for r in rules)
    assert sorted(set(rules)) == sorted({rule for _, rule, _ in TABLE})
    for i, ln in enumerate(lines):  # each rule says whose parameter it is
        if ln in rules:
            assert lines[i - 1].startswith("! "), ln


@pytest.mark.parametrize(
    ("url", "values", "cleaned", "removed"),
    [
        ("https://a.example/?a=1&b=2", [""], "https://a.example/", ["a", "b"]),  # bare $removeparam: all
        ("https://a.example/?a=1&b=2", ["~a"], "https://a.example/?a=1", ["b"]),  # ~: all but a
        ("https://a.example/?a=1&b=2", ["/^b=2$/"], "https://a.example/?a=1", ["b"]),  # regex on name=value
        ("https://a.example/?a=1&b=2", ["~/^a=/"], "https://a.example/?a=1", ["b"]),
        ("https://a.example/?a=1&&b=2", ["a"], "https://a.example/?&b=2", ["a"]),  # order and form kept
        ("https://a.example/#x?a=1", ["a"], "https://a.example/#x?a=1", []),  # a fragment is not a query
        ("https://a.example/?a", ["a"], "https://a.example/", ["a"]),
    ],
)
def test_removeparam_values(url: str, values: list[str], cleaned: str, removed: list[str]) -> None:
    assert params.clean(url, values) == (cleaned, removed)


@pytest.mark.parametrize("value", ["/(a+)+$/", "/(x+x+)+y/"])
def test_removeparam_regex_cannot_backtrack_on_a_hostile_query(value: str) -> None:
    # Patterns that take Python's re exponential time on these 5,000-character parameters. They go through
    # the engine's bounded matcher, so each call returns (a hang fails through the suite's timeout).
    for pair in ("a=" + "a" * 5000 + "!", "x=" + "x" * 5000):
        url = f"https://a.example/?{pair}&keep=1"
        cleaned, removed = params.clean(url, [value])
        assert removed == [] and cleaned == url  # no match: the query stays whole


def test_removeparam_regex_refused_by_the_bounded_matcher_removes_nothing() -> None:
    # A backreference RE2 cannot run, unanchored: Python's re is not trusted with it either.
    url = "https://a.example/?aa=aa&b=1"
    assert params.clean(url, ["/(a+)=\\1/"]) == (url, [])
    assert params.clean(url, ["/^a+=a+$/"]) == ("https://a.example/?b=1", ["aa"])  # a bounded one still works
