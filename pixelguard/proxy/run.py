"""Embed mitmproxy: ``pixelguard run`` (headless) and ``pixelguard`` (proxy inside the UI's event loop).

Uses only mitmproxy APIs present in 11.x and 12.x: ``master.Master`` with ``addons.default_addons()``.
While serving, data_dir/proxy.json says where (the UI shows it); it is removed on a clean exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelguard import config as configmod
from pixelguard.errors import PixelguardError
from pixelguard.fileio import private_dir, private_log_handler
from pixelguard.trust import ca_file, confdir, ensure_ca

if TYPE_CHECKING:
    from pixelguard.proxy.workers import HelperSpec

log = logging.getLogger(__name__)


class _Announce:
    """Runs after the proxy server is listening: prints where, writes proxy.json; removes it when done."""

    def __init__(
        self, cfg: configmod.Config, mode: str, on_ready: Callable[[str], None] | None, workers: int = 1
    ):
        self.cfg = cfg
        self.mode = mode
        self.on_ready = on_ready
        self.workers = workers  # 0: a helper of `run --workers`, which leaves proxy.json to its parent

    def running(self) -> None:
        from mitmproxy import ctx

        from pixelguard import display, running

        ps = ctx.master.addons.get("proxyserver")
        addrs = ps.listen_addrs() if ps else []
        host, port = addrs[0][:2] if addrs else (ctx.options.listen_host, ctx.options.listen_port)
        listen = display.host_port(host, port)
        try:
            if self.workers:
                running.announce(
                    self.cfg.data_dir,
                    listen,
                    self.mode,
                    ca_file(Path(ctx.options.confdir).expanduser()),
                    self.workers,
                )
        except OSError as e:
            log.warning("pixelguard: cannot write %s: %s", self.cfg.data_dir / running.FILE, e)
        if self.on_ready:
            self.on_ready(listen)

    def done(self) -> None:
        from pixelguard import running

        if self.workers:
            running.withdraw(self.cfg.data_dir)


def _check_listen(
    cfg: configmod.Config, host: str | None, port: int | None, *, taken_ok: bool = False
) -> tuple[str, int]:
    """The address to listen on (options over config), refused when unsafe or taken: one clear line each.
    ``taken_ok``: a helper of `run --workers` joins the port its parent already listens on."""
    host, port = host or cfg.proxy.host, port or cfg.proxy.port
    if not configmod.is_loopback(host) and not cfg.proxy.auth:
        raise PixelguardError(
            f"--host {host} is not a loopback address: anyone on the network could use the proxy. "
            "Set proxy.auth (user:password) in the config to listen there"
        )
    if not taken_ok:
        _check_port(host, port, cfg)
    return host, port


def _check_port(host: str, port: int, cfg: configmod.Config | None = None) -> None:
    """Fail with one clear line before starting anything when the address cannot be used."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        where = (
            f"proxy.port in {cfg.source}" if cfg is not None and cfg.source else "proxy.port in the config"
        )
        hint = (
            f" (another proxy, or pixelguard's service, may hold it: choose another with --port, or {where})"
        )
        raise PixelguardError(f"cannot listen on {host}:{port}: {e.strerror or e}{hint}") from None


# The mitmproxy addons a blocking proxy needs, by class name: every hook is dispatched to every addon loaded, so
# each one more costs every request (the page-load benchmark measured dispatch at about a fifth of the proxy's
# CPU with all 31). Kept: option handling (Core), refusing the open internet (Block), h2c smuggling (DisableH2C),
# mitm.it (Onboarding), proxy.auth (ProxyAuth), the server itself (Proxyserver, NextLayer, TlsConfig), DNS
# options (DnsResolver), --set scripts= (ScriptLoader) and an upstream proxy's credentials (UpstreamAuth). Left
# out: playback, map/modify, save/export, sticky cookies and the other tools of an interactive session, whose
# options `pixelguard run --set` therefore does not know (mitmdump -s pixelguard/proxy/addon.py loads them all).
NEEDED_ADDONS = frozenset(
    ("Core", "Block", "DisableH2C", "Onboarding", "ProxyAuth", "Proxyserver", "DnsResolver", "ScriptLoader",
     "NextLayer", "TlsConfig", "UpstreamAuth")
)  # fmt: skip


def needed_addons(defaults: Sequence[Any]) -> list[Any]:
    from mitmproxy.addons import onboarding

    from pixelguard.proxy.inline_hooks import Onboarding

    # mitm.it's addon in the form whose request hook returns at once for every other request (inline_hooks.py).
    return [Onboarding() if type(a) is onboarding.Onboarding else a
            for a in defaults if type(a).__name__ in NEEDED_ADDONS]  # fmt: skip


