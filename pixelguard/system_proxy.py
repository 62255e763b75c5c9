"""``pixelguard system-proxy on|off|status``: point the desktop's proxy setting at pixelguard, and put it back.

Where each desktop keeps it:

- GNOME (and what reads ``org.gnome.system.proxy``: Chromium, Firefox's "use system proxy", most GTK apps):
  ``gsettings``; carried out here.
- KDE Plasma: ``kioslaverc`` through ``kwriteconfig5``/``kwriteconfig6``;
- macOS: ``networksetup``, for every network service;
- Windows: the per-user Internet Settings registry values (``reg``); programs read them when told that they
  changed, which a new login or toggling the proxy switch in Settings does.

The last three are printed (``--dry-run``, and on those systems until they are tested there): the commands, to be
run by hand. ``on`` saves what was set before in the data dir (``system-proxy.json``) and ``off`` puts exactly
that back; the user's own bypass list is kept, and loopback and private networks are added to it so that local
services keep loading directly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pixelguard.display import host_port
from pixelguard.errors import PixelguardError
from pixelguard.fileio import atomic_write

RECORD = "system-proxy.json"
# Hosts that never go through the proxy: loopback and private networks, and mDNS names.
BYPASS = ("localhost", "127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "*.local")
WINDOWS_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings"

GNOME = "org.gnome.system.proxy"
# Every gsettings key `on` changes, as (schema, key): `off` restores each to what it was.
GNOME_KEYS = (
    (GNOME, "mode"),
    (GNOME, "ignore-hosts"),
    (f"{GNOME}.http", "host"),
    (f"{GNOME}.http", "port"),
    (f"{GNOME}.https", "host"),
    (f"{GNOME}.https", "port"),
)


@dataclass
class Plan:
    desktop: str
    steps: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runnable: bool = False  # carried out here (GNOME); otherwise printed to run by hand


Runner = Callable[[list[str]], str]


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise PixelguardError(
            f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip() or done.returncode}"
        )
    return done.stdout.strip()


def desktop(platform: str = sys.platform) -> str:
    """gnome, kde, macos, windows, or none (no proxy setting pixelguard knows)."""
    if platform == "darwin":
        return "macos"
    if platform == "win32":
        return "windows"
    if shutil.which("gsettings"):
        return "gnome"
    if shutil.which("kwriteconfig6") or shutil.which("kwriteconfig5"):
        return "kde"
    return "none"


def gnome_read(run: Runner = _run) -> dict[str, str]:
    """The GNOME proxy keys as gsettings prints them (GVariant text, e.g. ``'manual'``, ``['localhost']``)."""
    return {f"{schema} {key}": run(["gsettings", "get", schema, key]) for schema, key in GNOME_KEYS}


def previous_proxy(before: dict[str, str], own: tuple[str, int]) -> str | None:
    """The HTTP proxy GNOME pointed at before ``on`` (``http://host:port``), unless none or pixelguard's own.

    On a network that allows no other way out (at work, at school), that proxy is where pixelguard must forward
    to (proxy.upstream): once the desktop points at pixelguard, pixelguard alone would connect directly."""
    if before.get(f"{GNOME} mode", "").strip("'") != "manual":
        return None
    for scheme in ("https", "http"):
        host = before.get(f"{GNOME}.{scheme} host", "").strip("'")
        port = before.get(f"{GNOME}.{scheme} port", "").strip("'")
        if host and port.isdigit() and int(port) > 0 and (host, int(port)) != own:
            return f"http://{host_port(host, int(port))}"
    return None


def _gvariant_list(text: str) -> list[str]:
    """``['a', 'b']`` or ``@as []`` as gsettings prints a string list → the strings."""
    body = text.removeprefix("@as").strip()
    if not (body.startswith("[") and body.endswith("]")):
        return []
    inner = body[1:-1].strip()
    if not inner:
        return []
    return [item.strip().strip("'\"") for item in inner.split(",") if item.strip()]


def _kde(key: str, value: str) -> list[str]:
    """The kwriteconfig step that sets one key of KDE's proxy settings."""
    tool = "kwriteconfig6" if shutil.which("kwriteconfig6") else "kwriteconfig5"
    return [tool, "--file", "kioslaverc", "--group", "Proxy Settings", "--key", key, value]


def _reg(name: str, kind: str, value: str) -> list[str]:
    """The reg step that sets one value of the user's Internet Settings."""
    return ["reg", "add", WINDOWS_KEY, "/v", name, "/t", kind, "/d", value, "/f"]


def _gvariant_strings(items: list[str]) -> str:
    return "[" + ", ".join("'" + i.replace("\\", "\\\\").replace("'", "\\'") + "'" for i in items) + "]"


def plan_on(host: str, port: int, kind: str, before: dict[str, str] | None = None) -> Plan:
    """The steps that point kind's proxy setting at host:port (HTTP and HTTPS), keeping the user's bypass list."""
    plan = Plan(kind)
    bypass = list(BYPASS)
    if kind == "gnome":
        before = before or {}
        kept = _gvariant_list(before.get(f"{GNOME} ignore-hosts", ""))
        hosts = kept + [b for b in bypass if b not in kept]
        plan.runnable = True
        plan.steps = [
            ["gsettings", "set", f"{GNOME}.http", "host", host],
            ["gsettings", "set", f"{GNOME}.http", "port", str(port)],
            ["gsettings", "set", f"{GNOME}.https", "host", host],
            ["gsettings", "set", f"{GNOME}.https", "port", str(port)],
            ["gsettings", "set", GNOME, "ignore-hosts", _gvariant_strings(hosts)],
            ["gsettings", "set", GNOME, "mode", "manual"],
        ]
    elif kind == "kde":
        plan.steps = [
            _kde("httpProxy", f"http://{host} {port}"),
            _kde("httpsProxy", f"http://{host} {port}"),
            _kde("NoProxyFor", ",".join(bypass)),
            _kde("ProxyType", "1"),
        ]
        plan.notes.append("KDE applications read the change at their next start")
    elif kind == "macos":
        for service in _mac_services():
            plan.steps += [
                ["networksetup", "-setwebproxy", service, host, str(port)],
                ["networksetup", "-setsecurewebproxy", service, host, str(port)],
                ["networksetup", "-setproxybypassdomains", service, *bypass],
            ]
        plan.notes.append(
            "networksetup -getwebproxy SERVICE shows what was set before; note it to restore it"
        )
    elif kind == "windows":
        plan.steps = [
            _reg("ProxyServer", "REG_SZ", f"{host}:{port}"),
            _reg("ProxyOverride", "REG_SZ", "<local>;" + ";".join(bypass)),
            _reg("ProxyEnable", "REG_DWORD", "1"),
        ]
        plan.notes.append(
            "programs see the change at the next login, or after Settings → Network → Proxy is opened"
        )
    else:
        plan.notes.append(
            "no desktop proxy setting found (gsettings, kwriteconfig, networksetup): point each program at "
            f"{host}:{port} by hand, or set http_proxy/https_proxy"
        )
    return plan


def _mac_services() -> list[str]:
    if sys.platform != "darwin":
        return ["<each network service>"]  # shown in --dry-run elsewhere
    out = _run(["networksetup", "-listallnetworkservices"])
    return [line for line in out.splitlines()[1:] if line and not line.startswith("*")]


def plan_off(kind: str, saved: dict[str, str]) -> Plan:
    """The steps that put back what ``on`` saved (GNOME); elsewhere, the steps that switch the proxy off."""
    plan = Plan(kind)
    if kind == "gnome":
        plan.runnable = True
        if not saved:
            plan.notes.append("nothing saved by `system-proxy on`: the setting is left as it is")
            return plan
        # mode first: nothing uses the proxy while the other keys are put back.
        order = sorted(saved, key=lambda k: k != f"{GNOME} mode")
        plan.steps = [["gsettings", "set", *k.split(" ", 1), saved[k]] for k in order]
    elif kind == "kde":
        plan.steps = [_kde("ProxyType", "0")]
    elif kind == "macos":
        for service in _mac_services():
            plan.steps += [
                ["networksetup", "-setwebproxystate", service, "off"],
                ["networksetup", "-setsecurewebproxystate", service, "off"],
            ]
    elif kind == "windows":
        plan.steps = [_reg("ProxyEnable", "REG_DWORD", "0")]
    return plan


def read_saved(data_dir: Path) -> dict[str, str]:
    try:
        value = json.loads((data_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def turn_on(data_dir: Path, host: str, port: int, run: Runner = _run) -> Plan:
    """GNOME: save the current keys (unless a previous `on` already did: those are the user's), then set them."""
    saved = read_saved(data_dir)
    current = gnome_read(run)
    if not saved:
        saved = current
        atomic_write(data_dir / RECORD, json.dumps(saved, indent=1) + "\n")
    plan = plan_on(host, port, "gnome", saved)
    for step in plan.steps:
        run(step)
    return plan


def turn_off(data_dir: Path, run: Runner = _run) -> Plan:
    saved = read_saved(data_dir)
    plan = plan_off("gnome", saved)
    for step in plan.steps:
        run(step)
    if saved:
        (data_dir / RECORD).unlink(missing_ok=True)
    return plan


def pac(host: str, port: int) -> str:
    """A proxy auto-config file for programs configured by PAC URL: local and intranet names go direct (plain
    names, .local, loopback and private addresses), everything else through pixelguard. No fallback to DIRECT:
    when pixelguard is not running, pages fail to load instead of loading untracked-looking but unprotected
    (protection never turns off without a word); doctor says when it is not running."""
    nets = [
        ("127.0.0.0", "255.0.0.0"),
        ("10.0.0.0", "255.0.0.0"),
        ("172.16.0.0", "255.240.0.0"),
        ("192.168.0.0", "255.255.0.0"),
        ("169.254.0.0", "255.255.0.0"),
    ]
    checks = " ||\n        ".join(f'isInNet(ip, "{n}", "{m}")' for n, m in nets)
    return (
        "// pixelguard: local and intranet hosts direct, everything else through the proxy\n"
        "function FindProxyForURL(url, host) {\n"
        '    if (isPlainHostName(host) || dnsDomainIs(host, ".local") || host == "localhost")\n'
        '        return "DIRECT";\n'
        "    var ip = /^[0-9.]+$/.test(host) ? host : null;\n"
        f"    if (ip && (\n        {checks}))\n"
        '        return "DIRECT";\n'
        f'    return "PROXY {host}:{port}";\n'
        "}\n"
    )


def gnome_points_at(run: Runner = _run) -> str | None:
    """``host:port`` when GNOME's proxy mode is manual (its HTTPS proxy), else None."""
    try:
        mode = run(["gsettings", "get", GNOME, "mode"]).strip("'")
        if mode != "manual":
            return None
        host = run(["gsettings", "get", f"{GNOME}.https", "host"]).strip("'")
        port = run(["gsettings", "get", f"{GNOME}.https", "port"])
    except (PixelguardError, OSError, subprocess.SubprocessError):
        return None
    return f"{host}:{port}"
