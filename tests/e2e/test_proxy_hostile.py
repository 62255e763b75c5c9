"""Hostile traffic through a real `pixelguard run`: it can neither hurt the proxy nor slip past it.

Everything goes to 127.0.0.1 only and stops by itself. Memory is the proxy process's own (VmRSS), sampled while
the hostile transfer runs; latency is that of a normal request sent at the same time.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import brotli
import pytest
import zstandard
from harness import (
    Certs,
    Origin,
    Proxy,
    fetch,
    open_tunnel,
    start_proxy,
    stream_bytes,
    wait_for,
    write_config,
)
from imagedata import BUILDERS

from pixelguard.proxy.responses import TRANSPARENT_GIF

# Only the tests that measure memory or delay carry `measure` (CI runs them; a quick local run may skip them);
# the security tests here always run.
pytestmark = pytest.mark.e2e

GB = 1 << 30
LIST = "||tracker.test^\n/hostile/blocked/*\n"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, confdir: Path, certs: Certs) -> Iterator[Proxy]:
    home = tmp_path_factory.mktemp("hostile")
    # learn_after high: the pixels served here must not teach the proxy to block 127.0.0.1.
    config = write_config(home, {"hostile": LIST}, extra="pixels: {learn_after: 1000}\n")
    p = start_proxy(home, config, confdir, certs)
    yield p
    assert p.stop() == 0, p.log()[-3000:]


def _compress_stream(
    make: Callable[[], Callable[[bytes], bytes]], flush: Callable[[], bytes], size: int
) -> bytes:
    chunk = bytes(16 << 20)
    feed = make()
    out = [feed(chunk) for _ in range(size // len(chunk))]
    return b"".join(out) + flush()


def _gzip_bomb(size: int) -> bytes:
    # Z_RLE (matches at distance 1 only) reaches deflate's greatest ratio on zeros, as the default strategy does, in
    # 3 s instead of 7: it skips the hash-chain search that zeros never need.
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS, 9, zlib.Z_RLE)
    return _compress_stream(lambda: c.compress, c.flush, size)


def _brotli_bomb(size: int) -> bytes:
    c = brotli.Compressor(quality=5)
    return _compress_stream(lambda: c.process, c.finish, size)


def _zstd_bomb(size: int) -> bytes:
    c = zstandard.ZstdCompressor(level=19).compressobj()
    return _compress_stream(lambda: c.compress, c.flush, size)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Bodies that inflate to 1 GB of zeros (made once: 0.5-3 s each)."""
    return {"gzip": _gzip_bomb(GB), "br": _brotli_bomb(GB), "zstd": _zstd_bomb(GB)}


class RssSampler:
    """Samples the proxy's RSS every 20 ms in a thread while a with-block runs; .peak_growth in MB."""

    def __init__(self, proxy: Proxy):
        self.proxy = proxy
        self.base = proxy.rss_mb()
        self.peak = self.base
        self._stop = threading.Event()

    def __enter__(self) -> RssSampler:
        def run() -> None:
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, self.proxy.rss_mb())

        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proxy.rss_mb())

    @property
    def peak_growth(self) -> float:
        return self.peak - self.base


def _latency(proxy: Proxy, origin: Origin) -> float:
    t0 = time.monotonic()
    r = proxy.get(origin.url("/hostile/normal.txt"))
    assert r.status == 200
    return time.monotonic() - t0


def _while(hostile: Callable[[], object], proxy: Proxy, origin: Origin) -> float:
    """Worst latency of normal requests sent while hostile() runs in another thread."""
    origin.serve("/hostile/normal.txt", b"ok\n", "text/plain")
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            hostile()
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    worst = _latency(proxy, origin)
    while not done.is_set():
        worst = max(worst, _latency(proxy, origin))
        time.sleep(0.01)  # pacing: the normal client sends about 50 requests a second
    t.join()
    assert not errors, errors
    return worst