async def serve(
    cfg: configmod.Config,
    host: str | None = None,
    port: int | None = None,
    *,
    set_options: Sequence[str] = (),
    headless: bool = True,
    on_ready: Callable[[str], None] | None = None,
    workers: int = 1,
    helper: int = 0,
) -> None:
    """Run the proxy until cancelled or shut down; raises PixelguardError for a bad address or option.

    ``workers`` > 1: this process is the first of that many sharing the port (proxy/workers.py); ``helper``
    (1..): it is one of the others, started by the first."""
    from mitmproxy import addons, certs, exceptions, master, options
    from mitmproxy.addons import errorcheck

    from pixelguard.engine.request import domain_of
    from pixelguard.limits import FORGED_CERTS
    from pixelguard.proxy.addon import STREAM_LARGER_THAN, Pixelguard
    from pixelguard.proxy.address_cache import cache_addresses
    from pixelguard.proxy.body_framing import frame_translated_bodies
    from pixelguard.proxy.connection_guard import guard_h2_resets
    from pixelguard.proxy.corked_writes import cork_stream_writes
    from pixelguard.proxy.direct_reads import read_directly
    from pixelguard.proxy.dispatch import HookCache
    from pixelguard.proxy.forged_certs import keep_least_recently_used
    from pixelguard.proxy.happy_eyeballs import race_addresses
    from pixelguard.proxy.header_lookups import look_up_in_one_pass
    from pixelguard.proxy.http_lines import http_until_the_line_ends
    from pixelguard.proxy.inline_hooks import run_hooks_inline
    from pixelguard.proxy.interpreter import production_mode
    from pixelguard.proxy.server_first import let_servers_speak_first
    from pixelguard.proxy.stopped_uploads import end_stopped_uploads
    from pixelguard.proxy.tls_objects import convert_once
    from pixelguard.proxy.upstream_trust import trusted_ca_setting
    from pixelguard.proxy.workers import share_the_port

    given = dict(o.split("=", 1) for o in set_options if "=" in o)
    if (
        "listen_host" in given
        and not configmod.is_loopback(given["listen_host"] or "0.0.0.0")
        and not cfg.proxy.auth
    ):
        # Judged before the port: the refusal must not depend on what else holds the configured port.
        raise PixelguardError(
            f"listen_host {given['listen_host'] or '(all addresses)'} is not a loopback address: anyone on "
            "the network could use the proxy. Set proxy.auth (user:password) in the config to listen there"
        )
    host, port = _check_listen(cfg, host, port, taken_ok=helper > 0)
    private_dir(cfg.data_dir)  # the history, learned hosts, pause and proxy state: the user's eyes only
    if headless:
        # As a service, nobody reads the terminal: the rotated file is the proxy's log.
        _log_to_file(cfg, helper)

    opts = options.Options()
    # A helper's log goes to the file only: its parent already says on the terminal what every worker would.
    m = master.Master(opts, with_termlog=headless and not helper)
    HookCache.adopt(m.addons)  # hooks go straight to their handlers (see proxy/dispatch.py)
    pg = Pixelguard(cfg, guard_first=True)
    if helper:
        pg.start_updates = False  # lists are downloaded by the first worker; the others follow the files
    m.addons.add(pg.guard)  # first of all: see Pixelguard.guard
    m.addons.add(*needed_addons(addons.default_addons()))
    if headless:
        # Exit with the reason when startup logs an error (e.g. a bad certificate option).
        m.addons.add(errorcheck.ErrorCheck(repeat_errors_on_stderr=True))
    m.addons.add(pg, _Announce(cfg, cfg.proxy.mode, on_ready, 0 if helper else workers))
    # Each server looked up once a minute, as a browser's host cache does (proxy/address_cache.py), and its
    # addresses raced, as browsers race them (proxy/happy_eyeballs.py).
    loop = asyncio.get_running_loop()
    m.addons.add(cache_addresses(loop))
    race_addresses(loop)
    # confdir first, in one update: mitmproxy loads the CA from the confdir as soon as it is set (created
    # first, with an ECDSA key: see trust.ensure_ca).
    conf = next((o.split("=", 1)[1] for o in set_options if o.startswith("confdir=")), None)
    conf_path = Path(conf).expanduser() if conf else confdir()
    ensure_ca(conf_path)
    certs.CertStore.STORE_CAP = FORGED_CERTS
    keep_least_recently_used()  # and dropped in constant time past the bound (proxy/forged_certs.py)
    guard_h2_resets()
    log.debug("pixelguard: left out of mitmproxy: %s", ", ".join(production_mode()) or "nothing")
    look_up_in_one_pass()  # a header found in one pass over the fields (proxy/header_lookups.py)
    cork_stream_writes()  # one send per connection per event (proxy/corked_writes.py)
    convert_once()  # a host's forged certificate converted for OpenSSL once (proxy/tls_objects.py)
    run_hooks_inline()  # a hook whose handlers return at once completes in the same step (proxy/inline_hooks.py)
    read_directly()  # what a connection reads is handled in the step that read it (proxy/direct_reads.py)
    http_until_the_line_ends()  # a request line split between reads is HTTP, never raw TCP (proxy/http_lines.py)
    let_servers_speak_first()  # a silent tunnel gets its server, whose greeting it waits for (proxy/server_first.py)
    end_stopped_uploads()  # a request stopped while its body streams ends at once (proxy/stopped_uploads.py)
    frame_translated_bodies()  # an HTTP/2 body without a length keeps it to an HTTP/1 server (proxy/body_framing.py)
    if workers > 1 or helper:
        share_the_port()  # every worker listens on the address: the kernel spreads connections (proxy/workers.py)
    # The public suffix list is read on first use (some 30 ms): here, not in the first client's CONNECT.
    domain_of("pixelguard.example")
    settings: dict[str, Any] = {
        "listen_host": host,
        "listen_port": port,
        "confdir": str(conf_path),
        # Connect upstream only when a request needs it: a blocked tracker never even sees a TCP connection.
        "connection_strategy": "lazy",
        "stream_large_bodies": STREAM_LARGER_THAN,
        # Servers checked against the system's CAs, as the machine's own programs check them (upstream_trust.py).
        **trusted_ca_setting(given),
    }
    if cfg.proxy.auth:
        settings["proxyauth"] = cfg.proxy.auth
    upstream = cfg.proxy.upstream
    if upstream is not None:
        if configmod.is_loopback(upstream.host) and upstream.port == port:
            raise PixelguardError(
                f"proxy.upstream {upstream.url} is pixelguard's own address: it would forward to itself"
            )
        # What pixelguard lets through goes to that proxy (mitmproxy's upstream mode), TLS still decided here.
        settings["mode"] = [f"upstream:{upstream.url}"]
        if upstream.auth:
            settings["upstream_auth"] = upstream.auth
    # Every option is known once the addons are in: a misspelt one is refused before anything starts (it used
    # to fail after "protection on" had been logged).
    unknown = sorted({o.split("=", 1)[0] for o in set_options} - set(opts.keys()))
    if unknown:
        raise PixelguardError(
            f"--set: no mitmproxy option named {', '.join(unknown)} (mitmdump --options lists them)"
        )
    try:
        opts.update(**settings)
        if set_options:
            opts.set(*set_options)
            # `--set listen_host=0.0.0.0` must not get around the rule above: judge what is in effect.
            if not configmod.is_loopback(opts.listen_host or "0.0.0.0") and not opts.proxyauth:
                raise PixelguardError(
                    f"listen_host {opts.listen_host or '(all addresses)'} is not a loopback address: anyone on "
                    "the network could use the proxy. Set proxy.auth (user:password) in the config to listen there"
                )
            if opts.listen_port != port and not helper:
                _check_port(opts.listen_host or "0.0.0.0", opts.listen_port)
        if not pg.configured:  # no option change reached it: configure it now
            pg.configure(set())
    except exceptions.OptionsError as e:
        raise PixelguardError(str(e)) from None
    await m.run()


