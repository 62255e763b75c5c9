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


def _h2_tunnel(proxy: Proxy, host: str, timeout: float) -> tuple[ssl.SSLSocket, h2.connection.H2Connection]:
    """An HTTP/2 connection to host:443 inside a CONNECT tunnel through the proxy, its preface sent."""
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
    raw.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    assert raw.recv(4096).startswith(b"HTTP/1.1 200")
    ctx = proxy.client_context()
    ctx.set_alpn_protocols(["h2"])
    tls = ctx.wrap_socket(raw, server_hostname=host)
    assert tls.selected_alpn_protocol() == "h2"
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())
    return tls, conn


def _h2_rapid_reset(proxy: Proxy, streams: int) -> int:
    """One HTTP/2 connection through the proxy: HEADERS then RST_STREAM, stream after stream, as fast as it
    can write; returns how many it got to send before the connection closed."""
    tls, conn = _h2_tunnel(proxy, "rr.unlisted.test", 10)
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
    """Three attacks, one after another, each on a connection of its own. Each costs the proxy the HTTP/2 parsing
    of the read that went over the budget, and no flow: a small fraction of a second."""
    worst = []
    for _ in range(3):
        worst.append(_worst_while(lambda: _h2_rapid_reset(proxy, 20_000), proxy, origin))
    print(f"\n20,000 HTTP/2 resets, 3 runs: a concurrent request waited at most "
          f"{', '.join(f'{w:.2f}' for w in worst)} s")  # fmt: skip
    # The issue asks under 1 s (measured: README, Performance); bounds with room for a loaded CI machine here.
    assert sorted(worst)[1] < 1.0 and max(worst) < 2.0
    assert proxy.log().count("rapid reset") == 3


def test_a_connection_resetting_streams_in_bulk_is_closed(proxy: Proxy, origin: Origin) -> None:
    _h2_rapid_reset(proxy, 20_000)
    wait_for(lambda: "rapid reset" in proxy.log(), what="the log line")
    # Closed once, where the HTTP/2 layer reads the resets: before they became flows (the hooks' guard, which
    # only sees them as flows, says "requests reset or failed"); what came after was dropped, not counted again.
    assert proxy.log().count("rapid reset") == 1
    assert "streams reset in" in proxy.log()
    assert _normal_latency(proxy, origin) < 2.0


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


def _peak(proxy: Proxy, seconds: float = 2.0) -> float:
    peak = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, proxy.rss_mb())
        time.sleep(0.05)
    return peak


@pytest.mark.measure
def test_parked_request_bodies_hold_a_bounded_amount_of_memory(proxy: Proxy, origin: Origin) -> None:
    """Clients that send most of a body and stop. Before, the proxy held every one (500: +151 MB, and on with
    each more). Now the bodies held are bounded (MAX_BODIES_IN_FLIGHT: the connections holding them stay few).
    The first wave sets the proxy's high-water mark: connections' read buffers while 125 MB arrive at once, and
    memory the allocator keeps after that peak (+108 to +126 MB in runs on this machine, the peak depending on how
    many bodies arrive before the first are cut). The second wave, as much again, must add well under what it
    sent: that is what holding every body would break."""
    import os

    base = proxy.rss_mb()
    parked = []
    try:
        parked += [_park_body(proxy, origin, 256_000, 250_000) for _ in range(500)]
        first = _peak(proxy) - base
        parked += [_park_body(proxy, origin, 256_000, 250_000) for _ in range(500)]
        second = _peak(proxy) - base
        fds = len(os.listdir(f"/proc/{proxy.proc.pid}/fd"))
        print(f"\nparked 250 KB bodies: RSS +{first:.0f} MB after 500 (125 MB sent), "
              f"+{second:.0f} MB after 1,000 (250 MB sent); {fds} file descriptors open")  # fmt: skip
        assert fds < 200  # the held bodies' connections, a few dozen: never the thousand parked
        assert second - first < 125 / 2 and second < 175
        assert _normal_latency(proxy, origin) < 2.0
        assert "request bodies in flight over" in proxy.log()
    finally:
        for s in parked:
            s.close()


@pytest.mark.measure
def test_pixels_at_ever_new_paths_grow_nothing(proxy: Proxy, origin: Origin) -> None:
    """Two waves of 1,000 pixels from one host on one site at distinct 32 KB paths (32 MB of paths each), which
    the learner once kept every one of. The first wave sets the proxy's high-water mark (buffers, the
    allocator's arenas for 32 KB strings); the second must add next to nothing. The issue's 20,000 at 4 KB
    take minutes through the proxy; measured once, they are in README's Performance section."""
    origin.serve_prefix("/px/", BUILDERS["gif"](1, 1), "image/gif")

    def client(wave: int, worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        for i in range(250):
            path = f"/px/{wave}-{worker}-{i}-" + "a" * 32_000
            conn.request(
                "GET", origin.url(path), headers={"Referer": "https://one-site.example/", "Accept": "image/*"}
            )
            r = conn.getresponse()
            r.read()
            assert r.getheader("X-Pixelguard") == "replaced"
        conn.close()

    def wave(n: int) -> float:
        threads = [threading.Thread(target=client, args=(n, w)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return proxy.rss_mb()

    base = proxy.rss_mb()
    first = wave(1)
    second = wave(2)
    print(f"\n1,000 + 1,000 pixels at distinct 32 KB paths: RSS +{first - base:.1f} MB, "
          f"then +{second - first:.1f} MB")  # fmt: skip
    assert second - first < 12  # keeping the paths: +35 MB


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


def test_requests_pixelguard_kills_are_not_counted_as_a_clients_resets(
    tmp_path: Path, confdir: Path, certs: Certs
) -> None:
    # A POST to a blocked path whose body's length is unknown (HTTP/2 needs no Content-Length) is killed, not
    # answered: its stream ends by pixelguard's decision. Counted as the client's resets, 200 of them in 10 s
    # (a page's beacons) had the rapid-reset guard close the connection, and the page's other requests with it.
    from pixelguard.limits import MAX_STREAM_RESETS

    config = write_config(tmp_path, {"t": "||site.test/beacon\n"})
    proxy = start_proxy(tmp_path, config, confdir, certs)
    try:
        tls, conn = _h2_tunnel(proxy, "site.test", 20)

        def exchange(method: str, count: int) -> dict[int, str]:
            """count requests at once; how each stream ended: its status, or "reset"."""
            ended: dict[int, str] = {}
            for _ in range(count):
                sid = conn.get_next_available_stream_id()
                fields = [
                    (":method", method),
                    (":path", "/beacon"),
                    (":scheme", "https"),
                    (":authority", "site.test"),
                ]
                conn.send_headers(sid, fields, end_stream=method == "GET")
                if method == "POST":
                    conn.send_data(sid, b"e=1", end_stream=True)
                ended[sid] = ""
            tls.sendall(conn.data_to_send())
            while not all(ended.values()):
                data = tls.recv(65536)
                assert data, "the proxy closed the connection"
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        ended[event.stream_id] = dict(event.headers)[b":status"].decode()
                    elif isinstance(event, h2.events.StreamReset):
                        ended[event.stream_id] = "reset"
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        raise AssertionError("the proxy closed the connection")
                tls.sendall(conn.data_to_send())
            return ended

        for _ in range(MAX_STREAM_RESETS // 50 + 1):
            assert set(exchange("POST", 50).values()) == {"reset"}
        assert set(exchange("GET", 1).values()) == {"204"}  # the same connection still serves the page
        tls.close()
        assert "requests reset or failed" not in proxy.log()
    finally:
        proxy.stop()
