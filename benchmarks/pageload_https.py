"""HTTPS page-load benchmark (issue 25): the page loads of ../shared/requests/top500-sitelist.txt over HTTPS, with no
proxy, through plain mitmdump, through pixelguard, and with an ideal blocker (no proxy, the requests pixelguard's
engine blocks simply absent), interleaved page by page in one run. Prints each setup's median page time, its
ratio to no proxy, and each proxy's CPU time per request.

The simulated internet: one TLS server on 127.0.0.1 answers for every host, with a certificate per host (made on
first use, signed by a CA of this run that the client and the proxies trust), after a delay fixed per host (0-60
ms), with a small body. The client behaves like a browser: a page, then its subresources six at a time; connections
kept alive and reused per host within a page (at most six per host), a new one resuming the TLS session an earlier
one to its host left, a CONNECT per connection through a proxy, every certificate verified against the CA the
client should trust (the run's own CA without a proxy, the proxy's CA through one). A refused CONNECT ends that
request at once, as a browser's would.

``--workers N`` adds ``pixelguard run --workers N``: N processes on one port, the kernel spreading the client's
connections over them (SO_REUSEPORT); their CPU and peak memory are added up (README, Performance: "Use the
cores").
``--concurrent K`` loads K pages at a time through each setup (K tabs, or K users of one proxy) and reports
requests per second as well: the load at which one event loop becomes the limit.
``--cname-delay MS`` runs pixelguard with CNAME uncloaking on, as a user's is by default (every other run turns it
off: the simulated internet has no DNS), each pixelguard against its own DNS server on 127.0.0.1 that answers every
name, with an address and no alias, after MS milliseconds; "pixelguard, CNAME off" runs beside it, and each
pixelguard's count of lookups is printed. An upper bound of what lookups cost: no proxy pays no DNS here at all,
where a browser without a proxy resolves each new host itself, and pixelguard's lookup leaves the answer in the
resolver's cache for the proxy's own connection.
``--dns-delay MS`` has names looked up, each lookup taking MS milliseconds, as on a machine whose resolver is a round
trip away (no caching one of its own, as on Debian by default): the browser without a proxy keeps each answer a
minute, as browsers do, and each proxy looks up the names of its own connections to servers (mitmdump at each
connection; pixelguard keeps answers a minute too: proxy/address_cache.py).
``--baseline DIR`` adds the pixelguard of another checkout (a git worktree of the commit before a change), with the
same configuration: before and after in one run.
``--runs N`` measures N times, each run from fresh processes, and then prints each ratio's median over the runs and
its range, each ratio taken within its own run (on a shared machine one run's ratio to no proxy moves by 0.05-0.1).
``--pin`` runs the proxies on CPUs of their own, the harness (this process: the client and the simulated internet)
on the first CPU, every proxy on the others: on the user's machine the internet's servers do not compete with the
proxy for its cores (benchmarks/cores.py).

Loopback only; nothing leaves the machine. ``scripts/bench-pageload --https [--pages N] [--round-trips] [--http2]
[--workers N] [--concurrent K] [--cname-delay MS] [--dns-delay MS] [--baseline DIR] [--runs N] [--pin]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import hashlib
import http.client
import http.server
import ipaddress
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from benchmarks import cores
from benchmarks.lists import SHARED
from benchmarks.pageload import (
    Results,
    _Internet,
    add_pin_option,
    add_runs_option,
    config_text,
    count,
    cpu_seconds,
    host_and_port,
    host_delay,
    measure_runs,
    pages,
    peak_rss_mb,
    pinned_cores,
)
from benchmarks.proxy import (
    ca_certs,
    free_port,
    isolated_env,
    mitmdump_cmd,
    remove_run_dir,
    stop,
    wait_listen,
)
from pixelguard.engine.rules import is_address

# Every upstream connection goes to the simulated internet. The name it was opened for is put back once it is
# connected: mitmproxy reuses a connection for the next request only when its address is the one asked for, and
# lets one client connection open at most 5 to an address; without this, each request on a kept-alive tunnel
# would open a new upstream connection, and the sixth would wait forever.
RESOLVE_LOCAL = """
import os
import socket
import time
from mitmproxy.proxy import server_hooks

