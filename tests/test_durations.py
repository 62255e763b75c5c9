from datetime import timedelta

import pytest

from pixelguard.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 5M ", timedelta(minutes=5)),
    ],
)
def test_parses(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "10", "m", "1x", "-5m", "0m", "1h 30m", "1.5h"])
def test_rejects_with_a_message(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_the_bounds_are_exact_and_each_refusal_says_why() -> None:
    assert parse_duration("1s") == timedelta(seconds=1)  # the shortest
    assert parse_duration("3650d") == timedelta(days=3650)  # the longest: ten years
    with pytest.raises(ValueError, match=r"^'0s' is not a positive duration$"):
        parse_duration("0s")
    with pytest.raises(ValueError, match=r"^'3650d1s' is longer than 10 years$"):
        parse_duration("3650d1s")
    # What the user typed is repeated in the message, cut past 40 characters.
    at_limit = "1s" * 20
    assert parse_duration(at_limit) == timedelta(seconds=20)
    with pytest.raises(ValueError) as e:
        parse_duration("1s" * 21)
    assert str(e.value) == f"'{'1s' * 20}'... is not a duration (examples: 90s, 10m, 1h, 2d, 1h30m)"
