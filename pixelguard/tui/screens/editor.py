"""Editing the user or learned list: every line is checked by the engine's parser before it can be saved."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Label, Static, TextArea

from pixelguard.errors import PixelguardError
from pixelguard.tui.data import fmt_path
from pixelguard.tui.widgets.status_bar import MessageBar

VALIDATE_DELAY = 0.25  # seconds of quiet typing before the lines are checked again


@dataclass
class Loaded(Message):
    text: str


@dataclass
class Checked(Message):
    text: str
    problems: list[tuple[int, str, str]]  # (line number, line, reason)


@dataclass
class Saved(Message):
    error: str | None


def check(text: str) -> list[tuple[int, str, str]]:
    """(line number, line, reason) for every line the engine would skip or reject."""
    from pixelguard.engine.rules import validate

    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        reason = validate(line)
        if reason is not None:
            problems.append((number, line, reason))
    return problems


class ListEditor(Screen[bool]):
    """Dismisses with True when the file was saved."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "close", "Close"),
    ]

    problems: var[list[tuple[int, str, str]]] = var(list)
    dirty: var[bool] = var(False)

    def __init__(self, name: str, path: Path) -> None:
        super().__init__()
        self.list_name = name
        self.path = path
        self._loaded_text: str | None = None
        self._checked_text: str | None = None
        self._saved = False
        self._confirm_close = False

    def compose(self) -> ComposeResult:
        with Vertical(id="editor-body"):
            yield Label(
                Text(f"{self.list_name} list: {fmt_path(self.path)}"),
                id="editor-title",
                classes="panel-title",
            )
            yield TextArea(
                id="rules", show_line_numbers=True, soft_wrap=False, tab_behavior="focus", read_only=True
            )
            yield Static(id="problems")
        yield MessageBar(classes="message")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True)
    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            text = ""
        self.post_message(Loaded(text))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self._loaded_text = message.text
        area = self.query_one(TextArea)
        area.load_text(message.text)
        area.read_only = False  # editable only once the file is in: typing earlier would be overwritten
        area.focus()
        self._validate(message.text)

    @on(TextArea.Changed, "#rules")
    def _changed(self) -> None:
        text = self.query_one(TextArea).text
        self.dirty = self._loaded_text is not None and text != self._loaded_text
        self._confirm_close = False
        self._validate_later(text)

    @work(exclusive=True, group="validate")
    async def _validate_later(self, text: str) -> None:
        import asyncio

        await asyncio.sleep(VALIDATE_DELAY)  # debounce: a newer keystroke cancels this worker
        self._validate(text)

    @work(thread=True, exclusive=True, group="validate-thread")
    def _validate(self, text: str) -> None:
        # Parsing a few thousand learned rules takes tens of ms: too long for the event loop.
        self.post_message(Checked(text, check(text)))

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        if message.text != self.query_one(TextArea).text:
            return  # stale: a newer check is on its way
        self._checked_text = message.text
        self.problems = message.problems

    def watch_problems(self, problems: list[tuple[int, str, str]]) -> None:
        box = self.query_one("#problems", Static)
        box.set_class(bool(problems), "-invalid")
        if not problems:
            box.update(Text("All lines are valid rules, comments or blank. ctrl+s saves.", style="green"))
            return
        text = Text()
        text.append(f"{len(problems)} line(s) the engine would skip; fix them to save:\n", style="bold")
        for number, line, reason in problems[:8]:
            text.append(f"line {number}: ", style="bold red")
            text.append(line[:60])
            text.append(f"  ← {reason}\n", style="red")
        if len(problems) > 8:
            text.append(f"… and {len(problems) - 8} more")
        box.update(text)

    def action_save(self) -> None:
        area = self.query_one(TextArea)
        text = area.text
        if self._checked_text != text:
            problems = check(text)  # the user asked to save now; a small list checks in milliseconds
            self._checked_text, self.problems = text, problems
        if self.problems:
            number = self.problems[0][0]
            area.move_cursor((number - 1, 0))
            self.notify(f"Not saved: line {number}: {self.problems[0][2]}", severity="error", markup=False)
            return
        self._write(text)

    @work(thread=True, exclusive=True, group="save")
    def _write(self, text: str) -> None:
        from pixelguard.fileio import atomic_write

        try:
            atomic_write(self.path, text if text.endswith("\n") or not text else text + "\n")
        except (OSError, PixelguardError) as e:
            self.post_message(Saved(str(e)))
            return
        self.post_message(Saved(None))

    @on(Saved)
    def _written(self, message: Saved) -> None:
        if message.error:
            self.notify(f"Could not save {self.path}: {message.error}", severity="error", markup=False)
            return
        self._saved = True
        self._loaded_text = self.query_one(TextArea).text
        self.dirty = False
        self.notify(f"Saved {self.path.name}; the proxy reloads it within a second.", markup=False)

    def action_close(self) -> None:
        if self.dirty and not self._confirm_close:
            self._confirm_close = True
            self.notify("Unsaved changes: esc again to discard them, ctrl+s to save.", severity="warning")
            return
        self.dismiss(self._saved)
