"""One filter-list line → a network Rule (with provenance), a skip reason, or an error reason.

Parsing errors are values, never exceptions: :func:`parse` returns a :class:`Rule`, a :class:`Skip` (a valid line
the engine chooses not to apply: comments, cosmetic rules, unsupported options) or a :class:`Malformed` (the
line is broken; the engine reports it as ``list:line: reason``).

Why our own line parser rather than ``adblockparser.AdblockRule``: AdblockRule splits the options only before
option names it knows (so ``$image,xhr`` or ``$script,first-party`` glue two options into one unknown name),
splits at the *first* ``$`` (which cuts regex rules such as ``/ads$/``), drops the character after an inner
``|`` when it builds its regex, and has no notion of ``important``, ``badfilter``, ``redirect=`` or type
aliases. Any of those would silently change which requests a rule matches, and the conformance suite catches
them. The grammar we accept is the common ABP/uBO network-rule subset; everything else is skipped and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Resource types as bits; a rule keeps the mask of types it applies to.
TYPES = (
    "other",
    "script",
    "image",
    "stylesheet",
    "object",
    "xmlhttprequest",
    "subdocument",
    "document",
    "media",
    "font",
    "websocket",
    "ping",
)
TYPE_BITS = {name: 1 << i for i, name in enumerate(TYPES)}
ALL_TYPES = (1 << len(TYPES)) - 1
# Option and request-type spellings used by uBO, Brave, Ghostery and the browsers' webRequest API.
TYPE_ALIASES = {
    "xhr": "xmlhttprequest",
    "css": "stylesheet",
    "frame": "subdocument",
    "sub_frame": "subdocument",
    "iframe": "subdocument",
    "doc": "document",
    "main_frame": "document",
    "beacon": "ping",
    "object-subrequest": "object",
    "object_subrequest": "object",
    "imageset": "image",
    "img": "image",
}

# Rule flags.
EXCEPTION = 1
IMPORTANT = 2
THIRD_PARTY = 4  # applies to third-party requests (set unless ~third-party / first-party)
FIRST_PARTY = 8  # applies to first-party requests
MATCH_CASE = 16
BADFILTER = 32

# Pattern kinds, cheapest first. HOST rules sit in the host index and match by host alone.
HOST = 0  # ||host^  (the pattern field holds the host)
SUBSTR = 1  # plain text anywhere in the URL
PREFIX = 2  # |text
REGEX = 3  # anything else: the pattern field holds Python regex source, compiled lazily
# Host-indexed rules with a path (||host/path): the host index already matched the host, so only the part of
# the URL right after the host is checked, with startswith or a regex .match at that offset.
AFTER_PREFIX = 4
AFTER_REGEX = 5

# Options that change what a rule does in ways a proxy verdict cannot express: skip the rule, never broaden it.
UNSUPPORTED = {
    "csp": "csp",
    "removeparam": "removeparam",
    "queryprune": "removeparam",
    "rewrite": "rewrite",
    "replace": "replace",
    "header": "header",
    "permissions": "permissions",
    "denyallow": "denyallow",
    "to": "to",
    "method": "method",
    "sitekey": "sitekey",
    "app": "app",
    "redirect-url": "redirect-url",
    "urltransform": "urltransform",
    "uritransform": "urltransform",
    "responseheader": "header",
    "cookie": "cookie",
    "hls": "hls",
    "jsonprune": "jsonprune",
    "referrerpolicy": "referrerpolicy",
    "strict1p": "strict-party",
    "strict3p": "strict-party",
    "strict-first-party": "strict-party",
    "strict-third-party": "strict-party",
    "webrtc": "webrtc",
    "inline-script": "csp",
    "inline-font": "csp",
    "stealth": "stealth",
    "cname": "cname",
    "network": "network",
    "content": "exception-type",
    "jsinject": "exception-type",
    "urlblock": "exception-type",
    "extension": "exception-type",
    "genericblock": "genericblock",
    "tag": "tag",
    "xbl": "obsolete-type",
    "dtd": "obsolete-type",
    "donottrack": "donottrack",
}
# Options that only affect cosmetic filtering, which a proxy does not do.
COSMETIC_OPTIONS = {"elemhide", "ehide", "generichide", "ghide", "specifichide", "shide"}
# Presentation-only options: accepted and ignored.
IGNORED_OPTIONS = {"collapse", "~collapse", "all"}

MAX_LINE = 65536
_COSMETIC = re.compile(r"#[@?$%]{0,2}#|#@?[$?]#|\$\$|\$@\$")
_HOST_CHARS = re.compile(r"[a-z0-9._-]+|\[[0-9a-f:.]+\]")
_TOKEN = re.compile(r"[a-z0-9%]+")
_SPECIAL = re.compile(r"[*^|]")


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Malformed:
    reason: str


@dataclass
class Rule:
    """A compiled network rule; ``text`` is the raw line, kept for verdicts and provenance."""

    text: str
    flags: int
    types: int  # bitmask of TYPE_BITS
    kind: int  # HOST | SUBSTR | PREFIX | REGEX | AFTER_PREFIX | AFTER_REGEX
    pattern: str  # host (HOST), literal (SUBSTR/PREFIX, lower-cased unless match-case) or regex source
    domains: dict[str, bool] | None  # source-domain option: name -> include; None when absent
    host: str | None  # set when the rule is anchored to a whole host (||host^ or ||host/...)
    key: str  # normalised text without $badfilter, to find the rule a badfilter names
    redirect: bool = False
    explicit_document: bool = False  # $document named: as an exception it allows everything on a page
    is_regex: bool = False  # written as /regex/

    @property
    def is_exception(self) -> bool:
        return bool(self.flags & EXCEPTION)


def is_comment(line: str) -> bool:
    return not line or line[0] == "!" or line.startswith("[") or line.startswith("# ") or line == "#"


def parse(line: str) -> Rule | Skip | Malformed:
    """Parse one stripped line. Never raises."""
    try:
        return _parse(line)
    except Exception as e:  # a parser bug must not stop a list from loading
        return Malformed(f"cannot parse: {type(e).__name__}")


def validate(line: str) -> str | None:
    """None when ``line`` is a usable rule, a comment or blank; otherwise why it is skipped or malformed."""
    line = line.strip()
    if is_comment(line):
        return None
    r = parse(line)
    if isinstance(r, Rule):
        if r.kind in (REGEX, AFTER_REGEX):
            try:
                re.compile(r.pattern)
            except (re.error, RecursionError, OverflowError, ValueError) as e:
                return f"bad regular expression: {e}"
        return None
    return r.reason


def _parse(line: str) -> Rule | Skip | Malformed:
    if is_comment(line):
        return Skip("comment")
    if len(line) > MAX_LINE:
        return Malformed(f"line longer than {MAX_LINE} characters")
    if not line.isprintable():
        return Malformed("control or non-printable characters")
    if "\ufffd" in line:
        return Malformed("not valid UTF-8")
    if _COSMETIC.search(line):
        return Skip("cosmetic")
    text = line
    flags = 0
    if line.startswith("@@"):
        flags |= EXCEPTION
        line = line[2:]
    pattern, options = _split_options(line)
    if options is None and pattern == "":
        return Malformed("empty rule")

    types_on = 0
    types_off = 0
    party = 0  # 0: any; else THIRD_PARTY or FIRST_PARTY
    domains: dict[str, bool] | None = None
    redirect = False
    key_opts: list[str] = []
    for raw in options or ():
        opt = raw.strip()
        if not opt:
            return Malformed("empty option")
        name, _, value = opt.partition("=")
        name = name.lower()
        neg = name.startswith("~")
        base = name[1:] if neg else name
        if not base:
            return Malformed(f"empty option in {opt!r}")
        if base != "badfilter":
            key_opts.append(opt if base == "domain" else name + ("=" + value if value else ""))
        if base in TYPE_BITS or base in TYPE_ALIASES:
            bit = TYPE_BITS[TYPE_ALIASES.get(base, base)]
            if neg:
                types_off |= bit
            else:
                types_on |= bit
        elif base in ("third-party", "3p"):
            party = FIRST_PARTY if neg else THIRD_PARTY
        elif base in ("first-party", "1p"):
            party = THIRD_PARTY if neg else FIRST_PARTY
        elif base in ("domain", "from"):
            if neg or not value:
                return Malformed(f"option {opt!r} needs a value")
            domains = _parse_domains(value)
            if domains is None:
                return Malformed(f"bad domain list in {opt!r}")
        elif base == "important":
            flags |= IMPORTANT
        elif base == "match-case":
            flags |= MATCH_CASE
        elif base == "badfilter":
            flags |= BADFILTER
        elif base in ("redirect", "redirect-rule", "empty", "mp4"):
            # The proxy answers blocked requests with its own neutral response, so a redirect is a block.
            redirect = True
            if base == "mp4":
                types_on |= TYPE_BITS["media"]
        elif base == "popup":
            types_on |= 1 << 30  # a type the proxy never sees: handled below
        elif base in COSMETIC_OPTIONS:
            return Skip("cosmetic")
        elif name in IGNORED_OPTIONS:
            pass
        elif base in UNSUPPORTED:
            return Skip(UNSUPPORTED[base])
        else:
            return Skip(f"unknown option {base}")
    if types_on & (1 << 30):
        types_on &= ~(1 << 30)
        if not types_on:
            # Popup blocking needs a browser; a proxy cannot tell a popup from a page load.
            return Skip("popup")
    types = (types_on or ALL_TYPES) & ~types_off
    if not types:
        return Skip("no resource type left")
    flags |= party if party else THIRD_PARTY | FIRST_PARTY

    kind, pat, host, err = _compile_pattern(pattern, bool(flags & MATCH_CASE))
    if err:
        return Malformed(err)
    if kind != REGEX and not pat and domains is None and types == ALL_TYPES:
        # `*`, `|`, `$third-party`: every request. A type or $domain= makes it real (EasyPrivacy: $ping,third-party).
        return Malformed("rule matches every request (no pattern, type or $domain=)")
    key = (
        ("@@" if flags & EXCEPTION else "") + pattern + ("$" + ",".join(sorted(key_opts)) if key_opts else "")
    )
    doc = bool(types_on & TYPE_BITS["document"])
    is_re = len(pattern) >= 2 and pattern[0] == "/" and pattern[-1] == "/"
    return Rule(text, flags, types, kind, pat, domains, host, key, redirect, doc, is_re)


def _split_options(line: str) -> tuple[str, list[str] | None]:
    """Pattern and option list. The options start after the last ``$`` (regex rules may contain ``$``)."""
    i = line.rfind("$")
    if i < 0:
        return line, None
    if line.startswith("/") and i > 0:
        # A regex rule: a `$` inside the /.../ belongs to the regex.
        end = line.rfind("/")
        if end > 0 and i < end:
            return line, None
    opts = line[i + 1 :]
    return line[:i], opts.split(",")


def _parse_domains(value: str) -> dict[str, bool] | None:
    out: dict[str, bool] = {}
    for part in value.lower().split("|"):
        part = part.strip()
        include = not part.startswith("~")
        name = part.lstrip("~")
        if not name or (not re.fullmatch(r"[a-z0-9._*\-\[\]:]+", name) and not name.isprintable()):
            return None
        if not name:
            return None
        out[name.rstrip(".")] = include
    return out or None


def _compile_pattern(pattern: str, match_case: bool) -> tuple[int, str, str | None, str | None]:
    """(kind, pattern, host, error). ``host`` is set when the rule is anchored to a whole host."""
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        body = pattern[1:-1]
        if not body:
            return REGEX, "", None, "empty regular expression"
        if match_case:
            src = body
        elif not re.search(r"\\[A-Z]", body):
            src = body.lower()  # matched against the lower-cased URL: much faster than (?i)
        else:
            src = "(?i)" + body
        return REGEX, src, None, None
    if not match_case:
        pattern = pattern.lower()
    # Leading/trailing wildcards add nothing; `|*` anchors nothing either.
    anchored_host = pattern.startswith("||")
    if anchored_host:
        pattern = pattern[2:]
        if pattern.startswith("*"):
            anchored_host = False
            pattern = pattern.lstrip("*")
    start = False
    if not anchored_host and pattern.startswith("|"):
        start = True
        pattern = pattern[1:]
    end = pattern.endswith("|") and not pattern.endswith("\\|")
    if end:
        pattern = pattern[:-1]
    while pattern.startswith("*"):
        pattern, start = pattern[1:], False
    while pattern.endswith("*") and not pattern.endswith("\\*"):
        pattern, end = pattern[:-1], False
    if anchored_host and not pattern:
        return SUBSTR, "", None, "'||' with no host"

    host = None
    if anchored_host:
        m = _HOST_CHARS.match(pattern.lower())
        if m and m.end() > 0:
            rest = pattern[m.end() :]
            if (not rest and end) or (rest and rest[0] in "^/:"):
                host = m.group().strip(".")
                if m.group().startswith("[") and m.group().endswith("]"):
                    host = m.group()[1:-1]  # IPv6: requests carry the address without brackets
                if rest == "^" and not end:
                    return HOST, host, host, None
                if host == m.group():
                    if not end and not _SPECIAL.search(rest):
                        return AFTER_PREFIX, rest, host, None
                    return AFTER_REGEX, _to_regex(rest, False, False, end), host, None
    if not anchored_host and not _SPECIAL.search(pattern):
        if start and not end:
            return PREFIX, pattern, None, None
        if not start and not end:
            return SUBSTR, pattern, None, None
    return REGEX, _to_regex(pattern, anchored_host, start, end), host, None


def _to_regex(pattern: str, anchored_host: bool, start: bool, end: bool) -> str:
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "^":
            parts.append("(?:[^a-zA-Z0-9_.%-]|$)")
        else:
            parts.append(re.escape(ch))
    body = "".join(parts)
    if anchored_host:
        # After the scheme, at the start of the host or of one of its labels.
        body = r"^[a-z][a-z0-9+.-]*:(?://)?(?:[^/?#@]*@)?(?:[^/?#]*\.)?" + body
    elif start:
        body = "^" + body
    if end:
        body += "$"
    return body


def tokens_of(rule: Rule) -> list[str]:
    """Tokens of the rule that every URL it matches contains as a whole token (for the token index)."""
    if rule.kind == HOST:
        return []
    if rule.is_regex:
        return regex_tokens(rule.pattern)
    if rule.kind == REGEX:
        # Reconstruct the ABP pattern from the raw text: cheaper than parsing regex source.
        pat = _split_options(rule.text[2:] if rule.flags & EXCEPTION else rule.text)[0].lower()
    else:
        pat = rule.pattern.lower()
        if rule.kind == PREFIX:
            pat = "|" + pat
    anchored = pat.startswith("|")
    pat_start = 2 if pat.startswith("||") else 1 if anchored else 0
    out = []
    for m in _TOKEN.finditer(pat):
        s, e = m.start(), m.end()
        before = pat[s - 1] if s > 0 else ""
        after = pat[e] if e < len(pat) else ""
        left_ok = (s == pat_start and anchored) or (s > pat_start and before not in "*|")
        if s == 0 and not anchored:
            left_ok = False
        right_ok = after not in ("", "*") and not (after == "|" and e != len(pat) - 1)
        if after == "|" and e == len(pat) - 1:
            right_ok = True
        if left_ok and right_ok:
            out.append(m.group())
    return out


def needle_of(rule: Rule) -> str:
    """A literal that the lower-cased URL of every request the rule matches contains ("" when unknown).

    Index buckets test it with ``in`` before calling the matcher: a C-speed substring search rejects most
    candidates without the cost of a Python call. Only ASCII needles: ``str.lower`` of a whole URL and of a
    piece of it can differ for a few non-ASCII letters (final sigma), and then the test would not be sound.
    """
    if rule.kind == HOST:
        return ""  # a HOST rule's bucket key already is the host
    if rule.is_regex:
        needle = max(regex_literals(rule.pattern), key=len, default="").lower()
    elif rule.kind in (SUBSTR, PREFIX, AFTER_PREFIX):
        needle = rule.pattern.lower()
    else:
        # Every character of an ABP pattern other than * ^ and the | anchors is literal.
        pat = _split_options(rule.text[2:] if rule.flags & EXCEPTION else rule.text)[0]
        # A host-anchored rule is only looked at for that host: the piece that is the host tells nothing new.
        needle = max((p for p in _SPECIAL.split(pat.lower()) if p != rule.host), key=len, default="")
    return needle if needle.isascii() else ""


# Regex metacharacters that end a run of required literal characters.
_REGEX_BREAK = set(".^$|()[]{}?*+\\")


def regex_tokens(source: str) -> list[str]:
    """Whole tokens every match of the regex ``source`` must contain, for indexing /regex/ rules.

    A token is taken only when both of its neighbours are inside the same literal run (so it cannot be part of
    a longer token in the URL). Anything unusual yields no tokens, and the rule simply stays in the fallback
    bucket that every request checks.
    """
    out = []
    for lit in regex_literals(source):
        low = lit.lower()
        for m in _TOKEN.finditer(low):
            if m.start() > 0 and m.end() < len(low):
                out.append(m.group())
    return out


def regex_literals(source: str) -> list[str]:
    """Runs of literal characters every match of the regex ``source`` contains.

    Conservative: only runs at the top level (outside groups and classes), no alternation anywhere, and a
    character followed by a quantifier dropped.
    """
    if "|" in source or re.search(r"\\[0-9xuUNpPk]", source):
        return []
    runs: list[str] = []
    run: list[str] = []
    i, n = 0, len(source)

    def flush() -> None:
        if run:
            runs.append("".join(run))
            run.clear()

    while i < n:
        c = source[i]
        if c == "\\" and i + 1 < n:
            nxt = source[i + 1]
            if nxt.isalnum():  # \w \d \b \s ...: a class or an assertion, not a literal
                flush()
            else:
                run.append(nxt)
            i += 2
        elif c in "([{":
            flush()
            close, depth = {"(": ")", "[": "]", "{": "}"}[c], 0
            # Skip the group, class or repetition count (escapes inside included).
            while i < n:
                if source[i] == "\\":
                    i += 2
                    continue
                if source[i] == c and c != "[":
                    depth += 1
                elif source[i] == close:
                    depth -= 1
                    if depth <= 0 and (c != "[" or source[i - 1] != "["):
                        break
                i += 1
            i += 1
            continue
        elif c in _REGEX_BREAK:
            if c in "?*" and run:
                run.pop()  # the quantified character may be absent
            elif c == "{" and run:
                run.pop()
            flush()
            i += 1
        else:
            run.append(c)
            i += 1
        # A quantifier right after a literal character makes that character optional or repeated.
        if i < n and source[i] in "?*{" and run:
            run.pop()
            flush()
    flush()
    return runs
