"""``pixelguard run --workers N``: N processes serve one address, so a multi-core machine serves more.

One pixelguard process is one event loop, and under load that loop is the ceiling (about one core's worth of
HTTPS requests: see README, Performance). Requests share nothing while they are decided, so the way to use more
cores is more loops, each in a process of its own (Python runs one thread's code at a time).

The first process (the parent) claims the data dir, announces itself in proxy.json, runs the list updates, and
serves like any other worker. Once it listens it starts N-1 helpers: the same pixelguard, spawned (not forked:
the parent has threads by then) with the same config and ``--set`` options. Every worker listens on the same
address with SO_REUSEPORT, and Linux hands each new connection to one of the listening sockets by a hash of its
addresses, so connections spread evenly and a worker that stops takes its socket out of the group: new
connections go to the others while the parent starts it again. Only Linux balances such a group (macOS and most
BSDs give every connection to one socket), so elsewhere N must be 1.

What workers share, and how: the filter lists, pause, allow rules and learned TLS hosts are files each worker
follows already (reloader.py, tls_policy.py); the event log is one SQLite file in WAL mode that every worker's
writer adds to (counters are upserts that add); list downloads run in the parent only, the helpers pick the new
files up like any list edit. Each helper exits when the parent does: it holds the read end of a pipe whose write
end only the parent has, so the parent's exit (clean or killed) reaches it as end of file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pixelguard.errors import PixelguardError
from pixelguard.limits import MAX_WORKERS

log = logging.getLogger(__name__)

ENV = "PIXELGUARD_WORKER"  # set by the parent in a helper's environment: "INDEX:PARENT_FD"
# A helper that stops is started again after this long, doubled after each quick stop (a helper that cannot
# start at all would otherwise be started in a tight loop), back to the first once one has served a minute.
RESTART_AFTER_S = 1.0
RESTART_AFTER_MAX_S = 60.0
STOP_WAIT_S = 15.0  # a helper flushes its event log on the way out; past this it is killed


def check_count(workers: int, set_options: Sequence[str]) -> None:
    """One clear line when N workers cannot serve here or with these options."""
    if workers == 1:
        return
    if not 1 <= workers <= MAX_WORKERS:
        raise PixelguardError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        raise PixelguardError(
            f"--workers {workers} needs Linux (its SO_REUSEPORT spreads connections over the workers); "
            f"on {sys.platform} pixelguard serves with one process"
        )
    if any(o.split("=", 1)[0] == "mode" for o in set_options):
        raise PixelguardError("--set mode=... serves one process only: leave out --workers, or the mode")


def share_the_port() -> None:
    """Make mitmproxy's regular proxy listen with SO_REUSEPORT, so the workers' sockets form one group.

    mitmproxy 11 listens with ``asyncio.start_server(handler, host, port)`` and offers no option for it; the
    method below is its listen() for the regular mode with that one argument added. Only processes of the same
    user can join a group, so nobody else can take a share of the connections."""
    from mitmproxy.proxy import mode_servers

    async def listen(self: mode_servers.RegularInstance, host: str, port: int) -> list[asyncio.Server]:
        return [await asyncio.start_server(self.handle_stream, host, port, reuse_port=True)]

    mode_servers.RegularInstance.listen = listen  # type: ignore[method-assign,assignment]


@dataclass(frozen=True)
class HelperSpec:
    index: int  # 1.. (the parent is worker 0)
    parent_fd: int  # read end of the parent's pipe: end of file when the parent is gone


def helper_spec() -> HelperSpec | None:
    """This process's place among the workers when the parent started it, else None."""
    raw = os.environ.get(ENV)
    if not raw:
        return None
    try:
        index, fd = (int(part) for part in raw.split(":"))
        os.fstat(fd)
    except (ValueError, OSError):
        raise PixelguardError(
            f"{ENV}={raw!r} is not a worker pixelguard started (it sets it for its helpers only): unset it"
        ) from None
    return HelperSpec(index, fd)


def follow_parent(spec: HelperSpec, stop: Callable[[], object]) -> None:
    """Call stop() when the parent is gone (its pipe reaches end of file), whichever way it went."""
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(spec.parent_fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(spec.parent_fd)
            stop()

    os.set_blocking(spec.parent_fd, False)
    loop.add_reader(spec.parent_fd, readable)


class Helpers:
    """The parent's N-1 helper processes: started once the parent listens, started again when one stops,
    stopped (and waited for) when the parent stops."""

    def __init__(self, count: int, argv: Sequence[str]):
        self.count = count
        # How to start one: pixelguard [--config PATH] run --host H --port P [--set ...]
        self.argv = list(argv)
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._read, self._write = os.pipe()  # both ends private to this process until passed on

    def start(self) -> None:
        self._tasks = [
            asyncio.get_running_loop().create_task(self._keep(i)) for i in range(1, self.count + 1)
        ]

    async def _keep(self, index: int) -> None:
        delay = RESTART_AFTER_S
        while not self._stopping:
            env = dict(os.environ)
            env[ENV] = f"{index}:{self._read}"
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.argv, env=env, pass_fds=(self._read,), stdin=subprocess.DEVNULL
                )
            except OSError as e:
                log.error("pixelguard: cannot start worker %d: %s", index, e.strerror or e)
                return
            self.procs[index] = proc
            began = time.monotonic()
            status = await proc.wait()
            if self._stopping:
                return
            if time.monotonic() - began > RESTART_AFTER_MAX_S:
                delay = RESTART_AFTER_S
            # Nothing stops being protected meanwhile: the stopped worker's socket left the group with it, and
            # the other workers take its share of new connections.
            log.warning(
                "pixelguard: worker %d (pid %d) stopped (%s); the others serve its share, starting it again in %.0f s",
                index, proc.pid, _status(status), delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_AFTER_MAX_S)

    def stopping(self) -> None:
        """The parent is stopping: a helper that stops from now on is not started again, nor warned about."""
        self._stopping = True

    async def stop(self) -> None:
        """Tell every helper to stop (the pipe's end of file), wait for each to flush, kill what hangs."""
        self.stopping()
        for t in self._tasks:
            t.cancel()
        os.close(self._write)
        os.close(self._read)
        procs = [p for p in self.procs.values() if p.returncode is None]
        if not procs:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), STOP_WAIT_S)
        except TimeoutError:
            for p in procs:
                if p.returncode is None:
                    log.warning(
                        "pixelguard: worker pid %d did not stop in %.0f s: killed", p.pid, STOP_WAIT_S
                    )
                    p.kill()
            await asyncio.gather(*(p.wait() for p in procs))


def helper_argv(config_source: str | None, host: str, port: int, set_options: Sequence[str]) -> list[str]:
    """The command that starts one helper: this pixelguard, this config, the address the parent listens on."""
    argv = [sys.executable, "-m", "pixelguard"]
    if config_source:
        argv += ["--config", config_source]
    argv += ["run", "--host", host, "--port", str(port)]
    for o in set_options:
        argv += ["--set", o]
    return argv


def _status(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"
