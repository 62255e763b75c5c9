"""HTTP/2 for the HTTPS page-load benchmark (``--http2``): an origin that answers every host over HTTP/2, and a
client that loads a page as a browser does over HTTP/2, one connection per host carrying all of the page's requests
to it at once, through a proxy's CONNECT tunnel or straight to the origin. Both run on asyncio with the h2 library
(the one mitmproxy uses): one event loop per side, so no TLS connection is ever used from two threads.

Loopback only. Used by benchmarks/pageload_https.py.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from benchmarks.pageload import host_and_port

BODY = b"x" * 1024


class Refused(Exception):
    """The proxy refused the tunnel with 403, as pixelguard refuses one to a host blocked whole: a block, not a
    failure (any other answer but 200 is a failure)."""


# --- the origin -----------------------------------------------------------------------------------------------


class Origin:
    """Every host of the simulated internet over HTTP/2 (ALPN h2 only), each answer after ``delay(host)``."""

    def __init__(self, context: ssl.SSLContext, delay: Callable[[str], float]) -> None:
        self.context, self.delay = context, delay
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context, ssl_handshake_timeout=30)
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        tasks: set[asyncio.Task[None]] = set()
        unsent: dict[int, bytes] = {}  # body bytes each stream waits to send until the client's window allows

        def send_what_fits() -> None:
            for sid in list(unsent):
                data = unsent[sid]
                try:
                    room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                except h2.exceptions.StreamClosedError:
                    del unsent[sid]
                    continue
                while data and room > 0:
                    chunk, data = data[:room], data[room:]
                    conn.send_data(sid, chunk, end_stream=not data)
                    room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if data:
                    unsent[sid] = data
                else:
                    del unsent[sid]
            writer.write(conn.data_to_send())

        async def answer(stream_id: int, host: str, path: str) -> None:
            await asyncio.sleep(self.delay(host))
            kind = "image/png" if path.endswith(".png") else "text/plain"
            try:
                conn.send_headers(
                    stream_id,
                    [(":status", "200"), ("content-type", kind), ("content-length", str(len(BODY)))],
                )
            except h2.exceptions.H2Error:  # the stream or the connection went away meanwhile
                return
            unsent[stream_id] = BODY
            send_what_fits()

        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        headers = dict(event.headers)
                        task = asyncio.create_task(
                            answer(
                                event.stream_id, str(headers.get(":authority", "")), str(headers.get(":path"))
                            )
                        )
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        return
                send_what_fits()  # a WINDOW_UPDATE may have made room
        except (OSError, h2.exceptions.H2Error, ssl.SSLError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            writer.close()


# --- the client -----------------------------------------------------------------------------------------------


class _Connection:
    """One HTTP/2 connection to a host, its requests multiplexed; responses are read by one task."""

    def __init__(self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.host, self.reader, self.writer = host, reader, writer
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self.writer.write(self.conn.data_to_send())
        self.waiting: dict[int, asyncio.Future[int]] = {}
        self.status: dict[int, int] = {}
        self.reading = asyncio.create_task(self._read())

    async def get(self, path: str, referer: str | None) -> int:
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", "GET"), (":authority", self.host), (":scheme", "https"), (":path", path),
                   ("accept", "*/*")] + ([("referer", referer)] if referer else [])  # fmt: skip
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting[sid] = done
        self.conn.send_headers(sid, headers, end_stream=True)
        self.writer.write(self.conn.data_to_send())
        return await done

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                for event in self.conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        self.status[event.stream_id] = int(dict(event.headers).get(":status", 0))
                    elif isinstance(event, h2.events.DataReceived):
                        self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        self._finish(event.stream_id, None)
                    elif isinstance(event, h2.events.StreamReset):
                        self._finish(event.stream_id, ConnectionError(f"stream reset ({event.error_code})"))
                self.writer.write(self.conn.data_to_send())
        except (OSError, ssl.SSLError, h2.exceptions.H2Error) as e:
            self._fail_all(e)
        self._fail_all(ConnectionError("connection closed"))

    def _finish(self, sid: int, error: Exception | None) -> None:
        done = self.waiting.pop(sid, None)
        if done is not None and not done.done():
            if error is None:
                done.set_result(self.status.pop(sid, 0))
            else:
                done.set_exception(error)

    def _fail_all(self, error: Exception) -> None:
        for sid in list(self.waiting):
            self._finish(sid, error)

    def close(self) -> None:
        self.reading.cancel()
        self.writer.close()


class Browser:
    """One setup's HTTP/2 client: through the proxy at ``proxy_port`` (a CONNECT per host), or straight to the
    origin (``rtt``: each new connection first waits two of its host's round trips, TCP's and TLS's)."""

    def __init__(
        self, proxy_port: int | None, origin_port: int, context: ssl.SSLContext, delay: Callable[[str], float],
        rtt: bool = False,
    ) -> None:  # fmt: skip
        self.proxy_port, self.origin_port, self.context, self.delay, self.rtt = (
            proxy_port, origin_port, context, delay, rtt)  # fmt: skip
        self.failures: list[str] = []

    async def _open(self, authority: str) -> _Connection:
        host, port = host_and_port(authority)
        if self.proxy_port is None:
            if self.rtt:
                await asyncio.sleep(2 * self.delay(host))
            reader, writer = await asyncio.open_connection("127.0.0.1", self.origin_port)
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.proxy_port)
            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1:2]
            if status != [b"200"]:
                writer.close()
                line = head.split(b"\r\n", 1)[0].decode(errors="replace")
                raise Refused(line) if status == [b"403"] else ConnectionError(f"CONNECT answered {line}")
        await writer.start_tls(self.context, server_hostname=host)
        alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
        if alpn != "h2":
            writer.close()
            raise ConnectionError(f"{host}: the TLS connection speaks {alpn}, not h2")
        return _Connection(authority, reader, writer)

    def load(self, page: list[str], skip: set[str] | None = None) -> float:
        return asyncio.run(self._load(page, skip or set()))

    async def _load(self, page: list[str], skip: set[str]) -> float:
        opening: dict[str, asyncio.Task[_Connection]] = {}

        async def get(url: str, referer: str | None) -> None:
            host, _, rest = url.split("://", 1)[1].partition("/")
            try:
                if host not in opening:  # one connection per host, shared by all of the page's requests to it
                    opening[host] = asyncio.create_task(self._open(host))
                conn = await opening[host]
                await asyncio.wait_for(conn.get("/" + rest, referer), 30)
            except Refused:
                pass  # a refused tunnel is a block, not a failure
            except (TimeoutError, OSError, ConnectionError, ssl.SSLError, h2.exceptions.H2Error) as e:
                self.failures.append(f"{url[:120]}: {type(e).__name__}: {e}")

        start = time.perf_counter()
        await get(page[0], None)
        await asyncio.gather(*(get(u, page[0]) for u in page[1:] if u not in skip))
        elapsed = time.perf_counter() - start
        for task in opening.values():
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()
        return elapsed


def client_context(cafiles: list[str]) -> ssl.SSLContext:
    """Trusting only ``cafiles``, offering only h2 (a client that gets anything else counts it as a failure)."""
    ctx = ssl.create_default_context(cafile=cafiles[0])
    for cafile in cafiles[1:]:
        ctx.load_verify_locations(cafile=cafile)
    ctx.set_alpn_protocols(["h2"])
    return ctx
