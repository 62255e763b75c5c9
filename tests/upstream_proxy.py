"""An HTTP proxy on 127.0.0.1 that pixelguard can forward to, as to a company's proxy: CONNECT tunnels and
absolute-form requests, an optional Basic login, and a record of every request line it was sent."""

from __future__ import annotations

import base64
import socket
import socketserver
import threading

LOCAL = "127.0.0.1"  # whatever host a request names, it goes here: nothing leaves the machine


class UpstreamProxy:
    def __init__(self, login: str | None = None):
        self.seen: list[str] = []  # request lines, in order ("CONNECT host:port HTTP/1.1", "GET http://...")
        self.refused = 0  # requests without the right Proxy-Authorization
        self.lock = threading.Lock()
        expected = "Basic " + base64.b64encode(login.encode()).decode() if login else None
        upstream = self

        class Handler(socketserver.StreamRequestHandler):
            # The head is read byte by byte: nothing past it is kept in a buffer the tunnel would miss.
            rbufsize = 0

            def handle(self) -> None:
                head = self._head()
                if head is None:
                    return
                line, headers = head
                if expected and headers.get("proxy-authorization") != expected:
                    with upstream.lock:
                        upstream.refused += 1
                    self.wfile.write(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
                    )
                    return
                with upstream.lock:
                    upstream.seen.append(line)
                method, target, _ = line.split(" ", 2)
                if method == "CONNECT":
                    port = target.rpartition(":")[2]
                    try:
                        far = socket.create_connection((LOCAL, int(port)), timeout=10)
                    except OSError:
                        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                        return
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self._pipe(far)
                    return
                # Absolute-form: sent on as origin-form, one request per connection.
                rest = target.split("://", 1)[1]
                authority, _, path = rest.partition("/")
                port = authority.rpartition(":")[2] if ":" in authority else "80"
                far = socket.create_connection((LOCAL, int(port)), timeout=10)
                lines = [f"{method} /{path} HTTP/1.1"] + [
                    f"{k}: {v}"
                    for k, v in headers.items()
                    if not k.startswith("proxy-") and k != "connection"
                ]
                far.sendall(("\r\n".join(lines) + "\r\nConnection: close\r\n\r\n").encode("latin-1"))
                self._pipe(far)

            def _head(self) -> tuple[str, dict[str, str]] | None:
                line = self.rfile.readline(65536).decode("latin-1").strip()
                if not line:
                    return None
                headers: dict[str, str] = {}
                while True:
                    h = self.rfile.readline(65536).decode("latin-1").strip()
                    if not h:
                        return line, headers
                    k, _, v = h.partition(":")
                    headers[k.strip().lower()] = v.strip()

            def _pipe(self, far: socket.socket) -> None:
                near = self.connection

                def back() -> None:
                    try:
                        while data := far.recv(65536):
                            near.sendall(data)
                    except OSError:
                        pass
                    finally:
                        try:
                            near.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass

                t = threading.Thread(target=back, daemon=True)
                t.start()
                try:
                    while data := near.recv(65536):
                        far.sendall(data)
                except OSError:
                    pass
                t.join(10)
                far.close()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
