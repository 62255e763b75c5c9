"""Docs are part of the change: README documents every command and every config key."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from pixelguard import config
from pixelguard.cli import cli

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def command_paths(group: click.Group, prefix: str = "pixelguard") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        out.append(f"{prefix} {name}")
        if isinstance(cmd, click.Group):
            out += command_paths(cmd, f"{prefix} {name}")
    return out


@pytest.mark.parametrize("command", command_paths(cli))
def test_readme_documents_every_command(command: str) -> None:
    # `pixelguard lists update` may appear as "`pixelguard lists` / `lists update`" in the table.
    words = command.split()
    assert f"`{command}" in README or f"`{' '.join(words[-2:])}" in README, command


def config_keys() -> list[str]:
    keys = []
    for field in config.Config.__dataclass_fields__:
        if field in ("data_dir", "cache_dir", "source", "origins"):
            continue  # derived, not settable in the file
        sub = getattr(
            config,
            {"proxy": "ProxyConfig", "pixels": "PixelsConfig", "log": "LogConfig"}.get(field, ""),
            None,
        )
        keys += [f"{field}.{k}" for k in sub.__dataclass_fields__] if sub else [field]
    return keys


@pytest.mark.parametrize("key", config_keys())
def test_readme_documents_every_config_key(key: str) -> None:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    parent, _, child = key.partition(".")
    if child:
        block = re.search(rf"^{parent}:\n((?:  .*\n)+)", section, re.M)
        inline = re.search(rf"^{parent}: {{.*\b{child}:", section, re.M)
        assert inline or (block and re.search(rf"^  {child}:", block.group(1), re.M)), key
    else:
        assert re.search(rf"^{key}:", section, re.M), key


def test_changelog_has_an_unreleased_section() -> None:
    assert "## [Unreleased]" in (REPO / "CHANGELOG.md").read_text()
