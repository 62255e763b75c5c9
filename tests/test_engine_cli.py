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


# --- what mutation testing found untested (scripts/mutate --group output) ------------------------------------


def test_check_decides_an_https_url_at_its_connect_first(tmp_path: Path) -> None:
    # A host blocked whole is refused at CONNECT over HTTPS (the proxy never sees the request); over plain HTTP
    # there is no tunnel, and the same rule blocks the request itself.
    from pixelguard.decision.pipeline import REFUSED_TUNNEL

    cfg = write_config(tmp_path, {"hosts": "||whole.tracker.example^\n"})
    for scheme, refused in (("https", True), ("http", False)):
        r = CliRunner().invoke(
            cli, ["--config", str(cfg), "check", "--json", f"{scheme}://whole.tracker.example/x"]
        )
        assert r.exit_code == 1, r.output
        details = [reason["detail"] for reason in json.loads(r.stdout)["reasons"]]
        assert (REFUSED_TUNNEL in details) == refused, (scheme, details)


def test_check_notes_what_the_history_says_went_unread_to_that_host(tmp_path: Path) -> None:
    from store_helpers import event

    from pixelguard.store.event import NOT_HTTP, UNREAD_BODY
    from pixelguard.store.writer import Writer

    cfg = write_config(tmp_path, {"t": "||tracker.example^\n"})
    with Writer(tmp_path / "pixelguard.db", retention_days=None) as w:
        for n, (host, url, reason) in enumerate(
            [
                ("imap.mail.example", "tcp://imap.mail.example:993", NOT_HTTP),
                ("upload.drive.example", "https://upload.drive.example/", UNREAD_BODY),
            ]
        ):
            row = {
                **event(n, host=host, site="").row(),
                "url": url,
                "reason": reason,
                "action": "passthrough",
            }
            w.put(type(event(n))(**{**row, "list": None, "line": None, "rule": None}))
    cases = {
        "https://imap.mail.example/": "tunnels to imap.mail.example:993 (last at",
        "https://upload.drive.example/api": "request bodies to upload.drive.example (last at",
    }
    for url, said in cases.items():
        r = CliRunner().invoke(cli, ["--config", str(cfg), "check", url])
        assert r.exit_code == 0 and said in r.stderr, (url, r.stderr)
        assert sum(other in r.stderr for other in cases.values()) == 1, r.stderr  # each note for its own host
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://elsewhere.example/"])
    assert "last at" not in r.stderr, r.stderr


def test_check_reads_a_body_given_as_text(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, {"t": "||tracker.example^\n"}, extra="identity: {emails: [jane@example.com]}\n"
    )
    args = ["--config", str(cfg), "check", "--method", "POST", "--source", "https://shop.example/"]
    r = CliRunner().invoke(cli, [*args, "--body", "email=jane%40example.com", "https://collect.example/c"])
    assert r.exit_code == 1 and "your email" in r.stdout, r.output
    r = CliRunner().invoke(
        cli, [*args, "--body", "email=someone%40else.example", "https://collect.example/c"]
    )
    assert r.exit_code == 0, r.output


def test_check_names_a_cleaned_request_so(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, {"p": "$removeparam=utm_source\n"})
    r = CliRunner().invoke(
        cli, ["--config", str(cfg), "check", "https://shop.example/a?utm_source=mail&id=1"]
    )
    assert r.exit_code == 0, r.output  # it goes out, changed
    assert r.stdout.startswith("cleaned  https://shop.example/a?utm_source=mail&id=1"), r.stdout
