"""The mitmproxy addon: stop tracker requests before they leave, replace the 1x1 pixels the lists missed.

Usable as ``mitmdump -s pixelguard/proxy/addon.py [--set pixelguard_config=PATH]`` or embedded by
``pixelguard run``. Lists are compiled in ``configure`` and rebuilt by a background thread when a list file or
the pause switch changes; hooks only look things up. Every hook fails open: an exception lets the flow pass
and is logged with its URL. Events go to the store's writer queue (never SQLite inside a hook).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http, tls

from pixelguard import compression, pixels
from pixelguard import config as configmod
from pixelguard.errors import PixelguardError
from pixelguard.proxy import reqtype, responses
from pixelguard.proxy.learner import Learner
from pixelguard.store.event import Event

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# Content types under which a tracking pixel hides besides image/*: missing, generic binary, plain text.
_SNIFF_TYPES = ("", "application/octet-stream", "binary/octet-stream", "text/plain", "application/unknown")
# Compressed bodies are only looked at when this small: a pixel is tens of bytes.
_MAX_DECODE = 64 * 1024
# mitmproxy streams bodies bigger than this instead of holding them (stream_large_bodies): pixelguard only ever
# looks at small image bodies, and a 1 GB download must reach the client as it arrives.
STREAM_LARGER_THAN = "256k"


class Pixelguard:
    def __init__(self, cfg: configmod.Config | None = None, *, mode: str | None = None) -> None:
        self._given_cfg = cfg  # given when embedded; else read from the pixelguard_config option
        self.cfg: configmod.Config | None = cfg
        self._mode_override = mode
        self.mode = "full"
        self.engine: Any = None
        self.writer: Any = None
        self.learner = Learner()
        self._paused_until = 0.0  # epoch seconds; 0 = not paused
        self._pending_learned: set[str] = set()  # learned, not yet in the engine
        self._written_learned: set[str] = set()  # pending hosts whose rule is on disk
        self._learn_lock = threading.Lock()
        # One poll at a time: the watcher thread's and a direct call's must not interleave their rebuilds.
        self._poll_lock = threading.Lock()
        self._signature: tuple = ()
        self._pause_sig: tuple = ()
        self._config_path: Path | None = None
        self._config_sig: tuple = ()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._watcher: threading.Thread | None = None
        self._files: concurrent.futures.ThreadPoolExecutor | None = None
        self.reloads = 0
        # Background list downloads: on for `pixelguard run`/`pixelguard`; tests switch them off.
        self.start_updates = os.environ.get("PIXELGUARD_NO_UPDATES") != "1"

    # --- lifecycle ----------------------------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option(
            "pixelguard_config",
            str | None,
            None,
            """
            Path of pixelguard's YAML config (default: $PIXELGUARD_CONFIG, else the platform config dir).
            Ignored when pixelguard embeds mitmproxy itself (`pixelguard run`), which passes its config.
            """,
        )

    def configure(self, updated: set[str]) -> None:
        # Set up on the first call (mitmproxy passes only changed options, so that may name none of ours)
        # and again when the config path changes.
        if self.engine is not None and "pixelguard_config" not in updated:
            return
        self._shutdown_threads()
        try:
            path = _option("pixelguard_config")
            cfg = self._given_cfg if self._given_cfg is not None and not path else configmod.load(path)
            self.cfg = cfg
            self.mode = self._mode_override or cfg.proxy.mode
            self.learner = Learner(cfg.pixels.learn_after)
            self._config_path = cfg.source or configmod.locate(path)
            self._config_sig = _stat(self._config_path)
            self._signature = self._list_signature()
            self.engine = self._build()
            # Inside the try: a corrupt database is the user's to fix, reported in one line (never replaced).
            self._start_writer()
        except PixelguardError as e:
            raise exceptions.OptionsError(str(e)) from e
        except Exception as e:
            raise exceptions.OptionsError(f"pixelguard: cannot build the filter engine: {e}") from e
        self._pause_sig = ()
        self._read_pause()
        self._sync_learned()
        self._files = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="pixelguard-files"
        )
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="pixelguard-lists", daemon=True)
        self._watcher.start()
        if self.start_updates:
            # Subscriptions the user enabled are kept current in the background (the only downloads).
            from pixelguard import update

            update.start_background_updater(cfg, self._stop)
        log.info("pixelguard: %s mode, lists: %s", self.mode, ", ".join(p.stem for p in cfg.filter_files()))

    def done(self) -> None:
        self._shutdown_threads()
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _shutdown_threads(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        if self._files is not None:
            self._files.shutdown(wait=True)
            self._files = None

    def _start_writer(self) -> None:
        if self.writer is not None:
            return
        from pixelguard.store.writer import Writer

        writer = Writer(self.cfg.database, retention_days=self.cfg.log.retention_days)
        writer.start()
        self.writer = writer

    # --- hooks --------------------------------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        try:
            self._request(flow)
        except Exception:
            log.exception("pixelguard: request check failed, passing %s", _url(flow))

    def response(self, flow: http.HTTPFlow) -> None:
        if not flow.response or flow.error:
            return
        meta = flow.metadata.get("pixelguard")
        if meta is None or meta.get("blocked") or meta.get("allowed") or meta.get("paused"):
            return
        try:
            self._response(flow, meta)
        except Exception:
            log.exception("pixelguard: pixel check failed, passing %s", _url(flow))

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """Hosts-only mode: refuse tunnels to tracker hosts; nothing else is looked at before TLS."""
        if self.mode != "hosts-only" or flow.response or flow.error:
            return
        try:
            if self._is_paused():
                return
            host = flow.request.host
            verdict = self.engine.check_host(host)
            self.writer.count(seen=1, stopped=1 if verdict.blocked else 0)
            if not verdict.blocked:
                return
            flow.response = responses.forbidden_connect(host, verdict.rule)
            flow.metadata["pixelguard"] = {"blocked": True, "rule": verdict.rule, "list": verdict.list}
            self._event(flow, f"https://{host}/", host, "", "other", "host", "blocked", verdict)
        except Exception:
            log.exception("pixelguard: CONNECT check failed, passing %s", flow.request.host)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        # Hosts-only mode never intercepts TLS: the client need not trust mitmproxy's CA.
        if self.mode == "hosts-only":
            data.ignore_connection = True

    # --- request side -------------------------------------------------------------------------------------

    def _request(self, flow: http.HTTPFlow) -> None:
        if self._is_paused():
            flow.metadata["pixelguard"] = {"paused": True}
            self.writer.count(seen=1, stopped=0)
            return
        req = flow.request
        # Decide on where the connection really goes (the CONNECT target or the absolute URL), never on the
        # Host header, which the sender chooses freely: `-H 'Host: innocent.example'` must not unblock a tracker.
        url, host = destination(req)
        rtype = reqtype.resource_type(req.headers, url)
        source = reqtype.source_url(req.headers)
        verdict = self.engine.check(url, source, rtype, req.method)
        named = _host_header(req)
        detail = None
        if not verdict.blocked and named and named != host:
            # The server will answer for the name in Host (domain fronting): a tracker hiding behind an
            # innocent address is stopped by its own name too.
            fronted = self.engine.check(url.replace(host, named, 1), source, rtype, req.method)
            if fronted.blocked:
                verdict, detail = fronted, f"Host header names {named}"
        if (
            rtype == "image"
            and not verdict.blocked
            and not verdict.exception
            and host in self._pending_learned
        ):
            # Learned a moment ago (the rule is ||host^$image); the engine with it is still being built.
            verdict = _LearnedVerdict(host)
        site = _site(source)
        meta = {
            "blocked": verdict.blocked,
            "allowed": bool(verdict.exception) and not verdict.blocked,
            "type": rtype,
            "site": site,
            "rule": verdict.rule,
            "list": verdict.list,
            "line": verdict.line,
        }
        flow.metadata["pixelguard"] = meta
        if not verdict.blocked:
            self.writer.count(seen=1, stopped=0)
            return
        flow.response = responses.blocked(rtype, url, host, verdict.rule, verdict.list, verdict.line)
        reason = "learned" if verdict.list == "learned" else "filter"
        self._event(flow, url, host, site, rtype, reason, "blocked", verdict, detail=detail)
        self.writer.count(seen=1, stopped=1)

    # --- response side ------------------------------------------------------------------------------------

    def _response(self, flow: http.HTTPFlow, meta: dict) -> None:
        resp = flow.response
        ctype = resp.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not (ctype.startswith("image/") or ctype in _SNIFF_TYPES):
            return
        raw = resp.raw_content  # None when streamed (bodies over STREAM_LARGER_THAN): no pixel is that big
        if not raw:
            return
        data: bytes | None = raw
        encoding = resp.headers.get("content-encoding", "identity")
        if encoding.strip().lower() not in ("identity", ""):
            if len(raw) > _MAX_DECODE:
                return
            # Only the first bytes are inflated, incrementally: a compression bomb costs nothing here.
            data = compression.head(raw, encoding, pixels.HEADER_LIMIT)
            if data is None:
                return
        size = pixels.is_pixel(data, self.cfg.pixels.max_width, self.cfg.pixels.max_height)
        if size is None:
            return
        resp.headers.pop("content-encoding", None)
        resp.headers.pop("set-cookie", None)
        resp.content = responses.TRANSPARENT_GIF
        resp.headers["content-type"] = "image/gif"
        resp.headers["x-pixelguard"] = "replaced"
        detail = f"{size.width}x{size.height} {size.format}"
        meta.update(replaced=detail)
        url, host = destination(flow.request)
        self._event(
            flow,
            url,
            host,
            meta["site"],
            meta["type"],
            "pixel",
            "replaced",
            None,
            nbytes=len(raw),
            detail=detail,
        )
        self.writer.count(seen=0, stopped=1)
        evidence = self.learner.sighting(host, meta["site"], url)
        if evidence:
            with self._learn_lock:
                self._pending_learned.add(host)
            self._files.submit(self._write_learned, host, evidence)

    def _write_learned(self, host: str, evidence: str) -> None:
        from pixelguard import lists

        try:
            lists.add_learned(self.cfg.learned_list, host, evidence)
            log.info("pixelguard: learned %s (%s)", host, evidence)
        except Exception:
            log.exception("pixelguard: cannot write learned rule for %s", host)
        with self._learn_lock:
            self._written_learned.add(host)
        self._wake.set()

    # --- events -------------------------------------------------------------------------------------------

    def _event(
        self,
        flow: http.HTTPFlow,
        url: str,
        host: str,
        site: str,
        rtype: str,
        reason: str,
        action: str,
        verdict: Any,
        nbytes: int = 0,
        detail: str | None = None,
    ) -> None:
        peer = flow.client_conn.peername
        self.writer.put(
            Event(
                ts=time.time(),
                client=str(peer[0]) if peer else "",
                method=flow.request.method,
                url=url,
                host=host,
                site=site,
                type=rtype,
                reason=reason,
                action=action,
                rule=getattr(verdict, "rule", None),
                list=getattr(verdict, "list", None),
                line=getattr(verdict, "line", None),
                bytes=nbytes,
                detail=detail,
            )
        )

    # --- reloading ----------------------------------------------------------------------------------------

    def _is_paused(self) -> bool:
        return self._paused_until > 0 and time.time() < self._paused_until

    def _watched_files(self) -> list[Path]:
        cfg = self.cfg
        return [spec.file for spec in cfg.enabled_lists()] + [cfg.user_list, cfg.learned_list]

    def _list_signature(self) -> tuple:
        return tuple(_stat(p) for p in self._watched_files())

    def _build(self) -> Any:
        from pixelguard.engine import Engine

        started = time.monotonic()
        files = self.cfg.filter_files()
        engine = Engine.from_files(files, cache_dir=self.cfg.cache_dir)
        for err in list(getattr(engine, "errors", []))[:20]:
            log.warning("pixelguard: skipped rule %s", err)
        log.info("pixelguard: loaded %d lists in %.2fs", len(files), time.monotonic() - started)
        return engine

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._poll()
            except Exception:
                log.exception("pixelguard: list watcher error")

    def _poll(self) -> None:
        with self._poll_lock:
            self._poll_locked()

    def _poll_locked(self) -> None:
        self._read_pause()
        self._read_config()
        sig = self._list_signature()
        if sig == self._signature:
            return
        with self._learn_lock:
            written = set(self._written_learned)  # on disk before the signature below was taken
        try:
            engine = self._build()
        except Exception as e:
            # A list that does not build never replaces the working engine; retry when it changes again.
            self._signature = sig
            log.error("pixelguard: lists changed but could not be loaded, keeping the previous ones: %s", e)
            return
        self.engine = engine  # one reference swap: a hook sees the old engine or the new one
        self._signature = sig
        with self._learn_lock:
            self._pending_learned -= written
            self._written_learned -= written
        self._sync_learned()
        self.reloads += 1

    def _read_config(self) -> None:
        """Follow the config file's list selection (the UI's list toggle writes it); other keys need a restart."""
        sig = _stat(self._config_path) if self._config_path else ()
        if sig == self._config_sig:
            return
        self._config_sig = sig
        if not self._config_path or not self._config_path.is_file():
            return
        try:
            new = configmod.load(self._config_path)
        except PixelguardError as e:
            log.error("pixelguard: config changed but cannot be read, keeping the running one: %s", e)
            return
        old = self.cfg
        if new.lists != old.lists:
            enabled = ", ".join(spec.name for spec in new.enabled_lists()) or "none"
            log.info("pixelguard: config changed: lists now %s", enabled)
            self.cfg = dataclasses.replace(old, lists=new.lists)  # the list signature below sees the change
        others = [
            f.name
            for f in dataclasses.fields(old)
            if f.name not in ("lists", "origins", "source") and getattr(new, f.name) != getattr(old, f.name)
        ]
        if others:
            log.warning("pixelguard: config changed: restart pixelguard to apply %s", ", ".join(others))

    def _read_pause(self) -> None:
        path = self.cfg.data_dir / "pause.json"
        sig = _stat(path)
        if sig == self._pause_sig:
            return
        from pixelguard import pause

        until = pause.paused_until(self.cfg.data_dir)
        self._paused_until = until.timestamp() if until else 0.0
        self._pause_sig = sig
        log.info("pixelguard: %s", f"paused until {until.isoformat()}" if until else "protection on")

    def _sync_learned(self) -> None:
        try:
            from pixelguard import lists

            self.learner.sync(lists.learned_hosts(self.cfg.learned_list))
        except Exception:
            log.exception("pixelguard: cannot read the learned list")


class _LearnedVerdict:
    """Stands in for the engine's verdict while the freshly learned rule is being compiled."""

    def __init__(self, host: str):
        from pixelguard.lists import learned_rule

        self.blocked = True
        self.rule = learned_rule(host)
        self.list = "learned"
        self.line = None
        self.exception = None


def _stat(path: Path) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), None)
    # inode too: lists are replaced atomically (new file), which may keep mtime and size.
    return (str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def _site(source: str | None) -> str:
    if not source:
        return ""
    from pixelguard.engine.request import site_of

    return site_of(source)


def _option(name: str) -> str | None:
    try:
        return getattr(ctx.options, name)
    except AttributeError:
        return None


def _url(flow: http.HTTPFlow) -> str:
    try:
        return destination(flow.request)[0][:300]
    except Exception:
        return "?"


def destination(req: http.Request) -> tuple[str, str]:
    """(URL, host) of where the request really goes: mitmproxy's host is the CONNECT target or the host of
    the absolute URL; pretty_url and pretty_host would take the sender's Host header instead."""
    return req.url, req.host.lower().rstrip(".")


def _host_header(req: http.Request) -> str | None:
    """The host the Host header (or HTTP/2 :authority) names, when it is a plausible name; else None."""
    raw = req.headers.get("host") or req.authority or ""
    name = raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw
    name = name.strip().lower().rstrip(".")
    if not name or len(name) > 253 or not _HOST_NAME.match(name):
        return None
    return name


_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\Z")


addons = [Pixelguard()]
