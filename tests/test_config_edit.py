"""Turning a list on or off in the config file: the value changes, everything else the user wrote stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelguard import config
from pixelguard.config_edit import set_list_enabled
from pixelguard.errors import ConfigError

DEFAULTS = {spec.name for spec in config.default_lists(Path("/data"))}


def _enabled(path: Path) -> dict[str, bool]:
    """The lists the file itself names (a file with a lists: section also gets the defaults)."""
    text = path.read_text(encoding="utf-8")
    return {
        spec.name: spec.enabled
        for spec in config.load(path).lists
        if spec.name not in DEFAULTS or spec.name in text
    }


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


def test_a_file_with_no_lists_gets_the_one_entry_it_changes(tmp_path: Path) -> None:
    path = _write(tmp_path, "# only a port\nproxy:\n  port: 8082")  # no final newline
    before = {spec.name: spec.enabled for spec in config.load(path).lists}
    set_list_enabled(config.load(path), "easylist", True)
    after = {spec.name: spec.enabled for spec in config.load(path).lists}
    assert after == {**before, "easylist": True}
    assert "  - name: easylist\n    enabled: true\n" in path.read_text(encoding="utf-8")
    assert "easyprivacy" not in path.read_text(
        encoding="utf-8"
    )  # the others stay defaults, not frozen copies
    cfg = config.load(path)
    assert cfg.proxy.port == 8082
    assert path.read_text(encoding="utf-8").startswith("# only a port\nproxy:\n  port: 8082\n")


def test_a_default_the_file_does_not_name_gets_an_entry_of_its_own(tmp_path: Path) -> None:
    path = _write(tmp_path, "lists:\n  - name: mine\n    path: mine.txt\nproxy:\n  port: 8084\n")
    set_list_enabled(config.load(path), "easyprivacy", False)
    cfg = config.load(path)
    assert {s.name: s.enabled for s in cfg.lists}["easyprivacy"] is False and cfg.proxy.port == 8084
    assert "  - {name: easyprivacy, enabled: false}\n" in path.read_text(encoding="utf-8")
    flow = _write(tmp_path, "lists: [{name: mine, path: mine.txt}]\n")
    set_list_enabled(config.load(flow), "easylist", True)
    assert {s.name: s.enabled for s in config.load(flow).lists}["easylist"] is True


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


# --- what mutation testing found unchecked (scripts/mutate --group settings) ---------------------------------


def test_each_edit_is_written_where_the_file_s_own_layout_puts_it(tmp_path: Path) -> None:
    # A block entry whose name is the file's last line, with no final newline: the key goes on a line of its own.
    path = _write(tmp_path, "lists:\n  - path: mine.txt\n    name: mine")
    set_list_enabled(config.load(path), "mine", False)
    assert (
        path.read_text(encoding="utf-8") == "lists:\n  - path: mine.txt\n    name: mine\n    enabled: false\n"
    )
    # A list indented by four, ending mid-line at the end of the file: the new entry is indented as the others.
    path = _write(tmp_path, "lists:\n    - name: mine\n      path: mine.txt")
    set_list_enabled(config.load(path), "easylist", True)
    assert path.read_text(encoding="utf-8") == (
        "lists:\n    - name: mine\n      path: mine.txt\n    - {name: easylist, enabled: true}\n"
    )
    # A flow list, with another bracket later in the file: the entry goes inside the lists' own brackets.
    path = _write(tmp_path, "lists: [{name: mine, path: mine.txt}]\ntls: {passthrough: [bank.example]}\n")
    set_list_enabled(config.load(path), "easylist", True)
    assert path.read_text(encoding="utf-8") == (
        "lists: [{name: mine, path: mine.txt}, {name: easylist, enabled: true}]\n"
        "tls: {passthrough: [bank.example]}\n"
    )
    assert config.load(path).tls.passthrough == ("bank.example",)
