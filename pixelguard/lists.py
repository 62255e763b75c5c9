"""The list files pixelguard writes itself: the user list (allow, trust) and the learned list (pixel hosts).

Every change is one line added or removed in an Adblock Plus syntax file, written atomically (temp file in the
same directory + os.replace), so the proxy's watcher never reads half a file and picks the change up within a
second. Edits are idempotent: adding a rule that is there, or removing one that is not, changes nothing.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pixelguard.config import bundled_filters_dir
from pixelguard.engine.request import normal_host
from pixelguard.errors import PixelguardError
from pixelguard.fileio import atomic_write
from pixelguard.limits import MAX_HOST

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
LEARNED_HEADER = (
    "! pixelguard learned list: hosts that served tiny tracking images on several sites.\n"
    "! Written by the proxy; delete a rule (or use the UI) to forget a host.\n"
)


def normalize_domain(text: str, what: str = "domain") -> str:
    """'Example.COM.' → 'example.com'; an IDN → its punycode form; an http(s) URL → its host. Raises
    PixelguardError for anything else that is not a bare host name (paths, wildcards, spaces, empty labels)."""
    raw = text.strip()
    if not raw:
        raise PixelguardError(f"{what} is empty")
    if raw.lower().startswith(("http://", "https://")):
        # A URL copied from the address bar or the blocked page: its host is what is meant.
        from urllib.parse import urlsplit

        try:
            raw = urlsplit(raw).hostname or raw
        except ValueError:
            pass
    if any(c.isspace() for c in raw) or any(c in raw for c in "/:*?#@^|$,=\\[]"):
        hint = " (give the host name only, e.g. example.com)" if "/" in raw or ":" in raw else ""
        raise PixelguardError(f"{raw!r} is not a valid {what}{hint}")
    name = normal_host(raw)
    if "" in name.split("."):
        raise PixelguardError(f"{raw!r} is not a valid {what} (an empty label: a dot first or two together)")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        # Python's codec says only "label empty or too long" or names a code point; what is wrong is one of these.
        raise PixelguardError(
            f"{raw!r} is not a valid {what} (a label over 63 characters, or a character no "
            "domain name can hold)"
        ) from None
    labels = ascii_name.split(".")
    if len(ascii_name) > MAX_HOST or not all(_LABEL.match(label) for label in labels):
        raise PixelguardError(f"{raw!r} is not a valid {what}")
    return ascii_name


def allow_rule(domain: str, site: str | None = None) -> str:
    """The rule `pixelguard allow` writes: @@||DOMAIN^ or @@||DOMAIN^$domain=SITE."""
    d = normalize_domain(domain)
    if site is None:
        return f"@@||{d}^"
    return f"@@||{d}^$domain={normalize_domain(site, 'site')}"


def trust_rule(site: str) -> str:
    """The rule that allows everything on pages of SITE."""
    return f"@@||{normalize_domain(site, 'site')}^$document"


def learned_rule(host: str, path: str = "") -> str:
    """pixel_learner.learned_rule for a host checked to be a domain name (it is written into a list file)."""
    from pixelguard.decision.pixel_learner import learned_rule as rule

    return rule(normalize_domain(host, "host"), path)


def ensure_user_list(path: Path) -> bool:
    """Create the user list from the bundled template on first use. True when it was created."""
    path = Path(path)
    if path.exists():
        return False
    template = bundled_filters_dir() / "user.txt"
    text = template.read_text(encoding="utf-8") if template.is_file() else "! pixelguard user list\n"
    atomic_write(path, text)
    return True


def _read_lines(path: Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def _add_line(path: Path, rule: str, comment: str | None = None, header: str = "") -> bool:
    lines = _read_lines(path)
    if any(line.strip() == rule for line in lines):
        return False
    if not lines and header:
        lines = header.rstrip("\n").split("\n")
    if comment:
        lines.append(f"! {comment}")
    lines.append(rule)
    atomic_write(path, "\n".join(lines) + "\n")
    return True


def _remove_line(path: Path, rule: str, drop_comment_prefix: str | None = None) -> bool:
    lines = _read_lines(path)
    kept: list[str] = []
    changed = False
    for line in lines:
        if line.strip() == rule:
            changed = True
            # The evidence comment written just above a learned rule goes with it.
            if drop_comment_prefix and kept and kept[-1].startswith(drop_comment_prefix):
                kept.pop()
            continue
        kept.append(line)
    if changed:
        atomic_write(path, "\n".join(kept) + ("\n" if kept else ""))
    return changed


UNTIL = "! pixelguard: until "  # the comment above a temporary allow: "! pixelguard: until <ISO time UTC>"


def allow(path: Path, domain: str, site: str | None = None, until: datetime | None = None) -> bool:
    """Add @@||DOMAIN^ (or @@||DOMAIN^$domain=SITE) to the user list. True when the file changed.

    With ``until``, the allow is temporary: the running proxy removes it from the file when the time comes
    (``expire``). A permanent allow of the same rule stays permanent."""
    rule = allow_rule(domain, site)
    if until is None:
        return _add_line(path, rule) or _drop_until(path, rule)
    lines = _read_lines(path)
    until = until.astimezone(UTC)
    if until.microsecond:  # whole seconds in the file, never earlier than asked
        until += timedelta(microseconds=1_000_000 - until.microsecond)
    stamp = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    for i, line in enumerate(lines):
        if line.strip() == rule:
            if i == 0 or not lines[i - 1].startswith(UNTIL):
                return False  # already allowed for good
            lines[i - 1] = UNTIL + stamp
            atomic_write(path, "\n".join(lines) + "\n")
            return True
    return _add_line(path, rule, UNTIL[2:] + stamp)


def _drop_until(path: Path, rule: str) -> bool:
    """Make a temporary allow permanent (remove its expiry line)."""
    lines = _read_lines(path)
    for i, line in enumerate(lines):
        if line.strip() == rule and i > 0 and lines[i - 1].startswith(UNTIL):
            del lines[i - 1]
            atomic_write(path, "\n".join(lines) + "\n")
            return True
    return False


def expire(path: Path, now: datetime | None = None) -> list[str]:
    """Remove the temporary rules whose time has come, with their expiry lines; returns the rules removed."""
    now = now or datetime.now(UTC)
    lines = _read_lines(path)
    kept: list[str] = []
    removed: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(UNTIL) and i + 1 < len(lines):
            try:
                until = datetime.strptime(line[len(UNTIL) :].strip(), "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=UTC
                )
            except ValueError:
                until = None  # a mangled expiry: keep the rule (allowing is the safe side for the user)
            if until is not None and until <= now:
                removed.append(lines[i + 1].strip())
                i += 2
                continue
        kept.append(line)
        i += 1
    if removed:
        atomic_write(path, "\n".join(kept) + ("\n" if kept else ""))
    return removed


def next_expiry(path: Path) -> datetime | None:
    """When the next temporary allow in the file runs out (None when there is none)."""
    times = []
    for line in _read_lines(path):
        if line.startswith(UNTIL):
            try:
                times.append(
                    datetime.strptime(line[len(UNTIL) :].strip(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                )
            except ValueError:
                continue
    return min(times, default=None)


def unallow(path: Path, domain: str, site: str | None = None) -> bool:
    """Remove the rule `allow` would add (and its expiry, if temporary). True when the file changed."""
    return _remove_line(path, allow_rule(domain, site), drop_comment_prefix=UNTIL)


def trust_site(path: Path, site: str) -> bool:
    """Allow everything on SITE's pages (@@||SITE^$document). True when the file changed."""
    return _add_line(path, trust_rule(site))


