"""Messages the UI's database thread posts to the screens (post_message is thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from pixelguard.tui.data import Overview, Passthrough


@dataclass
class EventsArrived(Message):
    """A batch of events. ``reset``: replace the table (first load or new filter), rows newest first;
    otherwise new events, oldest first, to put on top."""

    rows: list[dict[str, Any]]
    reset: bool = False


@dataclass
class OverviewUpdated(Message):
    """Header numbers, top trackers and the sparkline; a newer one makes an unhandled older one moot."""

    overview: Overview

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OverviewUpdated)


@dataclass
class HostSpanLoaded(Message):
    host: str
    span: tuple[float, float] | None


@dataclass
class FeedProblem(Message):
    """The database cannot be read (not created yet, locked, corrupt); None when it is readable again."""

    text: str | None


@dataclass
class ListsLoaded(Message):
    rows: list[dict[str, Any]]
    passthrough: Passthrough | None = None


@dataclass
class RulesLearned(Message):
    """The proxy learned rules (host, rule) from pixels it saw: the UI says so and offers to undo."""

    rules: list[tuple[str, str]]
