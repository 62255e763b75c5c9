"""Nothing from the network reaches a terminal unescaped: CLI output (text and JSON) and the UI's table and pane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console
from store_helpers import event

from pixelguard import display
from pixelguard.cli import cli
from pixelguard.store.writer import Writer

HOSTILE = "evil\x1bc\x1b]0;pwned\x07.example\rforged\u202etxt\x9b31m"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain.example", "plain.example"),
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("a\rb\nc\td", "a\\x0db\\x0ac\\x09d"),
        ("\x9b31m", "\\x9b31m"),
        ("abc\u202edef", "abc\\u202edef"),
        ("münchen.example", "münchen.example"),
        (None, ""),
    ],
)
def test_safe_shows_controls_as_escapes(raw: str | None, shown: str) -> None:
    assert display.safe(raw) == shown


def test_safe_json_keeps_the_value() -> None:
    dumped = json.dumps({"h": HOSTILE}, ensure_ascii=False)
    made_safe = display.safe_json(dumped)
    assert json.loads(made_safe) == {"h": HOSTILE}
    assert not any(c in made_safe for c in "\x1b\x07\r\x9b\u202e")


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("database: ./pg.db\nuser_list: ./user.txt\n")
    e = event(1, host=HOSTILE, site=HOSTILE)
    with Writer(tmp_path / "pg.db") as w:
        w.put(e)
        w.count(seen=1, stopped=1)
    return path


@pytest.mark.parametrize("args", [["log"], ["log", "--json"], ["stats"], ["stats", "--json"]])
def test_cli_output_carries_no_control_characters(conf: Path, args: list[str]) -> None:
    r = CliRunner().invoke(cli, ["--config", str(conf), *args])
    assert r.exit_code == 0, r.output
    assert "evil" in r.output
    assert not any(c in r.output for c in "\x1b\x07\r\x9b\u202e"), repr(r.output)


def test_check_output_is_safe(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["check", "https://t.example/\x1b[2J"])
    assert r.exit_code in (0, 1), r.output
    assert "\x1b" not in r.output and "\\x1b[2J" in r.output


def test_ui_cells_and_detail_are_safe() -> None:
    from pixelguard.tui.widgets.detail import DetailPane
    from pixelguard.tui.widgets.events import cells, layout

    row = {
        "id": 1,
        "ts": 0,
        "host": HOSTILE,
        "site": HOSTILE,
        "url": "https://" + HOSTILE + "/p.gif",
        "type": "image",
        "reason": "filter",
        "rule": HOSTILE,
        "list": "l",
        "line": 1,
        "method": "GET",
    }
    console = Console(width=200, record=True, force_terminal=True, color_system=None)
    shown = cells(row, layout(200))  # wide: every column, the rule's included
    assert len(shown) == 7
    for cell in shown:
        assert not any(c in cell.plain for c in "\x1b\x07\r\x9b\u202e")
    pane = DetailPane()
    pane.show(row)
    console.print(pane.content)  # what the pane would draw
    text = console.export_text()
    assert "evil" in text and not any(c in text for c in "\x07\r\x9b\u202e"), repr(text)
    assert "\x1bc" not in text and "\x1b]0;" not in text


def test_sizes_and_cuts_at_their_bounds() -> None:
    assert [display.size(n) for n in (1023, 1024, 1024 * 1024 - 1, 1024 * 1024)] == [
        "1023 B",
        "1 KB",
        "1024 KB",
        "1.0 MB",
    ]
    assert display.cut("abcdef", 6) == "abcdef" and display.cut("abcdefg", 6) == "abcde…"
    # A period in the largest unit that divides it, from two of that unit on.
    assert [display.period(s) for s in (172800, 86400, 7200, 3600, 120, 90061)] == [
        "2d",
        "24h",
        "2h",
        "60m",
        "2m",
        "90061s",
    ]
