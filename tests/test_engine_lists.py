"""The real lists: EasyList + EasyPrivacy load whole, garbage never raises, the compiled cache round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_data import shared_path

from pixelguard.engine import Engine
from pixelguard.engine.rules import validate

GARBAGE_LINES = [
    "||",
    "@@",
    "$",
    "$third-party",
    "$domain=",
    "@@$",
    "/unbalanced(regex/",
    "/[a-z/",
    "/(a+)+(?=b)/$script",  # needs lookahead (no RE2) and backtracks exponentially (no Python re)
    "||example.com^$~",
    "||example.com^$,,",
    "a" * 100_000,
    "||x.com^$domain=|||",
    "*",
    "|",
    "||*",
    "@@||",
]


@pytest.fixture(scope="module")
def lists(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    easylist = shared_path("filterlists", "easylist.txt")
    easyprivacy = shared_path("filterlists", "easyprivacy.txt")
    garbage = tmp_path_factory.mktemp("lists") / "garbage.txt"
    garbage.write_bytes(
        "\n".join(GARBAGE_LINES).encode() + b"\n\x00\x01\xff\xfe binary\x89PNG\r\n\x1a\n" + bytes(range(256))
    )
    return [easylist, easyprivacy, garbage]


@pytest.fixture(scope="module")
def big(lists: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Path]:
    cache = tmp_path_factory.mktemp("cache")
    return Engine.from_files(lists, cache_dir=cache), cache


def test_everything_loads_and_skips_are_counted(big: tuple[Engine, Path]) -> None:
    engine, _ = big
    assert not engine.loaded_from_cache
    assert engine.stats["easylist"].rules > 40_000
    assert engine.stats["easyprivacy"].rules > 40_000
    assert engine.stats["easylist"].skipped["cosmetic"] > 10_000
    assert engine.stats["easylist"].skipped["popup"] > 0  # $popup alone needs a browser
    garbage = engine.stats["garbage"]
    assert garbage.rules == 0, "no garbage line may become a rule"
    assert garbage.skipped["malformed"] >= 10
    assert all(e.startswith(("garbage:", "easylist:", "easyprivacy:")) for e in engine.errors)
    assert any(e.startswith("garbage:12: line longer than") for e in engine.errors)
    assert any("bad regular expression" in e for e in engine.errors)


def test_real_trackers_blocked_with_provenance(big: tuple[Engine, Path]) -> None:
    engine, _ = big
    # Hosts taken from EasyPrivacy's own rules (||google-analytics.com^ and friends).
    v = engine.check("https://www.google-analytics.com/analytics.js", "https://news.example/", "script")
    assert v.blocked and v.list == "easyprivacy" and v.line and v.rule
    lines = shared_path("filterlists", "easyprivacy.txt").read_text().split("\n")
    assert lines[v.line - 1].strip() == v.rule
    assert not engine.check("https://news.example/article.html", "https://news.example/", "document").blocked


def test_garbage_urls_never_raise(big: tuple[Engine, Path]) -> None:
    engine, _ = big
    for url in ["", "garbage", "http://", "://x", "http://[::1", "http://a b/", "\x00\xff", "x" * 100_000]:
        assert engine.check(url, url, "nonsense-type").blocked is False or url


def test_cache_round_trip(big: tuple[Engine, Path], lists: list[Path]) -> None:
    engine, cache = big
    again = Engine.from_files(lists, cache_dir=cache)
    assert again.loaded_from_cache
    assert again.stats == engine.stats and again.errors == engine.errors
    urls = [line for line in shared_path("requests", "top500-sitelist.txt").read_text().split("\n") if line][
        :3000
    ]
    page = None
    for url in urls:
        if page is None or url.rstrip("/").count("/") <= 2:
            page = url
        assert again.check(url, page, None) == engine.check(url, page, None), url


def test_cache_key_follows_content(tmp_path: Path) -> None:
    lst = tmp_path / "mine.txt"
    lst.write_text("||tracker.example^\n")
    cache = tmp_path / "cache"
    assert not Engine.from_files([lst], cache_dir=cache).loaded_from_cache
    assert Engine.from_files([lst], cache_dir=cache).loaded_from_cache
    lst.write_text("||other.example^\n")
    fresh = Engine.from_files([lst], cache_dir=cache)
    assert not fresh.loaded_from_cache
    assert len(list(cache.glob("engine-*.pickle"))) == 1  # the old content's cache is removed
    assert fresh.check("https://other.example/").blocked
    assert not fresh.check("https://tracker.example/").blocked
    (next(cache.glob("engine-*.pickle"))).write_bytes(b"not a pickle")
    assert Engine.from_files([lst], cache_dir=cache).check("https://other.example/").blocked


def test_an_unreadable_file_is_reported_when_the_others_come_from_the_cache(tmp_path: Path) -> None:
    lst = tmp_path / "mine.txt"
    lst.write_text("||tracker.example^\n")
    cache = tmp_path / "cache"
    Engine.from_files([lst], cache_dir=cache)
    e = Engine.from_files([lst, tmp_path / "missing.txt"], cache_dir=cache)
    assert e.loaded_from_cache and e.check("https://tracker.example/").blocked
    assert [err.split(":")[0] for err in e.errors] == ["missing"]


def test_unreadable_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    engine = Engine.from_files([tmp_path / "missing.txt"])
    assert engine.errors and engine.errors[0].startswith("missing:0: cannot read")


@pytest.mark.parametrize("line", GARBAGE_LINES)
def test_validate_names_the_problem(line: str) -> None:
    reason = validate(line)
    assert reason, f"{line[:40]!r} should be rejected"


@pytest.mark.parametrize(
    "line", ["", "! comment", "||ads.example^", "@@||ok.example^$document", "/ad[0-9]+/"]
)
def test_validate_accepts_good_lines(line: str) -> None:
    assert validate(line) is None


def test_a_list_bigger_than_a_list_may_be_is_not_loaded_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pixelguard.engine import engine as enginemod

    monkeypatch.setattr(enginemod, "MAX_RULES_PER_LIST", 1000)
    huge = tmp_path / "huge.txt"
    huge.write_text("".join(f"host{i}.example\n" for i in range(1500)))
    small = tmp_path / "small.txt"
    small.write_text("||tracker.example^\n")
    e = Engine.from_files([huge, small])
    assert any(
        err.startswith("huge:0: 1,501 lines, more than the 1,000 a list may hold: not loaded")
        for err in e.errors
    )
    assert e.check("https://tracker.example/").blocked and not e.check("https://host1.example/").blocked
    assert e.lists == ["small"]


def test_a_build_in_a_child_process_is_the_build(tmp_path: Path) -> None:
    from pixelguard import config as configmod
    from pixelguard.proxy.reloader import build_engine

    (tmp_path / "l.txt").write_text("||tracker.example^\n@@||tracker.example/ok\n$removeparam=fbclid\n")
    config = tmp_path / "config.yaml"
    config.write_text("default_lists: false\nlists:\n  - {name: l, path: l.txt}\n")
    cfg = configmod.load(config)
    inside = build_engine(cfg, child=False)
    for f in cfg.cache_dir.glob("engine-*.pickle"):
        f.unlink()
    outside = build_engine(cfg, child=True)
    assert outside.loaded_from_cache and not inside.loaded_from_cache
    assert outside.rule_count == inside.rule_count == 3
    for url in ("https://tracker.example/a", "https://tracker.example/ok", "https://other.example/"):
        assert outside.check(url) == inside.check(url)


def test_lists_past_the_threshold_are_built_in_a_child_and_small_ones_in_the_proxy(tmp_path: Path) -> None:
    """The child writes the index to the cache the proxy then loads: its memory peak is not the proxy's."""
    from pixelguard import config as configmod
    from pixelguard.proxy.reloader import CHILD_BUILD_BYTES, build_engine

    small = tmp_path / "small.txt"
    small.write_text("||tracker.example^\n")
    big = tmp_path / "big.txt"
    filler = "! " + "x" * 78 + "\n"  # comments: the size counts, not the rules
    big.write_text("||tracker.example^\n" + filler * (CHILD_BUILD_BYTES // len(filler) + 1))
    for name in ("small", "big"):
        config = tmp_path / f"{name}.yaml"
        config.write_text(f"default_lists: false\nlists:\n  - {{name: {name}, path: {name}.txt}}\n")
        engine = build_engine(configmod.load(config))
        assert engine.loaded_from_cache == (name == "big"), name
        assert engine.check("https://tracker.example/a").blocked
