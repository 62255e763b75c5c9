"""Turning a list on or off in the config file: the value changes, everything else the user wrote stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelguard import config
from pixelguard.config_edit import set_list_enabled
from pixelguard.errors import ConfigError


def _enabled(path: Path) -> dict[str, bool]:
    return {spec.name: spec.enabled for spec in config.load(path).lists}


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "mine.txt").write_text("||a.example^\n", encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_existing_enabled_value_is_replaced_in_place(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "# my setup\nlists:\n  - name: mine   # my own\n    path: mine.txt\n    enabled: true  # keep on\n"
        "proxy:\n  port: 8081\n",
    )
    set_list_enabled(config.load(path), "mine", False)
    text = path.read_text(encoding="utf-8")
    assert text == (
        "# my setup\nlists:\n  - name: mine   # my own\n    path: mine.txt\n    enabled: false  # keep on\n"
        "proxy:\n  port: 8081\n"
    )
    assert _enabled(path) == {"mine": False}


def test_block_entry_without_enabled_gets_a_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "lists:\n  - name: mine\n    path: mine.txt\n  - name: pixelguard-ads\n    path: bundled\n"
    )
    set_list_enabled(config.load(path), "pixelguard-ads", False)
    assert _enabled(path) == {"mine": True, "pixelguard-ads": False}
    assert "  - name: pixelguard-ads\n    enabled: false\n    path: bundled\n" in path.read_text(
        encoding="utf-8"
    )


def test_flow_entry_gets_the_key_inside_its_braces(tmp_path: Path) -> None:
    path = _write(tmp_path, "lists:\n  - {name: mine, path: mine.txt}   # flow style\n")
    set_list_enabled(config.load(path), "mine", False)
    assert (
        path.read_text(encoding="utf-8")
        == "lists:\n  - {name: mine, path: mine.txt, enabled: false}   # flow style\n"
    )
    set_list_enabled(config.load(path), "mine", True)
    assert _enabled(path) == {"mine": True}


def test_defaults_are_written_out_when_the_file_has_no_lists(tmp_path: Path) -> None:
    path = _write(tmp_path, "# only a port\nproxy:\n  port: 8082")  # no final newline
    before = _enabled(path)
    set_list_enabled(config.load(path), "easylist", True)
    after = _enabled(path)
    assert after == {**before, "easylist": True}
    cfg = config.load(path)
    assert cfg.proxy.port == 8082
    assert path.read_text(encoding="utf-8").startswith("# only a port\nproxy:\n  port: 8082\n")


def test_empty_lists_key_is_filled(tmp_path: Path) -> None:
    path = _write(tmp_path, "lists:\nproxy:\n  port: 8083\n")
    set_list_enabled(config.load(path), "easyprivacy", False)
    assert _enabled(path)["easyprivacy"] is False
    assert config.load(path).proxy.port == 8083


def test_no_config_file_creates_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "new" / "config.yaml"
    monkeypatch.setenv(config.ENV_VAR, str(path))
    cfg = config._build(None, None)  # what load() gives when the file does not exist yet
    assert set_list_enabled(cfg, "easylist", True) == path
    assert _enabled(path)["easylist"] is True


def test_unknown_list_and_broken_file_are_one_line_errors_and_change_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, "lists:\n  - {name: mine, path: mine.txt}\n")
    cfg = config.load(path)
    with pytest.raises(ConfigError, match="'nope' is not a configured list"):
        set_list_enabled(cfg, "nope", False)
    path.write_text("lists: [\n", encoding="utf-8")  # broken after the config was read
    with pytest.raises(ConfigError, match="invalid YAML"):
        set_list_enabled(cfg, "mine", False)
    assert path.read_text(encoding="utf-8") == "lists: [\n"
    assert not list(tmp_path.glob(".config.yaml*")), "the check file is cleaned up"
