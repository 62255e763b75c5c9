"""`pixelguard check`: verdict with rule and list:line, --json, bad URLs as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pixelguard.cli import cli


def _config(tmp_path: Path) -> Path:
    lst = tmp_path / "mylist.txt"
    lst.write_text("! test list\n||tracker.example^$third-party\n@@||tracker.example/ok.js\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"lists:\n  - {{name: mylist, path: {lst}}}\n")
    return cfg


def test_check_blocked_and_json(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    r = CliRunner().invoke(
        cli,
        ["--config", str(cfg), "check", "https://tracker.example/p.gif", "--source", "https://news.example/"],
    )
    assert r.exit_code == 0, r.output
    assert "BLOCKED" in r.output and "||tracker.example^$third-party (mylist:2)" in r.output
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://tracker.example/ok.js", "--json"])
    assert r.exit_code == 0, r.output
    obj = json.loads(r.output)
    assert obj["blocked"] is False and obj["exception"] == "@@||tracker.example/ok.js" and obj["line"] == 3
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://news.example/"])
    assert r.exit_code == 0 and r.output.startswith("allowed")


def test_check_bad_url_is_one_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "not a url"])
    assert r.exit_code == 2
    assert "not an absolute URL" in r.output and "Traceback" not in r.output
