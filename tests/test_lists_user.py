"""User and learned list edits: the rules written, idempotence, validation, atomic replacement."""

from __future__ import annotations

import os
import threading

import pytest

from pixelguard import lists
from pixelguard.errors import PixelguardError


@pytest.mark.parametrize(
    ("domain", "site", "rule"),
    [
        ("example.com", None, "@@||example.com^"),
        ("Example.COM.", None, "@@||example.com^"),
        ("cdn.example.net", "shop.com", "@@||cdn.example.net^$domain=shop.com"),
        ("bücher.de", None, "@@||xn--bcher-kva.de^"),
        ("localhost", None, "@@||localhost^"),
        ("192.168.1.10", None, "@@||192.168.1.10^"),
        # a URL copied from the address bar or the blocked page: its host is what is meant
        (
            "https://Cdn.Example.com:8443/a/b?c=d",
            "http://shop.example/",
            "@@||cdn.example.com^$domain=shop.example",
        ),
    ],
)
def test_allow_rule(domain, site, rule):
    assert lists.allow_rule(domain, site) == rule


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "  ",
        "exa mple",
        "ftp://x/y",  # an http(s) URL gives its host (test_cli.py); another scheme is refused
        "example.com/path",
        "*",
        "*.example.com",
        "a..b",
        "-x.com",
        "x-.com",
        "a" * 64 + ".com",
        "example.com:8080",
        "||example.com^",
        "user@example.com",
    ],
)
def test_bad_domains_raise_one_line_errors(bad):
    with pytest.raises(PixelguardError) as info:
        lists.allow_rule(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(PixelguardError):
        lists.allow_rule("example.com", site=bad)


def test_allow_unallow_idempotent(tmp_path):
    path = tmp_path / "user.txt"
    assert lists.ensure_user_list(path) is True
    template = path.read_text()
    assert template.startswith("!") and lists.ensure_user_list(path) is False

    assert lists.allow(path, "example.com") is True
    assert lists.allow(path, "EXAMPLE.com") is False
    assert lists.allow(path, "cdn.example.net", site="shop.com") is True
    assert lists.trust_site(path, "news.site") is True
    assert lists.trust_site(path, "news.site") is False
    assert (
        path.read_text()
        == template + "@@||example.com^\n@@||cdn.example.net^$domain=shop.com\n@@||news.site^$document\n"
    )

    assert lists.unallow(path, "example.com") is True
    assert lists.unallow(path, "example.com") is False
    assert lists.unallow(path, "cdn.example.net") is False  # the site-specific rule is a different rule
    assert lists.unallow(path, "cdn.example.net", site="shop.com") is True
    assert lists.untrust_site(path, "news.site") is True
    assert lists.untrust_site(path, "news.site") is False
    assert path.read_text() == template


def test_writes_are_atomic_replacements(tmp_path):
    path = tmp_path / "user.txt"
    lists.ensure_user_list(path)
    os.chmod(path, 0o640)
    before = os.stat(path).st_ino
    lists.allow(path, "example.com")
    assert os.stat(path).st_ino != before  # a new file renamed over the old one, not rewritten in place
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["user.txt"]  # no temp files left behind


def test_concurrent_readers_never_see_a_partial_file(tmp_path):
    path = tmp_path / "user.txt"
    lists.ensure_user_list(path)
    full = path.read_text()
    stop = threading.Event()
    seen_bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            text = path.read_text()
            if not text.startswith(full) or not text.endswith("\n"):
                seen_bad.append(text)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(200):
            lists.allow(path, f"d{i}.example")
    finally:
        stop.set()
        t.join(10)
    assert seen_bad == []
    assert path.read_text().count("@@||d") == 200


def test_learned_list(tmp_path):
    path = tmp_path / "learned.txt"
    assert lists.learned_hosts(path) == []
    assert lists.add_learned(path, "px.tracker.test", "1x1 gif on a.com, b.com,\nc.com") is True
    assert lists.add_learned(path, "px.tracker.test", "again") is False
    assert lists.add_learned(path, "open.mail.test", "1x1 png in 3 mails") is True
    text = path.read_text()
    assert text.startswith("! pixelguard learned list")
    assert "||px.tracker.test^$image\n" in text and "1x1 gif on a.com, b.com, c.com" in text
    assert lists.learned_hosts(path) == ["px.tracker.test", "open.mail.test"]
    assert lists.remove_learned(path, "px.tracker.test") is True
    assert lists.remove_learned(path, "px.tracker.test") is False
    assert lists.learned_hosts(path) == ["open.mail.test"]
    assert "a.com, b.com" not in path.read_text()  # its evidence comment went with it
    with pytest.raises(PixelguardError):
        lists.add_learned(path, "bad host", "x")


def test_a_temporary_allow_is_extended_or_made_permanent_and_never_shortens_a_permanent_one(tmp_path):
    from datetime import UTC, datetime

    path = tmp_path / "user.txt"
    path.write_text("@@||first.example^\n")  # a permanent allow on the file's first line
    soon = datetime(2030, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    assert (
        lists.allow(path, "first.example", until=soon) is False and path.read_text() == "@@||first.example^\n"
    )
    assert lists.allow(path, "a.example", until=soon) is True
    assert path.read_text().endswith(
        f"{lists.UNTIL}2030-01-01T12:00:01Z\n@@||a.example^\n"
    )  # rounded up, never earlier
    assert lists.next_expiry(path) == datetime(2030, 1, 1, 12, 0, 1, tzinfo=UTC)
    later = datetime(2030, 1, 2, tzinfo=UTC)
    assert lists.allow(path, "a.example", until=later) is True  # extended: one expiry line, the new time
    assert path.read_text().count(lists.UNTIL) == 1 and lists.next_expiry(path) == later
    assert lists.allow(path, "a.example") is True  # made permanent: the expiry line goes, the rule stays once
    assert path.read_text() == "@@||first.example^\n@@||a.example^\n" and lists.next_expiry(path) is None
    assert lists.allow(path, "a.example", until=soon) is False  # a permanent allow is not made temporary
    assert lists.allow(path, "a.example") is False
    # An expiry line the user mangled is skipped, not the end of the search.
    path.write_text(f"{lists.UNTIL}soon\n@@||b.example^\n{lists.UNTIL}2030-01-01T00:00:00Z\n@@||c.example^\n")
    assert lists.next_expiry(path) == datetime(2030, 1, 1, tzinfo=UTC)


def test_a_learned_rule_can_be_limited_to_a_path(tmp_path):
    path = tmp_path / "learned.txt"
    assert lists.add_learned(path, "px.tracker.test", "1x1 gifs under /t/", prefix="/t/") is True
    assert (
        "||px.tracker.test/t/$image\n" in path.read_text()
        and "||px.tracker.test^$image" not in path.read_text()
    )
