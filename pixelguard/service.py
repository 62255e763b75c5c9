"""``pixelguard service``: run the proxy in the background from login, restarted when it fails.

Linux: a systemd user unit (``~/.config/systemd/user/pixelguard.service``, enabled with ``systemctl --user enable
--now``). macOS: a launchd agent (``~/Library/LaunchAgents/org.pixelguard.proxy.plist``, loaded with ``launchctl
bootstrap``). Windows: a script in the user's Startup folder (``pixelguard.vbs``, run by Windows Script Host at
every login, no administrator rights needed) that starts the proxy without a console window and starts it again
when it fails, for as long as the script's file is there. All three run ``pixelguard run`` by the absolute path
of the command installed with this package, so the service keeps working from any directory and PATH; the
proxy's own log goes to ``proxy.log`` in the data dir (rotated, at most 4 x 1 MB). ``pixelguard ui`` attaches to
it as to any running proxy.

As in :mod:`pixelguard.trust`, planning (the file and the commands) is separate from doing, so ``--dry-run`` shows
exactly what ``install`` would write and run.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pixelguard import invocation
from pixelguard.fileio import atomic_write
from pixelguard.trust import CONFDIR_ENV

UNIT = "pixelguard.service"
LABEL = "org.pixelguard.proxy"


def command(config_path: str | None) -> list[str]:
    """The absolute command line the service runs: this installation's ``pixelguard run``."""
    argv = invocation.script()
    if config_path:
        argv += ["--config", str(Path(config_path).expanduser().absolute())]
    return [*argv, "run"]


def environment() -> dict[str, str]:
    """The settings of this shell the service must keep (a login session does not have them)."""
    return {k: os.environ[k] for k in (CONFDIR_ENV,) if os.environ.get(k)}


def systemd_unit(argv: list[str], env: dict[str, str]) -> str:
    lines = [
        "[Unit]",
        "Description=pixelguard: blocks tracking pixels and tracker requests (HTTP proxy)",
        "After=network.target",
        "",
        "[Service]",
        "Type=exec",
        f"ExecStart={shlex.join(argv)}",
        *(f"Environment={shlex.quote(f'{k}={v}')}" for k, v in sorted(env.items())),
        "Restart=on-failure",
        "RestartSec=5",
        # It prints where it listens and the CA to stdout; the log that matters is data_dir/proxy.log.
        "StandardOutput=null",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(argv: list[str], env: dict[str, str]) -> str:
    agent = {
        "Label": LABEL,
        "ProgramArguments": argv,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restarted when it fails, not after a clean stop
        "ThrottleInterval": 5,
        **({"EnvironmentVariables": env} if env else {}),
    }
    return plistlib.dumps(agent).decode()


def _vbs_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def startup_script(argv: list[str], env: dict[str, str]) -> str:
    """The Windows Startup entry: run ``argv`` hidden (window style 0), waiting for it; run it again 5 s after
    a failure (as systemd's Restart=on-failure), not after a clean stop, and not once the file is deleted
    (``service uninstall``), so that stopping the proxy then ends it for good."""
    lines = [
        "' pixelguard: starts the proxy at login (written by `pixelguard service install`; "
        "`pixelguard service uninstall` removes it)",
        'Set shell = CreateObject("WScript.Shell")',
        'Set files = CreateObject("Scripting.FileSystemObject")',
        *(
            f'shell.Environment("PROCESS")({_vbs_string(k)}) = {_vbs_string(v)}'
            for k, v in sorted(env.items())
        ),
        "Do",
        f"    status = shell.Run({_vbs_string(subprocess.list2cmdline(argv))}, 0, True)",
        "    If status = 0 Or Not files.FileExists(WScript.ScriptFullName) Then Exit Do",
        "    WScript.Sleep 5000",
        "Loop",
        "",
    ]
    return "\r\n".join(lines)


@dataclass
class Plan:
    path: Path
    text: str
    commands: list[list[str]] = field(default_factory=list)
    problem: str = ""  # why it cannot be done on this machine ("" when it can)
    stop_first: bool = True  # uninstall: run the first command before the file goes (else after it)


def service_file(platform: str = sys.platform) -> Path:
    """Where the service is written: the launchd agent on macOS, the Startup script on Windows, the systemd user
    unit elsewhere."""
    if platform == "darwin":
        return Path.home() / "Library/LaunchAgents" / f"{LABEL}.plist"
    if platform == "win32":
        appdata = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return appdata / "Microsoft/Windows/Start Menu/Programs/Startup/pixelguard.vbs"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd/user" / UNIT


def _gui_domain() -> str:
    """launchd's domain for the user's login session."""
    return f"gui/{os.getuid() if hasattr(os, 'getuid') else 0}"


def plan_install(config_path: str | None, platform: str = sys.platform) -> Plan:
    argv, env = command(config_path), environment()
    path = service_file(platform)
    if platform == "darwin":
        return Plan(path, launchd_plist(argv, env), [["launchctl", "bootstrap", _gui_domain(), str(path)]])
    if platform == "win32":  # started now too, detached ("start" returns at once; the script runs on)
        return Plan(path, startup_script(argv, env), [["cmd", "/c", "start", "", "wscript", str(path)]])
    plan = Plan(
        path,
        systemd_unit(argv, env),
        [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT]],
    )
    if not shutil.which("systemctl"):
        plan.problem = (
            "no systemd on this machine: start `"
            + shlex.join(argv)
            + "` from your session's autostart instead"
        )
    return plan


