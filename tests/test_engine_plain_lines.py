"""The build's fast path for plain host lines (rules.plain_host) reads every line it takes as parse_line does.

A list's build asks plain_host first and the general parser only for the lines it declines, so a line the two
read differently would change a list's rules without a word. Checked on every line of the real lists, on
generated lines shaped like the three spellings (with the edges that make parse_line say otherwise) and on the
built engines, which must be the same with and without the fast path.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shared_data import SHARED, shared_path

from pixelguard.engine import engine as engine_mod
from pixelguard.engine import index as ix
from pixelguard.engine import rules as R


def assert_read_alike(line: str) -> str | None:
    """plain_host(line), after checking that parse_line reads the line as that one plain host rule."""
    host = R.plain_host(line)
    if host is not None:
        out = R.parse_line(line)
        assert isinstance(out, list) and len(out) == 1, (line, out)
        assert ix.is_plain_host(out[0]) and out[0].host == host, (line, out[0])
    return host


def _list_files() -> list[Path]:
    shared_path("filterlists", "easylist.txt")
    return sorted((SHARED / "filterlists").glob("*.txt"))


def test_every_line_of_the_real_lists() -> None:
    taken = declined_plain = 0
    for path in _list_files():
        for raw in path.read_text(encoding="utf-8", errors="replace").split("\n"):
            line = raw.strip()
            if not line:
                continue
            if assert_read_alike(line) is not None:
                taken += 1
            elif isinstance(out := R.parse_line(line), list) and all(map(ix.is_plain_host, out)):
                declined_plain += 1  # a plain rule spelled otherwise (upper case, several names, a comment)
    # The fast path is the common one: it takes the plain rules of these lists, bar a few spelled otherwise.
    assert taken > 50 * max(declined_plain, 1), (taken, declined_plain)


@pytest.mark.parametrize(
    ("line", "host"),
    [
        ("||tracker.example^", "tracker.example"),
        ("||a_b.example^", "a_b.example"),
        ("||com^", "com"),
        ("0.0.0.0 ads.example", "ads.example"),
        ("127.0.0.1\tads.example", "ads.example"),
        ("ads.example", "ads.example"),
        # Declined, for the parser to read: other rules, and plain ones spelled otherwise.
        ("||Tracker.example^", None),  # kept as written (its $badfilter key keeps the case)
        ("||.tracker.example^", None),
        ("||tracker.example.^", None),
        ("||tracker.example^$third-party", None),
        ("||tracker.example^|", None),
        ("||tracker.example/pixel^", None),
        ("@@||tracker.example^", None),
        ("0.0.0.0 localhost.localdomain", None),  # a name for the machine itself: skipped by the parser
        ("0.0.0.0 0.0.0.0", None),
        ("0.0.0.0 ads.example # a comment", None),
        ("0.0.0.0 ads.example ads2.example", None),
        ("::1 ads.example", None),
        ("ads.example.", None),
        ("ads", None),  # a single word is a substring rule (tests/test_engine_formats.py)
        ("||" + "a." * 600 + "example^", None),  # past the parser's pattern limit
        ("", None),
    ],
)
def test_spellings(line: str, host: str | None) -> None:
    assert assert_read_alike(line) == host


_LABEL = st.text(alphabet=st.sampled_from(list("az09-_.A")), min_size=1, max_size=12)
_NAME = st.lists(_LABEL, min_size=1, max_size=5).map(".".join) | st.sampled_from(
    ["localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "0.0.0.0", "127.0.0.1"]
)
_SPELLED = st.builds(
    lambda pre, name, post: pre + name + post,
    st.sampled_from(["||", "", "0.0.0.0 ", "127.0.0.1\t", "0.0.0.0  ", "@@||", "|", "||*", "1.2.3.4 "]),
    _NAME,
    st.sampled_from(["^", "", "^|", "^$image", ".", " # x", "/", "^*", " b.example"]),
)


@given(_SPELLED | st.text(alphabet=st.sampled_from(list("|^.$@#0127 \tabcl-_")), max_size=40))
def test_generated_lines(line: str) -> None:
    assert_read_alike(line.strip())


def test_engines_and_rule_counts_with_and_without_it_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # A list of each format, and one that names their hosts again in other spellings and disables some.
    lists = [shared_path("filterlists", "easyprivacy.txt"), shared_path("filterlists", "adaway-hosts.txt")]
    texts = [(p.stem, p.read_text(encoding="utf-8", errors="replace")) for p in lists]
    hosts = [h for _, text in texts for line in text.split("\n") if (h := R.plain_host(line.strip()))]
    again = [f"||{hosts[i]}^$badfilter" for i in range(0, len(hosts), 97)]
    again += [
        f"{s}{hosts[i]}{e}"
        for i in range(3, len(hosts), 101)
        for s, e in [("", ""), ("0.0.0.0 ", ""), ("||", "^")]
    ]
    again += [f"||{hosts[i].upper()}^" for i in range(4, len(hosts), 103)]
    texts.append(("again", "\n".join(again)))
    fast, fast_count = engine_mod.build_state(texts), engine_mod.count_rules(texts)
    monkeypatch.setattr(R, "plain_host", lambda line: None)
    slow, slow_count = engine_mod.build_state(texts), engine_mod.count_rules(texts)
    assert fast_count == slow_count  # what a download is checked by (update/download.py)
    assert fast == slow
    # In the same order too: the first list naming a host is the one reported.
    assert pickle.dumps(fast) == pickle.dumps(slow)
