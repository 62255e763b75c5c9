"""Which TLS connections pixelguard does not decrypt: sensitive sites, and hosts whose clients pin their certificates.

Three sources: the bundled list (filters/tls-passthrough.txt: banking, payments, password managers, government
and health logins), ``tls.passthrough`` in the config, and what was learned. A name covers its subdomains.

Learning (``tls.learn``) must never blind the blocker, so a host is learned only when all of these hold:

- the client refused pixelguard's certificate: a TLS alert (``unknown_ca``, ``bad_certificate``,
  ``certificate_unknown``) or a close right after our certificate was sent. A client that never got that far
  (garbage after CONNECT, a close before its ClientHello was read, a protocol mismatch) refused nothing;
- it refused ``limits.TLS_LEARN_AFTER`` times with no successful handshake for that host in between. A pinning
  app refuses every time; a browser aborting a spare connection, a cancelled fetch or one script run without
  the CA also completes handshakes for the same host, which start the count again;
- no enabled list has a rule for the host (``Engine.names_host``): a host the lists know stays decrypted, since
  its rules could not apply to what pixelguard cannot see. This is asked again whenever a learned host is used,
  so a list that starts naming a learned host takes it back.

Learned entries are per client address, kept in the data dir (tls-learned.json) with when they were learned
and last used; the table is bounded and gives up its least recently used entry first, so that junk hosts that
are learned once and never used again leave before the pinned app that connects every day. Refusals not yet
learned are counted in a separate bounded table, which is all a flood of junk hosts can fill.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from pixelguard.config import bundled_filters_dir
from pixelguard.engine.request import normal_host
from pixelguard.fileio import atomic_write
from pixelguard.invocation import cmd
from pixelguard.limits import TLS_CANDIDATES, TLS_LEARN_AFTER, TLS_LEARNED

LEARNED_FILE = "tls-learned.json"
# How long a learned entry's "last used" may lag in the file: written at most this often while in use.
TOUCH_WRITE_S = 3600.0


def bundled() -> list[str]:
    path = bundled_filters_dir() / "tls-passthrough.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [ln.strip().lower() for ln in lines if ln.strip() and not ln.startswith("!")]


def _covering(host: str, names: AbstractSet[str]) -> str | None:
    h = normal_host(host)
    while True:
        if h in names:
            return h
        dot = h.find(".")
        if dot < 0:
            return None
        h = h[dot + 1 :]


def refusal_kind(error: str | None) -> str | None:
    """What a failed client handshake (mitmproxy's message for it) says about the client: "alert" when it
    rejected pixelguard's certificate, "closed" when it hung up after receiving it; None when the failure says
    nothing about the certificate (garbage, a close before the ClientHello was read, a version mismatch)."""
    if not error:
        return None
    text = error.lower()
    if any(a in text for a in ("unknown ca", "bad certificate", "certificate unknown")):
        return "alert"
    if "disconnected during the handshake" in text:
        return "closed"
    return None


@dataclass
class LearnedHost:
    client: str
    host: str
    since: float
    last: float
    refusals: int = TLS_LEARN_AFTER


class Policy:
    def __init__(
        self,
        passthrough: tuple[str, ...],
        data_dir: Path,
        learn: bool = True,
        *,
        named_by_lists: Callable[[str], bool] = lambda host: False,
        clock: Callable[[], float] = time.time,
    ):
        self.bundled = frozenset(normal_host(n) for n in bundled())
        self.configured = frozenset(normal_host(n) for n in passthrough)
        self.learn = learn
        self.named_by_lists = named_by_lists  # the engine in use (replaced on reload): Engine.names_host
        self.clock = clock
        self.path = data_dir / LEARNED_FILE
        self._lock = threading.Lock()
        self._learned: OrderedDict[tuple[str, str], LearnedHost] = read_learned(self.path)
        self._candidates: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._sig = _signature(self.path)
        self._checked = time.monotonic()
        self._written = self.clock()

    def why(self, host: str, client: str = "") -> str | None:
        """Why host's TLS is passed through for client (a sentence), or None when it is decrypted."""
        if not host:
            return None
        host = normal_host(host)
        name = _covering(host, self.bundled)
        if name:
            return f"{name} is on the bundled list of sensitive sites"
        name = _covering(host, self.configured)
        if name:
            return f"{name} is in tls.passthrough in the config"
        self._follow_file()
        entry = self._learned_for(host, client)
        if entry is None or self.named_by_lists(host):
            return None
        entry.last = self.clock()
        if entry.last - self._written > TOUCH_WRITE_S:
            self._save()
        since = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.since))
        return (
            f"passed through undecrypted since {since}: a client at {entry.client or '?'} refused "
            f"pixelguard's certificate {entry.refusals} times (`{cmd('tls forget ' + entry.host)}`)"
        )

    def passthrough(self, host: str, client: str = "") -> bool:
        return self.why(host, client) is not None

    def _learned_for(self, host: str, client: str) -> LearnedHost | None:
        h = host
        while True:
            entry = self._learned.get((client, h))
            if entry is not None:
                self._learned.move_to_end((client, h))
                return entry
            dot = h.find(".")
            if dot < 0:
                return None
            h = h[dot + 1 :]

    def refused(self, client: str, host: str, kind: str | None = "alert") -> LearnedHost | None:
        """A client refused our certificate for host. Returns the entry when this refusal made it learned."""
        if not self.learn or not host or not client or kind is None:
            return None
        host = normal_host(host)
        if self.named_by_lists(host):
            return None  # never blind the lists: a host they know stays decrypted
        key = (client, host)
        with self._lock:
            if key in self._learned:
                return None
            count = self._candidates.pop(key, 0) + 1
            if count < TLS_LEARN_AFTER:
                self._candidates[key] = count
                if len(self._candidates) > TLS_CANDIDATES:
                    self._candidates.popitem(last=False)
                return None
            now = self.clock()
            entry = LearnedHost(client, host, now, now, count)
            self._save_locked(entry)
        return entry

    def succeeded(self, client: str, host: str) -> None:
        """A handshake for host completed: whatever refused it before was not pinning."""
        if host:
            self._candidates.pop((client, normal_host(host)), None)

    def candidates(self) -> int:
        return len(self._candidates)

    def learned(self) -> list[LearnedHost]:
        self._follow_file()
        return list(self._learned.values())

    def _save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self, entry: LearnedHost | None = None) -> None:
        """Write what is learned, ``entry`` added. When another process wrote the file since this one read it
        (another worker of `run --workers` learned a host, `tls forget` removed one), the file is the base:
        writing this process's older copy would drop the one and bring the other back."""
        if _signature(self.path) != self._sig:
            self._learned = read_learned(self.path)
        if entry is not None:
            self._learned[(entry.client, entry.host)] = entry
            while len(self._learned) > TLS_LEARNED:
                self._learned.popitem(last=False)
        write_learned(self.path, list(self._learned.values()))
        self._sig = _signature(self.path)
        self._written = self.clock()

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