@pytest.mark.measure
@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_compression_bomb_image_costs_neither_memory_nor_time(
    proxy: Proxy, origin: Origin, bombs: dict[str, bytes], encoding: str
) -> None:
    body = bombs[encoding]
    path = f"/hostile/bomb-{encoding}.gif"
    origin.serve(path, body, "image/gif", ("Content-Encoding", encoding))
    results = []
    with RssSampler(proxy) as rss:
        worst = _while(
            lambda: results.append(proxy.get(origin.url(path), {"Accept": "image/*"})), proxy, origin
        )
    r = results[0]
    # Not a pixel as far as anyone can tell cheaply: passed through untouched, compressed as it came.
    assert r.status == 200 and r.body == body, (r.status, len(r.body))
    print(
        f"\n{encoding} bomb ({len(body):,} bytes -> 1 GB): RSS +{rss.peak_growth:.1f} MB, worst delay {worst:.3f} s"
    )
    assert rss.peak_growth < 100
    assert worst < 0.5


def test_compressed_pixel_is_still_found(proxy: Proxy, origin: Origin) -> None:
    for encoding, compress in (
        ("gzip", lambda b: zlib.compress(b, wbits=16 + zlib.MAX_WBITS)),
        ("br", brotli.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
    ):
        path = f"/hostile/pixel-{encoding}.gif"
        origin.serve(path, compress(BUILDERS["gif"](1, 1)), "image/gif", ("Content-Encoding", encoding))
        r = proxy.get(origin.url(path), {"Accept": "image/*"})
        assert r.body == TRANSPARENT_GIF and r.headers["X-Pixelguard"] == "replaced", encoding


@pytest.mark.measure
def test_one_gigabyte_download_streams(proxy: Proxy, origin: Origin) -> None:
    origin.serve_stream("/hostile/big.bin", GB, "application/octet-stream")
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=60)
    with RssSampler(proxy) as rss:
        t0 = time.monotonic()
        conn.request("GET", origin.url("/hostile/big.bin"))
        resp = conn.getresponse()
        first = resp.read(1)
        first_byte = time.monotonic() - t0
        total = len(first)
        while chunk := resp.read(1 << 20):
            total += len(chunk)
        conn.close()
    print(f"\n1 GB download: first byte after {first_byte:.3f} s, RSS +{rss.peak_growth:.1f} MB")
    assert total == GB
    assert first_byte < 0.5
    assert rss.peak_growth < 100


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_client_that_stops_reading_holds_the_server_back(proxy: Proxy, origin: Origin, scheme: str) -> None:
    # The proxy reads a server only as fast as its client takes what it reads (mitmproxy drains its writers before
    # it reads on; proxy/direct_reads.py hands reads over only while nothing waits to be sent): a client that
    # stops reading a download must not have the proxy take in the rest, and what it then reads is the body, in
    # order. The bound is what the kernel may buffer on the way, with room to spare: two connections, each with a
    # receive buffer that grows to tcp_rmem's maximum (32 MB here) and a send buffer to tcp_wmem's; the body is
    # four times that, which the proxy would take in whole without backpressure.
    bound = 2 * (_most("tcp_rmem", 32 << 20) + _most("tcp_wmem", 4 << 20)) + (16 << 20)
    size = max(512 << 20, 4 * bound)
    path = f"/hostile/slow-reader-{scheme}.bin"
    origin.serve_stream(path, size, "application/octet-stream")
    if scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", proxy.port, timeout=30, context=proxy.client_context()
        )
        conn.set_tunnel("localhost", origin.https_port)
        conn.request("GET", path)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        conn.request("GET", origin.url(path))
    try:
        resp = conn.getresponse()
        assert resp.status == 200
        got = resp.read(1 << 20)
        # The client reads nothing more; the server writes on until the buffers on the way are full.
        last, still_since = -1, time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sent = origin.sent[path]
            if sent != last:
                last, still_since = sent, time.monotonic()
            elif time.monotonic() - still_since > 1.0 or sent >= size:
                break
            time.sleep(0.05)
        print(
            f"\n{scheme}: the server got {last / (1 << 20):.1f} MB of {size >> 20} MB out while the client read 1 MB"
            f" (bound {bound >> 20} MB)"
        )
        assert last < bound, last
        offset = len(got)
        assert got == stream_bytes(0, offset)
        while offset < 64 << 20:  # it reads again: the body goes on where it stopped, byte for byte
            chunk = resp.read(1 << 20)
            assert chunk and chunk == stream_bytes(offset, len(chunk)), offset
            offset += len(chunk)
    finally:
        conn.close()


