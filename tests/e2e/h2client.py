"""A minimal HTTP/2 client for the end-to-end tests (hyper-h2, which mitmproxy itself uses): one request through
the proxy's CONNECT tunnel, TLS with ALPN h2, the body sent as the peer's flow control allows."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.events
from harness import connect_tunnel


@dataclass
class H2Response:
    status: int | None  # None: the stream was reset or the connection closed before a response
    headers: dict[str, str]
    body: bytes
    alpn: str | None
    ended: bool = False  # the stream ended or was reset (not a time-out, not the connection closing)


def request(
    proxy_port: int,
    host: str,
    port: int,
    context: ssl.SSLContext,
    method: str = "GET",
    path: str = "/",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    timeout: float = 20,
) -> H2Response:
    raw, reply = connect_tunnel(proxy_port, host, port, timeout)
    if not reply.startswith(b"HTTP/1.1 200"):
        raw.close()
        return H2Response(int(reply.split()[1]), {}, b"", None)
    context.set_alpn_protocols(["h2"])
    sock = context.wrap_socket(raw, server_hostname=host)
    alpn = sock.selected_alpn_protocol()
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    sid = conn.get_next_available_stream_id()
    fields = [(":method", method), (":path", path), (":scheme", "https"), (":authority", host)]
    fields += [(k.lower(), v) for k, v in (headers or {}).items()]
    conn.send_headers(sid, fields, end_stream=not body)
    sock.sendall(conn.data_to_send())
    status: int | None = None
    got: dict[str, str] = {}
    out = bytearray()
    sent = 0
    deadline = time.monotonic() + timeout
    done = False
    try:
        while not done and time.monotonic() < deadline:
            while body and sent < len(body):
                window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if window <= 0:
                    break
                piece = body[sent : sent + window]
                sent += len(piece)
                conn.send_data(sid, piece, end_stream=sent >= len(body))
                sock.sendall(conn.data_to_send())
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    got = {k.decode(): v.decode() for k, v in event.headers}
                    status = int(got[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    out += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, sid)
                elif isinstance(
                    event, (h2.events.StreamEnded, h2.events.StreamReset, h2.events.ConnectionTerminated)
                ):
                    done = True
                    if isinstance(event, h2.events.StreamReset) and status is None:
                        status = None
            sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        pass
    finally:
        sock.close()
    return H2Response(status, got, bytes(out), alpn, done)
