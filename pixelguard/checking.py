"""``pixelguard check``: the proxy's decision for a request described on the command line.

The request model is built from the arguments as the proxy builds it from a flow (RequestModel.build: the same
type and page reading of the headers), and the pipeline is the proxy's (protection.build), with the pause and
the TLS policy read from the data dir and the CNAME chain looked up first, as the proxy's first request to a
name does (not for a page load, which is not judged by its host's aliases). An https URL is asked at CONNECT
first, as the proxy asks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelguard import cname, pause, protection, relays
from pixelguard.config import Config
from pixelguard.decision.bodies import BodyView, is_encoded, views_of
from pixelguard.decision.decision import Action, Decision
from pixelguard.decision.pipeline import judged_by_aliases
from pixelguard.decision.request_model import RequestModel, header_map
from pixelguard.display import size
from pixelguard.engine import Engine
from pixelguard.engine.request import split_url
from pixelguard.errors import PixelguardError
from pixelguard.invocation import cmd
from pixelguard.limits import CHECK_BODY_MAX
from pixelguard.store.event import UNREAD_BODY
from pixelguard.written_urls import fetched_url


@dataclass
class Result:
    url: str  # the URL asked about (a bare domain made https://)
    # The URL as the lists saw it: as a browser sends url (written_urls.py), with its path's other spellings
    # undone (engine/request.py, canonical_url); url itself when the two agree.
    read_as: str
    decision: Decision
    rule_count: int
    chain: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)  # what limits the answer (a list not downloaded...)


# RFC 9110 section 5.6.2: a method and a field name are each a token; a client cannot send anything else in them.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def parse_headers(items: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not _TOKEN.match(name.strip()):
            raise PixelguardError(f"--header {item!r} is not NAME: VALUE")
        out.append((name.strip(), value.strip()))
    return out


def absolute(url: str) -> str:
    """A URL as typed: a bare ``host/path`` means https (as a browser's address bar takes it)."""
    text = url.strip()
    if "://" not in text and re.match(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(?::\d+)?(?:[/?#]|\Z)", text):
        return "https://" + text
    return text


def _body(body: str | None) -> Iterator[bytes] | bytes | None:
    """--body TEXT, or @FILE read a piece at a time (the proxy reads only a big body's head and tail, and so does
    check), at most CHECK_BODY_MAX bytes of it: a command must end, even given @/dev/zero."""
    if body is None:
        return None
    if not body.startswith("@"):
        return body.encode("utf-8")
    try:
        f = Path(body[1:]).expanduser().open("rb")
    except OSError as e:
        raise PixelguardError(f"--body {body}: cannot read it: {e.strerror or e}") from None

    def pieces() -> Iterator[bytes]:
        with f:
            total = 0
            try:
                while piece := f.read(1 << 20):
                    total += len(piece)
                    if total > CHECK_BODY_MAX:
                        raise PixelguardError(
                            f"--body {body}: longer than {size(CHECK_BODY_MAX)}, all check reads; is it a file?"
                        )
                    yield piece
            except OSError as e:
                raise PixelguardError(f"--body {body}: cannot read it: {e.strerror or e}") from None

    return pieces()


def _by_host(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """History rows (relays.recent) grouped by their host, each group in the rows' order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["host"], []).append(row)
    return out


class Checker:
    """The proxy's pipeline for a config, built once; ``check`` asks it about one request at a time."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.engine = Engine.from_files(cfg.filter_files(), cache_dir=cfg.cache_dir)
        self.built = protection.build(cfg, self.engine)
        until = pause.paused_until(cfg.data_dir)
        self.built.pipeline.paused_until = until.timestamp() if until else 0.0
        self.notes = [
            f"{spec.name} is enabled but not downloaded: `{cmd('lists update ' + spec.name)}`"
            for spec in cfg.enabled_lists()
            if not spec.file.is_file()
        ]
        self.relayed = _by_host(relays.recent(cfg))  # host -> its tunnels relayed as raw bytes
        self.unread = _by_host(relays.recent(cfg, reason=UNREAD_BODY))  # host -> its bodies read in part

    def check(
        self,
        url: str,
        *,
        source: str | None = None,
        resource_type: str | None = None,
        method: str = "GET",
        headers: tuple[str, ...] = (),
        header_pairs: list[tuple[str, str]] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        client: str = "127.0.0.1",
    ) -> Result:
        if not _TOKEN.match(method):
            raise PixelguardError(f"--method {method!r} is not an HTTP method (one word, like GET or POST)")
        given = absolute(url)
        read: list[str] = []
        for what, value in (("URL", given), ("--source", source)):
            if value is not None:
                # As a browser would send it (written_urls.py): a URL typed here is judged as it would be
                # through the proxy.
                fetched = fetched_url(absolute(value))
                if fetched is None:
                    raise PixelguardError(
                        f"{what} {value!r} is not an http(s) URL a browser would load (like https://host/path)"
                    )
                read.append(fetched)
        url, source = read[0], (read[1] if source is not None else None)
        hmap = header_map([*parse_headers(headers), *(header_pairs or [])])
        pipeline = self.built.pipeline
        scheme, host = split_url(url)
        result = Result(given, url, Decision(Action.PASSED), self.engine.rule_count, notes=list(self.notes))
        relayed = self.relayed.get(host)
        if relayed:
            result.notes.append(
                f"in the last 24 h, tunnels to {relays.summary(relayed)} carried something other than HTTP: the "
                "proxy relayed them as raw bytes and decided only their host, not what they carried"
            )
        unread = self.unread.get(host)
        if unread:
            result.notes.append(f"in the last 24 h, {relays.unread_summary(unread)}")
        if scheme == "https":
            d = pipeline.decide_connect(host, client)
            if d.action is not Action.PASSED:
                result.decision = d
                return result
        req = RequestModel.build(
            url, host, method, hmap, client=client, resource=resource_type, source=source
        )
        result.read_as = req.engine.url
        resolver = self.built.resolver
        if resolver is not None and judged_by_aliases(req) and cname.worth_lookup(host):  # as the proxy asks
            unanswered = resolver.unanswered
            chain = resolver.chain_sync(host)
            result.chain = (host, *chain) if chain else ()
            if resolver.unanswered != unanswered:
                result.notes.append(
                    f"no DNS server answered for {host}: judged without its aliases, as the proxy would be "
                    f"(`{cmd('doctor')}` names the servers asked)"
                )
        d = pipeline.decide_url(req)
        view: BodyView | None = None
        if body:
            pieces = [body] if isinstance(body, bytes) else body
            # The views the proxy decides on, in its order: the first that stops the request is its decision.
            encoding = hmap.get("content-encoding", "")
            for view in views_of(pieces, hmap.get("content-type", ""), encoding):
                decided = pipeline.decide_body(req, d, view)
                if decided.stopped or decided is not d:
                    d = decided
                    break
            if view is not None and view.unread and not d.stopped:
                result.notes.append(relays.unread_note(view.size, view.unread, is_encoded(encoding)))
        result.decision = pipeline.describe(req, d, view)
        return result


def run(cfg: Config, url: str, *, body: str | None = None, **kw: object) -> Result:
    """``pixelguard check``: one request, with the body given as text or @FILE."""
    return Checker(cfg).check(url, body=_body(body), **kw)  # type: ignore[arg-type]