ASKED = {}
DNS_S = float(os.environ.get("PG_BENCH_DNS_MS") or -1) / 1000
if DNS_S >= 0:  # --dns-delay: every name is looked up by the proxy's own resolver, a round trip away
    _system = socket.getaddrinfo

    def _slow_local(host, port, *args, **kwargs):
        with open(os.path.join(os.environ["PG_BENCH_LOOKUPS"], str(os.getpid())), "ab") as f:
            f.write(b".")  # one byte per lookup, counted per process by the benchmark
        time.sleep(DNS_S)  # in the executor thread asyncio looks names up in, as a resolver's round trip
        return _system("127.0.0.1", port, *args, **kwargs)

    socket.getaddrinfo = _slow_local

async def server_connect(data: server_hooks.ServerConnectionHookData) -> None:
    if data.server.address:
        ASKED[data.server.id] = data.server.address
        if os.environ.get("PG_BENCH_RTT"):  # the TCP and TLS round trips of a connection to that host
            import asyncio, hashlib
            host = str(data.server.address[0])
            await asyncio.sleep(2 * (int(hashlib.sha256(host.encode()).hexdigest()[:4], 16) % 61) / 1000)
        # With --dns-delay the proxy looks the name up itself (_slow_local); else it connects to the address.
        where = str(data.server.address[0]) if DNS_S >= 0 else "127.0.0.1"
        data.server.address = (where, int(os.environ["PG_BENCH_ORIGIN"]))

def server_connected(data: server_hooks.ServerConnectionHookData) -> None:
    asked = ASKED.pop(data.server.id, None)
    if asked is not None:  # mitmproxy refuses to change an open connection's address; the benchmark does
        object.__setattr__(data.server, "address", asked)

def server_connect_error(data: server_hooks.ServerConnectionHookData) -> None:
    ASKED.pop(data.server.id, None)
