"""The shared end-to-end harness (imported by conftest.py and the tests): a local origin (HTTP and HTTPS) that counts hits, and real `pixelguard run`.

Everything listens on 127.0.0.1 only. The origin's certificate is made at test time (a throwaway CA and leaf,
with the `cryptography` package); the proxy is told to trust that CA upstream, and clients trust the proxy's
own CA from its confdir, exactly as a user installs it.
"""

from __future__ import annotations

import datetime
import http.client
import http.server
import ipaddress
import os
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import free_port, wait_for, write_config

REPO = Path(__file__).resolve().parents[2]
__all__ = ["REPO", "free_port", "wait_for", "write_config"]
PIXELGUARD = [sys.executable, "-m", "pixelguard"]


# --- certificates -------------------------------------------------------------------------------------------


@dataclass
class Certs:
    ca: Path  # the origin's CA certificate (PEM): what the proxy must trust upstream
    cert: Path
    key: Path


def make_certs(directory: Path, names: tuple[str, ...] = ("localhost",)) -> Certs:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pixelguard test origin CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    certs = Certs(directory / "origin-ca.pem", directory / "origin.pem", directory / "origin-key.pem")
    certs.ca.write_bytes(ca.public_bytes(pem))
    certs.cert.write_bytes(leaf.public_bytes(pem))
    certs.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certs


# --- the origin ---------------------------------------------------------------------------------------------


@dataclass
class Route:
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200
    stream: int = (
        0  # >0: send this many bytes of the stream pattern (stream_bytes), made chunk by chunk, not body
    )


# A streamed body's byte at offset i is i % 251: a prime period, so bytes lost, repeated or reordered anywhere in
# a stream of TCP-sized pieces show as bytes out of place (stream_bytes gives any part of it).
_PERIOD = 251
_PATTERN = bytes(range(_PERIOD)) * ((1 << 20) // _PERIOD + 2)


def stream_bytes(offset: int, size: int) -> bytes:
    """The ``size`` bytes of a streamed body from ``offset`` on (size at most 1 MiB)."""
    start = offset % _PERIOD
    return _PATTERN[start : start + size]


class Origin:
    """HTTP and HTTPS on 127.0.0.1, one route table, hits counted per path (query string excluded)."""

    def __init__(self, certs: Certs):
        self.routes: dict[str, Route] = {}
        self.prefix_routes: dict[str, Route] = {}  # every path under a prefix (serve_prefix)
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (host header, path, headers)
        self.bodies: dict[str, bytes] = {}  # path -> the first 64 KB of the last body posted there
        self.received: Counter[str] = Counter()  # request body bytes that reached the origin, per path
        self.tls_resumed: list[bool] = []  # per HTTPS connection, in order: was its TLS session resumed?
        self.sent: Counter[str] = Counter()  # bytes of a streamed body handed to the socket, per path
        self.lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                if isinstance(self.request, ssl.SSLSocket):
                    with origin.lock:
                        origin.tls_resumed.append(self.request.session_reused)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with origin.lock:
                    origin.hits[path] += 1
                    origin.requests.append((self.headers.get("Host", ""), self.path, dict(self.headers)))
                route = (
                    origin.routes.get(path)
                    or next(
                        (r for prefix, r in origin.prefix_routes.items() if path.startswith(prefix)), None
                    )
                    or Route(f"hello from {path}\n".encode(), [("Content-Type", "text/plain")])
                )
                self.send_response(route.status)
                for k, v in route.headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(route.stream or len(route.body)))
                self.end_headers()
                try:
                    if route.stream:
                        done = 0
                        while done < route.stream:
                            chunk = stream_bytes(done, min(route.stream - done, 1 << 20))
                            self.wfile.write(chunk)
                            done += len(chunk)
                            with origin.lock:
                                origin.sent[path] += len(chunk)
                    else:
                        self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the client (or the proxy) stopped reading: fine for a streamed download

            def do_POST(self) -> None:
                """Counts the request and every byte of its body that arrives (as much as arrives)."""
                path = self.path.split("?", 1)[0]
                with origin.lock:
                    origin.hits[path] += 1
                    origin.requests.append((self.headers.get("Host", ""), self.path, dict(self.headers)))
                try:
                    if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                        while True:
                            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                            if size == 0:
                                self.rfile.readline()
                                break
                            data = self.rfile.read(size)
                            self.rfile.readline()
                            with origin.lock:
                                origin.received[path] += len(data)
                    else:
                        left = int(self.headers.get("Content-Length") or 0)
                        kept = bytearray()
                        while left > 0:
                            data = self.rfile.read(min(left, 1 << 16))
                            if not data:
                                break
                            left -= len(data)
                            if len(kept) < 1 << 16:
                                kept += data[: (1 << 16) - len(kept)]
                            with origin.lock:
                                origin.received[path] += len(data)
                        with origin.lock:
                            origin.bodies[path] = bytes(kept)  # the last body's first 64 KB
                    body = b"posted\n"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (OSError, ValueError):
                    self.close_connection = True

            do_PUT = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.https = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs.cert, certs.key)
        self.https.socket = ctx.wrap_socket(self.https.socket, server_side=True)
        self.http_port = self.http.server_address[1]
        self.https_port = self.https.server_address[1]
        self.certs = certs
        for server in (self.http, self.https):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def url(self, path: str, https: bool = False, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.https_port}{path}" if https else f"http://{host}:{self.http_port}{path}"

    def serve(
        self, path: str, body: bytes, content_type: str, *extra: tuple[str, str], status: int = 200
    ) -> None:
        self.routes[path] = Route(body, [("Content-Type", content_type), *extra], status)

    def serve_prefix(self, prefix: str, body: bytes, content_type: str) -> None:
        """Answer every path under prefix with body (a tracker serving pixels at ever-new paths)."""
        self.prefix_routes[prefix] = Route(body, [("Content-Type", content_type)])

    def serve_stream(self, path: str, size: int, content_type: str) -> None:
        """Answer path with ``size`` bytes made on the fly (a download too big to hold in the test; see
        stream_bytes)."""
        self.routes[path] = Route(b"", [("Content-Type", content_type)], 200, stream=size)

    def close(self) -> None:
        for server in (self.http, self.https):
            server.shutdown()
            server.server_close()