def plan_uninstall(platform: str = sys.platform, pid: int | None = None) -> Plan:
    """``pid``: the running proxy's (Windows stops it by that, once the Startup script is gone)."""
    path = service_file(platform)
    if platform == "win32":
        return Plan(path, "", [["taskkill", "/PID", str(pid), "/T", "/F"]] if pid else [], stop_first=False)
    if platform == "darwin":
        return Plan(path, "", [["launchctl", "bootout", f"{_gui_domain()}/{LABEL}"]])
    return Plan(
        path,
        "",
        [["systemctl", "--user", "disable", "--now", UNIT], ["systemctl", "--user", "daemon-reload"]],
    )


def explain(error: str) -> str:
    """A service manager's error, with what to do when it is the common one: systemd's per-user manager is not
    reachable from this shell (su, sudo, ssh without a login session, a container)."""
    if "Failed to connect to bus" in error or "DBUS_SESSION_BUS_ADDRESS" in error:
        return (
            f"{error} (your user's systemd is not reachable from this shell: run it in your desktop session, or "
            "`loginctl enable-linger $USER` once so that your services run without one)"
        )
    return error


def _run(argv: list[str]) -> str | None:
    """Run one command; its error (last line, explained) or None."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if r.returncode == 0:
        return None
    out = (r.stderr or r.stdout).strip().splitlines()
    return explain(out[-1]) if out else f"exit status {r.returncode}"


def install(plan: Plan) -> list[str]:
    """Write the unit (or agent) and enable it; the problems, one line each (none: it runs)."""
    atomic_write(plan.path, plan.text)
    for argv in plan.commands:
        err = _run(argv)
        if err:
            return [
                f"`{shlex.join(argv)}` failed: {err}",
                f"the service file stays at {plan.path}; run that command again once your session's service "
                "manager is up (`pixelguard service uninstall` removes it)",
            ]
    return []


def uninstall(plan: Plan) -> list[str]:
    problems = []
    if not plan.path.exists():
        return [f"not installed: no {plan.path}"]
    first = plan.commands[:1] if plan.stop_first else []
    for argv in first:  # stop and disable first: the file is what the manager reads
        err = _run(argv)
        if err:
            problems.append(f"`{shlex.join(argv)}` failed: {err}")
    plan.path.unlink(missing_ok=True)
    for argv in plan.commands[len(first) :]:
        err = _run(argv)
        if err:
            problems.append(f"`{shlex.join(argv)}` failed: {err}")
    return problems


def state(platform: str = sys.platform) -> dict[str, str]:
    """Is the service installed, and what its manager says of it (for ``service status`` and ``doctor``)."""
    path = service_file(platform)
    out = {"file": str(path), "installed": "yes" if path.exists() else "no", "manager": ""}
    if platform == "win32":
        out["manager"] = "Windows starts it at login (Startup folder)"
        return out
    if platform == "darwin":
        argv = ["launchctl", "print", f"{_gui_domain()}/{LABEL}"]
    elif shutil.which("systemctl"):
        argv = ["systemctl", "--user", "show", UNIT, "-p", "ActiveState,SubState,ActiveEnterTimestamp"]
    else:
        out["manager"] = "no systemd on this machine"
        return out
    try:
        r = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
        ok, text = r.returncode == 0, (r.stdout if r.returncode == 0 else r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        ok, text = False, str(e)
    if ok and platform != "darwin":
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        since = fields.get("ActiveEnterTimestamp", "")
        active = f"{fields.get('ActiveState', '?')} ({fields.get('SubState', '?')})"
        text = active + (f" since {since}" if since else "")
    last = text.splitlines()[-1] if text else ""
    out["manager"] = last if ok else explain(last)
    return out
