"""The ``pixelguard`` command: a thin click layer that parses, calls the library, and prints.

User mistakes raise PixelguardError (or click's own usage errors); both end as one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from pixelguard import __version__, display, render
from pixelguard import config as configmod
from pixelguard.durations import parse_duration
from pixelguard.engine import resource_types
from pixelguard.engine.request import normal_host
from pixelguard.errors import PixelguardError
from pixelguard.invocation import cmd
from pixelguard.limits import MAX_WORKERS

RESOURCE_TYPES = [*resource_types.NAMES, "xhr"]


class State:
    """Per-invocation state; the config is read only when a command needs it, so --help always works."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._config: configmod.Config | None = None

    @property
    def config(self) -> configmod.Config:
        if self._config is None:
            self._config = configmod.load(self.config_path)
        return self._config


class UserError(click.ClickException):
    exit_code = 2

    def show(self, file: Any = None) -> None:
        # The message may name what the user typed or a file's name: no control character reaches the terminal.
        click.echo(f"pixelguard: {display.safe(self.format_message())}", err=True)


class GivenPath(click.Path):
    """A path the user named. An empty one is refused: pathlib reads "" as the current directory, so `scan "$DIR"`
    with the variable unset would scan every file under it, and `-o ""` would try to write to it."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (str, bytes)) and not value:
            self.fail("an empty path (an unset shell variable?)", param, ctx)
        return super().convert(value, param, ctx)


class Group(click.Group):
    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        """An unknown command that is a subcommand of another gets a hint (`update` → `lists update`)."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as e:
            name = args[0] if args else ""
            homes = [
                f"{group} {name}"
                for group, cmd_ in sorted(self.commands.items())
                if isinstance(cmd_, click.Group) and name in cmd_.commands
            ]
            if not homes:
                raise
            raise click.UsageError(
                f"No such command {name!r}: did you mean {' or '.join(homes)}?", ctx
            ) from e

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PixelguardError as e:
            raise UserError(str(e)) from None

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Like click's, but every user mistake is one line on stderr and exit 2 (click prints three)."""
        main: Any = super().main  # click's overloads say little about this pass-through
        if not standalone_mode:
            return main(*args, standalone_mode=False, **kwargs)
        try:
            rv = main(*args, standalone_mode=False, **kwargs)
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except UserError as e:
            e.show()
            sys.exit(e.exit_code)
        except _NO_ARGS_IS_HELP as e:
            # A group typed alone (`pixelguard mail`) asks what it holds: its help, whole, as click 8.1 gave it
            # (8.2 raises it as a usage error, which the one-line form below would flatten).
            click.echo(e.ctx.get_help() if e.ctx else e.format_message())
            sys.exit(0)
        except click.ClickException as e:
            where = e.ctx.command_path if isinstance(e, click.UsageError) and e.ctx else "pixelguard"
            hint = " (see --help)" if isinstance(e, click.UsageError) else ""
            click.echo(f"{where}: {display.safe(e.format_message())}{hint}", err=True)
            sys.exit(e.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2
pass_state = click.make_pass_decorator(State)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, one object per line.")(f)


def emit_json(obj: Any) -> None:
    click.echo(display.safe_json(json.dumps(obj, default=str, ensure_ascii=False)))


class DurationType(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


DURATION = DurationType()


def _follow_log(path: Path, db: Any, last: int, host: str | None, show: Callable[[dict], None]) -> None:
    """Poll for rows after ``last`` every 0.25 s until Ctrl-C; reopen when the file appears or is replaced."""
    import sqlite3
    import time

    from pixelguard.store import db as dbmod
    from pixelguard.store import queries

    wanted = normal_host(host.strip()) if host else None
    while True:
        try:
            if db is None:
                db = dbmod.connect(path, readonly=True)
            if queries.last_id(db) < last:
                last = 0  # the database was recreated: its ids start again
            for row in queries.tail(db, after_id=last):
                last = row["id"]
                h = row["host"] or ""
                if wanted is None or h == wanted or h.endswith("." + wanted):
                    show(row)
        except (dbmod.MissingDatabase, sqlite3.Error):
            if db is not None:
                db.close()
            db = None
        time.sleep(0.25)


def _edit_user_list(
    state: State, domain: str | None, site: str | None, add: bool, for_: timedelta | None = None
) -> None:
    from datetime import UTC, datetime

    from pixelguard import lists

    path = state.config.user_list
    if domain is None and site is None:
        alone = "to trust everything on a site" if add else "to stop trusting a site"
        raise PixelguardError(f"give a DOMAIN, or --site SITE alone {alone}")
    if domain is None and for_ is not None:
        raise PixelguardError("--for applies to allowing a DOMAIN, not to trusting a whole site")
    for name, what in ((domain, "DOMAIN"), (site, "--site")):
        if not (add and name):
            continue
        # Read as the rule will read it first: a name that is no host at all is told so, not offered a ".com".
        host = lists.normalize_domain(name, "domain" if what == "DOMAIN" else "site")
        if "." not in host and host != "localhost":
            # A URL's host, else the name as the user wrote it.
            meant = host if "/" in name else name.strip().strip(".")
            raise PixelguardError(
                f"{what} {name!r} is not a full domain name (no dot): did you mean {meant}.com?"
            )
    rule = lists.allow_rule(domain, site) if domain is not None else lists.trust_rule(site or "")
    lists.ensure_user_list(path)
    until = datetime.now(UTC) + for_ if for_ is not None else None
    if domain is None:
        changed = lists.trust_site(path, site) if add else lists.untrust_site(path, site)  # type: ignore[arg-type]
    else:
        changed = lists.allow(path, domain, site, until) if add else lists.unallow(path, domain, site)
    if changed:
        verb = "added" if add else "removed"
        click.echo(f"{verb} {rule} {'to' if add else 'from'} {path}")
        if until is not None and for_ is not None:
            click.echo(
                f"until {until.astimezone():%Y-%m-%d %H:%M:%S} ({display.period(for_.total_seconds())})"
            )
        click.echo("the running proxy picks this up within a second")
    elif add:
        click.echo(f"already there: {rule} in {path} (nothing changed)")
    elif domain is None:
        click.echo(f"{site} is not trusted: {rule} is not in {path} (nothing changed)")
    else:
        where = f" on {site}" if site else ""
        click.echo(f"{domain} is not allowed{where}: {rule} is not in {path} (nothing changed)")


# `lists update` prints each list's outcome itself; without a handler, Python's last-resort one printed each
# failure a second time from the updater's log. The proxy's own handlers still receive it (it propagates).
logging.getLogger("pixelguard.update").addHandler(logging.NullHandler())


def _print_version(ctx: click.Context) -> None:
    """--version: pixelguard's, and the mitmproxy and Python under it (3.11 runs mitmproxy 11, 3.12+ 12, and a bug
    report needs to say which)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    try:
        mitm = version("mitmproxy")
    except PackageNotFoundError:
        mitm = "not installed"
    click.echo(f"pixelguard, version {__version__} (mitmproxy {mitm}, Python {platform.python_version()})")
    ctx.exit()


@click.group(cls=Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar=configmod.ENV_VAR,
    help=f"Config file (default: ${configmod.ENV_VAR}, else {configmod.config_dir() / 'config.yaml'}).",
)
@click.option("--host", help="Listen address, with no command (overrides proxy.host).")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Listen port, with no command (overrides proxy.port)."
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_version(ctx) if value and not ctx.resilient_parsing else None,
    help="Show pixelguard's version, and the mitmproxy and Python it runs on, and exit.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, host: str | None, port: int | None) -> None:
    """Stop tracking pixels and tracker requests before they leave your machine.

    With no command: start the proxy (127.0.0.1:8080 by default) and the live terminal UI in one process.
    Point your browser or mail client's HTTP(S) proxy at it; see README.md for the set-up.
    """
    ctx.obj = State(config_path)
    if ctx.invoked_subcommand is None:
        from pixelguard.proxy import run as proxyrun

        proxyrun.run_with_ui(ctx.obj.config, host, port)
    elif host or port:
        raise click.UsageError("--host and --port go with no command (the proxy and UI) or after `run`")


@cli.command()
@click.option("--host", help="Listen address (overrides proxy.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Listen port (overrides proxy.port).")
@click.option(
    "--set",
    "set_options",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a mitmproxy option, as `mitmdump --set` does (e.g. confdir=DIR, ssl_verify_upstream_trusted_ca=FILE).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    metavar="N",
    help="Serve with N processes sharing the port, one core each (Linux; default: proxy.workers, 1). "
    "Worth it when one process is busy: many clients, a whole system's traffic.",
)
@pass_state
def run(
    state: State, host: str | None, port: int | None, set_options: tuple[str, ...], workers: int | None
) -> None:
    """Run the proxy headless (no UI); watch it with `pixelguard ui` from another terminal.

    Prints the listen address and the mitmproxy CA certificate to install (confdir ~/.mitmproxy, or
    $PIXELGUARD_CONFDIR). Stop with Ctrl-C; recorded events are flushed before it exits.
    """
    from pixelguard.proxy import run as proxyrun

    proxyrun.run_headless(state.config, host=host, port=port, set_options=set_options, workers=workers)


@cli.command()
@pass_state
def ui(state: State) -> None:
    """Open the terminal UI on the database and lists of a proxy running in another process."""
    from pixelguard.tui.app import run_ui

    run_ui(state.config)


@cli.command()
@click.argument("url")
@click.option(
    "--source",
    "--page",
    metavar="PAGE_URL",
    help="The page that made the request (its Referer; --page is the same).",
)
@click.option(
    "--type",
    "resource_type",
    type=click.Choice(RESOURCE_TYPES, case_sensitive=False),
    help="Resource type of the request (default: what the proxy would read from --header, else the URL's extension).",
)
@click.option("--method", default="GET", show_default=True, help="The HTTP method.")
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="A request header, as the client would send it (repeatable), e.g. --header 'Sec-Fetch-Dest: image'.",
)
@click.option(
    "--body", metavar="TEXT|@FILE", help="The request body (for the leak alarm), or @FILE to read one."
)
@click.option(
    "--client",
    default="127.0.0.1",
    show_default=True,
    help="The client address (for learned TLS passthrough).",
)
@json_option
@pass_state
def check(
    state: State,
    url: str,
    source: str | None,
    resource_type: str | None,
    method: str,
    headers: tuple[str, ...],
    body: str | None,
    client: str,
    as_json: bool,
) -> None:
    """Say what the proxy would do with a request to URL, and why: the same decision pipeline the proxy runs
    (lists, CNAME chain, leak alarm, parameter cleaning, pause, TLS passthrough), with every rule and list:line.
    URL is read as a browser would send it (`https://host:443/p` is `https://host/p`); `read as:` says so.

    Exit status: 0 the request would go out (passed, cleaned), 1 it would be stopped, 2 a mistake in the command
    (usable in scripts: `pixelguard check URL && echo allowed`)."""
    from pixelguard import checking

    result = checking.run(state.config, url, source=source, resource_type=resource_type, method=method,
                          headers=headers, body=body, client=client)  # fmt: skip
    for note in result.notes:
        click.echo(f"pixelguard: {display.safe(note)}", err=True)
    if as_json:
        emit_json({**result.decision.to_dict(), "url": result.url, "read_as": result.read_as,
                   "cname": list(result.chain[1:]), "notes": result.notes})  # fmt: skip
    else:
        click.echo(
            "\n".join(
                render.check_lines(
                    result.url, result.decision, result.rule_count, result.chain, result.read_as
                )
            )
        )
    if result.decision.stopped:
        raise SystemExit(1)  # as grep does: 0 goes out, 1 stopped, 2 a mistake in the command


@cli.command()
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing new events as they arrive (Ctrl-C to stop)."
)
# Cut to what SQLite's LIMIT takes: a number past it (-n 99999999999999999999) means "every row", not a crash.
@click.option("--limit", "-n", type=click.IntRange(1), default=50, show_default=True, help="Rows to show.",
              callback=lambda _ctx, _param, n: min(n, 2**63 - 1))  # fmt: skip
@click.option("--since", type=DURATION, help="Only events newer than this (e.g. 1h, 30m, 2d).")
@click.option("--host", help="Only events for this host (and its subdomains).")
@json_option
@pass_state
def log(
    state: State, follow: bool, limit: int, since: timedelta | None, host: str | None, as_json: bool
) -> None:
    """Show what was stopped, newest last: time, host, site, type, reason and rule."""
    import time

    from pixelguard.store import db as dbmod
    from pixelguard.store import queries

    path = state.config.database
    show = (
        (lambda r: emit_json(queries.event_json(r)))
        if as_json
        else (lambda r: click.echo(render.event_line(r)))
    )
    try:
        db = dbmod.connect(path, readonly=True)
    except dbmod.MissingDatabase as e:
        click.echo(str(e), err=follow)
        if not follow:
            return
        db = None
    since_ts = time.time() - since.total_seconds() if since else None
    last = 0
    if db is not None:
        rows = queries.recent(db, limit=limit, since_ts=since_ts, host=host)[::-1]
        if rows and not as_json:
            click.echo(render.log_header())
        elif not rows and not as_json:
            scope = f" for {display.safe(host)} (and its subdomains)" if host else ""
            scope += f" in the last {display.period(since.total_seconds())}" if since else ""
            click.echo(f"no events{scope}", err=follow)
        for row in rows:
            show(row)
        last = rows[-1]["id"] if rows else queries.last_id(db)
    if not follow:
        return
    try:
        _follow_log(path, db, last, host, show)
    except KeyboardInterrupt:
        return


@cli.command()
@click.option("--since", type=DURATION, default="24h", show_default=True, help="Period to summarise.")
@json_option
@pass_state
def stats(state: State, since: timedelta, as_json: bool) -> None:
    """Totals and share stopped, top trackers, top sites, counts by reason and by list."""
    import time

    from pixelguard.store import db as dbmod
    from pixelguard.store import queries

    try:
        db = dbmod.connect(state.config.database, readonly=True)
    except dbmod.MissingDatabase as e:
        click.echo(str(e))
        return
    result = queries.stats(db, time.time() - since.total_seconds())
    if as_json:
        emit_json(result)
        return
    for line in render.stats_lines(result, display.period(since.total_seconds())):
        click.echo(line)


@cli.command()
@click.argument("domain", required=False)
@click.option("--site", help="Allow DOMAIN only on this site; alone, trust everything on SITE.")
@click.option(
    "--for",
    "for_",
    type=DURATION,
    help="Allow for this long only (e.g. 1h, 30m): the running proxy drops the rule when the time is up.",
)
@pass_state
def allow(state: State, domain: str | None, site: str | None, for_: timedelta | None) -> None:
    """Allow DOMAIN everywhere (or on --site only); the running proxy honours it within a second.

    An allowed host is neither blocked nor has its 1x1 images replaced."""
    _edit_user_list(state, domain, site, add=True, for_=for_)


@cli.command()
@click.argument("domain", required=False)
@click.option("--site", help="Remove the allow rule for DOMAIN on this site (alone: untrust SITE).")
@pass_state
def unallow(state: State, domain: str | None, site: str | None) -> None:
    """Remove an allow rule written by `pixelguard allow`."""
    _edit_user_list(state, domain, site, add=False)


@cli.command()
@click.argument("duration", type=DURATION, default="10m", required=False)
@pass_state
def pause(state: State, duration: timedelta) -> None:
    """Pause protection for everyone using this proxy (default 10m)."""
    from datetime import datetime

    from pixelguard import pause as pausemod
    from pixelguard import running

    until = datetime.now().astimezone() + duration
    pausemod.pause(state.config.data_dir, until)
    span = f"until {display.moment(until)} ({display.period(duration.total_seconds())})"
    if running.read(state.config.data_dir) is None:
        click.echo(f"no proxy is running: one that starts before then starts paused {span}")
    else:
        click.echo(f"protection paused {span} for everyone using this proxy; `{cmd('resume')}` ends it")


@cli.command()
@pass_state
def resume(state: State) -> None:
    """Resume protection now."""
    from pixelguard import pause as pausemod

    was = pausemod.paused_until(state.config.data_dir)
    pausemod.resume(state.config.data_dir)
    click.echo("protection resumed" if was else "protection was not paused (nothing changed)")


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def lists(ctx: click.Context, as_json: bool) -> None:
    """Show the filter lists: name, source, rules, skipped rules, age."""
    if ctx.invoked_subcommand is None:
        from pixelguard import update

        rows = update.list_status(ctx.obj.config)
        if as_json:
            for row in rows:
                emit_json(row)
            return
        for line in render.lists_table(rows):
            click.echo(line)


@lists.command("update")
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Download even if the list is not due yet.")
@pass_state
def lists_update(state: State, name: str | None, force: bool) -> None:
    """Download subscriptions (all, or NAME), keeping the previous copy on any failure."""
    from pixelguard import update

    cfg = state.config
    known = [spec.name for spec in cfg.lists]
    if name is not None and name not in known:
        raise PixelguardError(f"no list named {name!r} (configured: {', '.join(known)})")
    bars: list[render.ProgressBar] = []

    def progress_for(spec: configmod.ListSpec) -> render.ProgressBar | None:
        if not sys.stderr.isatty():
            return None
        bars.append(render.ProgressBar(spec.name, sys.stderr))
        return bars[-1]

    failed = False
    for result in update.iter_update(cfg, [name] if name else None, force=force, progress_for=progress_for):
        if bars:
            bars.pop().clear()
        failed |= result.status == update.FAILED
        click.echo(f"{result.name}: {result.status}: {result.message}")
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=GivenPath(path_type=Path))
@json_option
@pass_state
def scan(state: State, files: tuple[Path, ...], as_json: bool) -> None:
    """List the remote images in .eml, .mbox or .html files with a verdict for each, and the tracked links
    (where each goes, or whose opaque one it is); a directory (a Maildir) is scanned file by file."""
    from pixelguard import scan as scanmod

    cfg = state.config
    judge = _mail_judge(cfg)
    failed = 0
    for path in (f for given in files for f in scanmod.message_files(given)):
        try:
            reports = scanmod.scan_file(path, judge.engine, judge.pixel, links=judge.link)
        except PixelguardError as e:
            click.echo(f"pixelguard scan: {e}", err=True)
            failed += 1
            continue
        for report in reports:
            if as_json:
                emit_json(report.to_dict())
            else:
                click.echo("\n".join(render.scan_report(report)))
    if failed:
        sys.exit(2)


@cli.group("mail")
def mail_group() -> None:
    """Mail that cannot be tracked: clean messages as they arrive, for every mail client (phones too)."""


@mail_group.command("clean")
@click.argument("message", required=False, type=GivenPath(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("-o", "--output", type=GivenPath(dir_okay=False, path_type=Path), help="Write it to FILE.")
@click.option(
    "--maildir",
    type=GivenPath(file_okay=False, path_type=Path),
    help="Clean the messages of this Maildir (new/ and cur/) in place instead.",
)
@click.option(
    "--mbox",
    type=GivenPath(dir_okay=False, path_type=Path),
    help="Clean the messages of this mbox file in place instead (under its dot-lock and fcntl lock).",
)
@pass_state
def mail_clean(
    state: State, message: Path | None, output: Path | None, maildir: Path | None, mbox: Path | None
) -> None:
    """Remove tracking pixels from a message and unwrap its tracked links; nothing is fetched.

    MESSAGE is an RFC 5322 file, or - (the default) for standard input, as procmail, maildrop, Sieve's filter,
    fdm and getmail pass it; the cleaned message goes to standard output (or -o FILE), with a first line
    X-Pixelguard saying what was removed. A message already cleaned is left as it is. A message that cannot be
    read is passed through unchanged (a warning on standard error): delivery never loses one.
    """
    from pixelguard import mail_clean as mc

    box = maildir or mbox
    if maildir is not None and mbox is not None:
        raise PixelguardError("give --maildir or --mbox, not both")
    if box is not None and (message is not None or output is not None):
        raise PixelguardError(
            f"--{'maildir' if maildir else 'mbox'} cleans in place: give no MESSAGE or -o with it"
        )
    judge = _mail_judge(state.config)
    if box is not None:
        if maildir is not None:
            total = sum(1 for _ in mc.maildir_messages(maildir))
            with click.progressbar(length=total, label="cleaning", file=sys.stderr) as bar:
                result = mc.clean_maildir(maildir, judge, each=lambda _path: bar.update(1))
        else:
            from pixelguard.mail_mbox import clean_mbox

            assert mbox is not None
            size = mbox.stat().st_size if mbox.is_file() else 0
            with click.progressbar(length=size, label="cleaning", file=sys.stderr) as bar:
                result = clean_mbox(mbox, judge, each=lambda done: bar.update(done - bar.pos))
        for problem in result.problems:
            click.echo(f"pixelguard mail clean: {display.safe(problem)}", err=True)
        click.echo(f"{display.safe(str(box))}: {result.cleaned} cleaned ({result.counts.summary()}), "
                   f"{result.skipped} cleaned before")  # fmt: skip
        return
    if message is None or str(message) == "-":
        raw = sys.stdin.buffer.read()
    else:
        try:
            raw = message.read_bytes()
        except OSError as e:
            raise PixelguardError(f"{message}: cannot read: {e.strerror or e}") from None
    out = mc.clean_message(raw, judge)
    for problem in out.problems:
        click.echo(f"pixelguard mail clean: {display.safe(problem)}", err=True)
    if output is None:
        sys.stdout.buffer.write(out.data)
        sys.stdout.buffer.flush()
    else:
        from pixelguard.fileio import atomic_write

        try:
            atomic_write(output, out.data)
        except OSError as e:
            raise PixelguardError(f"{output}: cannot write: {e.strerror or e}") from None


def _mail_judge(cfg: Any) -> Any:
    from pixelguard.engine import Engine
    from pixelguard.mail_clean import Clicks, Judge
    from pixelguard.protection import trusted_lists

    engine = Engine.from_files(cfg.filter_files(), cache_dir=cfg.cache_dir)
    return Judge(engine, trusted_lists(cfg), (cfg.pixels.max_width, cfg.pixels.max_height), Clicks())


@cli.group("tls", invoke_without_command=True)
@json_option
@click.pass_context
def tls_group(ctx: click.Context, as_json: bool) -> None:
    """Hosts whose TLS pixelguard passes through undecrypted: the bundled list of sensitive sites, tls.passthrough
    in your config, and hosts a client refused pixelguard's certificate for (learned, per client)."""
    if ctx.invoked_subcommand is not None:
        return
    from pixelguard import tls_policy

    cfg = ctx.find_object(State).config  # type: ignore[union-attr]
    learned = tls_policy.learned_entries(cfg.data_dir)
    if as_json:
        emit_json({"bundled": tls_policy.bundled(), "config": list(cfg.tls.passthrough)})
        for e in learned:
            emit_json(
                {
                    "client": e.client,
                    "host": e.host,
                    "since": e.since,
                    "last_used": e.last,
                    "refusals": e.refusals,
                }
            )
        return
    click.echo(
        f"bundled list: {len(tls_policy.bundled())} sensitive sites (banking, payments, logins, health)"
    )
    click.echo("tls.passthrough: " + (display.safe(", ".join(cfg.tls.passthrough)) or "(none)"))
    click.echo(f"learning from refused certificates: {'on' if cfg.tls.learn else 'off'}")
    if not learned:
        click.echo("learned: (none)")
    for e in learned:
        click.echo(
            f"learned for {display.safe(e.client)}: {display.safe(e.host)} since {display.when(e.since)}, "
            f"last used {display.when(e.last)} (`{cmd('tls forget ' + display.safe(e.host))}`)"
        )


@tls_group.command("forget")
@click.argument("host")
@click.option("--client", help="Forget it for this client address only (default: every client).")
@pass_state
def tls_forget(state: State, host: str, client: str | None) -> None:
    """Decrypt HOST again after it was learned as passed through; the running proxy follows within a second."""
    from pixelguard import tls_policy

    gone = tls_policy.forget(state.config.data_dir, host, client)
    if not gone:
        raise PixelguardError(f"{host} is not a learned passthrough host (see: {cmd('tls')})")
    click.echo(f"forgot {host} for {gone} client{'s' if gone != 1 else ''}")


@cli.group("ca")
def ca_group() -> None:
    """Trust pixelguard's CA certificate where your programs look, so that it can see HTTPS requests.

    Stores: nss (Chromium/Chrome, ~/.pki/nssdb), firefox and thunderbird (each profile's database), system (the
    OS store: update-ca-certificates, update-ca-trust, macOS keychain, Windows root store). NSS databases need
    `certutil` (Debian: libnss3-tools). The system store needs root: without it, the commands are printed.
    """


STORE_OPTION = click.option(
    "--store",
    "store_spec",
    metavar="NAME,...",
    help="Only these stores: nss, firefox, thunderbird, system (default: every store found).",
)
DRY_RUN_OPTION = click.option(
    "--dry-run", is_flag=True, help="Print every step it would take; change nothing."
)


@ca_group.command("install")
@STORE_OPTION
@DRY_RUN_OPTION
@pass_state
def ca_install(state: State, store_spec: str | None, dry_run: bool) -> None:
    """Trust the CA (creating it first if the proxy never ran). Undo with `pixelguard ca uninstall`."""
    from pixelguard import trust

    stores = trust.parse_stores(store_spec)
    cert = trust.ca_file(trust.confdir()) if dry_run else trust.ensure_ca(trust.confdir())
    plan = trust.plan_install(cert, Path.home(), stores)
    _ca_finish(state, plan, dry_run, adding=True, cert=cert)


@ca_group.command("uninstall")
@STORE_OPTION
@DRY_RUN_OPTION
@pass_state
def ca_uninstall(state: State, store_spec: str | None, dry_run: bool) -> None:
    """Stop trusting the CA: removes exactly what `ca install` added (recorded in the data dir)."""
    from pixelguard import trust

    stores = trust.parse_stores(store_spec)
    cert = trust.ca_file(trust.confdir())
    plan = trust.plan_uninstall(cert, trust.read_record(state.config.data_dir), stores)
    _ca_finish(state, plan, dry_run, adding=False, cert=cert)


def _ca_finish(state: State, plan: Any, dry_run: bool, *, adding: bool, cert: Path) -> None:
    from pixelguard import trust
    from pixelguard.fileio import private_dir

    click.echo(f"CA certificate: {cert}{'' if cert.exists() else ' (not created yet: install creates it)'}")
    if dry_run:
        outcome = None
    else:
        private_dir(state.config.data_dir)
        outcome = trust.carry_out(plan, state.config.data_dir, adding=adding)
    for line in trust.describe(plan, outcome, adding=adding):
        click.echo(display.safe(line))
    if outcome is not None and outcome.failed:
        sys.exit(1)


@ca_group.command("path")
@pass_state
def ca_path(state: State) -> None:
    """Print the path of the CA certificate (PEM) to trust by hand; created by `ca install` or the proxy."""
    from pixelguard import trust

    cert = trust.ca_file(trust.confdir())
    click.echo(str(cert))
    if not cert.exists():
        click.echo(f"pixelguard: it does not exist yet; `{cmd('ca install')}` creates it", err=True)
        sys.exit(1)


@cli.group("system-proxy")
def system_proxy_group() -> None:
    """Point the desktop's proxy setting at pixelguard (GNOME, carried out; KDE, macOS and Windows, printed to run
    by hand), and put back what was there. Programs that follow the system setting then use pixelguard without
    being set up one by one; while it points at pixelguard, pixelguard must run, or they load nothing."""


def _system_proxy_plan(plan: Any, dry_run: bool) -> None:
    if not plan.steps:
        for note in plan.notes:
            click.echo(note)
        return
    if dry_run or not plan.runnable:
        how = "would run" if dry_run else "run these by hand"
        click.echo(f"{plan.desktop}: {how}:")
        for step in plan.steps:
            click.echo("  " + display.safe(shlex.join(step)))
    for note in plan.notes:
        click.echo(f"note: {note}")


@system_proxy_group.command("on")
@DRY_RUN_OPTION
@pass_state
def system_proxy_on(state: State, dry_run: bool) -> None:
    """Point the desktop's HTTP and HTTPS proxy at pixelguard (proxy.host:proxy.port); your bypass list is kept,
    loopback and private networks are added to it. What was set before is saved for `system-proxy off`."""
    from pixelguard import system_proxy
    from pixelguard.fileio import private_dir

    cfg = state.config
    kind = system_proxy.desktop()
    if dry_run or kind != "gnome":
        before = system_proxy.gnome_read() if kind == "gnome" else None
        _system_proxy_plan(system_proxy.plan_on(cfg.proxy.host, cfg.proxy.port, kind, before), dry_run)
        _say_upstream(state, before or {})
        return
    private_dir(cfg.data_dir)
    system_proxy.turn_on(cfg.data_dir, cfg.proxy.host, cfg.proxy.port)
    click.echo(
        f"the desktop's proxy points at pixelguard ({cfg.proxy.host}:{cfg.proxy.port}); "
        f"`{cmd('system-proxy off')}` puts back what was set before"
    )
    _say_upstream(state, system_proxy.read_saved(cfg.data_dir))


def _say_upstream(state: State, before: dict[str, str]) -> None:
    """The desktop pointed at another proxy before: on a network that needs it, pixelguard must forward there."""
    from pixelguard import system_proxy

    cfg = state.config
    previous = system_proxy.previous_proxy(before, (cfg.proxy.host, cfg.proxy.port))
    if previous is None or cfg.proxy.upstream is not None:
        return
    where = configmod.locate(state.config_path)
    click.echo(
        f"note: the desktop's proxy was {display.safe(previous)} before. If your network needs it, add "
        f"`upstream: {display.safe(previous)}` under proxy: in {where}, and restart pixelguard: it then forwards "
        "there what it lets through (without it, pixelguard connects to servers directly)"
    )


@system_proxy_group.command("off")
@DRY_RUN_OPTION
@pass_state
def system_proxy_off(state: State, dry_run: bool) -> None:
    """Put back the proxy setting `system-proxy on` found (elsewhere than GNOME: switch the proxy off)."""
    from pixelguard import system_proxy

    kind = system_proxy.desktop()
    saved = system_proxy.read_saved(state.config.data_dir)
    if dry_run or kind != "gnome":
        _system_proxy_plan(system_proxy.plan_off(kind, saved), dry_run)
        return
    plan = system_proxy.turn_off(state.config.data_dir)
    click.echo("the desktop's proxy setting is as it was" if plan.steps else plan.notes[0])


@system_proxy_group.command("status")
@pass_state
def system_proxy_status(state: State) -> None:
    """Where the desktop's proxy setting points, and whether a pixelguard runs there."""
    from pixelguard import doctor as doctormod
    from pixelguard import system_proxy

    kind = system_proxy.desktop()
    if kind != "gnome":
        click.echo(
            f"{kind}: pixelguard reads the proxy setting on GNOME only; check it in the system's settings"
        )
        return
    for f in doctormod.check_system_proxy(state.config, doctormod.check_proxy(state.config).ok):
        click.echo(display.safe(f.detail))
        if not f.ok:
            click.echo(f"→ {display.safe(f.fix)}")
            sys.exit(1)


@system_proxy_group.command("pac")
@click.option("-o", "--output", type=GivenPath(dir_okay=False, path_type=Path), help="Write it to FILE.")
@pass_state
def system_proxy_pac(state: State, output: Path | None) -> None:
    """Print a proxy auto-config (PAC) file that sends local and intranet hosts direct and everything else
    through pixelguard, for programs set up by PAC URL: save it with -o and give them file:///its/path."""
    from pixelguard import system_proxy
    from pixelguard.fileio import atomic_write

    text = system_proxy.pac(state.config.proxy.host, state.config.proxy.port)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        atomic_write(output, text)
    except OSError as e:
        raise PixelguardError(f"cannot write {output}: {e.strerror or e}") from None
    click.echo(f"wrote {output}; point programs at file://{output.absolute()}")


@cli.group("service")
def service_group() -> None:
    """Run the proxy in the background from login, restarted when it fails (a systemd user unit on Linux, a
    launchd agent on macOS, a script in the Startup folder on Windows). Watch it with `pixelguard ui`; its log is
    proxy.log in the data dir."""


@service_group.command("install")
@DRY_RUN_OPTION
@pass_state
def service_install(state: State, dry_run: bool) -> None:
    """Write the service file and start the proxy now and at every login."""
    from pixelguard import service

    plan = service.plan_install(state.config_path)
    if dry_run or plan.problem:
        click.echo(f"# would write {plan.path}:")
        click.echo(plan.text, nl=False)
        _would_run(plan.commands)
        if plan.problem:
            raise PixelguardError(plan.problem)
        return
    _exit_on(service.install(plan))
    click.echo(f"installed {plan.path}; the proxy runs now and at every login (`{cmd('service status')}`)")
    click.echo(
        f"to have every program that follows the desktop's proxy setting use it: {cmd('system-proxy on')}"
    )


@service_group.command("uninstall")
@DRY_RUN_OPTION
@pass_state
def service_uninstall(state: State, dry_run: bool) -> None:
    """Stop the background proxy and remove its service file; a desktop proxy setting `system-proxy on` made is
    put back too (with no proxy running, programs that follow it would load nothing)."""
    from pixelguard import service, system_proxy

    plan = _service_uninstall_plan(state.config.data_dir)
    saved = system_proxy.read_saved(state.config.data_dir)
    pointed = bool(saved) and system_proxy.desktop() == "gnome"
    if dry_run:
        click.echo(f"# would remove {plan.path}")
        _would_run(plan.commands)
        if pointed:
            _would_run(system_proxy.plan_off("gnome", saved).steps)
        return
    _exit_on(service.uninstall(plan))
    click.echo(f"removed {plan.path}; the background proxy is stopped")
    if pointed:
        system_proxy.turn_off(state.config.data_dir)
        click.echo("the desktop's proxy setting is as it was before `system-proxy on`")


def _service_uninstall_plan(data_dir: Path) -> Any:
    """What uninstalling the service does; on Windows that includes stopping the proxy running now by its pid."""
    from pixelguard import running, service

    proxy = running.read(data_dir)
    return service.plan_uninstall(pid=proxy.pid if proxy else None)


def _would_run(commands: list[list[str]]) -> None:
    for argv in commands:
        click.echo(f"# would run: {shlex.join(argv)}")


def _exit_on(problems: list[str]) -> None:
    """Each problem on stderr, then exit 1; nothing when there is none."""
    for line in problems:
        click.echo(f"pixelguard: {line}", err=True)
    if problems:
        sys.exit(1)


@service_group.command("status")
@pass_state
def service_status(state: State) -> None:
    """Is the service installed and running, where does the proxy listen, and since when."""
    from pixelguard import running, service

    st = service.state()
    click.echo(f"service file: {st['file']} ({'installed' if st['installed'] == 'yes' else 'not installed'})")
    if st["manager"]:
        click.echo(f"service manager: {display.safe(st['manager'])}")
    info = running.read(state.config.data_dir)
    if info is None:
        click.echo("proxy: not running")
        sys.exit(1)
    listen = display.safe(info.listen)
    workers = f" ({info.workers} worker processes)" if info.workers > 1 else ""
    click.echo(
        f"proxy: running, pid {info.pid}{workers}, listening on {listen} since {display.when(info.started)}"
    )


@cli.command()
@click.option(
    "--data",
    is_flag=True,
    help="Also delete the history, downloaded lists and caches (your config and rules stay).",
)
@DRY_RUN_OPTION
@pass_state
def uninstall(state: State, data: bool, dry_run: bool) -> None:
    """Undo what pixelguard set up: the desktop proxy setting, the background service and the trust in its CA,
    each as `system-proxy off`, `service uninstall` and `ca uninstall` do; with --data, its data too. Your config,
    your own rules and the CA's files are left, with where they are. --dry-run changes nothing."""
    from pixelguard import running, service, system_proxy, trust

    cfg = state.config
    saved = system_proxy.read_saved(cfg.data_dir)
    if saved:
        kind = system_proxy.desktop()
        if dry_run or kind != "gnome":
            _system_proxy_plan(system_proxy.plan_off(kind, saved), dry_run)
        else:
            system_proxy.turn_off(cfg.data_dir)
            click.echo("system proxy: the desktop's setting is as it was before `system-proxy on`")
    else:
        click.echo("system proxy: pixelguard never set it")
    plan = _service_uninstall_plan(cfg.data_dir)
    if not plan.path.exists():
        click.echo("service: none installed")
    elif dry_run:
        click.echo(f"service: would remove {plan.path}")
        _would_run(plan.commands)
    else:
        problems = service.uninstall(plan)
        for line in problems:
            click.echo(f"pixelguard: {display.safe(line)}", err=True)
        click.echo(f"service: removed {plan.path}" + ("" if not problems else " (with the problems above)"))
    cert = trust.ca_file(trust.confdir())
    ca_plan = trust.plan_uninstall(cert, trust.read_record(cfg.data_dir))
    outcome = None if dry_run else trust.carry_out(ca_plan, cfg.data_dir, adding=False)
    for line in trust.describe(ca_plan, outcome, adding=False):
        click.echo("CA: " + display.safe(line))
    if data:
        _remove_data(cfg, dry_run, running.read(cfg.data_dir))
    click.echo(f"left in place: your config ({cfg.source or configmod.locate()}), your rules ({cfg.user_list}), the CA "
               f"files in {trust.confdir()} (mitmproxy's, shared with it)" + ("" if data else f", and the data in {cfg.data_dir} (--data deletes it)"))  # fmt: skip


def _remove_data(cfg: Any, dry_run: bool, proxy: Any) -> None:
    """The data dir and the cache dir, deleted when they are pixelguard's own (named for it); else named."""
    import shutil

    if proxy is not None and not dry_run:
        raise PixelguardError(
            f"a proxy is running from {cfg.data_dir} (pid {proxy.pid}): stop it first, then run this again"
        )
    db = Path(cfg.database)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists() and not path.is_relative_to(cfg.data_dir):
            click.echo(f"data: {'would delete' if dry_run else 'deleted'} {path}")
            if not dry_run:
                path.unlink()
    for d in (cfg.data_dir, cfg.cache_dir):
        if not d.exists():
            continue
        if d.name != "pixelguard":  # a directory the config named: it may hold more than pixelguard's files
            click.echo(f"data: {d} is not pixelguard's own directory: delete what you want of it by hand")
            continue
        click.echo(f"data: {'would delete' if dry_run else 'deleted'} {d}")
        if not dry_run:
            shutil.rmtree(d)


@cli.command()
@json_option
@pass_state
def doctor(state: State, as_json: bool) -> None:
    """Is protection on? The CA and where it is trusted, the lists and their age, pause, TLS passthrough, tunnels
    relayed as raw bytes (not HTTP), request bodies read in part (over 256 KB), the DNS servers, the database, the
    service and the proxy, each problem with the command that fixes it. Exits 1 when something needs fixing."""
    from pixelguard import doctor as doctormod

    findings = doctormod.run_all(state.config)
    if as_json:
        for f in findings:
            emit_json({"part": f.part, "ok": f.ok, "detail": f.detail, "fix": f.fix if not f.ok else ""})
    else:
        width = max(len(f.part) for f in findings)
        for f in findings:
            click.echo(f"{'ok  ' if f.ok else 'FIX '} {f.part:<{width}}  {display.safe(f.detail)}")
            if not f.ok and f.fix:
                click.echo(f"{'':>{width + 7}}→ {display.safe(f.fix)}")
        bad = sum(not f.ok for f in findings)
        click.echo(f"{bad} thing{'s' if bad != 1 else ''} to fix" if bad else "all good: protection is on")
    if any(not f.ok for f in findings):
        sys.exit(1)


@cli.group("config")
def config_group() -> None:
    """Show the configuration in effect and where it is read from."""


@config_group.command("show")
@json_option
@pass_state
def config_show(state: State, as_json: bool) -> None:
    """Print the effective configuration and where each value came from."""
    cfg = state.config
    rows = configmod.describe(cfg)
    if as_json:
        for key, _, value, origin in rows:
            emit_json({"key": key, "value": value, "origin": origin})
        return
    click.echo(
        f"# config file: {cfg.source or f'{configmod.locate(state.config_path)} (not found: defaults)'}"
    )
    width = max(len(k) for k, _, _, _ in rows)
    # The comments line up after the values, unless a value is long (a path): then it just follows.
    column = min(max(len(v) for _, v, _, _ in rows), 40)
    for key, value, _, origin in rows:
        click.echo(f"{key:<{width}}  {value:<{column}}  # {origin}")


@config_group.command("path")
@pass_state
def config_path(state: State) -> None:
    """Print the path of the config file in use (which may not exist yet)."""
    click.echo(str(configmod.locate(state.config_path)))


def hoist_config(argv: list[str]) -> list[str]:
    """``--config PATH`` belongs to the whole program, yet people type it after the command too (``pixelguard doctor
    --config x.yaml``): moved in front, where click reads it. Nothing after ``--`` is touched (arguments)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg == "--config" and i + 1 < len(argv):
            front += argv[i : i + 2]
            i += 2
            continue
        (front if arg.startswith("--config=") else rest).append(arg)
        i += 1
    return front + rest


def main() -> None:
    cli.main(args=hoist_config(sys.argv[1:]), prog_name="pixelguard")
