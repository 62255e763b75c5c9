"""Pilot tests of the terminal UI against a database filled by the real Writer: every key and screen."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from test_tui_support import TRICKY_URL, event, make_config, sync, wait_for, write_events
from textual.widgets import Input, TextArea

from pixelguard import config, lists, tls_policy
from pixelguard.engine import Engine
from pixelguard.limits import TLS_LEARN_AFTER
from pixelguard.store.writer import Writer
from pixelguard.tui.app import PixelguardApp
from pixelguard.tui.screens.dialogs import HelpScreen, PauseScreen
from pixelguard.tui.screens.editor import ListEditor
from pixelguard.tui.screens.lists_screen import ListsScreen
from pixelguard.tui.screens.main import MainScreen
from pixelguard.tui.widgets.detail import DetailPane
from pixelguard.tui.widgets.events import EventTable
from pixelguard.tui.widgets.status_bar import StatusBar

SIZE = (120, 40)
TRACKERS = "||www.google-analytics.com^$third-party\n||bat.bing.com^\n"


def text_of(widget) -> str:
    """What the widget shows on screen, as plain text."""
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


def table_hosts(table: EventTable) -> list[str]:
    return [table.get_row_at(i)[1].plain for i in range(table.row_count)]


def setup(tmp_path: Path, n: int = 30):
    cfg = make_config(tmp_path, "default_lists: false\nlists:\n  - {name: trackers, path: trackers.txt}\n")
    (tmp_path / "trackers.txt").write_text(TRACKERS, encoding="utf-8")
    now = time.time()
    events = [event(i, now - 60 * (n - i)) for i in range(n)]
    write_events(cfg.database, events)
    return cfg, events


async def loaded(pilot, count: int) -> EventTable:
    table = pilot.app.screen.query_one(EventTable)
    await wait_for(pilot, lambda: table.row_count >= count, what=f"{count} rows in the table")
    return table


@sync
async def test_main_screen_newest_first_with_detail_and_header(tmp_path: Path) -> None:
    cfg, events = setup(tmp_path)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        table = await loaded(pilot, len(events))
        assert table.row_count == len(events)
        assert table_hosts(table) == [e.host for e in reversed(events)]
        newest = events[-1]
        detail = app.screen.query_one(DetailPane)
        # What is drawn settles over a few refreshes (the pane grows to its content): wait for all of it.
        await wait_for(
            pilot,
            lambda: (
                "→" in text_of(detail)
                and newest.url in text_of(detail)
                and (newest.rule or newest.detail) in text_of(detail)
            ),
            what="the newest event, first and last seen, in the detail pane",
        )
        status = app.screen.query_one(StatusBar)
        expected = f"{3 * len(events)} requests, {len(events)} stopped (33.3%)"
        await wait_for(
            pilot,
            lambda: (
                expected in text_of(status)
                # No proxy runs for this data dir: nothing protects, and the header says so (as service status does).
                and "protection off: no proxy running" in text_of(status)
                and "protection on" not in text_of(status)
            ),
            what="protection and today's totals in the header",
        )
        # Moving the cursor explains the row under it, including the company behind the host.
        await pilot.press("down")
        second = events[-2]
        await wait_for(pilot, lambda: second.url in text_of(detail), what="detail of the second row")
        owner = {"pixel.facebook.com": "Facebook", "bat.bing.com": "Bing Ads", "t.co": "Twitter"}
        if second.host in owner:
            await wait_for(pilot, lambda: owner[second.host] in text_of(detail), what="the company")


@sync
async def test_urls_and_rules_are_never_markup(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    rule = "||evil.example^$image,domain=[bold]x"
    write_events(
        cfg.database, [event(0, time.time(), url=TRICKY_URL, host="evil.example", rule=rule, list="x")]
    )
    app = PixelguardApp(cfg)
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot, 1)
        detail = app.screen.query_one(DetailPane)
        await wait_for(pilot, lambda: "[bold]" in text_of(detail), what="the URL in the detail pane")
        shown = text_of(detail)
        assert "[bold]loud[/bold]" in shown
        assert "[link=https://x.example]click[/link]" in shown
        assert rule in shown


@sync
async def test_allow_keys_write_user_list_and_undo(tmp_path: Path) -> None:
    cfg, _ = setup(tmp_path, n=5)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        table = await loaded(pilot, 5)
        while table.get_row_at(table.cursor_row)[1].plain != "www.google-analytics.com":
            await pilot.press("down")
        row = table.selected()
        host, site = row["host"], row["site"]
        user = cfg.user_list

        def rules() -> list[str]:
            return user.read_text(encoding="utf-8").splitlines() if user.exists() else []

        # The real engine blocks this request before the allow and passes it after.
        url, page = f"https://{host}/collect", f"https://{site}/"

        def blocked() -> bool:
            return Engine.from_files([tmp_path / "trackers.txt", user]).check(url, source_url=page).blocked

        assert blocked()
        await pilot.press("a")
        await wait_for(pilot, lambda: lists.allow_rule(host) in rules(), what="the allow rule in user.txt")
        assert not blocked()
        assert any(lists.allow_rule(host) in n.message for n in app._notifications)
        assert any("everywhere, identifiers removed" in n.message for n in app._notifications)

        await pilot.press("s")
        on_site = lists.allow_rule(host, site)
        await wait_for(pilot, lambda: on_site in rules(), what="the per-site rule")
        await pilot.press("A")
        await wait_for(pilot, lambda: lists.trust_rule(site) in rules(), what="the trust rule")

        # u undoes the last allow first, then the one before.
        await pilot.press("u")
        await wait_for(pilot, lambda: lists.trust_rule(site) not in rules(), what="undo of the trust")
        assert on_site in rules()
        await pilot.press("u")
        await wait_for(pilot, lambda: on_site not in rules(), what="undo of the per-site allow")
        await pilot.press("u")
        await wait_for(pilot, lambda: lists.allow_rule(host) not in rules(), what="undo of the allow")
        assert blocked()
        await pilot.press("u")
        await wait_for(
            pilot, lambda: any("Nothing to undo" in n.message for n in app._notifications), what="nothing"
        )


@sync
async def test_t_allows_the_host_for_an_hour(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    cfg, _ = setup(tmp_path, n=5)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        table = await loaded(pilot, 5)
        host = table.selected()["host"]
        await pilot.press("t")
        user = cfg.user_list
        await wait_for(
            pilot, lambda: user.exists() and lists.allow_rule(host) in user.read_text(), what="the rule"
        )
        ends = lists.next_expiry(user)
        assert ends is not None
        assert timedelta(minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=1, seconds=1)
        await wait_for(
            pilot, lambda: any("for 60m" in n.message for n in app._notifications), what="the toast"
        )
        await pilot.press("u")  # undo takes the temporary allow away, expiry line and all
        await wait_for(pilot, lambda: lists.allow_rule(host) not in user.read_text(), what="the undo")
        assert lists.UNTIL not in user.read_text()


@sync
async def test_site_keys_need_a_site(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    write_events(cfg.database, [event(0, time.time(), site="")])
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 1)
        await pilot.press("s", "A")
        await wait_for(pilot, lambda: len(app._notifications) >= 2, what="two notices")
        assert not cfg.user_list.exists()


@sync
async def test_pause_asks_for_a_duration_then_resumes(tmp_path: Path) -> None:
    cfg, _ = setup(tmp_path, n=3)
    app = PixelguardApp(cfg, listen="127.0.0.1:18080")  # as when the proxy runs in the UI's process
    pause_file = cfg.data_dir / "pause.json"
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 3)
        status = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: "protection on" in text_of(status), what="protection on")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PauseScreen), what="the pause prompt")
        box = app.screen.query_one(Input)
        assert box.value == "10m"
        box.value = "soon"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "not a duration" in text_of(app.screen.query_one("#pause-hint")))
        assert isinstance(app.screen, PauseScreen) and not pause_file.exists()
        box.value = "30m"
        started = time.time()
        await pilot.press("enter")
        await wait_for(pilot, pause_file.exists, what="pause.json")
        until = json.loads(pause_file.read_text())["until"]
        assert started + 29 * 60 < until < time.time() + 31 * 60
        await wait_for(pilot, lambda: "paused until" in text_of(status), what="paused in the header")
        assert status.has_class("-paused")
        await pilot.press("p")
        await wait_for(pilot, lambda: not pause_file.exists(), what="resume")
        await wait_for(pilot, lambda: "protection on" in text_of(status), what="protection on again")
        # Escape cancels the prompt without pausing.
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PauseScreen), what="the pause prompt")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), what="back to main")
        assert not pause_file.exists()


@sync
async def test_filter_narrows_the_table_and_escape_clears(tmp_path: Path) -> None:
    cfg, events = setup(tmp_path, n=20)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        table = await loaded(pilot, 20)
        await pilot.press("slash")
        assert app.focused is app.screen.query_one("#filter", Input)
        await pilot.press(*"bing")
        expected = [e.host for e in reversed(events) if "bing" in e.url]
        await wait_for(pilot, lambda: table_hosts(table) == expected, what="only bing rows")
        await pilot.press("enter")
        assert app.focused is table
        # New events that do not match stay out; matching ones come in on top.
        write_events(
            cfg.database, [event(0, time.time()), event(1, time.time(), url="https://x.example/bing")]
        )
        await wait_for(pilot, lambda: table.row_count == len(expected) + 1, what="the new matching row")
        assert "x.example/bing" in table.selected()["url"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 22, what="all rows back")


@sync
async def test_live_events_go_on_top_and_table_is_capped(tmp_path: Path) -> None:
    cfg, _ = setup(tmp_path, n=5)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        table = await loaded(pilot, 5)
        table.cap = 20
        w = Writer(cfg.database).start()
        try:
            for i in range(40):
                w.put(event(i, time.time(), url=f"https://t.co/live/{i}"))
            newest = "https://t.co/live/39"
            await wait_for(
                pilot, lambda: table.selected() and table.selected()["url"] == newest, what="newest"
            )
        finally:
            w.close()
        assert table.row_count == 20
        ids = [int(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]
        assert ids == sorted(ids, reverse=True)
        # A reader on an older row keeps it selected while new rows arrive above it.
        await pilot.press("down", "down")
        reading = table.selected()["id"]
        write_events(cfg.database, [event(i, time.time()) for i in range(3)])
        await wait_for(pilot, lambda: table.cursor_row == 5, what="the cursor to follow its row")
        assert table.selected()["id"] == reading


@sync
async def test_lists_screen_and_validating_editor(tmp_path: Path) -> None:
    cfg, _ = setup(tmp_path, n=2)
    lists.allow(cfg.user_list, "cdn.example")
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 2)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, ListsScreen), what="the lists screen")
        screen = app.screen
        table = screen.query_one("#lists")
        await wait_for(pilot, lambda: table.row_count == 3, what="three lists")
        names = [table.get_row_at(i)[0].plain for i in range(3)]
        assert names == ["trackers", "user", "learned"]
        assert table.get_row_at(0)[2].plain == "2"  # two rules in trackers.txt
        assert table.get_row_at(1)[2].plain == "1"
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ListEditor), what="the editor")
        editor = app.screen
        area = editor.query_one(TextArea)
        before = cfg.user_list.read_text(encoding="utf-8")
        await wait_for(pilot, lambda: area.text == before, what="the user list in the editor")
        problems = editor.query_one("#problems")
        await wait_for(pilot, lambda: "valid" in text_of(problems), what="validation")
        assert not problems.has_class("-invalid")

        area.move_cursor(area.document.end)
        area.insert("||bad.example^$nonsense\n")
        bad_line = area.text.splitlines().index("||bad.example^$nonsense") + 1
        await wait_for(pilot, lambda: problems.has_class("-invalid"), what="the bad line marked")
        # The box grows to show the line once laid out again: wait for what is drawn, not for the class.
        await wait_for(
            pilot,
            lambda: (
                f"line {bad_line}" in text_of(problems) and "unknown option nonsense" in text_of(problems)
            ),
            what="the bad line and its reason on screen",
        )
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: any("Not saved" in n.message for n in app._notifications), what="refusal"
        )
        assert cfg.user_list.read_text(encoding="utf-8") == before

        area.replace("||good.example^", (bad_line - 1, 0), (bad_line - 1, len("||bad.example^$nonsense")))
        await wait_for(pilot, lambda: not problems.has_class("-invalid"), what="valid again")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "||good.example^" in cfg.user_list.read_text(), what="the saved file")
        assert "@@||cdn.example^" in cfg.user_list.read_text()
        # A regular expression that does not compile is caught while typing, as saving would refuse it.
        saved = cfg.user_list.read_text(encoding="utf-8")
        area.move_cursor(area.document.end)
        area.insert("/ab(c/\n")
        await wait_for(
            pilot,
            lambda: problems.has_class("-invalid") and "bad regular expression" in text_of(problems),
            what="the bad regex marked",
        )
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: sum("Not saved" in n.message for n in app._notifications) == 2, what="refusal"
        )
        assert cfg.user_list.read_text(encoding="utf-8") == saved
        area.load_text(saved)
        await wait_for(pilot, lambda: not problems.has_class("-invalid"), what="valid again")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ListsScreen), what="back to lists")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), what="back to main")


async def passthrough_panel(pilot, showing: str):
    """The lists screen's passthrough panel, opened from the main screen (two events loaded) once it shows
    ``showing``."""
    app = pilot.app
    await loaded(pilot, 2)
    await pilot.press("l")
    await wait_for(pilot, lambda: isinstance(app.screen, ListsScreen), what="the lists screen")
    panel = app.screen.query_one("#passthrough")
    await wait_for(pilot, lambda: showing in text_of(panel), what=showing)
    return panel


@sync
async def test_lists_screen_shows_learned_tls_passthrough_hosts_escaped(tmp_path: Path) -> None:
    cfg, _ = setup(tmp_path, n=2)
    # Written the way the proxy writes them when a client refuses the certificate (tls_policy.Policy.refused);
    # the second name arrives from a client's TLS hello, so it may carry anything.
    policy = tls_policy.Policy((), cfg.data_dir, learn=True)
    for host in ("pinned.example", "evil\x1b[2J.example"):
        learned = [policy.refused("127.0.0.1", host) for _ in range(TLS_LEARN_AFTER)]
        assert learned[-1] is not None and not any(learned[:-1])
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        panel = await passthrough_panel(pilot, "pinned.example")
        shown = text_of(panel)
        assert "certificates (2)" in shown and "for client 127.0.0.1" in shown
        assert "\x1b" not in shown and "evil\\x1b[2j.example" in shown  # escaped, never sent to the terminal
        assert f"{len(tls_policy.bundled()):,} sensitive sites bundled" in shown

        assert tls_policy.forget(cfg.data_dir, "pinned.example") == 1
        await pilot.press("r")
        await wait_for(pilot, lambda: "pinned.example" not in text_of(panel), what="the forgotten host gone")
        assert "certificates (1)" in text_of(panel)


@sync
async def test_lists_screen_names_tunnels_relayed_as_raw_bytes_escaped(tmp_path: Path) -> None:
    cfg, _ = setup(tmp_path, n=2)
    now = time.time()
    # As proxy/raw_relays.py records them; the host comes from a client's CONNECT, so it may carry anything.
    relayed = [
        event(100 + i, now - 30 - i, url=f"tcp://{host}", host=host.rpartition(":")[0], site="", type="other",
              method="CONNECT", reason="not-http", action="passthrough", rule=None, list=None, line=None)
        for i, host in enumerate(("imap.mail.example:993", "evil\x1b[2j.example:25"))
    ]  # fmt: skip
    write_events(cfg.database, relayed)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        shown = text_of(await passthrough_panel(pilot, "imap.mail.example:993"))
        assert "Relayed as raw bytes" in shown
        assert (
            "\x1b" not in shown and "evil\\x1b[2j.example:25" in shown
        )  # escaped, never sent to the terminal


@sync
async def test_space_turns_a_list_off_and_on_in_the_config_file(tmp_path: Path) -> None:
    cfg, _ = setup(tmp_path, n=2)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 2)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, ListsScreen), what="the lists screen")
        table = app.screen.query_one("#lists")
        await wait_for(pilot, lambda: table.row_count == 3, what="three lists")
        assert table.get_row_at(0)[1].plain == "yes"
        await pilot.press("space")
        await wait_for(pilot, lambda: table.get_row_at(0)[1].plain == "no", what="trackers shown off")
        assert "{name: trackers, path: trackers.txt, enabled: false}" in cfg.source.read_text(
            encoding="utf-8"
        )
        assert not config.load(cfg.source).lists[0].enabled
        assert not app.cfg.lists[0].enabled  # what the screen and the next toggle work from
        await pilot.press("space")
        await wait_for(pilot, lambda: table.get_row_at(0)[1].plain == "yes", what="trackers shown on")
        assert config.load(cfg.source).lists[0].enabled
        await pilot.press("down", "space")  # the user list holds the user's own rules: always on
        await wait_for(
            pilot, lambda: any("always on" in n.message for n in app._notifications), what="the refusal"
        )
        assert table.get_row_at(1)[1].plain == "yes"


@sync
async def test_after_space_the_cursor_stays_on_the_list_it_toggled(tmp_path: Path) -> None:
    # Before: the table was rebuilt with the cursor on the first row, so a second space turned that one off.
    cfg = make_config(
        tmp_path,
        "default_lists: false\nlists:\n  - {name: first, path: first.txt}\n  - {name: second, path: second.txt}\n"
        "  - {name: sub, url: 'https://lists.example/sub.txt'}\n",
    )
    for name in ("first", "second"):
        (tmp_path / f"{name}.txt").write_text(TRACKERS, encoding="utf-8")
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.focused, EventTable), what="the main screen")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, ListsScreen), what="the lists screen")
        table = app.screen.query_one("#lists")
        await wait_for(pilot, lambda: table.row_count == 5, what="the lists")
        # A subscription never downloaded (offline on the first start) says so instead of "never", and the
        # app said it when it started.
        assert table.get_row_at(2)[4].plain == "not downloaded"
        assert any("Not downloaded yet: sub." in n.message for n in app._notifications)
        await pilot.press("down", "space")
        await wait_for(pilot, lambda: table.get_row_at(1)[1].plain == "no", what="second shown off")
        assert table.cursor_row == 1
        await pilot.press("space")
        await wait_for(pilot, lambda: table.get_row_at(1)[1].plain == "yes", what="second shown on again")
        assert table.cursor_row == 1
        assert [s.enabled for s in config.load(cfg.source).lists] == [True, True, True]


@sync
async def test_a_rule_the_proxy_learns_is_announced_and_u_forgets_it(tmp_path: Path) -> None:
    from pixelguard import lists

    cfg, _ = setup(tmp_path, n=2)
    lists.add_learned(cfg.learned_list, "old.example", "learned before the UI started")
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 2)
        # What the proxy does when a host served pixels on three sites (proxy/pixels.py).
        lists.add_learned(cfg.learned_list, "px.example", "1x1 pixels on 3 sites", "/o/")
        await wait_for(
            pilot,
            lambda: any("Learned ||px.example/o/$image" in n.message for n in app._notifications),
            what="the announcement",
        )
        assert not any("old.example" in n.message for n in app._notifications)  # not news
        await pilot.press("u")
        await wait_for(
            pilot, lambda: lists.learned_hosts(cfg.learned_list) == ["old.example"], what="forgotten"
        )
        await wait_for(
            pilot,
            lambda: any("Forgot what was learned about px.example" in n.message for n in app._notifications),
        )


@sync
async def test_editor_asks_before_discarding_changes(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.focused, EventTable), what="the main screen")
        app.push_screen(ListEditor("learned", cfg.learned_list))
        await wait_for(
            pilot,
            lambda: isinstance(app.focused, TextArea) and not app.focused.read_only,
            what="the loaded editor",
        )
        area = app.focused
        area.insert("||x.example^$image\n")
        await wait_for(pilot, lambda: app.screen.dirty, what="the edit noticed")
        await pilot.press("escape")
        assert isinstance(app.screen, ListEditor)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), what="discarded")
        assert not cfg.learned_list.exists()


@sync
async def test_help_screen_and_quit(tmp_path: Path) -> None:
    cfg, _ = setup(tmp_path, n=1)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 1)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        shown = text_of(app.screen.query_one("#help-keys"))
        for key in ("Allow the selected host everywhere", "Undo", "Pause", "Filter", "Quit"):
            assert key in shown
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), what="main again")
        footer = " ".join(text_of(key) for key in app.screen.query("FooterKey"))
        for label in (
            "Allow",
            "On site",
            "Trust",
            "1 hour",
            "Undo",
            "Pause",
            "Filter",
            "Lists",
            "Quit",
            "Help",
        ):
            assert label in footer
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")


@sync
async def test_without_a_database_it_waits_then_shows_events(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        status = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: "no events yet" in text_of(status), what="the missing database said")
        write_events(cfg.database, [event(0, time.time())])
        await loaded(pilot, 1)
        await wait_for(pilot, lambda: not status.has_class("-problem"), what="the problem cleared")


@sync
async def test_listen_address_from_proxy_json(tmp_path: Path) -> None:
    import os

    cfg, _ = setup(tmp_path, n=1)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    info = {"listen": "127.0.0.1:18080", "mode": "hosts-only", "pid": os.getpid(), "started": time.time()}
    (cfg.data_dir / "proxy.json").write_text(json.dumps(info))
    app = PixelguardApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        status = app.screen.query_one(StatusBar)
        await wait_for(
            pilot,
            lambda: "127.0.0.1:18080" in text_of(status) and "hosts-only" in text_of(status),
            what="the listen address and the mode",
        )
        assert "workers" not in text_of(status)  # one process: nothing to say
        # `pixelguard run --workers 3` says so in proxy.json, and the header with it (in full mode: the header's
        # long form has room for it at this width).
        (cfg.data_dir / "proxy.json").write_text(json.dumps(info | {"workers": 3, "mode": "full"}))
        await wait_for(pilot, lambda: "(3 workers)" in text_of(status), what="the worker count")


@sync
async def test_proxy_runner_runs_in_the_app_and_is_cancelled_on_quit(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    state: list[str] = []

    async def proxy() -> None:
        state.append("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            state.append("cancelled")
            raise

    app = PixelguardApp(cfg, proxy_runner=proxy, listen="127.0.0.1:9999")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: state == ["started"], what="the proxy to start")
        status = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: "127.0.0.1:9999" in text_of(status), what="the listen address")
        await pilot.press("q")
    assert state == ["started", "cancelled"]


@sync
async def test_an_empty_first_screen_says_what_to_do_next(tmp_path: Path) -> None:
    """A new user's first screen (issue 28): no rows yet, so the detail pane says where to point a browser, how to
    trust the CA and where it is, by commands that run as printed."""
    from pixelguard import invocation, trust

    cfg, _ = setup(tmp_path, 0)
    app = PixelguardApp(cfg, listen="127.0.0.1:8099")
    async with app.run_test(size=SIZE) as pilot:
        detail = app.screen.query_one(DetailPane)
        await wait_for(pilot, lambda: "127.0.0.1:8099" in text_of(detail), what="the first steps")
        shown = " ".join(text_of(detail).split())
        assert "Point your browser or mail client at the HTTP proxy 127.0.0.1:8099" in shown
        assert invocation.cmd("ca install").replace(" ", "") in shown.replace(" ", "")
        assert str(trust.ca_file(trust.confdir())).replace(" ", "") in shown.replace(" ", "")
        assert "Open http://pixelguard.test/ there" in shown  # the built-in test page


@sync
async def test_the_header_says_when_the_proxys_cname_lookups_get_no_answer(tmp_path: Path) -> None:
    # Uncloaking fails open; the proxy says so in dns.json (dns_health) and the header shows it until an answer.
    import os

    from pixelguard import dns_health

    cfg, _ = setup(tmp_path, n=3)
    app = PixelguardApp(cfg, listen="127.0.0.1:18080")
    watch = dns_health.Watch(cfg.data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 3)
        status = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: "protection on" in text_of(status), what="protection on")
        for _ in range(dns_health.SILENT_AFTER - 1):
            watch.unanswered()  # a slow name now and then says nothing yet
        assert not (cfg.data_dir / dns_health.FILE).exists()
        watch.unanswered()
        assert json.loads((cfg.data_dir / dns_health.FILE).read_text())["pid"] == os.getpid()
        await wait_for(pilot, lambda: "DNS not answering" in text_of(status), what="DNS in the header")
        watch.answered()
        assert not (cfg.data_dir / dns_health.FILE).exists()
        await wait_for(pilot, lambda: "DNS" not in text_of(status), what="DNS gone from the header")
    # A file left by a proxy that died says nothing, nor one older than the proxy running now (its pid reused).
    (cfg.data_dir / dns_health.FILE).write_text(json.dumps({"since": time.time(), "pid": 2**22 + 12345}))
    assert dns_health.silent_since(cfg.data_dir) is None
    (cfg.data_dir / dns_health.FILE).write_text(json.dumps({"since": 1000.0, "pid": os.getpid()}))
    assert dns_health.silent_since(cfg.data_dir) == 1000.0
    assert dns_health.silent_since(cfg.data_dir, started=2000.0) is None
