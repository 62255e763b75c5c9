"""The test suite's helpers, in one place: waiting for a condition, a free port, a local HTTP server, and a
config file with its database and lists beside it. (The end-to-end machinery, proxies and TLS origins, is in
e2e/harness.py, built on these; UI tests wait through the pilot, in test_tui_support.py.)"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, what: str = "", *, interval: float = 0.02
) -> Any:
    """Poll until predicate() is truthy; return its value, or fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_http(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 in a thread; yields the base URL (http://127.0.0.1:PORT)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_config(
    home: Path,
    lists: dict[str, str] | None = None,
    *,
    mode: str = "full",
    user: str | None = "",
    learned: str = "",
    extra: str = "",
    bundled: tuple[str, ...] = (),
    upstream: str | None = None,
) -> Path:
    """home/config.yaml with the database, user and learned lists beside it (home/pixelguard.db, user.txt,
    learned.txt) and ``lists`` ({name: rules}) as files in home/lists. ``lists=None`` writes no ``lists:`` key
    (the defaults apply, or ``extra`` gives one); ``extra`` is more YAML; ``upstream``: proxy.upstream."""
    home.mkdir(parents=True, exist_ok=True)
    forward = f", upstream: '{upstream}'" if upstream else ""
    text = f"proxy: {{mode: {mode}{forward}}}\ndatabase: pixelguard.db\nuser_list: user.txt\nlearned_list: learned.txt\n"
    if user is not None:  # None: no user list yet, as on a first start
        (home / "user.txt").write_text(user, encoding="utf-8")
    if learned:
        (home / "learned.txt").write_text(learned, encoding="utf-8")
    if lists is not None or bundled:
        files = home / "lists"
        files.mkdir(parents=True, exist_ok=True)
        entries = [f"  - {{name: {name}, path: bundled}}" for name in bundled]
        for name, rules in (lists or {}).items():
            (files / f"{name}.txt").write_text(rules, encoding="utf-8")
            entries.append(f"  - {{name: {name}, path: lists/{name}.txt}}")
        # Exactly these lists: a test's proxy must not also load the defaults (bundled lists and EasyPrivacy).
        text += "default_lists: false\nlists:\n" + ("\n".join(entries) if entries else "  []") + "\n"
    config = home / "config.yaml"
    config.write_text(text + extra, encoding="utf-8")
    return config
