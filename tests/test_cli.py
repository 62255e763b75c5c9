"""The CLI surface: every command has help, --version, config show/path, and user mistakes are one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pixelguard import __version__
from pixelguard.cli import cli

# DESIGN.md's command list; a command missing here or there is a documentation bug.
COMMANDS = [
    [],
    ["run"],
    ["ui"],
    ["check"],
    ["log"],
    ["stats"],
    ["allow"],
    ["unallow"],
    ["pause"],
    ["resume"],
    ["lists"],
    ["lists", "update"],
    ["scan"],
    ["uninstall"],
    ["mail"],
    ["mail", "clean"],
    ["config"],
    ["config", "show"],
    ["config", "path"],
    ["tls"],
    ["tls", "forget"],
    ["ca"],
    ["ca", "install"],
    ["ca", "uninstall"],
    ["ca", "path"],
    ["service"],
    ["service", "install"],
    ["service", "uninstall"],
    ["service", "status"],
    ["system-proxy"],
    ["system-proxy", "on"],
    ["system-proxy", "off"],
    ["system-proxy", "status"],
    ["system-proxy", "pac"],
    ["doctor"],
]


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), prog_name="pixelguard")


def all_command_paths(group: click.Group, prefix: list[str]) -> list[list[str]]:
    paths = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            paths += all_command_paths(cmd, [*prefix, name])
        else:
            paths.append([*prefix, name])
    return paths


def test_command_list_matches_design() -> None:
    assert sorted(map(tuple, all_command_paths(cli, []))) == sorted(map(tuple, COMMANDS))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "pixelguard")
def test_every_command_has_help(path: list[str]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: pixelguard" in result.output
    # The first help line says what the command does (not just "Usage").
    description = result.output.split("\n\n")[1].strip()
    assert len(description) > 20, result.output


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    import platform
    from importlib.metadata import version

    assert result.output.strip() == (
        f"pixelguard, version {__version__} (mitmproxy {version('mitmproxy')}, Python {platform.python_version()})"
    )


def test_config_path_follows_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pixelguard import config

    assert invoke("config", "path").output.strip() == str(config.config_dir() / "config.yaml")
    monkeypatch.setenv("PIXELGUARD_CONFIG", str(tmp_path / "env.yaml"))
    assert invoke("config", "path").output.strip() == str(tmp_path / "env.yaml")
    assert invoke("--config", str(tmp_path / "x.yaml"), "config", "path").output.strip() == str(
        tmp_path / "x.yaml"
    )


def test_config_works_after_the_command_too(tmp_path: Path) -> None:
    """Issue 28: `--config` worked only before the subcommand. Through the real entry point, as a user types it."""
    from pixelguard.cli import hoist_config

    cfg = tmp_path / "my config.yaml"
    for argv in (["config", "path", "--config", str(cfg)], ["config", "--config", str(cfg), "path"],
                 ["config", "path", f"--config={cfg}"], ["--config", str(cfg), "config", "path"]):  # fmt: skip
        out = subprocess.run(
            [sys.executable, "-m", "pixelguard", *argv], capture_output=True, text=True, timeout=60
        )
        assert (out.returncode, out.stdout.strip()) == (0, str(cfg)), (argv, out.stderr)
    # after "--" everything is an argument, left where it is
    assert hoist_config(["mail", "clean", "--", "--config", "x"]) == ["mail", "clean", "--", "--config", "x"]
    assert hoist_config(["doctor", "--config"]) == [
        "doctor",
        "--config",
    ]  # no value: click says what is missing


def test_config_show_prints_values_with_origins(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("proxy:\n  port: 9999\n")
    result = invoke("--config", str(p), "config", "show")
    assert result.exit_code == 0, result.output
    assert f"# config file: {p}" in result.output
    port_line = next(line for line in result.output.splitlines() if line.startswith("proxy.port"))
    assert "9999" in port_line and f"{p}:2" in port_line
    host_line = next(line for line in result.output.splitlines() if line.startswith("proxy.host"))
    assert "127.0.0.1" in host_line and "# default" in host_line

    rows = [
        json.loads(line)
        for line in invoke("--config", str(p), "config", "show", "--json").output.splitlines()
    ]
    assert {"key": "proxy.port", "value": 9999, "origin": f"{p}:2"} in rows  # a number, not text
    by_key = {r["key"]: r["value"] for r in rows}
    assert by_key["proxy.auth"] is None and by_key["privacy.gpc"] is True
    assert by_key["lists[0]"] == {"name": "pixelguard-ads", "source": "bundled", "enabled": True}
    # The comments line up when the values are short.
    lines = [line for line in result.output.splitlines() if line.startswith(("proxy.", "privacy."))]
    assert len({line.index("  # ") for line in lines}) == 1, lines


def test_config_show_never_prints_the_password(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("proxy: {auth: 'me:hunter2'}\n")
    result = invoke("--config", str(p), "config", "show")
    assert result.exit_code == 0
    assert "hunter2" not in result.output and "(set)" in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
        (["pause", "abc"], "'abc' is not a duration"),
        (["log", "--since", "abc"], "'abc' is not a duration"),
        (["log", "--limit", "0"], "--limit"),
        (["check", "--type", "banana", "http://a.example/"], "banana"),
        (["check"], "Missing argument 'URL'"),
        # A method and a header's name are HTTP tokens: no client could send these (RFC 9110 section 5.6.2).
        (["check", "--method", "", "http://a.example/"], "--method '' is not an HTTP method"),
        (["check", "--method", "GET /x", "http://a.example/"], "is not an HTTP method"),
        (["check", "--header", "Sec-Fetch(Dest): image", "http://a.example/"], "is not NAME: VALUE"),
        (["scan"], "Missing argument"),
        (["config", "show", "--bogus"], "No such option '--bogus'"),
    ],
)
def test_usage_mistakes_are_one_line_exit_2(args: list[str], fragment: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert fragment in lines[0]
    assert lines[0].startswith("pixelguard")
    assert "Traceback" not in result.output


def test_config_mistake_is_one_line_exit_2(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("proxy:\n  host: 127.0.0.1\n  port: 80a\n")
    result = invoke("--config", str(p), "config", "show")
    assert result.exit_code == 2
    assert result.output.strip() == f'pixelguard: {p}:3: proxy.port must be an integer 1-65535, got "80a"'


def test_python_dash_m_works_like_the_command(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("proxy:\n  mode: never\n")
    ok = subprocess.run([sys.executable, "-m", "pixelguard", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "Usage: pixelguard" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "pixelguard", "--config", str(p), "config", "show"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"pixelguard: {p}:2: proxy.mode must be one of full, hosts-only, got 'never'"
    assert bad.stdout == ""


# --- papercuts a new user met -------------------------------------------------------------------------------


def test_a_group_typed_alone_shows_its_help() -> None:
    groups = [
        name
        for name, c in cli.commands.items()
        if isinstance(c, click.Group) and not c.invoke_without_command
    ]
    assert {"mail", "ca", "config"} <= set(groups)
    for name in groups:
        r = invoke(name)
        assert r.exit_code == 0, (name, r.stderr)
        assert r.stdout.startswith(f"Usage: pixelguard {name} [OPTIONS] COMMAND"), (name, r.stdout)
        assert "\nCommands:\n" in r.stdout and "\\x0a" not in r.stdout + r.stderr


def test_allow_refuses_a_name_without_a_dot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "c.yaml"
    conf.write_text("user_list: ./user.txt\n")
    r = invoke("--config", str(conf), "allow", "facebook")
    assert r.exit_code == 2 and "did you mean facebook.com?" in r.stderr
    assert not (tmp_path / "user.txt").exists() or "facebook^" not in (tmp_path / "user.txt").read_text()


@pytest.mark.parametrize(
    "name, said",
    [
        # what is no host name at all is told so, not offered a ".com"
        ("a b", "'a b' is not a valid domain"),
        ("\x1b[31mred", "is not a valid domain"),
        ("x..example", "'x..example' is not a valid domain (an empty label: a dot first or two together)"),
        (
            "a" * 64 + ".example",
            "is not a valid domain (a label over 63 characters, or a character no domain",
        ),
        # a bare name is offered its .com as the user wrote it; a URL's host as the rule would read it
        ("Éxample", "DOMAIN 'Éxample' is not a full domain name (no dot): did you mean Éxample.com?"),
        ("https://intranet/x", "did you mean intranet.com?"),
    ],
)
def test_allow_says_what_is_wrong_with_a_name(tmp_path, name: str, said: str) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "c.yaml"
    conf.write_text("user_list: ./user.txt\n")
    r = invoke("--config", str(conf), "allow", name)
    assert r.exit_code == 2 and said in r.stderr, r.stderr
    assert "codec" not in r.stderr and ".com?" not in r.stderr.replace(said, "")
    assert "\x1b" not in r.stderr  # escaped, never sent to the terminal


def test_unallow_names_what_is_not_there(tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "c.yaml"
    conf.write_text("user_list: ./user.txt\n")
    assert (
        "example.org is not trusted"
        in invoke("--config", str(conf), "unallow", "--site", "example.org").output
    )
    assert "t.example is not allowed: " in invoke("--config", str(conf), "unallow", "t.example").output


def test_pause_without_a_running_proxy_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "c.yaml"
    conf.write_text("database: ./pg.db\n")
    r = invoke("--config", str(conf), "pause", "5m")
    assert r.exit_code == 0 and r.output.startswith("no proxy is running") and "everyone" not in r.output


@pytest.mark.parametrize(
    "args, name",
    [
        (("scan", ""), "'FILES...'"),
        (("scan", "README.md", ""), "'FILES...'"),
        (("mail", "clean", ""), "'[MESSAGE]'"),
        (("mail", "clean", "--maildir", ""), "'--maildir'"),
        (("mail", "clean", "--mbox", ""), "'--mbox'"),
        (("mail", "clean", "-o", "", "-"), "'-o' / '--output'"),
        (("system-proxy", "pac", "-o", ""), "'-o' / '--output'"),
    ],
)
def test_an_empty_path_is_refused_not_read_as_the_current_directory(args: tuple[str, ...], name: str) -> None:
    # `scan "$MAILDIR"` with the variable unset must not scan every file under the working directory
    r = invoke(*args)
    assert r.exit_code == 2
    assert f"Invalid value for {name}: an empty path" in r.stderr
    assert r.stdout == ""


def test_scan_refuses_files_that_are_not_mail(tmp_path) -> None:  # type: ignore[no-untyped-def]
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    yml = tmp_path / "config.yaml"
    yml.write_text("proxy: {port: 8080}\n")
    r = invoke("scan", str(png), str(yml))
    assert r.exit_code == 2
    assert "photo.png: not an email (.eml, .mbox) or HTML file" in r.stderr
    assert "config.yaml: not an email (.eml, .mbox) or HTML file" in r.stderr


@pytest.mark.parametrize("args", [[], ["run"]], ids=["pixelguard", "run"])
def test_a_busy_port_names_the_option_and_the_config_key_that_change_it(args: list[str]) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        where = ["--port", str(port)]
        result = invoke(*(where + args if not args else args + where))
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.count("\n") == 0 and f"cannot listen on 127.0.0.1:{port}" in line
    assert "--port" in line and "proxy.port" in line


def test_host_and_port_on_the_default_command() -> None:
    refused = invoke("--host", "0.0.0.0", "--port", "1")
    assert refused.exit_code == 2 and "not a loopback address" in refused.output
    misplaced = invoke("--port", "8099", "lists")
    assert misplaced.exit_code == 2 and "go with no command" in misplaced.output


def test_allow_and_unallow_without_a_domain_say_what_each_would_do() -> None:
    allow = invoke("allow")
    assert allow.exit_code == 2 and "--site SITE alone to trust everything on a site" in allow.output
    unallow = invoke("unallow")
    assert unallow.exit_code == 2 and "--site SITE alone to stop trusting a site" in unallow.output


def test_allow_takes_the_host_of_a_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 28: a URL copied from the address bar or the blocked page means its host."""
    user = tmp_path / "user.txt"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"user_list: {user}\ndatabase: {tmp_path}/pg.db\n")
    result = invoke("--config", str(cfg), "allow", "https://Tracker.Example:8443/p.gif?x=1")
    assert result.exit_code == 0, result.output
    assert "@@||tracker.example^" in user.read_text()
    bad = invoke("--config", str(cfg), "allow", "ftp://tracker.example/x")
    assert bad.exit_code == 2 and "host name only" in bad.output