"""


class _CA:
    """The simulated internet's CA and a TLS context per host name, made on first use."""

    def __init__(self, directory: Path, hosts: set[str]):
        # Hosts named by an IP address: a client sends no SNI for those, so the certificate a client that names
        # no host gets ("localhost") covers them, as a real server at that address presents one for it.
        self.addresses = sorted(h for h in hosts if is_address(h))
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench internet CA")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            # What Python 3.13's strict verification (VERIFY_X509_STRICT) wants of a CA, as a real one has it.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        self.pem = directory / "internet-ca.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.dir = directory
        self.contexts: dict[tuple[str, bool], ssl.SSLContext] = {}
        self.lock = threading.Lock()

    def context(self, host: str, h2: bool = False) -> ssl.SSLContext:
        """The server context for ``host``; ``h2``: one that selects HTTP/2 by ALPN (the HTTP/2 origin's)."""
        with self.lock:
            ctx = self.contexts.get((host, h2))
            if ctx is None:
                ctx = self.contexts[host, h2] = self.make(host)
                if h2:
                    ctx.set_alpn_protocols(["h2"])
            return ctx

    def make(self, host: str, also: tuple[str, ...] = ()) -> ssl.SSLContext:
        """A server context with a new certificate for ``host`` and the names ``also`` (wildcards too)."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in (host, *also)]
        if host == "localhost":
            names += [x509.IPAddress(ipaddress.ip_address(a)) for a in self.addresses]
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        path = self.dir / f"leaf-{hashlib.sha256(host.encode()).hexdigest()[:16]}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(path)
        return ctx


def _serve_internet(ca: _CA) -> http.server.ThreadingHTTPServer:
    base = ca.context("localhost")  # for a client that names no host; the others get theirs by SNI

    def sni(sock: ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        if name:
            sock.context = ca.context(name)

    base.sni_callback = sni

    class _Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a failed handshake or a closed connection: the client counts its failures

    server = _Server(("127.0.0.1", 0), _Internet)
    server.daemon_threads = True
    server.socket = base.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)

    # The handshake happens in the handler's thread, not the accepting one: one slow client must not stall it.
    class _Handler(_Internet):
        def setup(self) -> None:
            self.request.do_handshake()
            super().setup()

    server.RequestHandlerClass = _Handler
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Tls(http.client.HTTPSConnection):
    """A connection that offers the TLS session an earlier one to its host left, as a browser does."""

    session: ssl.SSLSession | None = None

    def connect(self) -> None:
        self._connect_tcp()
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            self.sock, server_hostname=self._tunnel_host or self.host, session=self.session
        )

    def _connect_tcp(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP, and the CONNECT when tunnelled


class _HostCache:
    """A browser's host cache (--dns-delay): a name is looked up, taking ``delay`` seconds, at most once a minute
    (Chromium's and Firefox's time for a system resolver's answer); lookups of a name that overlap share one."""

    def __init__(self, delay: float):
        self.delay = delay
        self.lock = threading.Lock()
        self.expires: dict[str, float] = {}
        self.pending: dict[str, threading.Event] = {}
        self.lookups = 0

    def look_up(self, host: str) -> None:
        if is_address(host):
            return
        with self.lock:
            if self.expires.get(host, 0.0) > time.monotonic():
                return
            done = self.pending.get(host)
            if done is None:
                done = self.pending[host] = threading.Event()
                self.lookups += 1
                mine = True
            else:
                mine = False
        if not mine:
            done.wait()
            return
        time.sleep(self.delay)
        with self.lock:
            self.expires[host] = time.monotonic() + 60
            del self.pending[host]
        done.set()


class _Direct(_Tls):
    """No proxy: the TCP connection goes to the simulated internet, the TLS one names the real host."""

    def __init__(
        self, host: str, port: int, origin_port: int, context: ssl.SSLContext, rtt: bool,
        hosts: _HostCache | None = None,
    ):  # fmt: skip
        super().__init__(host, port, timeout=30, context=context)
        self._addr = ("127.0.0.1", origin_port)
        self._rtt = rtt
        self._hosts = hosts

    def _connect_tcp(self) -> None:
        if self._hosts is not None:
            self._hosts.look_up(self.host)
        if self._rtt:
            time.sleep(2 * host_delay(self.host))  # TCP's round trip, then TLS 1.3's
        self.sock = socket.create_connection(self._addr, self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Browser:
    """One setup's client: how it opens a connection to a host, and the connections it keeps per page."""

    def __init__(
        self, proxy_port: int | None, origin_port: int, context: ssl.SSLContext, rtt: bool = False,
        dns_delay: float | None = None,
    ):  # fmt: skip
        self.proxy_port, self.origin_port, self.context, self.rtt = proxy_port, origin_port, context, rtt
        # Without a proxy the browser looks names up itself (--dns-delay); through one, the proxy does.
        self.hosts = _HostCache(dns_delay) if dns_delay is not None and proxy_port is None else None
        self.failures: list[str] = []

    def open(self, authority: str) -> _Tls:
        host, port = host_and_port(authority)
        if self.proxy_port is None:
            return _Direct(host, port, self.origin_port, self.context, self.rtt, self.hosts)
        conn = _Tls("127.0.0.1", self.proxy_port, timeout=30, context=self.context)
        conn.set_tunnel(host, port)
        return conn

    def load(self, page: list[str], skip: set[str] | None = None) -> float:
        idle: dict[str, list[_Tls]] = {}
        sessions: dict[str, ssl.SSLSession] = {}  # per host, for this page only (a browser keys them by site)
        lock = threading.Lock()

        def get(url: str, referer: str | None) -> None:
            host, _, rest = url.split("://", 1)[1].partition("/")
            with lock:
                pool = idle.setdefault(host, [])
                if pool:
                    conn = pool.pop()
                else:
                    conn = self.open(host)
                    conn.session = sessions.get(host)
            try:
                headers = {"Accept": "*/*", "Host": host}
                if referer:
                    headers["Referer"] = referer
                conn.request("GET", "/" + rest, headers=headers)
                conn.getresponse().read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if "Tunnel connection failed: 403" not in str(
                    e
                ):  # a refused tunnel is a block, not a failure
                    self.failures.append(f"{url[:120]}: {e}")
                return
            with lock:
                idle[host].append(conn)
                if isinstance(conn.sock, ssl.SSLSocket) and conn.sock.session is not None:
                    sessions[host] = conn.sock.session

        start = time.perf_counter()
        get(page[0], None)
        rest = [u for u in page[1:] if not skip or u not in skip]
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda u: get(u, page[0]), rest))
        elapsed = time.perf_counter() - start
        for conns in idle.values():
            for c in conns:
                c.close()
        return elapsed


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _family(pid: int) -> list[int]:
    """pid and its child processes (`run --workers`' helpers), from /proc."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(c) for c in children.read_text().split())] if children.exists() else [pid]


def _listening(port: int) -> int:
    """Sockets listening on 127.0.0.1:port (/proc/net/tcp, state 0A): one per worker once all are up."""
    rows = (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
    return sum(1 for f in rows if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port)


class SlowDns:
    """A DNS server on 127.0.0.1 (dnslib) answering every A query with 127.0.0.1 and no alias, after ``delay``
    seconds: the round trip to a resolver that a CNAME lookup of pixelguard's pays."""

    def __init__(self, delay: float):
        from dnslib import QTYPE, RR, A
        from dnslib.server import BaseResolver, DNSLogger, DNSServer

        bench = self

        class _Answer(BaseResolver):  # type: ignore[misc]
            def resolve(self, request: Any, handler: Any) -> Any:
                bench.asked += 1
                time.sleep(delay)  # each query in its own thread (dnslib's server is threaded)
                reply = request.reply()
                if request.q.qtype == QTYPE.A:
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=300))
                return reply

        self.asked = 0
        self.server = DNSServer(_Answer(), port=0, address="127.0.0.1", logger=DNSLogger(logf=lambda _: None))
        self.server.start_thread()
        self.port: int = self.server.server.server_address[1]

    def stop(self) -> None:
        self.server.stop()


