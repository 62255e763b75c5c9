"""``pixelguard doctor``: is protection really on? One finding per part, each problem with the command that fixes it.

The parts, in the order a new user sets them up: the CA and where it is trusted, the filter lists, pause, TLS
passthrough and tunnels relayed as raw bytes, the DNS servers CNAME uncloaking asks, the CAs servers' certificates
are checked against, the proxy pixelguard forwards to (proxy.upstream), the history database, the background
service, and the proxy itself (reachable where proxy.json says it listens).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from pixelguard import display, running, service, trust
from pixelguard.config import Config, Upstream, is_loopback, parse_upstream
from pixelguard.invocation import cmd
from pixelguard.store.event import UNREAD_BODY

# A subscription older than this is stale: lists publish an `! Expires:` of days, not weeks.
STALE_AFTER_S = 14 * 86400


@dataclass
class Finding:
    part: str
    ok: bool
    detail: str
    fix: str = ""  # the command that fixes it (when not ok)


def check_ca(cfg: Config, home: Path) -> list[Finding]:
    cert = trust.ca_file(trust.confdir())
    if not cert.exists():
        return [Finding("CA", False, f"no CA yet ({cert})", cmd("ca install"))]
    untrusted = trust.untrusted_databases(home)
    where = sorted({r.get("where", "") for r in trust.read_record(cfg.data_dir)})
    kind = trust.key_kind(cert)
    if kind.startswith("RSA"):
        # Still a good CA: nothing to fix. Said because each site's certificate costs five times more to make.
        kind += (
            " (made before pixelguard's CAs were ECDSA; forging with it is slower. For an ECDSA one: "
            f"{cmd('ca uninstall')}, delete {cert.parent}/mitmproxy-ca*, restart the proxy, {cmd('ca install')})"
        )
    out = [
        Finding(
            "CA",
            True,
            f"{cert}, {kind}; trusted by `ca install` in: {', '.join(where) if where else 'nothing yet'}",
        )
    ]
    if not where and not untrusted:
        out[0].ok, out[0].fix = False, cmd("ca install")
    for db in untrusted:
        out.append(Finding("CA", False, f"not trusted in {db}", cmd("ca install")))
    return out


def check_lists(cfg: Config, now: float | None = None) -> list[Finding]:
    from pixelguard import update

    now = time.time() if now is None else now
    out = []
    for row in update.list_status(cfg):
        if not row["enabled"] or row["name"] in ("user", "learned"):
            continue
        name = display.safe(row["name"])
        if not row["exists"]:
            if row["source"].startswith(("http://", "https://")):
                out.append(Finding("lists", False, f"{name}: no copy yet", cmd(f"lists update {name}")))
            else:  # a list file of the user's own: nothing to download
                path = display.safe(row["path"])
                fix = f"create {path}, or remove {name} from the config ({cmd('config path')})"
                out.append(Finding("lists", False, f"{name}: {path} does not exist", fix))
            continue
        if row["source"] == "bundled":
            out.append(Finding("lists", True, f"{name}: {row['rules']} rules, bundled with pixelguard"))
            continue
        age = display.age(row["updated_ts"], now)
        stale = row["updated_ts"] is not None and now - row["updated_ts"] > STALE_AFTER_S and row["due"]
        detail = f"{name}: {row['rules']} rules, updated {age} ago"
        out.append(
            Finding("lists", not stale, detail + (" (stale)" if stale else ""), cmd(f"lists update {name}"))
        )
        if not row["rules"]:
            out[-1].ok, out[-1].detail = False, f"{name}: no rules read from {display.safe(row['path'])}"
    if not out:
        out.append(
            Finding("lists", False, "no filter list is enabled", cmd("config path  (then add lists:)"))
        )
    return out


def check_database(cfg: Config) -> Finding:
    db = cfg.database
    if not db.exists():
        parent = next((p for p in db.parents if p.exists()), db.parent)
        ok = os.access(parent, os.W_OK)
        return Finding(
            "database", ok, f"{db} (made on the proxy's first start)", "" if ok else f"chmod u+w {parent}"
        )
    try:
        con = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=2)
        try:
            con.execute("PRAGMA schema_version").fetchone()  # reads the header: a damaged file fails here
            con.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
            con.execute("ROLLBACK")
        finally:
            con.close()
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            return Finding("database", True, f"{db} (busy: the proxy is writing)")
        return Finding("database", False, f"{db}: {e}", f"chmod u+rw {db}")
    except sqlite3.DatabaseError as e:
        return Finding("database", False, f"{db}: {e}", f"mv {db} {db}.broken  (the proxy starts a new one)")
    return Finding("database", True, f"{db} (writable)")


def check_service(proxy_up: bool) -> Finding:
    """The background service; when the proxy runs anyway (in a terminal), a missing service is only a note."""
    st = service.state()
    if st["installed"] != "yes":
        detail = "not installed: protection lasts while a terminal runs the proxy"
        return Finding("service", proxy_up, detail, cmd("service install"))
    manager = display.safe(st["manager"]) or "state unknown"
    ok = manager.startswith("active") or proxy_up
    return Finding("service", ok, f"{st['file']}: {manager}", cmd("service status"))


def check_proxy(cfg: Config) -> Finding:
    info = running.read(cfg.data_dir)
    if info is None:
        return Finding("proxy", False, "not running", f"{cmd('service install')}  (or: {cmd('run')})")
    host, _, port = info.listen.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            pass
    except (OSError, ValueError) as e:
        return Finding(
            "proxy",
            False,
            f"pid {info.pid} says {display.safe(info.listen)}, but: {e}",
            cmd("service status"),
        )
    workers = f", {info.workers} worker processes" if info.workers > 1 else ""
    return Finding("proxy", True, f"listening on {display.safe(info.listen)} (pid {info.pid}{workers})")


def check_pause(cfg: Config) -> Finding:
    from pixelguard import pause

    until = pause.paused_until(cfg.data_dir)
    if until is None:
        return Finding("pause", True, "not paused")
    return Finding(
        "pause",
        False,
        f"protection is paused until {display.moment(until)}: everything passes",
        cmd("resume"),
    )


def check_passthrough(cfg: Config) -> list[Finding]:
    """Hosts learned as passed through undecrypted: only whole-host rules reach their requests."""
    from pixelguard import tls_policy

    out = []
    for e in tls_policy.learned_entries(cfg.data_dir):
        host = display.safe(e.host)
        out.append(
            Finding(
                "TLS",
                False,
                f"{host} is passed through undecrypted for {display.safe(e.client)} since "
                f"{display.when(e.since)} (its client refused pixelguard's certificate {e.refusals} times)",
                cmd(f"tls forget {host}"),
            )
        )
    return out


def check_relays(cfg: Config) -> Finding:
    """Tunnels relayed as raw bytes: nothing in them could be filtered. A note, not a fault: mail and chat clients
    pointed at the proxy speak their own protocols. Named so that one that should have been HTTP is seen."""
    from pixelguard import relays

    rows = relays.recent(cfg)
    if not rows:
        return Finding("tunnels", True, "none in the last 24 h carried anything but HTTP")
    return Finding(
        "tunnels",
        True,
        f"in the last 24 h, tunnels to {relays.summary(rows)} carried something other than HTTP: relayed as raw "
        "bytes, only their hosts decided (expected of mail and chat clients; "
        f"`{cmd('log --host HOST')}` lists them)",
    )


def check_unread_bodies(cfg: Config) -> Finding:
    """Request bodies read in part: over BODY_HOLD a body streams, and its middle goes to the server unread. A note,
    not a fault (an upload of a photo or a backup is big; a tracker's batch is read at both ends), named so that
    the user knows where the leak alarm and the payload readers saw only part of what was sent."""
    from pixelguard import relays

    rows = relays.recent(cfg, reason=UNREAD_BODY)
    if not rows:
        return Finding("bodies", True, "every request body in the last 24 h was read whole")
    return Finding(
        "bodies",
        True,
        f"in the last 24 h, {relays.unread_summary(rows)} (expected of uploads; `{cmd('log --host HOST')}` lists "
        "them)",
    )


def check_cname(cfg: Config) -> Finding:
    """CNAME uncloaking needs a DNS server that answers: without one every lookup fails open, and trackers behind
    first-party names pass with nothing to say so."""
    from pixelguard import cname, dns_health

    if not cfg.cname.enabled:
        return Finding("CNAME", True, "uncloaking is off (cname.enabled: false): trackers behind first-party "
                       "names are judged by those names only")  # fmt: skip
    if not cname.enabled(cfg):
        return Finding("CNAME", True, f"uncloaking is off ({cname.NO_CNAME_ENV}=1 in the environment)")
    fix = f"{cmd('config path')}  (set cname.nameservers to DNS servers that answer, in the file it names)"
    servers = cname.servers_in_use(cfg.cname.nameservers)
    if not servers:
        return Finding("CNAME", False, "no DNS server to ask (cname.nameservers is empty and the system names "
                       "none): no alias is looked up, so trackers behind first-party names pass", fix)  # fmt: skip
    names = ", ".join(_server(s) for s in servers)
    info = running.read(cfg.data_dir)
    since = dns_health.silent_since(cfg.data_dir, info.started) if info is not None else None
    if since is not None:
        # What the proxy itself sees (a service may run with other DNS settings than this shell).
        return Finding("CNAME", False, f"the running proxy's lookups get no answer since {display.when(since)} "
                       f"(it asks {names}): trackers behind first-party names pass", fix)  # fmt: skip
    silent = cname.unanswering(servers)
    if len(silent) == len(servers):
        why = "; ".join(f"{_server(s)}: {e}" for s, e in silent)
        return Finding("CNAME", False, f"no DNS server answers ({why}): every lookup fails, so trackers behind "
                       "first-party names pass", fix)  # fmt: skip
    if silent:
        quiet = ", ".join(_server(s) for s, _ in silent)
        return Finding("CNAME", True, f"uncloaking asks {names}; {quiet} did not answer (the others are asked "
                       "first once they answer)")  # fmt: skip
    return Finding("CNAME", True, f"uncloaking asks {names}")


def _server(server: tuple[str, int]) -> str:
    return display.safe(display.host_port(*server))


def check_upstream(cfg: Config, timeout: float = 2.0) -> list[Finding]:
    """With proxy.upstream set, everything pixelguard lets through goes to that proxy: if it does not answer, or
    refuses pixelguard's login, every such request fails. Asked for a tunnel to a name under ``.invalid`` (RFC
    6761: no such host exists), which tells it nothing about what the user visits; only its answer's status is
    read."""
    upstream = cfg.proxy.upstream
    if upstream is None:
        named = _environment_proxy(cfg)
        if named is None:
            return []
        # Not a problem by itself (the proxy may be optional here); said because pixelguard ignores it.
        return [Finding("upstream", True, f"the environment names the proxy {display.safe(named)}, but pixelguard "
                        "connects to servers directly; if your network needs that proxy, set proxy.upstream to "
                        "it")]  # fmt: skip
    where = display.safe(upstream.url)
    fix = (
        f"{cmd('config path')}  (set proxy.upstream to the proxy your network requires, in the file it names)"
    )
    try:
        status = _upstream_status(upstream, timeout)
    except OSError as e:
        return [Finding("upstream", False, f"{where} does not answer ({display.safe(str(e))}): every request "
                        "pixelguard lets through fails", fix)]  # fmt: skip
    if status == 407:
        why = (
            "refuses pixelguard's login"
            if upstream.auth
            else "asks for a login (add user:password@ to its URL)"
        )
        return [Finding("upstream", False, f"{where} {why} (407): every request pixelguard lets through fails",
                        fix)]  # fmt: skip
    login = " with a login" if upstream.auth else ""
    return [Finding("upstream", True, f"what pixelguard lets through goes on to {where}{login} (it answers)")]


def _environment_proxy(cfg: Config) -> str | None:
    """The proxy https_proxy (or http_proxy) names, unless it is pixelguard itself."""
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    for scheme in ("https", "http"):
        try:
            named = parse_upstream(proxies.get(scheme, ""))
        except ValueError:
            continue
        if not (is_loopback(named.host) and named.port == cfg.proxy.port):
            return named.url
    return None


def _upstream_status(upstream: Upstream, timeout: float) -> int | None:
    """The status a CONNECT to a name that does not exist gets from ``upstream`` (None: not HTTP, or an https://
    proxy, whose TLS is not spoken here: then answering at all is what is checked)."""
    import base64

    from pixelguard.cname import PROBE_NAME

    with socket.create_connection((upstream.host, upstream.port), timeout=timeout) as sock:
        if upstream.scheme != "http":
            return None
        head = f"CONNECT {PROBE_NAME}:443 HTTP/1.1\r\nHost: {PROBE_NAME}:443\r\n"
        if upstream.auth:
            head += f"Proxy-Authorization: Basic {base64.b64encode(upstream.auth.encode()).decode()}\r\n"
        sock.sendall((head + "\r\n").encode())
        line = sock.makefile("rb").readline(256).split()
    return int(line[1]) if len(line) > 1 and line[0].startswith(b"HTTP/") and line[1].isdigit() else None


def check_server_trust() -> Finding:
    """Not a problem either way: certifi's roots serve every public site; the system's add the user's own."""
    from pixelguard.proxy.upstream_trust import describe

    return Finding("server TLS", True, f"servers' certificates are checked against {describe()}")