@pytest.mark.parametrize(
    ("typed", "hint"),
    [("update", "lists update"), ("forget", "tls forget"), ("install", "ca install or service install")],
)
def test_a_subcommand_typed_alone_gets_a_hint(typed: str, hint: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pixelguard", typed], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and f"did you mean {hint}?" in done.stderr
    assert done.stderr.count("\n") == 1  # one line


def test_scan_reads_a_maildir_file_by_file(tmp_path: Path) -> None:
    from shared_data import shared_path

    message = next(iter(sorted(shared_path("emails", "unspy").glob("*.eml"))))
    maildir = tmp_path / "Mail"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1700000000.1.host").write_bytes(message.read_bytes())
    (maildir / "cur" / "1700000001.2.host:2,S").write_bytes(message.read_bytes())
    (maildir / ".dovecot-uidlist").write_text("not a message\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"user_list: {tmp_path}/user.txt\ndatabase: {tmp_path}/pg.db\ndefault_lists: false\nlists: []\n"
    )
    result = invoke("--config", str(cfg), "scan", "--json", str(maildir))
    assert result.exit_code == 0, result.output
    files = [json.loads(line)["file"] for line in result.output.splitlines()]
    assert files == [
        str(maildir / "cur" / "1700000001.2.host:2,S"),
        str(maildir / "new" / "1700000000.1.host"),
    ]


def test_run_refuses_an_unknown_set_option_before_starting(tmp_path: Path) -> None:
    """Issue 28: `run --set bogus=1` logged "protection on" and then failed."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {tmp_path}/pg.db\nuser_list: {tmp_path}/user.txt\ndefault_lists: false\nlists: []\n"
    )
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "d"),
        "XDG_CACHE_HOME": str(tmp_path / "c"),
        "PIXELGUARD_CONFDIR": str(tmp_path / "mitm"),
        "PIXELGUARD_NO_UPDATES": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pixelguard", "--config", str(cfg), "run", "--port", str(port), "--set", "bogus=1"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 2 and "no mitmproxy option named bogus" in said, said
    assert "protection on" not in said


def test_mail_clean_reads_standard_input_and_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    (tmp_path / "user.txt").write_text("||tracker.test^\n")
    cfg.write_text(
        f"user_list: {tmp_path}/user.txt\ndatabase: {tmp_path}/pg.db\ndefault_lists: false\nlists: []\n"
    )
    message = (b"From: a@shop.example\nSubject: hi\nContent-Type: text/html\n\n"
               b'<p>Hi</p><img src="https://tracker.test/o.gif">\n')  # fmt: skip
    r = CliRunner().invoke(cli, ["--config", str(cfg), "mail", "clean", "-"], input=message)
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == b"X-Pixelguard: 1 pixel removed\n" + message.replace(
        b'<img src="https://tracker.test/o.gif">', b""
    )
    out = tmp_path / "clean.eml"
    (tmp_path / "in.eml").write_bytes(message)
    r = invoke("--config", str(cfg), "mail", "clean", str(tmp_path / "in.eml"), "-o", str(out))
    assert r.exit_code == 0 and out.read_bytes().startswith(b"X-Pixelguard: 1 pixel removed\n")
    r = invoke("--config", str(cfg), "mail", "clean", "--maildir", str(tmp_path))
    assert r.exit_code == 2 and "not a Maildir (it needs new/, cur/ and tmp/)" in r.stderr
    r = invoke("--config", str(cfg), "mail", "clean", str(tmp_path / "in.eml"), "--maildir", str(tmp_path))
    assert r.exit_code == 2 and "--maildir cleans in place" in r.stderr
    r = invoke("--config", str(cfg), "mail", "clean", str(tmp_path / "missing.eml"))
    assert r.exit_code == 2 and "missing.eml" in r.stderr


def test_an_error_naming_what_the_user_typed_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    """A file name, an option: whatever an error repeats is shown with its control characters escaped."""
    bad = tmp_path / "inbox\x1b[31mred"
    for argv in (["mail", "clean", "--mbox", str(bad)], ["check", "--no-such-\x1b]0;title\x07"]):
        out = subprocess.run(
            [sys.executable, "-m", "pixelguard", *argv], capture_output=True, text=True, timeout=60
        )
        assert out.returncode != 0 and "\x1b" not in out.stderr and "\\x1b" in out.stderr, (argv, out.stderr)


def test_check_reads_a_big_body_as_the_proxy_does(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    from pixelguard import checking
    from pixelguard.display import size
    from pixelguard.limits import BODY_HOLD, BODY_TAIL

    conf = tmp_path / "c.yaml"
    conf.write_text("identity: {emails: [me@example.com]}\nlists: []\n")
    leak = b"&uid=" + hashlib.md5(b"me@example.com").hexdigest().encode() + b"&"
    bodies = {
        "head": (leak + b"x" * (2 * BODY_HOLD), 1),
        "middle": (b"x" * (BODY_HOLD + 4 * BODY_TAIL) + leak + b"y" * (2 * BODY_TAIL), 0),
        "tail": (b"x" * (2 * BODY_HOLD) + leak, 1),  # the proxy stops it before its end leaves
    }
    for name, (body, status) in bodies.items():
        f = tmp_path / f"{name}.bin"
        f.write_bytes(body)
        r = invoke("--config", str(conf), "check", "--method", "POST", "--source", "https://shop.example/",
                   "--body", f"@{f}", "https://collect.example/c")  # fmt: skip
        assert r.exit_code == status, (name, r.output)
        assert ("your email (md5)" in r.stdout) == bool(status), (name, r.stdout)
        # What passes says what of it went unread (a stopped one sent nothing more).
        unread = len(body) - BODY_HOLD - BODY_TAIL
        said = f"the proxy reads its first 256 KB and its last 64 KB, not the {size(unread)} between"
        assert (said in r.stderr) == (not status), (name, r.stderr)
    # An endless file is read up to a bound, not into memory: one line says so.
    monkeypatch.setattr(checking, "CHECK_BODY_MAX", 4 << 20)
    r = invoke("--config", str(conf), "check", "--body", "@/dev/zero", "https://collect.example/c")
    assert r.exit_code == 2 and "--body @/dev/zero: longer than" in r.stderr and "is it a file?" in r.stderr