class Echo:
    """A server on 127.0.0.1 that answers each read with b"echo:" and what it read; over TLS when given certs. With
    a ``greeting``, it first sends that, as an SMTP or IMAP server does. ``accepted`` counts its connections."""

    def __init__(self, certs: Certs | None = None, greeting: bytes = b""):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.accepted = 0
        self.context: ssl.SSLContext | None = None
        if certs is not None:
            self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.context.load_cert_chain(certs.cert, certs.key)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        try:
            stream = self.context.wrap_socket(conn, server_side=True) if self.context else conn
            with stream:
                if self.greeting:
                    stream.sendall(self.greeting)
                while data := stream.recv(65536):
                    stream.sendall(b"echo:" + data)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


# What an SMTP server says first; a client of such a protocol sends nothing before it.
GREETING = b"220 mail.test ESMTP ready\r\n"


def read_line(stream: socket.socket) -> bytes:
    """Read from ``stream`` until a line ends (a server's greeting); fails if the stream closes first."""
    got = b""
    while not got.endswith(b"\r\n"):
        chunk = stream.recv(65536)
        assert chunk, f"closed after {got!r}"
        got += chunk
    return got


# --- the proxy ----------------------------------------------------------------------------------------------


@dataclass
class Proxy:
    proc: subprocess.Popen
    port: int
    home: Path
    config: Path
    database: Path
    user_list: Path
    learned_list: Path
    confdir: Path
    output: list[str]

    @property
    def data_dir(self) -> Path:
        return self.home / "data" / "pixelguard"

    @property
    def ca(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def get(self, url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> Response:
        return fetch(
            url,
            self.port,
            headers,
            context=self.client_context() if url.startswith("https") else None,
            timeout=timeout,
        )

    def events(self, **where: Any) -> list[dict[str, Any]]:
        if not self.database.exists():
            return []
        con = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in con.execute("SELECT * FROM events ORDER BY id")]
        except sqlite3.OperationalError:
            return []
        finally:
            con.close()
        return [r for r in rows if all(r.get(k) == v for k, v in where.items())]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log(self) -> str:
        return "".join(self.output)

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`pixelguard --config CONFIG ARGS` beside the proxy, with its dirs and CA, as a user's second terminal
        runs it; ``env`` adds to or overrides its environment (HOME=...)."""
        return subprocess.run(
            [*PIXELGUARD, "--config", str(self.config), *args],
            cwd=REPO, env={**pixelguard_env(self.home, self.confdir), **env},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def rss_mb(self) -> float:
        """The proxy process's resident memory now (Linux /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS in /proc status")


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def fetch(
    url: str,
    proxy_port: int,
    headers: dict[str, str] | None = None,
    *,
    context: ssl.SSLContext | None = None,
    timeout: float = 10,
) -> Response:
    """GET url through the proxy at 127.0.0.1:proxy_port (CONNECT tunnel for https)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", proxy_port, timeout=timeout, context=context
        )
        conn.set_tunnel(parts.hostname or "", parts.port or 443)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    else:
        conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=timeout)
        target = url
    try:
        conn.request("GET", target, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def connect_tunnel(
    proxy_port: int, host: str, port: int = 443, timeout: float = 10
) -> tuple[socket.socket, bytes]:
    """Ask the proxy for a CONNECT tunnel to host:port: the socket and the proxy's answer (its head)."""
    raw = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    raw.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = raw.recv(4096)
        if not chunk:
            raw.close()
            raise ConnectionError(f"CONNECT refused: {reply!r}")
        reply += chunk
    return raw, reply


def open_tunnel(proxy_port: int, host: str, port: int = 443, timeout: float = 10) -> socket.socket:
    """A raw CONNECT tunnel to host:port through the proxy, once it answered 200 (asserted)."""
    raw, reply = connect_tunnel(proxy_port, host, port, timeout)
    assert reply.startswith(b"HTTP/1.1 200"), reply
    return raw


def pixelguard_env(home: Path, confdir: Path) -> dict[str, str]:
    """The environment of a pixelguard process whose config, data and cache dirs are under home and whose CA is in
    confdir (never the user's)."""
    env = dict(os.environ)
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    env.pop("PIXELGUARD_CONFIG", None)
    env["PIXELGUARD_CONFDIR"] = str(confdir)
    return env


def start_proxy(
    home: Path,
    config: Path,
    confdir: Path,
    certs: Certs,
    *extra_args: str,
    timeout: float = 30,
    nofile: int | None = None,
    env: dict[str, str] | None = None,
    trust_origin: bool = True,
) -> Proxy:
    """`pixelguard run` on a free port with its own XDG dirs under home; returns once it listens. ``nofile``: the
    proxy's file descriptor limit (`ulimit -n`); ``env``: more environment; ``trust_origin=False``: the proxy
    checks servers against the CAs it trusts by default, not only the test origin's."""
    port = free_port()
    environment = pixelguard_env(home, confdir) | (env or {})
    environment["PYTHONUNBUFFERED"] = "1"
    cmd = [*PIXELGUARD, "--config", str(config), "run", "--port", str(port)]
    if trust_origin:
        cmd += ["--set", f"ssl_verify_upstream_trusted_ca={certs.ca}"]
    cmd += extra_args

    def limit() -> None:
        import resource

        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        cmd, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=limit if nofile is not None else None,
    )  # fmt: skip
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if "proxy listening on" in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    proxy = Proxy(
        proc,
        port,
        home,
        config,
        home / "pixelguard.db",
        home / "user.txt",
        home / "learned.txt",
        confdir,
        output,
    )
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if proc.poll() is not None or time.monotonic() > deadline:
            proxy.stop()
            raise AssertionError(f"pixelguard run did not start:\n{proxy.log()}")
    return proxy
