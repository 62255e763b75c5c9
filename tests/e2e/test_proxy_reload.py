"""Changes made while the proxy runs: allow rules and pause within a second, learned pixel hosts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from harness import Origin, Proxy, wait_for
from imagedata import BUILDERS

from pixelguard import lists, pause
from pixelguard.proxy.responses import TRANSPARENT_GIF

pytestmark = pytest.mark.e2e

IMAGE = {"Accept": "image/avif,image/webp,*/*"}


def passes(proxy: Proxy, origin: Origin, path: str, host: str = "127.0.0.1") -> bool:
    before = origin.hits[path]
    r = proxy.get(origin.url(path, host=host), IMAGE)
    reached = origin.hits[path] == before + 1
    assert reached == (r.headers.get("X-Pixelguard") != "blocked"), (r.status, dict(r.headers))
    return reached


def while_running(condition, what: str) -> None:
    """condition() comes true without a restart. The proxy polls its files every 0.5 s; the bound is 20x that
    so a loaded machine cannot fail the test (the latency itself is a figure for benchmarks, not a test)."""
    wait_for(condition, timeout=10.0, what=what)


def test_allow_rule_written_while_running_takes_effect(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({"t": "||localhost^$image\n"})
    path = "/reload/allow.png"
    origin.serve(path, BUILDERS["png"](50, 50), "image/png")
    assert not passes(proxy, origin, path, "localhost")
    assert lists.allow(proxy.user_list, "localhost")
    while_running(lambda: passes(proxy, origin, path, "localhost"), "the allow rule to apply")
    assert lists.unallow(proxy.user_list, "localhost")
    while_running(lambda: not passes(proxy, origin, path, "localhost"), "the allow rule to go")


def test_pause_and_resume(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({"t": "/paused/*\n"})
    path = "/paused/p.png"
    origin.serve(path, BUILDERS["png"](1, 1), "image/png")
    assert not passes(proxy, origin, path)
    pause.pause(proxy.data_dir, datetime.now(UTC) + timedelta(minutes=10))
    while_running(lambda: passes(proxy, origin, path), "the pause")
    # Paused means untouched: the 1x1 image is not replaced either.
    assert proxy.get(origin.url(path), IMAGE).body == BUILDERS["png"](1, 1)
    pause.resume(proxy.data_dir)
    while_running(lambda: not passes(proxy, origin, path), "the resume")


def test_a_host_serving_pixels_on_three_sites_is_learned_and_blocked_on_the_fourth(
    make_proxy, origin
) -> None:
    proxy = make_proxy({"t": "! nothing\n"})
    for i, site in enumerate(("alpha.example", "beta.example", "gamma.example")):
        path = f"/learn/site{i}.gif"
        origin.serve(path, BUILDERS["gif"](1, 1), "image/gif")
        r = proxy.get(origin.url(path, host="localhost"), {**IMAGE, "Referer": f"https://www.{site}/post"})
        assert (
            origin.hits[path] == 1 and r.body == TRANSPARENT_GIF and r.headers["X-Pixelguard"] == "replaced"
        )
    fourth = "/learn/site3.gif"
    origin.serve(fourth, BUILDERS["gif"](1, 1), "image/gif")
    r = proxy.get(origin.url(fourth, host="localhost"), {**IMAGE, "Referer": "https://delta.example/"})
    assert origin.hits[fourth] == 0, "the 4th request reached the pixel host"
    assert r.body == TRANSPARENT_GIF and r.headers["X-Pixelguard"] == "blocked"
    assert "localhost" in wait_for(lambda: lists.learned_hosts(proxy.learned_list), what="learned.txt")
    text = proxy.learned_list.read_text()
    assert "alpha.example" in text and "||localhost/learn/$image" in text  # the folder the pixels shared
    row = wait_for(lambda: proxy.events(reason="learned"), what="the learned event")[0]
    assert row["url"] == origin.url(fourth, host="localhost") and row["list"] == "learned"
    # Allow rules win over learned ones.
    lists.allow(proxy.user_list, "localhost")
    while_running(lambda: passes(proxy, origin, "/learn/after-allow.png", "localhost"), "the allow rule")


def test_mail_pixels_without_a_site_are_learned_by_distinct_urls(make_proxy, origin: Origin) -> None:
    proxy = make_proxy({"t": "! nothing\n"})
    for i in range(3):
        path = f"/open/{i}.gif"
        origin.serve(path, BUILDERS["png"](1, 1), "image/png")
        r = proxy.get(origin.url(f"{path}?recipient={i}"), IMAGE)  # no Referer, no Origin: a mail client
        assert r.body == TRANSPARENT_GIF and origin.hits[path] == 1
    r = proxy.get(origin.url("/open/3.gif?recipient=3"), IMAGE)
    assert r.headers["X-Pixelguard"] == "blocked" and origin.hits["/open/3.gif"] == 0
    assert wait_for(lambda: lists.learned_hosts(proxy.learned_list)) == ["127.0.0.1"]
    assert "3 URLs" in proxy.learned_list.read_text()
