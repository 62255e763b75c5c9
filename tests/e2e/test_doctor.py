"""``pixelguard doctor`` against a fresh machine and against a real running proxy: each problem is named with the
command that fixes it, and fixing them turns it green."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import REPO, Proxy, pixelguard_env, write_config

from pixelguard.invocation import cmd


def doctor(config: Path, home: Path, confdir: Path) -> tuple[int, list[dict[str, object]], str]:
    env = {**pixelguard_env(home, confdir), "HOME": str(home)}
    run = [sys.executable, "-m", "pixelguard", "--config", str(config), "doctor"]
    as_json = subprocess.run([*run, "--json"], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    text = subprocess.run(run, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert as_json.returncode == text.returncode
    return as_json.returncode, [json.loads(line) for line in as_json.stdout.splitlines()], text.stdout


def fixes(findings: list[dict[str, object]]) -> dict[str, set[object]]:
    out: dict[str, set[object]] = {}
    for f in findings:
        if not f["ok"]:
            out.setdefault(str(f["part"]), set()).add(f["fix"])
    return out


def test_a_fresh_machine_gets_every_step_it_lacks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = write_config(home, {"t": "||tracker.test^\n"})
    config.write_text(config.read_text() + "  - {name: sub, url: 'https://lists.example/sub.txt'}\n")
    code, findings, text = doctor(config, home, tmp_path / "conf")
    assert code == 1
    assert fixes(findings) == {
        "CA": {cmd("ca install")},
        "lists": {cmd("lists update sub")},
        "service": {cmd("service install")},
        "proxy": {f"{cmd('service install')}  (or: {cmd('run')})"},
    }
    assert f"→ {cmd('ca install')}" in text and text.rstrip().endswith("4 things to fix")
    assert any(f["part"] == "lists" and f["ok"] and "t: 1 rules" in str(f["detail"]) for f in findings)


def test_every_fix_doctor_suggests_runs_as_printed_without_the_venv_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28: copied into a shell whose PATH does not hold the venv (as after `./scripts/run`), each command
    doctor suggests must start this installation's pixelguard. Each is run with `--help` appended: the command and
    its subcommand exist and start, and nothing is changed."""
    import shlex

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # doctor runs as from such a shell, by the venv's python
    home = tmp_path / "home"
    config = write_config(home, {"t": "||tracker.test^\n"})
    config.write_text(config.read_text() + "  - {name: sub, url: 'https://lists.example/sub.txt'}\n")
    _, findings, _ = doctor(config, home, tmp_path / "conf")
    suggested = {str(f["fix"]) for f in findings if f["fix"]}
    commands = {part.strip() for fix in suggested for part in fix.replace("(or:", "\0").split("\0")}
    commands = {c.rstrip(")").split("  (")[0].strip() for c in commands}
    assert len(commands) >= 4, commands
    bare = {**os.environ, "HOME": str(home)}
    for command in sorted(commands):
        argv = [a for a in shlex.split(command) if a]
        done = subprocess.run([*argv, "--help"], env=bare, capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "Usage:" in done.stdout, (command, done.stderr)


def test_with_a_running_proxy_and_a_trusted_ca_all_is_green(
    make_proxy: Callable[..., Proxy], tmp_path: Path
) -> None:
    if shutil.which("certutil") is None:
        pytest.skip("certutil (Debian: libnss3-tools) is needed to trust the CA in a browser database")
    proxy = make_proxy({"t": "||tracker.test^\n"})
    home = proxy.home
    nssdb = home / ".pki/nssdb"  # a browser's certificate database, before and after `ca install`
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "--empty-password", "-d", f"sql:{nssdb}"], check=True)
    _, findings, _ = doctor(proxy.config, home, proxy.confdir)
    assert fixes(findings)["CA"] == {cmd("ca install")}  # not trusted there yet
    env = {
        **os.environ,
        "HOME": str(home),
        "PIXELGUARD_CONFDIR": str(proxy.confdir),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    install = [
        sys.executable,
        "-m",
        "pixelguard",
        "--config",
        str(proxy.config),
        "ca",
        "install",
        "--store",
        "nss",
    ]
    subprocess.run(install, cwd=REPO, env=env, check=True, capture_output=True)
    code, findings, text = doctor(proxy.config, home, proxy.confdir)
    assert fixes(findings) == {}, text
    assert code == 0 and text.rstrip().endswith("all good: protection is on")
    assert any(f["part"] == "proxy" and f"127.0.0.1:{proxy.port}" in str(f["detail"]) for f in findings)

    proxy.stop()
    code, findings, _ = doctor(proxy.config, home, proxy.confdir)
    assert code == 1 and fixes(findings)["proxy"] == {f"{cmd('service install')}  (or: {cmd('run')})"}


def test_a_damaged_database_is_named_with_its_fix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = write_config(home, {"t": "||tracker.test^\n"})
    db = home / "pixelguard.db"
    db.write_bytes(b"this is not a database" * 100)
    _, findings, _ = doctor(config, home, tmp_path / "conf")
    (found,) = [f for f in findings if f["part"] == "database"]
    assert not found["ok"] and "not a database" in str(found["detail"])
    assert found["fix"] == f"mv {db} {db}.broken  (the proxy starts a new one)"