def run_headless(
    cfg: configmod.Config,
    host: str | None = None,
    port: int | None = None,
    set_options: Sequence[str] = (),
    workers: int | None = None,
) -> None:
    """``pixelguard run``: serve until Ctrl-C/SIGTERM, logging to the terminal. ``workers`` (default: the
    config's proxy.workers): how many processes share the address (proxy/workers.py)."""
    from pixelguard.proxy import workers as workersmod

    spec = workersmod.helper_spec()
    if spec is not None:
        _run_helper(cfg, host, port, set_options, spec)
        return
    count = workers or cfg.proxy.workers
    workersmod.check_count(count, set_options)
    helpers = None
    if count > 1:
        # Told the address serve() judges and listens on (a --set listen_* reaches them as well).
        argv = workersmod.helper_argv(
            str(cfg.source) if cfg.source else None,
            host or cfg.proxy.host,
            port or cfg.proxy.port,
            set_options,
        )
        helpers = workersmod.Helpers(count - 1, argv)

    def ready(listen: str) -> None:
        from mitmproxy import ctx

        ca = ca_file(Path(ctx.options.confdir).expanduser())
        processes = f", {count} worker processes" if count > 1 else ""
        via = f", forwarding to {cfg.proxy.upstream.url}" if cfg.proxy.upstream else ""
        print(f"pixelguard: proxy listening on {listen} ({cfg.proxy.mode} mode{processes}{via})", flush=True)
        print(f"pixelguard: CA certificate: {ca}", flush=True)
        if helpers is not None:
            helpers.start()

    async def main() -> None:
        _quiet_logs()

        # Ctrl-C (the terminal signals every worker) and systemd's stop (it signals the whole group) reach the
        # helpers too: their exit from then on is the stop, not something to start them again for.
        _stop_on_signals(helpers.stopping if helpers is not None else None)
        try:
            await serve(
                cfg, host, port, set_options=set_options, headless=True, on_ready=ready, workers=count
            )
        finally:
            if helpers is not None:
                await helpers.stop()  # each flushes its event log first

    claim = claim_data_dir(cfg)  # before anything says "listening": one proxy per data dir
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        claim.release()
    print("pixelguard: stopped", file=sys.stderr, flush=True)