def untrust_site(path: Path, site: str) -> bool:
    return _remove_line(path, trust_rule(site))


def add_learned(path: Path, host: str, evidence: str, prefix: str = "") -> bool:
    """Add the learned rule (learned_rule) to the learned list, with the evidence as a comment above it."""
    stamp = time.strftime("%Y-%m-%d")
    evidence = " ".join(evidence.split())[:300]  # one line, whatever the caller passed
    return _add_line(path, learned_rule(host, prefix), f"learned {stamp}: {evidence}", header=LEARNED_HEADER)


def add_learned_path(path: Path, host: str, evidence: str, url_path: str) -> bool:
    """Add a collection path learned from protocol matches (schema_learner.learned_rule), evidence above it."""
    from pixelguard.decision.schema_learner import learned_rule as rule

    stamp = time.strftime("%Y-%m-%d")
    evidence = " ".join(evidence.split())[:300]
    line = rule(normalize_domain(host, "host"), url_path)
    return _add_line(path, line, f"learned {stamp}: {evidence}", header=LEARNED_HEADER)


def remove_learned(path: Path, host: str) -> bool:
    """Forget what was learned about ``host`` (whatever path its rule names)."""
    rules = [rule for h, rule in learned_rules(path) if h == host]
    return any([_remove_line(path, rule, drop_comment_prefix="! learned ") for rule in rules])


_LEARNED = re.compile(r"^\|\|([^\^/$|*]+)(?:\^|/[^$]*)(?:\$image)?\s*$")


def learned_rules(path: Path) -> list[tuple[str, str]]:
    """(host, rule) of each rule in the learned list, in file order."""
    out = []
    for line in _read_lines(path):
        m = _LEARNED.match(line.strip())
        if m:
            out.append((m.group(1), line.strip()))
    return out


def learned_hosts(path: Path) -> list[str]:
    """Hosts in the learned list, in file order."""
    return [host for host, _ in learned_rules(path)]
