"""`pixelguard system-proxy` (issue 28) with GNOME's real settings tool in a throwaway HOME (gsettings' keyfile
backend writes under it, nothing of this machine's desktop is touched): `on` points HTTP and HTTPS at pixelguard
and keeps the user's bypass list, `off` puts back exactly what was there, doctor says where the setting points;
KDE, macOS and Windows as the steps `--dry-run` prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pixelguard import config as configmod
from pixelguard import doctor, system_proxy

pytestmark = pytest.mark.skipif(
    shutil.which("gsettings") is None,
    reason="gsettings (Debian: libglib2.0-bin) is needed for GNOME's settings",
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    home = tmp_path / "home"
    (home / "config" / "pixelguard").mkdir(parents=True)
    (home / "config" / "pixelguard" / "config.yaml").write_text("proxy: {host: 127.0.0.1, port: 8123}\n")
    values = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "GSETTINGS_BACKEND": "keyfile",
        "PIXELGUARD_CONFIG": str(home / "config" / "pixelguard" / "config.yaml"),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return dict(os.environ)


def gs(*args: str) -> str:
    return subprocess.run(["gsettings", *args], capture_output=True, text=True, check=True).stdout.strip()


def pg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixelguard", *args], env=env, capture_output=True, text=True, check=False
    )


def test_on_points_gnome_at_pixelguard_and_off_puts_back_exactly_what_was_there(env: dict[str, str]) -> None:
    gs("set", "org.gnome.system.proxy", "mode", "auto")
    gs("set", "org.gnome.system.proxy", "ignore-hosts", "['corp.example', 'printer.lan']")
    gs("set", "org.gnome.system.proxy.http", "host", "old-proxy.example")
    gs("set", "org.gnome.system.proxy.http", "port", "3128")
    before = system_proxy.gnome_read()

    on = pg(env, "system-proxy", "on")
    assert on.returncode == 0, on.stderr
    assert gs("get", "org.gnome.system.proxy", "mode") == "'manual'"
    for scheme in ("http", "https"):
        assert gs("get", f"org.gnome.system.proxy.{scheme}", "host") == "'127.0.0.1'"
        assert gs("get", f"org.gnome.system.proxy.{scheme}", "port") == "8123"
    ignored = system_proxy._gvariant_list(gs("get", "org.gnome.system.proxy", "ignore-hosts"))
    assert ignored[:2] == ["corp.example", "printer.lan"]  # the user's own, first and kept
    assert {"localhost", "127.0.0.0/8", "::1", "192.168.0.0/16"} <= set(ignored)

    # A second `on` does not save pixelguard's own setting as "what was there".
    assert pg(env, "system-proxy", "on").returncode == 0
    off = pg(env, "system-proxy", "off")
    assert off.returncode == 0, off.stderr
    assert system_proxy.gnome_read() == before
    assert "nothing saved" in pg(env, "system-proxy", "off").stdout


def test_doctor_says_when_the_setting_points_at_a_pixelguard_that_is_not_running(env: dict[str, str]) -> None:
    cfg = configmod.load(None)
    assert [f.ok for f in doctor.check_system_proxy(cfg, proxy_up=False)] == [True]  # not set: nothing to fix
    assert pg(env, "system-proxy", "on").returncode == 0
    (down,) = doctor.check_system_proxy(cfg, proxy_up=False)
    assert not down.ok and "not running" in down.detail and "system-proxy off" in down.fix
    (up,) = doctor.check_system_proxy(cfg, proxy_up=True)
    assert up.ok and "points at pixelguard (127.0.0.1:8123)" in up.detail
    status = pg(env, "system-proxy", "status")  # no proxy runs here
    assert status.returncode == 1 and "not running" in status.stdout
    gs("set", "org.gnome.system.proxy.https", "host", "elsewhere.example")
    (other,) = doctor.check_system_proxy(cfg, proxy_up=False)
    assert other.ok and "elsewhere.example:8123" in other.detail


def test_on_says_how_to_keep_forwarding_to_the_proxy_the_desktop_used_before(env: dict[str, str]) -> None:
    """At work the desktop's proxy is often the only way out: once it points at pixelguard, pixelguard must forward
    there (proxy.upstream), so `on` says how, naming the config file; once it is set, nothing is said."""
    gs("set", "org.gnome.system.proxy", "mode", "manual")
    gs("set", "org.gnome.system.proxy.https", "host", "proxy.corp.example")
    gs("set", "org.gnome.system.proxy.https", "port", "3128")
    on = pg(env, "system-proxy", "on")
    assert on.returncode == 0, on.stderr
    said = " ".join(on.stdout.split())
    assert "the desktop's proxy was http://proxy.corp.example:3128 before" in said
    assert f"`upstream: http://proxy.corp.example:3128` under proxy: in {env['PIXELGUARD_CONFIG']}" in said
    again = pg(env, "system-proxy", "on")  # the setting now points at pixelguard; the saved one still says it
    assert "proxy.corp.example:3128" in again.stdout
    Path(env["PIXELGUARD_CONFIG"]).write_text(
        "proxy: {host: 127.0.0.1, port: 8123, upstream: 'http://proxy.corp.example:3128'}\n"
    )
    assert "upstream" not in pg(env, "system-proxy", "on").stdout
    assert pg(env, "system-proxy", "off").returncode == 0


def test_no_previous_proxy_or_pixelguards_own_is_nothing_to_forward_to() -> None:
    own = ("127.0.0.1", 8123)
    manual = {"org.gnome.system.proxy mode": "'manual'"}
    http_only = manual | {
        "org.gnome.system.proxy.http host": "'10.0.0.8'",
        "org.gnome.system.proxy.http port": "8080",
    }
    assert system_proxy.previous_proxy(http_only, own) == "http://10.0.0.8:8080"
    ipv6 = manual | {
        "org.gnome.system.proxy.https host": "'2001:db8::8'",
        "org.gnome.system.proxy.https port": "3128",
    }
    assert system_proxy.previous_proxy(ipv6, own) == "http://[2001:db8::8]:3128"
    ours = manual | {
        "org.gnome.system.proxy.https host": "'127.0.0.1'",
        "org.gnome.system.proxy.https port": "8123",
    }
    assert system_proxy.previous_proxy(ours, own) is None
    assert system_proxy.previous_proxy({**http_only, "org.gnome.system.proxy mode": "'none'"}, own) is None
    assert system_proxy.previous_proxy(manual | {"org.gnome.system.proxy.http port": "0"}, own) is None
    assert system_proxy.previous_proxy({}, own) is None


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("macos", ["networksetup -setwebproxy", "networksetup -setsecurewebproxy", "-setproxybypassdomains"]),
        ("windows", ["ProxyServer", "127.0.0.1:8123", "ProxyEnable", "REG_DWORD", "<local>"]),
        ("kde", ["kioslaverc", "httpsProxy", "http://127.0.0.1 8123", "ProxyType 1"]),
    ],
)
def test_other_desktops_get_the_steps_to_run(kind: str, expected: list[str]) -> None:
    plan = system_proxy.plan_on("127.0.0.1", 8123, kind)
    text = "\n".join(" ".join(step) for step in plan.steps)
    assert not plan.runnable and all(e in text for e in expected), text
    off = "\n".join(" ".join(step) for step in system_proxy.plan_off(kind, {}).steps)
    assert ("off" in off) or ("ProxyEnable" in off and "/d 0" in off) or ("ProxyType 0" in off)


def test_dry_run_changes_nothing(env: dict[str, str]) -> None:
    before = system_proxy.gnome_read()
    done = pg(env, "system-proxy", "on", "--dry-run")
    assert done.returncode == 0 and "would run" in done.stdout and "gsettings set" in done.stdout
    assert system_proxy.gnome_read() == before


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the PAC file as a browser would")
def test_the_pac_file_sends_local_hosts_direct_and_the_rest_through_pixelguard(tmp_path: Path) -> None:
    """The PAC file run by a JavaScript engine with the PAC helpers a browser gives it (as Mozilla's pac_utils
    define them), for a table of hosts."""
    pac = system_proxy.pac("127.0.0.1", 8123)
    helpers = """
