"""`pixelguard check`: verdict with rule and list:line, --json, bad URLs as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from helpers import write_config

from pixelguard.cli import cli


def _config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path, {"mylist": "! test list\n||tracker.example^$third-party\n@@||tracker.example/ok.js\n"}
    )


def test_check_blocked_and_json(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    r = CliRunner().invoke(
        cli,
        ["--config", str(cfg), "check", "https://tracker.example/p.gif", "--source", "https://news.example/"],
    )
    assert r.exit_code == 1, r.output  # 1: blocked, as grep's 1 means "no line selected"
    assert "BLOCKED" in r.output and "||tracker.example^$third-party (mylist:2)" in r.output
    # --page names the same thing (what a user of uBO's logger would type); first-party, the rule stays out.
    for page, status in (("https://news.example/", 1), ("https://tracker.example/", 0)):
        r = CliRunner().invoke(
            cli, ["--config", str(cfg), "check", "https://tracker.example/p.gif", "--page", page]
        )
        assert r.exit_code == status, r.output
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://tracker.example/ok.js", "--json"])
    assert r.exit_code == 0, r.output
    obj = json.loads(r.output)
    assert obj["action"] == "passed"
    assert obj["reasons"] == [
        {
            "stage": "allowed",
            "rule": "@@||tracker.example/ok.js",
            "list": "mylist",
            "line": 3,
            "detail": "||tracker.example^$third-party",
        }
    ]
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://news.example/"])
    assert r.exit_code == 0 and r.output.startswith("allowed")


def test_check_says_how_the_lists_read_another_spelling(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, {"mylist": "||tracker.example/collect\n"})
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://tracker.example/coll%65ct?a=%41"])
    assert r.exit_code == 1, r.output
    assert "  read as: https://tracker.example/collect?a=%41 (" in r.output
    assert "rule: ||tracker.example/collect (mylist:1)" in r.output
    r = CliRunner().invoke(
        cli, ["--config", str(cfg), "check", "--json", "https://tracker.example/coll%65ct"]
    )
    obj = json.loads(r.output)
    assert (obj["url"], obj["read_as"]) == (
        "https://tracker.example/coll%65ct",
        "https://tracker.example/collect",
    )
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://tracker.example/other"])
    assert "read as" not in r.output  # said only when the spelling differs


def test_check_bad_url_is_one_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    for bad in ("not a url", "ftp://tracker.example/p.gif", "https://"):
        r = CliRunner().invoke(cli, ["--config", str(cfg), "check", bad])
        assert r.exit_code == 2, (bad, r.output)
        assert "is not an http(s) URL" in r.output and "Traceback" not in r.output
        assert len(r.output.strip().splitlines()) == 1


def test_check_takes_a_bare_domain_as_https(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "tracker.example/p.gif"])
    assert r.exit_code == 1, r.output
    assert "BLOCKED  https://tracker.example/p.gif" in r.output


def test_check_uncloaks_cnames(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dns_server import DnsServer

    with DnsServer({"metrics.shop.test": "shop.test.sc.omtrdc.net"}) as dns:
        lst = tmp_path / "l.txt"
        lst.write_text("||omtrdc.net^\n")
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            f"lists:\n  - {{name: l, path: {lst}}}\ncname: {{nameservers: ['127.0.0.1:{dns.port}']}}\n"
        )
        monkeypatch.delenv("PIXELGUARD_NO_CNAME")
        r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://metrics.shop.test/b/ss?x=1"])
        assert r.exit_code == 1, r.output
        assert "CNAME chain: metrics.shop.test -> shop.test.sc.omtrdc.net" in r.output
        assert "||omtrdc.net^ (l:1)" in r.output and "no DNS server answered" not in r.output
        r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://www.shop.test/", "--json"])
        assert r.exit_code == 0 and json.loads(r.stdout)["cname"] == []


def test_check_says_when_no_dns_server_answered(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Uncloaking fails open: the request is judged without its aliases, and check says so instead of a plain pass.
    import socket

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"cname: {{nameservers: ['127.0.0.1:{silent.getsockname()[1]}']}}\n")
        monkeypatch.delenv("PIXELGUARD_NO_CNAME")
        r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://metrics.shop.test/b/ss"])
    finally:
        silent.close()
    assert r.exit_code == 0, r.output
    assert "pixelguard: no DNS server answered for metrics.shop.test: judged without its aliases" in r.stderr
    assert "doctor` names the servers asked" in r.stderr