def start_proxies(
    tmp: Path,
    script: Path,
    internet_ca: Path,
    env: dict[str, str],
    pixelguards: dict[str, tuple[Path, dict[str, str]]],
    split: cores.Cores | None = None,
) -> tuple[dict[str, int], dict[str, subprocess.Popen[bytes]]]:
    """Plain mitmdump and each pixelguard (its name: its config file and environment), each on a free port of
    127.0.0.1, sending its connections to the simulated internet (``script``: RESOLVE_LOCAL) and trusting the
    internet's CA; with ``split`` (``--pin``), on the proxies' CPUs. Started, not yet waited for: the caller waits
    (``wait_listen``) where it stops them on failure."""
    trust = ["--set", f"ssl_verify_upstream_trusted_ca={internet_ca}", "--set", f"scripts={script}"]
    ports = {name: free_port() for name in ["mitmdump", *pixelguards]}
    commands = {"mitmdump": [*mitmdump_cmd(ports["mitmdump"], tmp, "-s", str(script)), *trust[:2]]}
    envs = {"mitmdump": env}
    for name, (cfg, pg_env) in pixelguards.items():
        # -P: the package comes from PYTHONPATH (--baseline) or the venv, never from the working directory.
        commands[name] = [
            sys.executable, "-P", "-m", "pixelguard", "--config", str(cfg), "run", "--port", str(ports[name]),
            *trust,
        ]  # fmt: skip
        envs[name] = pg_env
    with cores.spawning_on(split):
        procs = {
            n: subprocess.Popen(c, env=envs[n], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            for n, c in commands.items()
        }
    return ports, procs


def own_data_dir(
    tmp: Path, base_cfg: str, env: dict[str, str], sub: str, extra: str = ""
) -> tuple[Path, dict[str, str]]:
    """A data dir holds one proxy: each pixelguard past a run's first gets its own under ``tmp/sub`` (and its own
    database), with the run's configuration ``base_cfg`` plus ``extra``. Its config file and environment."""
    (tmp / sub).mkdir()
    cfg = tmp / f"config-{sub}.yaml"
    cfg.write_text(base_cfg.replace(f"{tmp}/pg.db", f"{tmp}/{sub}/pg.db") + extra)
    return cfg, env | {"XDG_DATA_HOME": str(tmp / sub)}


def baseline_checkout(text: str) -> str:
    """``--baseline DIR``, as argparse reads it (page loads and tunnels alike): a checkout with a pixelguard
    package in it."""
    if not (Path(text) / "pixelguard" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{text}: no pixelguard package there")
    return text


def baseline_setup(
    tmp: Path, base_cfg: str, env: dict[str, str], checkout: str
) -> tuple[Path, dict[str, str]]:
    """``--baseline``: the pixelguard of another checkout, in a data dir of its own with the run's configuration,
    made sure to import that checkout's package."""
    cfg, base_env = own_data_dir(tmp, base_cfg, env, "baseline")
    base_env |= {"PYTHONPATH": str(Path(checkout).resolve())}
    _check_checkout(base_env, Path(checkout))
    return cfg, base_env


def _check_checkout(env: dict[str, str], checkout: Path) -> None:
    """Make sure a process with env imports the checkout's pixelguard, not this one's."""
    got = subprocess.run(
        [sys.executable, "-P", "-c", "import pixelguard; print(pixelguard.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not Path(got).resolve().is_relative_to(checkout.resolve()):
        raise SystemExit(f"bench-pageload: --baseline would run {got}, not the pixelguard of {checkout}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=60, help="page loads to replay (default %(default)s)")
    ap.add_argument(
        "--no-refusal", action="store_true", help="also run pixelguard with tls.refuse_blocked: false"
    )
    ap.add_argument(
        "--round-trips",
        action="store_true",
        help="each new connection to a host first waits two of its round trips (TCP, TLS), as on the internet",
    )
    ap.add_argument(
        "--http2",
        action="store_true",
        help="HTTP/2, as browsers speak it: one connection per host carries all of a page's requests to it, the "
        "origin speaks HTTP/2 too (benchmarks/h2_web.py)",
    )
    ap.add_argument(
        "--workers",
        type=count,
        default=1,
        metavar="N",
        help="also run `pixelguard run --workers N`: N processes on one port (default: not run)",
    )
    ap.add_argument(
        "--concurrent",
        type=count,
        default=1,
        metavar="K",
        help="load K pages at a time (as K tabs, or K users of one proxy) and report requests per second too",
    )
    ap.add_argument(
        "--cname-delay",
        type=float,
        metavar="MS",
        help="run pixelguard with CNAME uncloaking on, as it is by default (the benchmark turns it off otherwise), "
        "against a DNS server on 127.0.0.1 that answers every name, with no alias, after MS milliseconds "
        "(a resolver's round trip)",
    )
    ap.add_argument(
        "--dns-delay",
        type=float,
        metavar="MS",
        help="names are looked up, each lookup taking MS milliseconds (a resolver a round trip away, as on a machine "
        "without a caching resolver of its own): by the browser without a proxy, keeping each answer a minute as "
        "browsers do, and by each proxy for its connections to servers",
    )
    ap.add_argument(
        "--baseline",
        type=baseline_checkout,
        metavar="DIR",
        help="also run the pixelguard of another checkout (e.g. a git worktree of the commit before a change), "
        "with the same configuration, interleaved with the others",
    )
    add_runs_option(ap)
    add_pin_option(ap)
    args = ap.parse_args(argv)
    if args.cname_delay is not None and not 0 <= args.cname_delay <= 10_000:
        ap.error("--cname-delay needs milliseconds from 0 to 10000")
    if args.dns_delay is not None and not 0 <= args.dns_delay <= 10_000:
        ap.error("--dns-delay needs milliseconds from 0 to 10000")
    if args.dns_delay is not None and args.http2:
        ap.error("--dns-delay is for the HTTP/1.1 client (its HTTP/2 client has no host cache)")
    if not (SHARED / "requests" / "top500-sitelist.txt").is_file():
        print("bench-pageload: ../shared/requests/top500-sitelist.txt is missing")
        return 1
    args.cores = pinned_cores(ap, args.pin)
    measure_runs(args.runs, lambda: _measure(args))
    return 0


def _measure(args: argparse.Namespace) -> Results:
    """One run: every setup started afresh, the pages loaded through each, its lines printed."""
    from pixelguard.engine import Engine

    tmp = Path(tempfile.mkdtemp(prefix="pg-pageload-https-"))
    sample = [["https://" + u.split("://", 1)[1] for u in p] for p in pages(args.pages)]
    ca = _CA(tmp, {host_and_port(u.split("/", 3)[2])[0] for p in sample for u in p})
    internet = _serve_internet(ca)
    origin_port = internet.server_address[1]
    h2_origin = None
    if args.http2:
        from benchmarks import h2_web

        h2_base = ca.context("localhost", h2=True)

        def h2_sni(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
            if name:
                sock.context = ca.context(name, h2=True)

        h2_base.sni_callback = h2_sni
        h2_origin = h2_web.Origin(h2_base, host_delay)
        origin_port = h2_origin.port
    script = tmp / "resolve_local.py"
    script.write_text(RESOLVE_LOCAL)
    lookups = tmp / "lookups"  # --dns-delay: a file per proxy process, a byte per name it looked up
    lookups.mkdir()
    filters = SHARED / "filterlists"
    base_cfg = config_text(tmp)
    if args.cname_delay is not None:  # each pixelguard its own DNS server (below), to count its lookups
        base_cfg = base_cfg.replace("cname: {enabled: false}", "cname: {enabled: true, nameservers: [DNS]}")
    (tmp / "config.yaml").write_text(base_cfg)
    env = isolated_env(
        tmp, PG_BENCH_ORIGIN=str(origin_port), PG_BENCH_RTT="1" if args.round_trips else "",
        PG_BENCH_DNS_MS="" if args.dns_delay is None else str(args.dns_delay), PG_BENCH_LOOKUPS=str(lookups),
    )  # fmt: skip

    together = f"pixelguard x{args.workers}" if args.workers > 1 else ""
    pixelguards = {"pixelguard": (tmp / "config.yaml", env)}
    if args.no_refusal:
        pixelguards["pixelguard, no refusal"] = own_data_dir(
            tmp, base_cfg, env, "off", "tls: {refuse_blocked: false}\n"
        )
    if together:
        pixelguards[together] = own_data_dir(
            tmp, base_cfg, env, "workers", f"proxy: {{workers: {args.workers}}}\n"
        )
    if args.baseline:
        pixelguards["pixelguard, baseline"] = baseline_setup(tmp, base_cfg, env, args.baseline)
    dns: dict[str, SlowDns] = {}
    if args.cname_delay is not None:
        for name, (cfg, _) in pixelguards.items():
            dns[name] = SlowDns(args.cname_delay / 1000)
            cfg.write_text(cfg.read_text().replace("[DNS]", f"['127.0.0.1:{dns[name].port}']"))
        cfg, off_env = own_data_dir(tmp, base_cfg, env, "cname-off")  # what the lookups cost, in the same run
        cfg.write_text(
            cfg.read_text().replace("cname: {enabled: true, nameservers: [DNS]}", "cname: {enabled: false}")
        )
        pixelguards["pixelguard, CNAME off"] = (cfg, off_env)
    ports, procs = start_proxies(tmp, script, ca.pem, env, pixelguards, args.cores)
    try:
        for name, p in procs.items():
            wait_listen(ports[name], p, name)
        if together:  # the helpers start once the first process listens
            deadline = time.monotonic() + 60
            while _listening(ports[together]) < args.workers:
                if procs[together].poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bench-pageload: {together}: not every worker came up")
                time.sleep(0.05)
        if args.cores:
            cores.check_pinned([pid for p in procs.values() for pid in _family(p.pid)], args.cores.proxies)
        # Each proxy's CA exists once it listens (each its own: ca_certs). Through a proxy the client trusts the
        # proxies' CAs and the sites' own (as a browser trusts the public CAs): a host the proxy passes through
        # undecrypted (the bundled list of banks and logins) shows its own.
        proxy_cas = [str(p) for p in ca_certs(tmp).values()]
        proxy_ctx = ssl.create_default_context(cafile=str(ca.pem))
        for pem in proxy_cas:
            proxy_ctx.load_verify_locations(cafile=pem)
        direct_ctx = ssl.create_default_context(cafile=str(ca.pem))
        dns_s = None if args.dns_delay is None else args.dns_delay / 1000
        browsers: dict[str, Any] = {
            "no proxy": _Browser(None, origin_port, direct_ctx, args.round_trips, dns_s)
        }
        # The ideal blocker is a browser of its own: its host cache is not the no-proxy browser's.
        ideal = _Browser(None, origin_port, direct_ctx, args.round_trips, dns_s)
        browsers |= {n: _Browser(ports[n], origin_port, proxy_ctx) for n in procs}
        if args.http2:
            proxy_h2 = h2_web.client_context([*proxy_cas, str(ca.pem)])
            direct_h2 = h2_web.client_context([str(ca.pem)])
            browsers = {
                "no proxy": h2_web.Browser(None, origin_port, direct_h2, host_delay, args.round_trips)
            }
            browsers |= {n: h2_web.Browser(ports[n], origin_port, proxy_h2, host_delay) for n in procs}
        engine = Engine.from_files(
            [filters / "easylist.txt", filters / "easyprivacy.txt"]
        )  # the ideal blocker's
        blocked = {
            u for p in sample for u in p[1:] if engine.check(u, p[0], None).blocked
        }  # what a blocker answers without the network
        setups = [*browsers, "ideal blocker"]
        for page in sample[:3]:  # warm-up: caches, the origin's certificates
            for b in browsers.values():
                b.load(page)
            if not args.http2:
                ideal.load(page, skip=blocked)
        times: dict[str, list[float]] = {s: [] for s in setups}
        busy = dict.fromkeys(setups, 0.0)  # wall time spent loading, for requests per second
        family = {n: _family(p.pid) for n, p in procs.items()}
        cpu0 = {n: sum(map(cpu_seconds, family[n])) for n in procs}

        def load(s: str, page: list[str]) -> float:
            if s == "ideal blocker":
                return (browsers["no proxy"] if args.http2 else ideal).load(page, skip=blocked)
            return browsers[s].load(page)

        k = args.concurrent
        for i in range(0, len(sample), k):
            batch = sample[i : i + k]
            turn = (i // k) % len(setups)
            for s in setups[turn:] + setups[:turn]:
                started = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(len(batch)) as ex:
                    times[s] += ex.map(lambda page, s=s: load(s, page), batch)
                busy[s] += time.perf_counter() - started
        # The processes of a setup together: their CPU, and the memory they hold between them.
        cpu = {n: sum(map(cpu_seconds, family[n])) - cpu0[n] for n in procs}
        requests = sum(len(p) for p in sample)
        peak = {n: sum(map(peak_rss_mb, family[n])) for n in procs}
        print(f"{len(sample)} HTTPS page loads ({requests} requests, {len(blocked)} of them blocked by the lists), "
              "setups interleaved page by page"
              + (", connection round trips on" if args.round_trips else "")
              + (", HTTP/2" if args.http2 else ", HTTP/1.1")
              + (f", {args.concurrent} pages at a time" if args.concurrent > 1 else ""))  # fmt: skip
        none = statistics.median(times["no proxy"])
        results: Results = {}
        for s in setups:
            med = statistics.median(times[s])
            results[s] = {"page": med}
            if s in cpu:
                results[s] |= {"cpu": cpu[s] / requests, "rss": peak[s]}
            line = f"  {s:24s} median page {med * 1000:7.1f} ms  {med / none:5.2f}x no proxy"
            if args.concurrent > 1:
                skipped = sum(u in blocked for p in sample for u in p[1:]) if s == "ideal blocker" else 0
                served = requests - skipped
                line += f"  {served / busy[s]:4.0f} requests/s"
            if s in browsers:
                line += f"   {len(browsers[s].failures)} failed"
            if s in cpu:
                line += f"   proxy CPU {cpu[s] / requests * 1000:5.2f} ms/request, peak RSS {peak[s]:4.0f} MB"
            print(line)
        for s, b in browsers.items():
            for f in b.failures[:5]:
                print(f"  failed ({s}): {f}")
        if dns_s is not None:
            counted = {n: sum(_size(lookups / str(p)) for p in family[n]) for n in procs}
            print(f"  each lookup of a name takes {args.dns_delay:g} ms; names looked up: "
                  f"{browsers['no proxy'].hosts.lookups} by the browser without a proxy (each kept a minute), "
                  + ", ".join(f"{counted[n]} by {n}" for n in procs))  # fmt: skip
        for name, server in dns.items():
            print(f"  {name}: {server.asked} CNAME lookups, each answered after {args.cname_delay:g} ms")
    finally:
        stop(procs.values())
        for server in dns.values():
            server.stop()
        internet.shutdown()
        if h2_origin is not None:
            h2_origin.stop()
        remove_run_dir(tmp)
    return results


if __name__ == "__main__":
    sys.exit(main())
