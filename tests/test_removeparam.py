"""$removeparam on one URL: what each kind of value removes, how names compare, and what the URL keeps (the
filter lists' own rules are tested on real URLs in test_filters_params.py)."""

from __future__ import annotations

import pytest

from pixelguard.decision.removeparam import clean, normalised


@pytest.mark.parametrize(
    ("url", "values", "cleaned", "removed"),
    [
        ("https://a.test/p?a=1&fbclid=2&b=3", ["fbclid"], "https://a.test/p?a=1&b=3", ["fbclid"]),
        ("https://a.test/p?fbclid[][]=1&fbclid]=2", ["fbclid"], "https://a.test/p?fbclid]=2", ["fbclid[][]"]),
        ("https://a.test/p?a[]=1", ["a[]"], "https://a.test/p", ["a[]"]),
        ("https://a.test/p?ab=1&a=2", ["a"], "https://a.test/p?ab=1", ["a"]),
        ("https://a.test/p?UTM_X=1&u=2", ["/^utm_/i"], "https://a.test/p?u=2", ["UTM_X"]),
        (
            "https://a.test/p?UTM_X=1&utm_y=2",
            ["/^utm_/"],
            "https://a.test/p?UTM_X=1",
            ["utm_y"],
        ),  # case as the rule says
        (
            "https://a.test/p?x=%61b&y=2",
            ["/^x=ab$/"],
            "https://a.test/p?y=2",
            ["x"],
        ),  # the decoded value is tested
        (
            "https://a.test/p?flag&y=2",
            ["/^flag$/"],
            "https://a.test/p?y=2",
            ["flag"],
        ),  # no "=": the name alone
        ("https://a.test/p?a=1&b=2", ["~a"], "https://a.test/p?a=1", ["b"]),
        ("https://a.test/p?a=1&b=2", ["~/^a=/"], "https://a.test/p?a=1", ["b"]),
        ("https://a.test/p?a=1&b=2", [""], "https://a.test/p", ["a", "b"]),
        (
            "https://a.test/p?a=1&b=2",
            ["/(?<=x)a/"],
            "https://a.test/p?a=1&b=2",
            [],
        ),  # a refused regex: nothing
        ("https://a.test/p?a=1&b=2", ["~/(?<=x)a/"], "https://a.test/p?a=1&b=2", []),  # ... negated too (uBO)
        ("https://a.test/p?a=X&fbclid=1", ["fbclid"], "https://a.test/p?a=X", ["fbclid"]),
        (
            "https://a.test/p?a=1?b&fbclid=2",
            ["fbclid"],
            "https://a.test/p?a=1?b",
            ["fbclid"],
        ),  # "?" in a value
        ("https://a.test/p?a=1&fbclid=2#f?x", ["fbclid"], "https://a.test/p?a=1#f?x", ["fbclid"]),
        ("https://a.test/p?fbclid=2", ["fbclid"], "https://a.test/p", ["fbclid"]),
        ("https://a.test/p", ["fbclid"], "https://a.test/p", []),
        ("https://a.test/p?", ["fbclid"], "https://a.test/p?", []),
    ],
)
def test_clean(url: str, values: list[str], cleaned: str, removed: list[str]) -> None:
    assert clean(url, values) == (cleaned, removed)


def test_the_name_the_engine_is_asked_with() -> None:
    assert normalised("https://a.test/p?FB%63LID[]=a=b;x=1") == "https://a.test/p?fbclid=a=b&x=1"
    assert normalised("https://a.test/p?a=1&b=2") == "https://a.test/p?a=1&b=2"  # nothing hidden: the same
    assert normalised("https://a.test/p?a=%31?x#f") == "https://a.test/p?a=%31?x"
    assert normalised("https://a.test/p") == "https://a.test/p"


def test_an_exception_without_a_value_keeps_every_parameter_and_one_with_a_value_keeps_that_one() -> None:
    """uBO's `@@...$removeparam` (no value) turns off every $removeparam rule for the requests it matches;
    `@@...$removeparam=name` only the rules naming that value. The resource type reaches the rules (`$image`)."""
    from pixelguard.engine import Engine

    e = Engine.from_text(
        "$removeparam=utm_source\n$removeparam=fbclid,image\n@@||keep.example^$removeparam\n"
        "@@||half.example^$removeparam=utm_source\n",
        "t",
    )
    url = "?utm_source=x&fbclid=y&b=1"

    def names(host: str, rtype: str = "document") -> list[str]:
        return [r.param for r in e.removeparams(f"https://{host}/{url}", None, rtype)]

    assert names("a.example") == ["utm_source"]
    assert names("a.example", "image") == ["utm_source", "fbclid"]
    assert names("keep.example", "image") == []
    assert names("half.example", "image") == ["fbclid"]