def check_system_proxy(cfg: Config, proxy_up: bool) -> list[Finding]:
    """Where the desktop's proxy setting points (GNOME's, the one read here): at a pixelguard that is not running,
    nothing loads."""
    from pixelguard import system_proxy

    if system_proxy.desktop() != "gnome":
        return []
    points = system_proxy.gnome_points_at()
    ours = f"{cfg.proxy.host}:{cfg.proxy.port}"
    if points is None:
        return [Finding("system proxy", True, f"not set: only programs pointed at {ours} use pixelguard "
                        f"(`{cmd('system-proxy on')}` points the desktop at it)")]  # fmt: skip
    if points != ours:
        return [
            Finding("system proxy", True, f"points at {display.safe(points)}, not at pixelguard ({ours})")
        ]
    if not proxy_up:
        return [
            Finding(
                "system proxy",
                False,
                f"points at pixelguard ({ours}), which is not running: programs that use it load nothing",
                f"{cmd('run')}  (or: {cmd('system-proxy off')})",
            )
        ]
    return [Finding("system proxy", True, f"points at pixelguard ({ours})")]


def run_all(cfg: Config, home: Path | None = None) -> list[Finding]:
    home = home or Path.home()
    proxy = check_proxy(cfg)
    return [
        *check_ca(cfg, home),
        *check_lists(cfg),
        check_pause(cfg),
        *check_passthrough(cfg),
        check_relays(cfg),
        check_unread_bodies(cfg),
        check_cname(cfg),
        check_server_trust(),
        *check_upstream(cfg),
        check_database(cfg),
        check_service(proxy.ok),
        proxy,
        *check_system_proxy(cfg, proxy.ok),
    ]
