"""The pause switch shared through data_dir/pause.json."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pixelguard import pause


def test_pause_resume(tmp_path):
    assert pause.paused_until(tmp_path) is None
    until = datetime.now(UTC) + timedelta(minutes=10)
    pause.pause(tmp_path, until)
    got = pause.paused_until(tmp_path)
    assert got is not None and got.tzinfo is not None and abs((got - until).total_seconds()) < 0.01
    assert pause.resume(tmp_path) is True
    assert pause.paused_until(tmp_path) is None and not (tmp_path / "pause.json").exists()
    assert pause.resume(tmp_path) is False


def test_local_time_is_converted_and_expiry_honoured(tmp_path):
    local = datetime.now().astimezone() + timedelta(seconds=30)
    pause.pause(tmp_path, local)
    got = pause.paused_until(tmp_path)
    assert got is not None and got.utcoffset() == timedelta(0)
    assert abs((got - local).total_seconds()) < 0.01
    assert pause.paused_until(tmp_path, now=datetime.now(UTC) + timedelta(minutes=1)) is None
    pause.pause(tmp_path, datetime.now(UTC) - timedelta(seconds=1))
    assert pause.paused_until(tmp_path) is None  # expired


def test_damaged_file_means_protection_stays_on(tmp_path):
    (tmp_path / "pause.json").write_text("{not json")
    assert pause.paused_until(tmp_path) is None
    (tmp_path / "pause.json").write_text('{"until": "soon"}')
    assert pause.paused_until(tmp_path) is None