def _run_helper(
    cfg: configmod.Config,
    host: str | None,
    port: int | None,
    set_options: Sequence[str],
    spec: HelperSpec,
) -> None:
    """One of the processes `run --workers N` started: serves until its parent is gone or a signal stops it."""
    from pixelguard.proxy.workers import follow_parent

    def ready(listen: str) -> None:
        print(f"pixelguard: worker {spec.index} listening on {listen} (pid {os.getpid()})", flush=True)

    async def main() -> None:
        _quiet_logs()
        follow_parent(spec, _stop_on_signals())
        await serve(
            cfg, host, port, set_options=set_options, headless=True, on_ready=ready, helper=spec.index
        )

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


def _quiet_logs() -> None:
    logging.getLogger().setLevel(logging.INFO)
    for noisy in ("hpack", "asyncio", "mitmproxy.proxy.server"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stop_on_signals(first: Callable[[], object] | None = None) -> _Stopper:
    """Ctrl-C and SIGTERM shut the running master down cleanly (``first`` called before); returns the stopper
    for other causes."""
    loop = asyncio.get_running_loop()
    stop = _Stopper(asyncio.current_task(), first)
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
        except (NotImplementedError, RuntimeError):
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop))
    return stop


class _Stopper:
    """Signal handler: ask the running master to shut down cleanly (done hooks flush the event log)."""

    def __init__(self, task: asyncio.Task | None, first: Callable[[], object] | None = None):
        self.task = task
        self.first = first

    def __call__(self) -> None:
        from mitmproxy import ctx

        if self.first is not None:
            self.first()
        try:
            ctx.master.shutdown()
        except Exception:
            if self.task:
                self.task.cancel()


def run_with_ui(cfg: configmod.Config, host: str | None = None, port: int | None = None) -> None:
    """``pixelguard``: the proxy runs as a worker inside the UI's event loop; quitting the UI stops both."""
    from pixelguard.tui.app import PixelguardApp

    claim = claim_data_dir(cfg)
    host, port = _check_listen(cfg, host, port)
    _log_to_file(cfg)
    if cfg.proxy.workers > 1:
        log.info("pixelguard: proxy.workers is for `pixelguard run`; with the UI the proxy is one process")

    async def proxy_runner() -> None:
        # Cancelled by the UI on quit: Master.run still calls the done hooks, which flush the event log.
        await serve(cfg, host, port, headless=False)

    app = PixelguardApp(cfg, proxy_runner=proxy_runner, listen=f"{host}:{port}")
    try:
        app.run()
    finally:
        claim.release()
    if app.proxy_stopped is not None:
        print(f"pixelguard: the proxy had stopped: {app.proxy_stopped}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("pixelguard: stopped", file=sys.stderr, flush=True)


def claim_data_dir(cfg: configmod.Config) -> Any:
    """Make the data dir (private) and claim it for this proxy; one line naming the path and the fix when it
    cannot be used (read-only, not a directory, owned by someone else)."""
    from pixelguard import running

    path = cfg.data_dir
    try:
        private_dir(path)
        return running.claim(path)
    except OSError as e:
        raise PixelguardError(
            f"cannot use the data dir {path}: {e.strerror or e}. Make it writable (chmod u+rwx {path}), "
            "or point XDG_DATA_HOME elsewhere"
        ) from None


def _log_to_file(cfg: configmod.Config, helper: int = 0) -> None:
    """Proxy logs also go to data_dir/proxy.log (rotated: at most 4 x 1 MB, 0600): with the UI on the terminal it
    is the only log, and run as a service nobody watches the terminal. A helper of `run --workers` logs to a file
    of its own (proxy-worker-N.log): rotation is per process, and two processes rotating one file lose lines."""
    private_dir(cfg.data_dir)
    path = cfg.data_dir / (f"proxy-worker-{helper}.log" if helper else "proxy.log")
    try:
        handler = private_log_handler(path, 1 << 20, 3)
    except OSError as e:
        raise PixelguardError(f"cannot write the proxy's log {path}: {e.strerror or e}") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
