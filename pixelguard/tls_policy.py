"""Which TLS connections pixelguard does not decrypt: sensitive sites, and hosts whose clients refuse its CA.

Three sources: the bundled list (filters/tls-passthrough.txt: banking, payments, password managers, government
and health logins), ``tls.passthrough`` in the config, and what was learned: with ``tls.learn``, a client that
refuses pixelguard's certificate for a host (an app that pins its certificates) gets that host passed through
from then on. Learned entries are per client address, kept in the data dir (tls-learned.json), and shown and
forgotten with ``pixelguard tls``. A name covers its subdomains.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Set as AbstractSet
from pathlib import Path

from pixelguard.config import bundled_filters_dir
from pixelguard.fileio import atomic_write

LEARNED_FILE = "tls-learned.json"
MAX_LEARNED = 5000  # entries kept; more would be a client trying to fill the disk


def bundled() -> list[str]:
    path = bundled_filters_dir() / "tls-passthrough.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [ln.strip().lower() for ln in lines if ln.strip() and not ln.startswith("!")]


def _covered(host: str, names: AbstractSet[str]) -> bool:
    h = host.lower().rstrip(".")
    while True:
        if h in names:
            return True
        dot = h.find(".")
        if dot < 0:
            return False
        h = h[dot + 1 :]


class Policy:
    def __init__(self, passthrough: tuple[str, ...], data_dir: Path, learn: bool = True):
        self.names = frozenset(n.lower().rstrip(".") for n in (*bundled(), *passthrough))
        self.learn = learn
        self.path = data_dir / LEARNED_FILE
        self._lock = threading.Lock()
        self._learned: dict[str, set[str]] = read_learned(self.path)
        self._sig = _signature(self.path)
        self._checked = time.monotonic()

    def passthrough(self, host: str, client: str | None = None) -> bool:
        if not host:
            return False
        if _covered(host, self.names):
            return True
        self._follow_file()
        learned = self._learned.get(client or "")
        return learned is not None and _covered(host, learned)

    def refused(self, client: str, host: str) -> bool:
        """A client refused our certificate for host: remember it (True when this is news)."""
        if not self.learn or not host or not client:
            return False
        with self._lock:
            hosts = self._learned.setdefault(client, set())
            if host in hosts or sum(len(v) for v in self._learned.values()) >= MAX_LEARNED:
                return False
            hosts.add(host.lower())
            snapshot = {c: sorted(h) for c, h in self._learned.items() if h}
            atomic_write(self.path, json.dumps(snapshot, indent=1, sort_keys=True) + "\n", private=True)
            self._sig = _signature(self.path)
        return True

    def _follow_file(self) -> None:
        """`pixelguard tls forget` edits the file: look at it at most once a second."""
        now = time.monotonic()
        if now - self._checked < 1.0:
            return
        self._checked = now
        sig = _signature(self.path)
        if sig != self._sig:
            with self._lock:
                self._learned, self._sig = read_learned(self.path), sig


def _signature(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return ()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def read_learned(path: Path) -> dict[str, set[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(c): {str(h) for h in hosts} for c, hosts in data.items() if isinstance(hosts, list)}


def learned_pairs(data_dir: Path) -> list[tuple[str, str]]:
    """Every learned (client, host), sorted, as the UI's lists screen shows them (`pixelguard tls` groups them
    by client itself)."""
    learned = read_learned(data_dir / LEARNED_FILE)
    return [(client, host) for client in sorted(learned) for host in sorted(learned[client])]


def forget(data_dir: Path, host: str, client: str | None = None) -> int:
    """Forget learned passthrough for host (for one client, or all); returns how many entries went."""
    path = data_dir / LEARNED_FILE
    learned = read_learned(path)
    gone = 0
    for c, hosts in learned.items():
        if (client is None or c == client) and host.lower() in hosts:
            hosts.discard(host.lower())
            gone += 1
    if gone:
        atomic_write(path, json.dumps({c: sorted(h) for c, h in learned.items() if h}, indent=1) + "\n")
    return gone