function isPlainHostName(h) { return h.indexOf(".") < 0; }
function dnsDomainIs(h, d) { return h.length >= d.length && h.substring(h.length - d.length) == d; }
function ip2n(a) { return a.split(".").reduce(function (n, o) { return n * 256 + Number(o); }, 0); }
function isInNet(ip, net, mask) { return (ip2n(ip) & ip2n(mask)) >>> 0 === (ip2n(net) & ip2n(mask)) >>> 0; }
"""
    hosts = {
        "intranet": "DIRECT", "printer.local": "DIRECT", "localhost": "DIRECT", "127.0.0.1": "DIRECT",
        "10.1.2.3": "DIRECT", "172.20.0.1": "DIRECT", "192.168.1.5": "DIRECT", "169.254.9.9": "DIRECT",
        "172.32.0.1": "PROXY 127.0.0.1:8123", "8.8.8.8": "PROXY 127.0.0.1:8123",
        "www.example.com": "PROXY 127.0.0.1:8123", "tracker.local.example": "PROXY 127.0.0.1:8123",
    }  # fmt: skip
    calls = "".join(
        f"console.log({h!r} + '=' + FindProxyForURL('https://' + {h!r} + '/', {h!r}));\n" for h in hosts
    )
    script = tmp_path / "pac.js"
    script.write_text(helpers + pac + calls)
    out = subprocess.run(["node", str(script)], capture_output=True, text=True, check=True).stdout
    assert dict(line.split("=", 1) for line in out.splitlines()) == hosts


def test_pac_writes_a_file(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "proxy.pac"
    done = pg(env, "system-proxy", "pac", "-o", str(out))
    assert done.returncode == 0 and f"file://{out}" in done.stdout
    assert 'return "PROXY 127.0.0.1:8123";' in out.read_text()


def test_service_uninstall_puts_the_desktop_setting_back_too(env: dict[str, str]) -> None:
    gs("set", "org.gnome.system.proxy", "mode", "auto")
    assert pg(env, "system-proxy", "on").returncode == 0
    done = pg(env, "service", "uninstall", "--dry-run")
    assert done.returncode == 0, done.stderr
    restore = [
        line for line in done.stdout.splitlines() if "gsettings set org.gnome.system.proxy mode" in line
    ]
    assert len(restore) == 1 and "auto" in restore[0]
    assert gs("get", "org.gnome.system.proxy", "mode") == "'manual'"  # a dry run changed nothing