def read_learned(path: Path) -> OrderedDict[tuple[str, str], LearnedHost]:
    """The learned entries, least recently used first. Reads this version's file and the older
    {client: [host, ...]} one (whose entries get the file's time as their own)."""
    out: OrderedDict[tuple[str, str], LearnedHost] = OrderedDict()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mtime = path.stat().st_mtime
    except (OSError, ValueError):
        return out
    if isinstance(data, dict) and isinstance(data.get("learned"), list):
        rows = [r for r in data["learned"] if isinstance(r, dict)]
        entries = []
        for r in rows[-TLS_LEARNED:]:
            try:
                entries.append(
                    LearnedHost(
                        str(r["client"]),
                        str(r["host"]),
                        float(r.get("since") or mtime),
                        float(r.get("last") or mtime),
                        int(r.get("refusals") or TLS_LEARN_AFTER),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
        for e in sorted(entries, key=lambda e: e.last):
            out[(e.client, e.host)] = e
    elif isinstance(data, dict):
        for client, hosts in data.items():
            if isinstance(hosts, list):
                for h in hosts[:TLS_LEARNED]:
                    out[(str(client), str(h).lower())] = LearnedHost(
                        str(client), str(h).lower(), mtime, mtime
                    )
    return out


def write_learned(path: Path, entries: list[LearnedHost]) -> None:
    rows = [
        {"client": e.client, "host": e.host, "since": e.since, "last": e.last, "refusals": e.refusals}
        for e in entries
    ]
    atomic_write(path, json.dumps({"version": 2, "learned": rows}, indent=1) + "\n", private=True)


def learned_pairs(data_dir: Path) -> list[tuple[str, str]]:
    """Every learned (client, host), sorted, as the UI's lists screen and `pixelguard tls` show them."""
    return sorted((e.client, e.host) for e in read_learned(data_dir / LEARNED_FILE).values())


def learned_entries(data_dir: Path) -> list[LearnedHost]:
    return sorted(read_learned(data_dir / LEARNED_FILE).values(), key=lambda e: (e.client, e.host))


def forget(data_dir: Path, host: str, client: str | None = None) -> int:
    """Forget learned passthrough for host (for one client, or all); returns how many entries went."""
    path = data_dir / LEARNED_FILE
    learned = read_learned(path)
    host = normal_host(host)
    gone = [k for k in learned if k[1] == host and (client is None or k[0] == client)]
    for k in gone:
        del learned[k]
    if gone:
        write_learned(path, list(learned.values()))
    return len(gone)
