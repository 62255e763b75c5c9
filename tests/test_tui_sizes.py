"""The UI at the sizes people use: 80x24 (the smallest terminal) and 160x45 (a wide one), plus what it says when the
proxy inside it stops, where messages go, and where the CA is. Pilot tests; the look is in test_tui_snapshots."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from test_tui_support import event, make_config, sync, wait_for, write_events
from textual.binding import Binding
from textual.widgets import DataTable, Input

from pixelguard.durations import parse_duration
from pixelguard.tui.app import PixelguardApp
from pixelguard.tui.screens.dialogs import HelpScreen, PauseScreen
from pixelguard.tui.screens.main import MainScreen
from pixelguard.tui.widgets.events import EventTable
from pixelguard.tui.widgets.status_bar import MessageBar, StatusBar


def text_of(widget) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


def app_with_events(tmp_path: Path, **kw: object) -> PixelguardApp:
    cfg = make_config(tmp_path)
    now = time.time()
    events = [event(i, now - 60 * (5 - i)) for i in range(5)]
    events.append(
        event(
            5, now, host="a-very-long-tracker-host-name.cdn.example", type="document", rule="||cdn.example^"
        )
    )
    write_events(cfg.database, events)
    return PixelguardApp(cfg, listen="127.0.0.1:8080", **kw)  # type: ignore[arg-type]


async def ready(pilot) -> EventTable:  # type: ignore[no-untyped-def]
    table = pilot.app.screen.query_one(EventTable)
    await wait_for(pilot, lambda: table.row_count == 6, what="the rows")
    status = pilot.app.screen.query_one(StatusBar)
    await wait_for(pilot, lambda: status.overview is not None and status.overview.seen > 0, what="totals")
    return table


@sync
async def test_at_80x24_the_header_keeps_the_stopped_count_and_the_footer_keeps_help(tmp_path: Path) -> None:
    app = app_with_events(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        header = text_of(app.screen.query_one(StatusBar)).split("\n")[0]
        assert "stopped today" in header and "127.0.0.1:8080" in header and len(header.rstrip()) <= 80

        def footer() -> str:  # the keys wholly on screen
            return " ".join(
                text_of(k).strip() for k in app.screen.query("FooterKey") if 0 < k.region.right <= 80
            )

        await wait_for(
            pilot, lambda: "? Help" in footer() and "q Quit" in footer(), what=f"? Help in {footer()!r}"
        )
        assert not app.screen.query_one("#side").display or app.screen.query_one("#side").region.width == 0
        table = app.screen.query_one(EventTable)
        assert table.virtual_size.width <= table.size.width  # every column fits: no sideways scrolling


@sync
async def test_at_160x45_the_columns_use_the_width_and_show_the_rule(tmp_path: Path) -> None:
    app = app_with_events(tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        table = await ready(pilot)
        await wait_for(
            pilot, lambda: "rule" in [str(c.label) for c in table.columns.values()], what="rule column"
        )
        widths = {str(c.label): c.width for c in table.columns.values()}
        assert widths["host"] > 20 and widths["type"] >= len("document")
        row = [cell.plain for cell in table.get_row_at(0)]
        assert row[3] == "document" and row[-1] == "||cdn.example^"
        assert table.virtual_size.width <= table.size.width
        unused = table.size.width - sum(c.get_render_width(table) for c in table.columns.values())
        assert unused < 10, f"{unused} columns left empty"


@sync
async def test_the_table_follows_a_resize(tmp_path: Path) -> None:
    app = app_with_events(tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        table = await ready(pilot)
        await wait_for(pilot, lambda: len(table.columns) == 7, what="the rule column")
        await pilot.press("down", "down")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: len(table.columns) == 6, what="the rule column gone")
        assert table.row_count == 6 and table.cursor_row == 2


@sync
async def test_when_the_proxy_stops_the_header_says_so_in_full(tmp_path: Path) -> None:
    reason = (
        "/home/someone/.local/share/pixelguard/pixelguard.db is not a pixelguard database or is corrupt (file is "
        "not a database); nothing was changed. Move it aside and start a new history with: mv "
        "/home/someone/.local/share/pixelguard/pixelguard.db /home/someone/.local/share/pixelguard/pixelguard.db.broken"
    )

    async def proxy() -> None:
        await asyncio.sleep(0)
        raise RuntimeError(reason)

    app = app_with_events(tmp_path, proxy_runner=proxy)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        status = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: "proxy stopped" in text_of(status), what="the stop")
        shown = text_of(status)
        assert "protection on" not in shown and "127.0.0.1:8080" not in shown
        assert "".join(shown.split()).endswith("".join(reason[-60:].split()))  # wrapped, not cut
        await pilot.press("q")
    assert app.proxy_stopped == reason


@sync
async def test_messages_go_to_their_own_line_not_over_the_panels(tmp_path: Path) -> None:
    app = app_with_events(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        bar = app.screen.query_one(MessageBar)
        # The default config subscribes to EasyPrivacy, which a test never downloads: the start says so there.
        await wait_for(
            pilot, lambda: "Not downloaded yet: easyprivacy" in text_of(bar), what="the start message"
        )
        app.notify("[b]x.example[/b] allowed everywhere", markup=False)
        await wait_for(
            pilot, lambda: "[b]x.example[/b] allowed" in text_of(bar), what="the message, unrendered"
        )
        assert not [t for t in app.screen.query("Toast") if t.display and t.region.area]
        side = app.screen.query_one("#side").region
        assert not bar.region.overlaps(side) and not bar.region.overlaps(
            app.screen.query_one(EventTable).region
        )


@sync
async def test_help_says_where_the_ca_certificate_is(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PIXELGUARD_CONFDIR", str(tmp_path / "conf"))
    app = app_with_events(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        shown = "".join(text_of(app.screen.query_one("#help-ca")).split())  # wrapped to the dialog
        assert f"CAcertificate:{tmp_path / 'conf' / 'mitmproxy-ca-cert.pem'}" in shown


def shown_keys(app: PixelguardApp) -> list[str]:
    """The main screen's keys as the footer and help show them (``/``, ``?``), each with its label."""
    return [
        f"{app.get_key_display(b)} {b.description}"
        for b in MainScreen.BINDINGS
        if isinstance(b, Binding) and b.show
    ]


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
@sync
async def test_the_footer_shows_every_key_of_the_main_screen(tmp_path: Path, size: tuple[int, int]) -> None:
    app = app_with_events(tmp_path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)

        def wholly_on_screen() -> list[str]:
            keys = app.screen.query("FooterKey")
            return [text_of(k).strip() for k in keys if k.region.width and k.region.right <= size[0]]

        await wait_for(
            pilot,
            lambda: all(k in wholly_on_screen() for k in shown_keys(app)),
            what=f"every key in {wholly_on_screen()}",
        )


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
@sync
async def test_help_fits_the_screen_names_every_key_and_scrolls(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = app_with_events(tmp_path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        dialog = app.screen.query_one("#help")
        await wait_for(pilot, lambda: dialog.region.area > 0, what="the dialog laid out")
        assert dialog.region.right <= size[0] and dialog.region.bottom <= size[1], dialog.region
        listed = [line.split(maxsplit=1)[0] for line in text_of(app.screen.query_one("#help-keys")).splitlines()
                  if line.strip() and not line.startswith("   ")]  # fmt: skip
        assert {k.split()[0] for k in shown_keys(app)} <= set(listed), listed
        # Every line can be read: what does not fit scrolls, and the last hint comes into view.
        last = app.screen.query(".hint").last()
        await pilot.press("end")
        await wait_for(pilot, lambda: last.region.height and last.region.bottom <= dialog.region.bottom,
                       what="the last hint in view")  # fmt: skip
        assert "esc to close" in text_of(last)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
@sync
async def test_the_pause_dialog_shows_its_error_in_full(tmp_path: Path, size: tuple[int, int]) -> None:
    app = app_with_events(tmp_path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PauseScreen), what="the pause dialog")
        app.screen.query_one("#duration", Input).value = "bogus"
        await pilot.press("enter")
        hint = app.screen.query_one("#pause-hint")
        await wait_for(pilot, lambda: hint.has_class("-error"), what="the error")
        with pytest.raises(ValueError) as e:
            parse_duration("bogus")
        message = str(e.value)
        await wait_for(pilot, lambda: " ".join(text_of(hint).split()) == message, what=f"{message!r} in full")
        assert hint.region.right <= app.screen.query_one("#pause").region.right


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
@sync
async def test_list_names_that_share_a_start_stay_apart_and_requests_without_a_page_show_no_site_count(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    cfg = make_config(tmp_path)
    now = time.time()
    names = ["pixelguard-email", "pixelguard-params", "pixelguard-ads", "pixelguard-links"]
    write_events(cfg.database, [event(i, now - 60 * (4 - i), list=n, site=None) for i, n in enumerate(names)])
    app = PixelguardApp(cfg, listen="127.0.0.1:8080")
    async with app.run_test(size=size) as pilot:
        table = app.screen.query_one(EventTable)
        await wait_for(pilot, lambda: table.row_count == 4, what="the rows")
        column = [str(c.label) for c in table.columns.values()].index("list")
        width = list(table.columns.values())[column].width
        shown = [table.get_row_at(i)[column].plain for i in range(4)]
        assert all(len(s) <= width for s in shown), shown
        # each is its own name's end (newest first)
        assert [n.endswith(s.lstrip("…")) for n, s in zip(names[::-1], shown, strict=True)] == [True] * 4, (
            shown
        )
        assert len(set(shown)) == 4
        if size[0] >= 100:  # the side panel: top trackers, each seen on no page
            top = app.screen.query_one("#top", DataTable)
            await wait_for(pilot, lambda: top.row_count == 4, what="top trackers")
            assert [top.get_row_at(i)[2].plain for i in range(4)] == ["-"] * 4
