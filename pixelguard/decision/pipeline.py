"""The decision pipeline: one request model in, one typed Decision out, the same for the proxy and ``check``.

Stages, in order (each may decide; a later one only runs when the earlier ones let the request through):

  pause → lists (the destination, the name in its Host header, a learned rule still compiling)
        → tracked-link unwrapping ($urlskip; a blocked request too when its rule says -blocked)
        → CNAME chain (when known) → leak alarm (URL and headers) → collection protocols (payloads/schemas.py),
          or for a tracker an exception allowed, its identifiers removed (decision/redact.py)
        → body stages (leak alarm and collection protocols on the body) → parameter cleaning ($removeparam)

``decide_url`` runs everything a request's URL and headers decide, so that the proxy can answer before a
byte of the body arrives or anything goes upstream; ``decide_body`` adds what the body shows; ``describe``
fills in what a stopped request would have told the tracker. ``decide`` is all three, for ``check``.
``decide_connect`` answers a CONNECT before any handshake: a host blocked whole, in any mode.

Pure: the inputs that change while the proxy runs (engine, pause, pending learned rules, CNAME chains, TLS
passthrough) are attributes the proxy replaces; nothing here does I/O or knows mitmproxy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pixelguard import payloads
from pixelguard.decision.bodies import BodyView
from pixelguard.decision.decision import PASSED, Action, Decision, Reason
from pixelguard.decision.leaks import Found, Identity, form_labels
from pixelguard.decision.pixel_learner import learned_rule, under
from pixelguard.decision.redact import redact, redact_body
from pixelguard.decision.removeparam import clean, normalised
from pixelguard.decision.request_model import RequestModel
from pixelguard.decision.urlskip import unwrap
from pixelguard.engine import Engine, Verdict
from pixelguard.engine.rules import OTHER_TYPE, TYPE_BITS, URLSKIP_TYPES
from pixelguard.limits import PAGE_EXCEPTION_CLIENTS, PAGE_EXCEPTION_WINDOW_S
from pixelguard.payloads import schemas

# The detail of a CONNECT refused in full mode because every request to the host would be blocked.
REFUSED_TUNNEL = "every request to this host is blocked: tunnel refused before any handshake"

# Request headers that carry data to the destination, which the leak alarm reads besides the URL and body.
LEAK_HEADERS = ("cookie", "referer")


def _no_chain(host: str) -> tuple[str, ...] | None:
    return None


def _no_passthrough(host: str, client: str) -> str | None:
    return None


def _no_tracker(host: str) -> bool:
    return False


# Request headers a third-party tracker that passes does not get: cache validators it set itself carry an ID
# back (ETag tracking: If-None-Match, If-Modified-Since), and Chrome's X-Client-Data identifies the install.
HYGIENE_DROP = ("if-none-match", "if-modified-since", "x-client-data")


def judged_by_aliases(req: RequestModel) -> bool:
    """Is this request judged by its host's CNAME chain (so worth a lookup)? Not a page the user opens, as uBO's
    cnameIgnoreRootDocument (default on): a site served from a listed host's network stays reachable. The
    requests a page makes are."""
    return req.type != "document"


@dataclass
class Pipeline:
    engine: Engine
    identity: Identity = field(default_factory=Identity)
    paused_until: float = 0.0  # epoch seconds; 0: not paused
    pending_learned: Mapping[str, str] = field(default_factory=dict)  # host -> path prefix, not yet compiled
    cname_chain: Callable[[str], tuple[str, ...] | None] = _no_chain  # a host's known chain; None: unknown
    passthrough: Callable[[str, str], str | None] = _no_passthrough  # why (host, client) is not decrypted
    mode: str = "full"  # full | hosts-only
    # Full mode: refuse a CONNECT to a host blocked whole (decide_connect); config tls.refuse_blocked.
    refuse_blocked_tunnels: bool = True
    clock: Callable[[], float] = time.time
    # client -> when (by clock) it last loaded a page that a $document exception allows; decide_url notes it
    on_excepted_page: dict[str, float] = field(default_factory=dict)
    # Lists whose $urlskip rules are followed (engine names): see decision/urlskip.py for why not every list's.
    urlskip_lists: frozenset[str] = frozenset()
    # An allowed tracker's request loses its identifiers (decision/redact.py); config privacy.redact_allowed.
    redact_allowed: bool = True
    # Third-party tracker requests that pass go without what identifies the browser in headers (_hygiene);
    # config privacy.header_hygiene. ``tracker_host`` says whether a host is a tracker's (the entity table).
    header_hygiene: bool = True
    tracker_host: Callable[[str], bool] = _no_tracker

    # --- the stages -----------------------------------------------------------------------------------------

    def paused(self) -> bool:
        return self.paused_until > 0 and self.clock() < self.paused_until

    def decide(self, req: RequestModel, body: BodyView | None = None) -> Decision:
        d = self.decide_url(req)
        if body is not None:
            d = self.decide_body(req, d, body)
        return self.describe(req, d, body)

    def decide_url(self, req: RequestModel) -> Decision:
        """Everything the URL and headers decide. Final for a request without a body."""
        if self.paused():
            return Decision(
                Action.PASSED, (Reason("paused", detail=_clock_text(self.paused_until)),), paused=True
            )
        engine = self.engine
        if req.navigation and engine.has_page_exceptions and engine.page_exception(req.url):
            self._note_excepted_page(req.client)
        verdict = engine.decide(req.engine)
        detail = None
        if not verdict.blocked and req.host_header:
            # The server answers for the name in Host (domain fronting): a tracker hiding behind an innocent
            # address is stopped by its own name too.
            named = req.host_header
            fronted = engine.check(req.url.replace(req.host, named, 1), req.source, req.type, req.method)
            if fronted.blocked:
                verdict, detail = fronted, f"Host header names {named}"
        unwrapped = self._unwrap(req, verdict.blocked)
        if unwrapped is not None:
            return unwrapped
        if verdict.blocked:
            stage = "learned" if verdict.list == "learned" else "filter"
            return _blocked(Reason(stage, verdict.rule, verdict.list, verdict.line, detail), verdict)
        if req.type == "image" and not verdict.exception:
            prefix = self.pending_learned.get(req.host)
            if prefix is not None and under(path_and_query(req.engine.url), prefix):
                # Learned a moment ago; the engine with the rule is still being built.
                return _blocked(Reason("learned", learned_rule(req.host, prefix), "learned"), None)
        allowed = bool(verdict.exception)
        reasons: list[Reason] = []
        if allowed:
            reasons.append(Reason("allowed", verdict.rule, verdict.list, verdict.line, verdict.overridden))
        else:
            uncloaked = self._cname(req)
            if uncloaked is not None:
                return uncloaked
        found = self._leaks(req)
        if found:
            return self._leak(found, "the " + _where(found))
        if not allowed:
            spoken = self._protocol(req, None)
            if spoken is not None:
                return spoken
        elif self.redact_allowed:
            red = redact(req.url, req.headers.get("cookie", ""))
            if red:
                why = Reason("redacted", "identifiers of an allowed tracker", None, None, red.summary())
                return self._hygiene(
                    req,
                    Decision(
                        Action.REDACTED, (why, *reasons), url=red.url, drop_cookies=red.cookies, allowed=True
                    ),
                )
        cleaned = self._clean(req, allowed, reasons)
        if cleaned is not None:
            return self._hygiene(req, cleaned)
        return self._hygiene(
            req, Decision(Action.PASSED, tuple(reasons), allowed=allowed) if reasons else PASSED
        )

    def _hygiene(self, req: RequestModel, d: Decision) -> Decision:
        """A third-party tracker's request that goes upstream (an allowed one, or a host of the tracker table no
        list blocks) loses its cache validators and X-Client-Data, and its Referer is cut to the page's origin."""
        if not self.header_hygiene or not d.goes_upstream or req.first_party:
            return d
        drop = tuple(h for h in HYGIENE_DROP if h in req.headers)
        referer = req.headers.get("referer", "")
        origin = _origin(referer) if referer else None
        set_referer = origin if origin is not None and origin != referer else None
        if not drop and set_referer is None:
            return d
        if not (d.allowed or self.tracker_host(req.host)):
            return d
        return replace(d, drop_headers=d.drop_headers + drop, set_referer=set_referer)

    def decide_body(self, req: RequestModel, early: Decision, body: BodyView) -> Decision:
        """What the body adds to the URL's decision: a leak (or, later, a schema) stops a request that passed."""
        if early.paused or early.stopped or not body.data:
            return early
        if self.identity and not req.first_party:
            found = self.identity.find(body.text)
            if found:
                return self._leak(found, "the body")
        if not early.allowed:
            spoken = self._protocol(req, body.data)
            if spoken is not None:
                return spoken
        elif self.redact_allowed and body.complete and early.action in (Action.PASSED, Action.REDACTED):
            return self._redact_body(early, body)
        return early

    def _redact_body(self, early: Decision, body: BodyView) -> Decision:
        """An allowed tracker's body without its identifiers (decision/redact.py); the URL's redaction kept."""
        data, removed = redact_body(body.data)
        if not removed:
            return early
        names = ", ".join(f"body {n}" for n in removed)
        first = early.reason if early.action is Action.REDACTED else None
        detail = f"{first.detail}, {names}" if first is not None else f"removed {names}"
        why = Reason("redacted", "identifiers of an allowed tracker", None, None, detail)
        rest = early.reasons[1:] if first is not None else early.reasons
        return replace(early, action=Action.REDACTED, reasons=(why, *rest), body=data)

    def describe(self, req: RequestModel, d: Decision, body: BodyView | None = None) -> Decision:
        """A stopped request's Decision with the payload it would have told the tracker (its vendor, event,
        fields and identifiers, the user's own among them); other decisions as they are."""
        if not d.stopped:
            return d
        return d.with_payload(self.payload(req, body))

    def payload(self, req: RequestModel, body: BodyView | None = None) -> dict[str, Any] | None:
        """What the request would have told the tracker (payloads.decode), read from the URL and body with
        the user's identifiers already replaced, so that no cut value keeps part of one."""
        idn = self.identity
        text = body.text if body is not None else ""
        url = idn.redact(req.url) or req.url
        raw = (idn.redact(text) or "").encode() if text else None
        try:
            payload = payloads.decode(url, raw)
        except Exception:
            payload = None
        found = self._leaks(req) + (idn.find(text) if idn and text else [])
        if found:
            payload = payload or {"vendor": None, "event": None, "fields": {}, "identifiers": []}
            payload["identifiers"] = list(dict.fromkeys(form_labels(found) + payload["identifiers"]))
        return payload

    def decide_connect(self, host: str, client: str = "") -> Decision:
        """A CONNECT to host, before any handshake: refused, passed through undecrypted, or passed on to TLS
        interception (where each request is decided).

        Refused when a whole-host rule blocks host: in hosts-only mode and for a host whose TLS is passed
        through, any such rule (nothing else could apply to either); in full mode, only a host blocked whole
        whatever the request (Engine.blocks_whole_host), which spares both TLS handshakes and a forged
        certificate for requests that would all be blocked. One thing a CONNECT does not say is the page: a
        ``$document`` exception allows every request of the pages it matches, so a client that has loaded such
        a page in the last PAGE_EXCEPTION_WINDOW_S keeps its tunnels, and its requests are decided one by one."""
        if self.paused():
            return Decision(
                Action.PASSED, (Reason("paused", detail=_clock_text(self.paused_until)),), paused=True
            )
        why = None if self.mode == "hosts-only" else self.passthrough(host, client)
        if self.mode == "hosts-only" or why is not None:
            verdict = self.engine.check_host(host)
            if verdict.blocked:  # a refused tunnel has no body to answer with: no $redirect resource
                return _blocked(Reason("host", verdict.rule, verdict.list, verdict.line), None)
        elif self.refuse_blocked_tunnels and not self._is_on_excepted_page(client):
            verdict = self.engine.blocks_whole_host(host)
            if verdict.blocked:
                return _blocked(
                    Reason("host", verdict.rule, verdict.list, verdict.line, REFUSED_TUNNEL), None
                )
        if why is not None:
            return Decision(Action.PASSTHROUGH, (Reason("tls", detail=why),))
        if self.mode == "hosts-only":
            return Decision(Action.PASSTHROUGH, (Reason("tls", detail="hosts-only mode decrypts no TLS"),))
        return PASSED

    def _note_excepted_page(self, client: str) -> None:
        seen = self.on_excepted_page
        seen.pop(client, None)  # re-inserted last: the dict's order is the order clients were last seen
        seen[client] = self.clock()
        while len(seen) > PAGE_EXCEPTION_CLIENTS:
            del seen[next(iter(seen))]

    def _is_on_excepted_page(self, client: str) -> bool:
        if not self.on_excepted_page or not self.engine.has_page_exceptions:
            return False
        since = self.on_excepted_page.get(client)
        return since is not None and self.clock() - since < PAGE_EXCEPTION_WINDOW_S

    def keeps_pixels(self, req: RequestModel) -> bool:
        """Does an exception (an allow or a trusted site) cover this request, so that its 1x1 images stay? The
        engine looks exceptions up only for requests a rule blocks, so the pixel replacer asks here."""
        return bool(self.engine.exception_for(req.engine).exception)

    # --- helpers ----------------------------------------------------------------------------------------------

    def _cname(self, req: RequestModel) -> Decision | None:
        if not judged_by_aliases(req):
            return None
        chain = self.cname_chain(req.host)
        if not chain:
            return None
        for name in chain:
            v = self.engine.check(req.url.replace(req.host, name, 1), req.source, req.type, req.method)
            if v.blocked:
                detail = " → ".join((req.host, *chain))
                return _blocked(Reason("cname", v.rule, v.list, v.line, detail), v)
        return None

    def _leaks(self, req: RequestModel) -> list[Found]:
        """The user's identifiers in the URL and the headers that carry data, unless the request stays on the
        site the user is on (a login form posting the address to its own site)."""
        idn = self.identity
        if not idn or req.first_party:
            return []
        found = idn.find(req.url)
        for name in LEAK_HEADERS:
            value = req.headers.get(name)
            if value:
                found += idn.find(value, where=f"{name.title()} header")
        for name, value in req.headers.items():
            if name.startswith("x-") and value:
                found += idn.find(value, where=f"{name} header")
        return found

    def _leak(self, found: list[Found], where: str) -> Decision:
        labels = ", ".join(form_labels(found))
        return Decision(
            Action.BLOCKED,
            (Reason("leak", "your identity (leak alarm)", "identity", None, f"{labels} in {where}"),),
        )

    def _unwrap(self, req: RequestModel, blocked: bool) -> Decision | None:
        """A tracked link answered with a 307 to the destination its URL carries: the redirector sees nothing."""
        if not self.urlskip_lists or not TYPE_BITS.get(req.type, OTHER_TYPE) & URLSKIP_TYPES:
            return None
        rules = self.engine.urlskips_for(req.engine)
        found = unwrap(req.url, req.host, rules, self.urlskip_lists, blocked) if rules else None
        if found is None:
            return None
        rule = found.rule
        reason = Reason("unwrapped", rule.rule, rule.list, rule.line, f"to {found.url}")
        return Decision(Action.UNWRAPPED, (reason,), url=found.url, redirect=True)

    def _protocol(self, req: RequestModel, body: bytes | None) -> Decision | None:
        """A request that speaks a collection protocol, wherever it goes: blocked with reason ``schema``, unless
        an exception covers it (a host the user allowed keeps its analytics)."""
        try:
            found = schemas.detect(req.url, body)
        except Exception:  # a detector bug must not stop the request path; the lists still decided
            return None
        if found is None or self.engine.exception_for(req.engine).exception:
            return None
        reason = Reason(
            "schema", f"{found.vendor} collection protocol", "schema", None, f"carries {found.evidence}"
        )
        return Decision(Action.BLOCKED, (reason,))

    def _clean(self, req: RequestModel, allowed: bool, reasons: list[Reason]) -> Decision | None:
        if "?" not in req.url:
            return None
        probe = normalised(req.url)
        if probe is req.url:
            rules = self.engine.removeparams_for(req.engine)
        else:  # a name spelled to hide it (fb%63lid, fbclid[], ;): ask with the names as they compare
            rules = self.engine.removeparams(probe, req.source, req.type)
        if not rules:
            return None
        cleaned, removed = clean(req.url, [r.param for r in rules])
        if not removed:
            return None
        rule = rules[0]
        reason = Reason(
            "param", rule.rule, rule.list, rule.line, "removed " + ", ".join(dict.fromkeys(removed))
        )
        return Decision(
            Action.CLEANED, (reason, *reasons), url=cleaned, redirect=req.navigation, allowed=allowed
        )


def _origin(url: str) -> str | None:
    """scheme://host[:port]/ of a URL, or None when it has none."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.isalpha():
        return None
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return f"{scheme}://{rest[:end]}/" if rest[:end] else None


def _blocked(reason: Reason, verdict: Verdict | None) -> Decision:
    return Decision(Action.BLOCKED, (reason,), redirect_resource=verdict.redirect if verdict else None)


def _where(found: list[Found]) -> str:
    return " and the ".join(dict.fromkeys(f.where or "URL" for f in found))


def path_and_query(url: str) -> str:
    """The path and query of an absolute URL ("/" when it has neither)."""
    rest = url.split("://", 1)[-1]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=-1)
    if cut < 0:
        return "/"
    return rest[cut:] if rest[cut] == "/" else "/" + rest[cut:]


def _clock_text(until: float) -> str:
    from datetime import datetime

    return "until " + datetime.fromtimestamp(until).astimezone().strftime("%Y-%m-%d %H:%M %Z")