def _most(setting: str, default: int) -> int:
    """The largest buffer the kernel gives a TCP socket by the setting (net.ipv4.tcp_rmem or tcp_wmem)."""
    try:
        return int(Path(f"/proc/sys/net/ipv4/{setting}").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        return default


@pytest.mark.measure
def test_100_kb_url_does_not_stall_others(proxy: Proxy, origin: Origin) -> None:
    for word in ("ads_", "a", "/", "track"):
        url = origin.url("/hostile/long?" + word * (100_000 // len(word)))
        worst = _while(lambda url=url: proxy.get(url), proxy, origin)
        print(f"\n100 KB URL of {word!r}: worst delay of a concurrent request {worst:.3f} s")
        assert worst < 0.5


@pytest.mark.parametrize("tls", [True, False], ids=["decrypted-tunnel", "plain-tunnel"])
def test_a_request_line_that_arrives_in_parts_is_still_decided(
    proxy: Proxy, origin: Origin, tls: bool
) -> None:
    """Inside a tunnel, with no ALPN (Python's http.client, many apps' libraries), mitmproxy decides from the first
    bytes whether a stream is HTTP, and relayed one whose first line had not ended yet as raw TCP, unseen: a
    tracker's beacon with a request line longer than a TLS record went through unblocked whenever its first part
    was read alone (proxy/http_lines.py). Here each request line is written in two parts, the first without its
    end, short of the wait in half of them and past it in the others; every request must be blocked."""
    port = origin.https_port if tls else origin.http_port
    blocked = 0
    for i in range(24):
        query = "d=" + "%7B%22k%22%3A1%7D" * (
            1000 if i % 2 else 200
        )  # about 17 KB or 3.5 KB of a page's state
        first = f"GET /hostile/blocked/beacon.gif?{query}".encode()
        rest = f" HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n".encode()
        raw = open_tunnel(proxy.port, "localhost", port)
        stream: socket.socket = (
            proxy.client_context().wrap_socket(raw, server_hostname="localhost") if tls else raw
        )
        with stream:
            stream.sendall(first)  # a TLS record of its own (two past 16 KB), or a TCP segment
            stream.sendall(rest)
            reply = b""
            while chunk := stream.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and b"X-Pixelguard: blocked" in reply, (i, reply[:300])
        blocked += 1
    assert blocked == 24


@pytest.mark.parametrize("tls", [True, False], ids=["decrypted-tunnel", "plain-tunnel"])
def test_blank_lines_before_a_request_line_do_not_carry_it_past_the_lists(
    proxy: Proxy, origin: Origin, tls: bool
) -> None:
    """HTTP servers skip blank lines before a request line (RFC 9112, 2.2). mitmproxy took a tunnel that starts with
    one for another protocol and relayed it raw: the request reached its server undecided (proxy/http_lines.py).
    Written with the request and apart from it; every request must be blocked."""
    port = origin.https_port if tls else origin.http_port
    request = (
        f"GET /hostile/blocked/beacon.gif?n=1 HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
    )
    for writes in ([b"\r\n" + request.encode()], [b"\r\n\r\n", request.encode()]):
        raw = open_tunnel(proxy.port, "localhost", port)
        stream: socket.socket = (
            proxy.client_context().wrap_socket(raw, server_hostname="localhost") if tls else raw
        )
        with stream:
            for data in writes:
                stream.sendall(data)
            reply = b""
            while chunk := stream.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and b"X-Pixelguard: blocked" in reply, (writes, reply[:300])


def _raw(proxy: Proxy, request: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(h.split(b":", 1)[1])
                        for h in head.split(b"\r\n")
                        if h.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(rest) >= length:
                    break
        return data


def test_host_header_cannot_unblock_a_tracker(proxy: Proxy, origin: Origin) -> None:
    # Plain HTTP, absolute form: the connection goes to tracker.test whatever Host says.
    reply = _raw(
        proxy, b"GET http://tracker.test/p.gif HTTP/1.1\r\nHost: innocent.example\r\nAccept: image/*\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 200") and b"X-Pixelguard: blocked" in reply
    # HTTPS: CONNECT names the real target, blocked whole: the tunnel is refused before the Host header inside
    # it could say anything.
    with pytest.raises(OSError, match="403"):
        fetch(
            "https://tracker.test/p.gif",
            proxy.port,
            {"Host": "innocent.example"},
            context=proxy.client_context(),
        )
    events = wait_for(
        lambda: [e for e in proxy.events() if e["host"] == "tracker.test"], what="tracker events"
    )
    assert all(e["url"].startswith(("http://tracker.test/", "https://tracker.test/")) for e in events)


def test_a_lying_host_header_naming_a_tracker_is_stopped_too(proxy: Proxy, origin: Origin) -> None:
    # Domain fronting: an innocent address, the tracker's name in Host (the server answers for that name).
    path = "/hostile/fronted.gif"
    origin.serve(path, BUILDERS["png"](50, 50), "image/png")
    r = fetch(origin.url(path), proxy.port, {"Host": "px.tracker.test", "Accept": "image/*"})
    assert r.headers.get("X-Pixelguard") == "blocked" and origin.hits[path] == 0
    row = wait_for(
        lambda: proxy.events(detail="Host header names px.tracker.test"), what="the fronted event"
    )[0]
    assert row["host"] == "127.0.0.1"


@pytest.mark.parametrize("host", [b"x[y", b"127.0.0.1]:80", b"a\x01b.example", b"[::1", b"]", b"a" * 300])
def test_odd_host_headers_change_nothing(proxy: Proxy, host: bytes) -> None:
    before = proxy.log()
    reply = _raw(proxy, b"GET http://tracker.test/odd.gif HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and b"X-Pixelguard: blocked" in reply, reply[:200]
    assert "Traceback" not in proxy.log()[len(before) :]


@pytest.mark.measure
def test_many_label_hosts_keep_memory_bounded(proxy: Proxy) -> None:
    host = b".".join([b"a"] * 15_000) + b".tracker.test"  # 30 KB of labels
    with RssSampler(proxy) as rss:
        for _ in range(20):
            reply = _raw(proxy, b"GET http://" + host + b"/p.gif HTTP/1.1\r\nHost: x\r\n\r\n")
            assert reply.startswith(b"HTTP/1.1 ")
    print(f"\n20 requests with a 30 KB many-label host: RSS +{rss.peak_growth:.1f} MB")
    assert rss.peak_growth < 50


def test_history_is_private_to_the_user(proxy: Proxy) -> None:
    wait_for(lambda: proxy.database.exists() and proxy.events(), what="a first event")
    for path in (proxy.database, proxy.database.with_name(proxy.database.name + "-wal")):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"
    assert proxy.data_dir.stat().st_mode & 0o077 == 0


def test_set_listen_host_cannot_skip_the_auth_rule(tmp_path: Path, confdir: Path, certs: Certs) -> None:
    import subprocess
    import sys

    from harness import REPO, free_port

    config = write_config(tmp_path, {})
    # Its own free port: the configured default (8080) may be held by anything on the machine, pixelguard's own
    # service included, and the refusal must not depend on it.
    port = str(free_port())
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pixelguard",
            "--config",
            str(config),
            "run",
            "--port",
            port,
            "--set",
            "listen_host=0.0.0.0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PIXELGUARD_CONFDIR": str(confdir), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert r.returncode == 2, r.stderr
    assert "listen_host 0.0.0.0 is not a loopback address" in r.stderr and "Traceback" not in r.stderr


def test_hosts_only_mode_blocks_ipv6_literal_targets(tmp_path: Path, confdir: Path, certs: Certs) -> None:
    config = write_config(tmp_path, {"v6": "||[2001:db8::1]^\n"}, mode="hosts-only")
    p = start_proxy(tmp_path, config, confdir, certs)
    try:
        reply = _raw(p, b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 403"), reply[:200]
    finally:
        assert p.stop() == 0, p.log()


def test_tls_client_trusting_nothing_gets_no_traceback(proxy: Proxy) -> None:
    # A client that refuses the proxy's certificate: the handshake fails, nothing else does.
    before = proxy.log()
    with pytest.raises(ssl.SSLError):
        fetch("https://innocent.example/x", proxy.port, context=ssl.create_default_context())
    assert "Traceback" not in proxy.log()[len(before) :]
