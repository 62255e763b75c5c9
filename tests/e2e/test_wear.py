"""Nothing a page or a local program sends can wear a real `pixelguard run` down (issue 24): connections, HTTP/2
stream resets, parked request bodies and an endless supply of pixel paths are all bounded (limits.py).

Everything goes to 127.0.0.1 and stops by itself. Memory is the proxy's own RSS; delay is that of a normal
request sent while the hostile traffic runs."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import h2.config
import h2.connection
import pytest
from harness import Certs, Origin, Proxy, start_proxy, wait_for, write_config
from imagedata import BUILDERS

pytestmark = pytest.mark.e2e


def _normal_latency(proxy: Proxy, origin: Origin) -> float:
    origin.serve("/wear/normal.txt", b"ok\n", "text/plain")
    t0 = time.monotonic()
    r = proxy.get(origin.url("/wear/normal.txt"), timeout=10)
    assert r.status == 200 and r.body == b"ok\n"
    return time.monotonic() - t0


def _worst_while(hostile: Callable[[], object], proxy: Proxy, origin: Origin) -> float:
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            hostile()
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    worst = 0.0
    while not done.is_set():
        worst = max(worst, _normal_latency(proxy, origin))
        time.sleep(0.05)
    t.join()
    assert not errors, errors
    return max(worst, _normal_latency(proxy, origin))


@pytest.fixture
def proxy(tmp_path: Path, confdir: Path, certs: Certs) -> Proxy:
    config = write_config(tmp_path, {"t": "||tracker.test^\n"}, extra="pixels: {learn_after: 1000}\n")
    p = start_proxy(tmp_path, config, confdir, certs)
    yield p
    p.stop()


def _h2_rapid_reset(proxy: Proxy, streams: int) -> int:
    """One HTTP/2 connection through the proxy: HEADERS then RST_STREAM, stream after stream, as fast as it
    can write; returns how many it got to send before the connection closed."""
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    raw.sendall(b"CONNECT rr.unlisted.test:443 HTTP/1.1\r\nHost: rr.unlisted.test:443\r\n\r\n")
    assert raw.recv(4096).startswith(b"HTTP/1.1 200")
    ctx = proxy.client_context()
    ctx.set_alpn_protocols(["h2"])
    tls = ctx.wrap_socket(raw, server_hostname="rr.unlisted.test")
    assert tls.selected_alpn_protocol() == "h2"
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())
    headers = [
        (":method", "GET"),
        (":path", "/reset"),
        (":scheme", "https"),
        (":authority", "rr.unlisted.test"),
    ]
    sent = 0
    try:
        while sent < streams:
            for _ in range(100):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, headers, end_stream=True)
                conn.reset_stream(sid)
                sent += 1
            tls.sendall(conn.data_to_send())
    except (OSError, ssl.SSLError):
        pass  # the proxy closed the connection: what it should do
    finally:
        tls.close()
    return sent


@pytest.mark.measure
def test_http2_rapid_reset_neither_freezes_others_nor_runs_forever(proxy: Proxy, origin: Origin) -> None:
    got: list[int] = []
    worst = _worst_while(lambda: got.append(_h2_rapid_reset(proxy, 20_000)), proxy, origin)
    print(f"\n20,000 HTTP/2 resets: a concurrent request waited at most {worst:.3f} s; "
          f"the attacker sent {got[0]:,} streams before the connection was closed")  # fmt: skip
    assert worst < 1.0
    assert "rapid reset" in proxy.log()


def test_a_connection_resetting_streams_in_bulk_is_closed(proxy: Proxy) -> None:
    from pixelguard.limits import MAX_STREAM_RESETS

    sent = _h2_rapid_reset(proxy, 20_000)
    assert sent < 20_000, "the proxy kept reading a connection that reset every stream it opened"
    wait_for(lambda: "rapid reset" in proxy.log(), what="the log line")
    assert sent > MAX_STREAM_RESETS


@pytest.mark.measure
def test_idle_connections_cannot_take_every_file_descriptor(
    tmp_path: Path, confdir: Path, certs: Certs, origin: Origin
) -> None:
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 1300:
        pytest.skip("this test opens 1,100 sockets: the hard nofile limit here is lower")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1300),
                                                resource.getrlimit(resource.RLIMIT_NOFILE)[1]))  # fmt: skip
    config = write_config(tmp_path, {"t": "||tracker.test^\n"})
    proxy = start_proxy(tmp_path, config, confdir, certs, nofile=1024)  # the common default of `ulimit -n`
    idle: list[socket.socket] = []
    try:
        for _ in range(1100):
            idle.append(socket.create_connection(("127.0.0.1", proxy.port), timeout=10))
        latency = _normal_latency(proxy, origin)
        print(
            f"\n1,100 idle connections under `ulimit -n 1024`: a normal request answered in {latency:.3f} s"
        )
        assert latency < 2.0
        assert "least recently active" in proxy.log()
    finally:
        for s in idle:
            s.close()
        proxy.stop()


def _park_body(proxy: Proxy, origin: Origin, size: int, sent: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    s.sendall(
        f"POST {origin.url('/wear/upload')} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {size}\r\n\r\n".encode()
    )
    s.sendall(b"z" * sent)  # ... and never the rest
    return s


@pytest.mark.measure
def test_parked_request_bodies_hold_a_bounded_amount_of_memory(proxy: Proxy, origin: Origin) -> None:
    base = proxy.rss_mb()
    parked = []
    try:
        for _ in range(500):
            parked.append(_park_body(proxy, origin, 256_000, 250_000))
        time.sleep(0)  # the proxy reads at its own pace; RSS is sampled once every socket has been written
        peak = max(proxy.rss_mb() for _ in range(20) if not time.sleep(0.1))
        print(f"\n500 parked 250 KB bodies: RSS +{peak - base:.0f} MB")
        assert peak - base < 100
        assert _normal_latency(proxy, origin) < 2.0
    finally:
        for s in parked:
            s.close()


@pytest.mark.measure
def test_pixels_at_ever_new_paths_grow_nothing(proxy: Proxy, origin: Origin) -> None:
    origin.serve_prefix("/px/", BUILDERS["gif"](1, 1), "image/gif")
    base = proxy.rss_mb()

    def client(worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        for i in range(5000):
            path = f"/px/{worker}-{i}-" + "a" * 4000
            conn.request(
                "GET", origin.url(path), headers={"Referer": "https://one-site.example/", "Accept": "image/*"}
            )
            r = conn.getresponse()
            r.read()
            assert r.getheader("X-Pixelguard") == "replaced"
        conn.close()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grew = proxy.rss_mb() - base
    print(f"\n20,000 pixels from one host on one site at distinct 4 KB paths: RSS +{grew:.1f} MB")
    assert grew < 30


def _raw_exchange(proxy: Proxy, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_obs_folded_header_lines_are_unfolded_both_ways(proxy: Proxy, origin: Origin) -> None:
    origin.serve("/wear/folded", b"ok\n", "text/plain", ("X-Reply", "first\r\n\tsecond"))
    reply = _raw_exchange(
        proxy,
        f"GET {origin.url('/wear/folded')} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Folded: one\r\n  two\r\n\r\n".encode(),
    )
    assert reply.startswith(b"HTTP/1.1 200")
    head = reply.split(b"\r\n\r\n", 1)[0]
    assert b"X-Reply: first second\r\n" in head + b"\r\n" and b"\r\n\tsecond" not in head
    _, path, headers = origin.requests[-1]
    assert path == "/wear/folded" and headers["X-Folded"] == "one two"
