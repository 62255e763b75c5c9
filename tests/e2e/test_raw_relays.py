"""A tunnel that carries something other than HTTP is relayed as raw bytes, which no filter can read: the bytes
flow, and the user sees it in the history (and so in the UI's log), in `pixelguard doctor` and in `pixelguard
check` for that host (proxy/raw_relays.py). A protocol whose server speaks first gets its server connection once
the client has been silent a while (proxy/server_first.py); a browser's idle tunnel does not. A real proxy, real
servers on 127.0.0.1, plain and TLS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import GREETING, Certs, Echo, Origin, Proxy, open_tunnel, read_line, start_proxy
from helpers import wait_for, write_config

from pixelguard.limits import SERVER_FIRST_WAIT_S

# Not HTTP, not TLS: a binary protocol's first message (mitmproxy relays it as TCP at once).
HELLO = b"\x00\x01pixelguard-test binary hello\n"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, confdir: Path, certs: Certs) -> Iterator[Proxy]:
    home = tmp_path_factory.mktemp("relays")
    config = write_config(home, {"t": "/blocked/*\n"}, extra="pixels: {learn_after: 1000}\n")
    p = start_proxy(home, config, confdir, certs)
    yield p
    assert p.stop() == 0, p.log()[-3000:]


def _talk(proxy: Proxy, port: int, tls: bool) -> bytes:
    """HELLO through a CONNECT tunnel to localhost:port (decrypted by the proxy when tls); the answer."""
    raw = open_tunnel(proxy.port, "localhost", port)
    stream = proxy.client_context().wrap_socket(raw, server_hostname="localhost") if tls else raw
    with stream:
        stream.sendall(HELLO)
        reply = b""
        while len(reply) < len(b"echo:" + HELLO):
            chunk = stream.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def _blocked_beacon(proxy: Proxy, tag: str) -> None:
    """A request the list blocks, to order the history: events are written in the order they happen."""
    r = proxy.get(f"http://localhost:1/blocked/{tag}.gif")
    assert r.headers.get("X-Pixelguard") == "blocked"
    wait_for(lambda: proxy.events(url=f"http://localhost:1/blocked/{tag}.gif"), 15, f"the {tag} event")


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "decrypted-tls"])
def test_a_tunnel_that_carries_no_http_flows_and_is_recorded_once_an_hour(
    proxy: Proxy, certs: Certs, tls: bool
) -> None:
    echo = Echo(certs if tls else None)
    try:
        url = f"tcp://localhost:{echo.port}"
        assert _talk(proxy, echo.port, tls) == b"echo:" + HELLO  # the bytes flow both ways, unchanged
        rows = wait_for(lambda: proxy.events(url=url), 15, "the relay's event")
        assert len(rows) == 1
        row = rows[0]
        assert (row["reason"], row["action"], row["host"], row["method"]) == (
            "not-http",
            "passthrough",
            "localhost",
            "CONNECT",
        )
        assert row["client"] == "127.0.0.1" and "raw bytes" in row["detail"]
        # The same client to the same place again within the hour: relayed, not recorded again. The beacon's event
        # comes after anything the second tunnel could have recorded.
        assert _talk(proxy, echo.port, tls) == b"echo:" + HELLO
        _blocked_beacon(proxy, f"after-{echo.port}")
        assert len(proxy.events(url=url)) == 1
    finally:
        echo.close()


def test_http_in_a_tunnel_is_never_taken_for_a_relay(proxy: Proxy, origin: Origin) -> None:
    before = len(proxy.events(reason="not-http"))
    assert proxy.get(f"https://localhost:{origin.https_port}/").status == 200
    raw = open_tunnel(proxy.port, "localhost", origin.http_port)
    with raw:
        raw.sendall(
            f"GET / HTTP/1.1\r\nHost: localhost:{origin.http_port}\r\nConnection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    _blocked_beacon(proxy, "after-http")
    assert len(proxy.events(reason="not-http")) == before


def test_doctor_and_check_name_the_tunnels_relayed(proxy: Proxy) -> None:
    echo = Echo()
    try:
        assert _talk(proxy, echo.port, tls=False) == b"echo:" + HELLO
        wait_for(lambda: proxy.events(url=f"tcp://localhost:{echo.port}"), 15, "the relay's event")
        doctor = proxy.cli("doctor")
        line = next(ln for ln in doctor.stdout.splitlines() if f"localhost:{echo.port}" in ln)
        assert "tunnels" in line and "other than HTTP" in line, doctor.stdout
        check = proxy.cli("check", f"https://localhost:{echo.port}/anything")
        assert check.returncode == 0 and check.stdout.startswith("allowed"), check
        # A note on standard error, as check's other notes: the answer on standard output stays the decision.
        assert f"localhost:{echo.port} (last at" in check.stderr and "raw bytes" in check.stderr, check.stderr
        as_json = json.loads(proxy.cli("check", "--json", f"https://localhost:{echo.port}/anything").stdout)
        assert any("raw bytes" in note for note in as_json["notes"]), as_json
        other = proxy.cli("check", "https://example.org/")  # another host's check says nothing of it
        assert "raw bytes" not in other.stderr + other.stdout, other
    finally:
        echo.close()


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "decrypted-tls"])
def test_a_server_that_speaks_first_is_heard(proxy: Proxy, certs: Certs, tls: bool) -> None:
    """SMTP, IMAP, POP3, FTP: the client waits for the server's greeting and sends nothing before it. Through a
    proxy that connects only when a request needs it, that tunnel hung; in TLS (IMAPS, SMTPS) the client offers no
    HTTP protocol (ALPN) and waits after the handshake."""
    server = Echo(certs if tls else None, greeting=GREETING)
    try:
        raw = open_tunnel(proxy.port, "localhost", server.port, timeout=15)
        stream = proxy.client_context().wrap_socket(raw, server_hostname="localhost") if tls else raw
        with stream:
            assert read_line(stream) == GREETING
            stream.sendall(b"EHLO client.test\r\n")
            assert stream.recv(65536) == b"echo:EHLO client.test\r\n"
        wait_for(
            lambda: proxy.events(url=f"tcp://localhost:{server.port}", reason="not-http"), 15, "the relay"
        )
    finally:
        server.close()


def test_a_browser_s_idle_tunnel_gets_no_server_connection(proxy: Proxy) -> None:
    """A browser opens tunnels ahead of need (preconnect) and completes the TLS handshake, offering HTTP (ALPN):
    silent past the wait, it still gets no server connection, so a host whose requests are all blocked is never
    contacted; its one request, blocked, is answered by the proxy alone."""
    server = Echo()  # a plain TCP server: any connection to it is counted, the proxy's above all
    try:
        raw = open_tunnel(proxy.port, "localhost", server.port)
        context = proxy.client_context()
        context.set_alpn_protocols(["http/1.1"])
        with context.wrap_socket(raw, server_hostname="localhost") as stream:
            time.sleep(2 * SERVER_FIRST_WAIT_S)  # the scenario: a tunnel kept unused for longer than the wait
            stream.sendall(b"GET /blocked/pre.gif HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := stream.recv(65536):
                reply += chunk
        assert b"X-Pixelguard: blocked" in reply, reply[:300]
        assert server.accepted == 0
        # Without a protocol offered and silent as long, it would have been (test_a_server_that_speaks_first...).
    finally:
        server.close()
