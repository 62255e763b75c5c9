"""``pixelguard service``: the unit `install --dry-run` prints is one systemd accepts, and the command it runs
starts a real proxy that blocks; the launchd agent says the same for macOS."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import REPO, Certs, fetch, free_port, pixelguard_env, wait_for, write_config

from pixelguard import service


def dry_run(config: Path, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "pixelguard", "--config", str(config), "service", "install", "--dry-run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out


def unit_of(output: str) -> str:
    """The unit file in the dry run's output: the lines between the `# would write` and `# would run` lines."""
    return "".join(line + "\n" for line in output.splitlines() if not line.startswith("# "))


def env_for(home: Path, confdir: Path) -> dict[str, str]:
    return {**pixelguard_env(home, confdir), "HOME": str(home)}


def test_the_unit_runs_this_installation_by_absolute_path_and_restarts_on_failure(tmp_path: Path) -> None:
    config = write_config(tmp_path / "home", {})
    out = dry_run(config, env_for(tmp_path / "home", tmp_path / "conf"))
    assert out.startswith(
        f"# would write {tmp_path / 'home' / 'config' / 'systemd/user/pixelguard.service'}:"
    )
    assert "# would run: systemctl --user enable --now pixelguard.service" in out
    unit = unit_of(out)
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert Path(argv[0]).is_absolute() and argv[-1] == "run"
    assert argv[argv.index("--config") + 1] == str(config)
    assert f"Environment=PIXELGUARD_CONFDIR={tmp_path / 'conf'}" in unit
    assert "Restart=on-failure" in unit and "WantedBy=default.target" in unit
    assert not (tmp_path / "home" / "config" / "systemd").exists()  # a dry run writes nothing


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    config = write_config(tmp_path / "home", {})
    unit = tmp_path / "pixelguard.service"
    unit.write_text(unit_of(dry_run(config, env_for(tmp_path / "home", tmp_path / "conf"))))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    # --user needs a runtime dir; without a running user manager, verify still loads and checks the unit.
    r = subprocess.run(
        ["systemd-analyze", "verify", "--user", str(unit)],
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text().replace("ExecStart=", "ExecStart=relative/"))
    r = subprocess.run(
        ["systemd-analyze", "verify", "--user", str(broken)],
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode != 0  # the check can fail


def test_the_units_command_starts_a_proxy_that_blocks_and_logs_to_a_private_rotated_file(
    tmp_path: Path, certs: Certs
) -> None:
    home = tmp_path / "home"
    port = free_port()
    config = write_config(home, {"t": "||tracker.test^\n"})
    config.write_text(
        config.read_text().replace("proxy: {mode: full}", f"proxy: {{mode: full, port: {port}}}")
    )
    env = env_for(home, tmp_path / "conf")
    unit = unit_of(dry_run(config, env))
    argv = shlex.split(
        next(x for x in unit.splitlines() if x.startswith("ExecStart=")).removeprefix("ExecStart=")
    )
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        data = home / "data" / "pixelguard"
        wait_for(
            lambda: (data / "proxy.json").exists() or proc.poll() is not None, what="the proxy to listen"
        )
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        r = fetch("http://tracker.test/p.gif", port, {"Accept": "image/*"})
        assert r.status == 200 and r.headers["Content-Type"] == "image/gif"
        status = subprocess.run(
            [sys.executable, "-m", "pixelguard", "--config", str(config), "service", "status"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"proxy: running, pid {proc.pid}, listening on 127.0.0.1:{port} since " in status.stdout
        log = data / "proxy.log"
        assert log.stat().st_mode & 0o077 == 0
        assert f"listening at 127.0.0.1:{port}" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_the_launchd_agent_keeps_the_proxy_alive_on_macos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PIXELGUARD_CONFDIR", str(tmp_path / "conf"))
    plan = service.plan_install(str(tmp_path / "config.yaml"), platform="darwin")
    assert plan.path == tmp_path / "Library/LaunchAgents/org.pixelguard.proxy.plist"
    agent = plistlib.loads(plan.text.encode())
    assert agent["ProgramArguments"] == service.command(str(tmp_path / "config.yaml"))
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["EnvironmentVariables"] == {"PIXELGUARD_CONFDIR": str(tmp_path / "conf")}
    assert plan.commands[0][:2] == ["launchctl", "bootstrap"]


def test_a_service_manager_out_of_reach_is_explained_with_the_fix() -> None:
    """Issue 28: `service status` showed a raw "Failed to connect to bus"."""
    from pixelguard import service

    said = service.explain("Failed to connect to bus: No medium found")
    assert said.startswith("Failed to connect to bus: No medium found") and "loginctl enable-linger" in said
    assert service.explain("Unit pixelguard.service not found.") == "Unit pixelguard.service not found."
    if shutil.which("systemctl"):  # this machine's own answer, whatever it is, reads as one line with the fix
        st = service.state("linux")
        assert "Failed to connect to bus" not in st["manager"] or "enable-linger" in st["manager"]


def _vbs_command(script: str) -> str:
    """The command line the Startup script runs: its shell.Run string literal, VBScript's "" undone."""
    line = next(ln for ln in script.split("\r\n") if "shell.Run(" in ln)
    literal = line.split("shell.Run(", 1)[1].rsplit(", 0, True)", 1)[0]
    assert literal.startswith('"') and literal.endswith('"')
    return literal[1:-1].replace('""', '"')


def test_windows_starts_it_at_login_from_the_startup_folder_and_restarts_it_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28: Windows autostart. No Windows here: the plan is checked as `--dry-run` would print it."""
    import subprocess

    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    monkeypatch.setenv("PIXELGUARD_CONFDIR", str(tmp_path / 'conf "quoted" dir'))
    config = tmp_path / "My Documents" / "config.yaml"
    plan = service.plan_install(str(config), platform="win32")
    assert plan.path == tmp_path / "Roaming/Microsoft/Windows/Start Menu/Programs/Startup/pixelguard.vbs"
    assert not plan.problem  # no administrator rights, no service manager needed
    assert plan.text.endswith("\r\n") and "\n" not in plan.text.replace("\r\n", "")
    # the command, spaces and quotes in its paths kept, as Windows' own argument rules read it back
    assert _vbs_command(plan.text) == subprocess.list2cmdline(service.command(str(config)))
    assert (
        f'shell.Environment("PROCESS")("PIXELGUARD_CONFDIR") = "{tmp_path}/conf ""quoted"" dir"' in plan.text
    )
    # hidden (window style 0), waited for, again after a failure, not after a clean exit or once uninstalled
    loop = plan.text.split("\r\nDo\r\n", 1)[1]
    assert "If status = 0 Or Not files.FileExists(WScript.ScriptFullName) Then Exit Do" in loop
    assert loop.index("WScript.Sleep 5000") < loop.index("Loop")
    assert plan.commands == [["cmd", "/c", "start", "", "wscript", str(plan.path)]]  # started now, detached
    assert service.state("win32")["manager"].startswith("Windows starts it at login")


def test_windows_uninstall_removes_the_script_before_it_stops_the_proxy(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Stopped first, the proxy would be started again by the script's loop: the file goes first."""
    monkeypatch.setenv("APPDATA", str(tmp_path))
    plan = service.plan_uninstall("win32", pid=4242)
    assert plan.commands == [["taskkill", "/PID", "4242", "/T", "/F"]] and not plan.stop_first
    plan.path.parent.mkdir(parents=True)
    plan.path.write_text("script")
    # the stop, as this machine can run it: it fails unless the script is gone by then
    plan.commands = [
        [sys.executable, "-c", "import os, sys; sys.exit(os.path.exists(sys.argv[1]))", str(plan.path)]
    ]
    assert service.uninstall(plan) == [] and not plan.path.exists()
    assert service.plan_uninstall("win32", pid=None).commands == []  # no proxy running: nothing to stop
