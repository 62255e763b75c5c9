"""One filter-list line → network Rules (with provenance), a skip reason, or an error reason.

Parsing errors are values, never exceptions: :func:`parse_line` returns a list of :class:`Rule` (a hosts-file line
may name several hosts), a :class:`Skip` (a valid line the engine chooses not to apply: comments, cosmetic rules,
options a proxy cannot honour) or a :class:`Malformed` (the line is broken; the engine reports it as
``list:line: reason``).

Three formats are read line by line, told apart by the line itself as uBlock Origin does (no per-list flag):
- Adblock Plus / uBlock Origin / AdGuard network filters;
- hosts-file lines (``0.0.0.0 host``, ``127.0.0.1 host``, ``::1 host``, any address, tabs or spaces, trailing
  ``# comment``, several names per line); each name means ``||name^``; ``localhost``-style names are ignored;
- plain domain lines (``tracker.example``): ``||tracker.example^`` (uBO's static filter parser: a line that is a
  valid hostname is a hostname filter).

Semantics come from uBO's wiki ("Static filter syntax") and source (src/js/static-filtering-parser.js,
static-net-filtering.js), AdGuard's knowledge base and ABP's docs; where they differ, uBO wins.

Why our own line parser rather than ``adblockparser.AdblockRule``: AdblockRule splits the options only before
option names it knows (so ``$image,xhr`` or ``$script,first-party`` glue two options into one unknown name),
splits at the *first* ``$`` (which cuts regex rules such as ``/ads$/``), drops the character after an inner
``|`` when it builds its regex, and has no notion of ``important``, ``badfilter``, ``redirect=`` or type
aliases. Any of those would silently change which requests a rule matches.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from pixelguard.engine import resource_types

# Resource types as bits; a rule keeps the mask of types it applies to.
TYPES = resource_types.NAMES
TYPE_BITS = {name: 1 << i for i, name in enumerate(TYPES)}
ALL_TYPES = (1 << len(TYPES)) - 1
DOCUMENT = TYPE_BITS["document"]
OTHER_TYPE = TYPE_BITS["other"]
# What a rule with no type option applies to. As in uBO, a top-level page load (document) is not among them: a
# typeless rule blocks a page only when it names the page's host (see Engine._decide_document).
NETWORK_TYPES = ALL_TYPES & ~DOCUMENT
# What a $urlskip rule with no type option applies to: what uBO skips (pagestore.js, urlSkippableResources), the
# loads a browser follows a redirect for and shows the user: pages, frames, images, media, objects, "other".
URLSKIP_TYPES = sum(TYPE_BITS[t] for t in ("document", "subdocument", "image", "media", "object", "other"))
# Option and request-type spellings used by uBO, AdGuard, Brave, Ghostery and the browsers' webRequest API.
TYPE_ALIASES = {
    "xhr": "xmlhttprequest",
    "fetch": "xmlhttprequest",
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

# HTTP methods for $method= (uBO: connect delete get head options patch post put).
METHODS = ("connect", "delete", "get", "head", "options", "patch", "post", "put")
METHOD_BITS = {name: 1 << i for i, name in enumerate(METHODS)}
ALL_METHODS = (1 << len(METHODS)) - 1

# Rule flags.
EXCEPTION = 1
IMPORTANT = 2
THIRD_PARTY = 4  # applies to third-party requests (set unless ~third-party / first-party)
FIRST_PARTY = 8  # applies to first-party requests
MATCH_CASE = 16
BADFILTER = 32
TYPELESS = 64  # no type option: may block a page load that it names by host (uBO's "implicit" document match)
REDIRECT_RULE = (
    128  # $redirect-rule=: names an answer for requests something else blocks; never blocks itself
)
REDIRECT_ONLY = 256  # @@...$redirect / $redirect-rule: cancels a redirect, never a block
REMOVEPARAM = 512  # $removeparam=: strips query parameters from requests that pass; never blocks
URLSKIP = 1024  # $urlskip=: the steps that decode a tracked link's destination from its URL; never blocks
# Rules that change a request rather than decide it: never a block, never a page exception.
MODIFIERS = REMOVEPARAM | URLSKIP

# Pattern kinds, cheapest first. HOST rules sit in the host index and match by host alone.
HOST = 0  # ||host^  (the pattern field holds the host)
SUBSTR = 1  # plain text anywhere in the URL
PREFIX = 2  # |text
WILD = 3  # an ABP pattern with * ^ or anchors, matched part by part in linear time (see wild.py)
AFTER_PREFIX = 4  # ||host/path: the text right after the host (the host index already matched the host)
AFTER_WILD = 5  # ||host/pa*th^: a WILD pattern matched right after the host
REGEX = 6  # /regex/: the pattern field holds the regex source, compiled lazily by a bounded engine

# Options that change what a rule does in ways a proxy verdict cannot express: skip the rule, never broaden it.
UNSUPPORTED = {
    "csp": "csp",
    "rewrite": "rewrite",
    "replace": "replace",
    "header": "header",
    "permissions": "permissions",
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
    "ipaddress": "ipaddress",
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
MAX_LINE = 65536
# uBO has no limit in the parser but refuses patterns over 1024 characters (static-net-filtering.js).
MAX_PATTERN = 1024

# Cosmetic rule separators (##, #@#, #?#, #$#, ...): a proxy applies none of them; the engine skips them early.
COSMETIC = re.compile(r"#[@?$%]{0,2}#|#@?[$?]#|\$\$|\$@\$")
_HOST_CHARS = re.compile(r"[a-z0-9._-]+|\[[0-9a-f:.]+\]")
TOKEN_RUN = re.compile(r"[a-z0-9%]+")
SPECIAL = re.compile(r"[*^|]")
STARS = re.compile(r"\*{2,}")
# uBO's reHostnameAscii: a name in a hosts-file line.
_HOSTNAME = re.compile(r"(?:[\da-z][\da-z_-]*\.)*[\da-z][\da-z-]*[\da-z]\Z")
# A whole line that is a domain is a hostname filter (||domain^), as uBO reads it. uBO reads a single word
# (`adv`) that way too; we keep ABP's and Brave's substring reading for words without a dot: ABP's own docs
# use `adv` as a substring example, and a domain list always has dots (tests/test_engine_formats.py).
_DOMAIN_LINE = re.compile(r"(?:[\da-z][\da-z_-]*\.)+[\da-z][\da-z-]*[\da-z]\Z")
# uBO's reHostsSink: the address column of a hosts-file line.
_HOSTS_SINK = re.compile(r"[\w%.:\[\]-]+[ \t]+")
# uBO's reHostsRedirect: names a hosts file maps for the machine itself, never trackers.
_HOSTS_LOCAL = re.compile(
    r"(?:0\.0\.0\.0|broadcasthost|local|localhost(?:\.localdomain)?|ip6-\w+)(?:[^\w.-]|$)"
)


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
    kind: int  # HOST | SUBSTR | PREFIX | WILD | AFTER_PREFIX | AFTER_WILD | REGEX
    pattern: str  # host (HOST), literal (SUBSTR/PREFIX/AFTER_PREFIX), ABP pattern (WILD) or regex source
    domains: dict[str, bool] | None  # $domain=/$from=: page domain -> include; None when absent
    host: str | None  # set when the rule is anchored to a whole host (||host^ or ||host/...)
    key: str  # normalised text without $badfilter, to find the rule a badfilter names
    redirect: str = ""  # $redirect= / $redirect-rule= resource name ("" when none)
    explicit_document: bool = False  # $document named: as an exception it allows everything on a page
    to: dict[str, bool] | None = None  # $to= / $denyallow=: request domain -> include
    methods: int = ALL_METHODS
    param: str = ""  # $removeparam= value ("" removes every parameter)


def is_comment(line: str) -> bool:
    return not line or line[0] == "!" or line.startswith("[") or line.startswith("# ") or line == "#"


def parse(line: str) -> Rule | Skip | Malformed:
    """Parse one stripped line into its first rule (or why not). Never raises."""
    out = parse_line(line)
    return out[0] if isinstance(out, list) else out


# The reason a line gets when parsing it raised: never a fault of the line, always one of pixelguard's. Lists keep
# loading (the line is skipped and counted); the property tests assert no input ever gets it.
PARSER_BUG = "pixelguard cannot parse this line (a bug)"


def parse_line(line: str) -> list[Rule] | Skip | Malformed:
    """Parse one stripped line: the rules it holds (several for a hosts line naming several hosts)."""
    try:
        if is_comment(line):
            return Skip("comment")
        if len(line) > MAX_LINE:
            return Malformed(f"line longer than {MAX_LINE} characters")
        if "#" in line and COSMETIC.search(line):
            return Skip("cosmetic")
        hosts = _hosts_line(line)
        if hosts is not None:
            return hosts
        r = _parse(line)
        return [r] if isinstance(r, Rule) else r
    except Exception as e:  # a parser bug must not stop a list from loading; the tests look for this reason
        return Malformed(f"{PARSER_BUG}: {type(e).__name__}")


def looks_like_a_rule(line: str) -> bool:
    """Is the line unmistakably a rule (a hosts or domain line, or ABP syntax), not just any text? Any text is
    a valid substring rule, so this is how a headerless download is told from an error page or a CSV file."""
    if line.startswith(("||", "@@", "|")) or "$" in line or "^" in line:
        return isinstance(parse_line(line), list)
    # Any two words read as a hosts line ("Not Found" maps "found"), so a line of prose would count; a hosts
    # line is unmistakable only with an address in its first column.
    words = line.split(None, 1)
    if len(words) > 1 and not is_address(words[0]):
        return False
    return isinstance(_hosts_line(line), list)


def is_address(text: str) -> bool:
    try:  # hosts files may bracket an IPv6 address or give its scope (fe80::1%lo0, which ipaddress reads)
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def validate(line: str) -> str | None:
    """None when ``line`` is a usable rule, a comment or blank; otherwise why it is skipped or malformed."""
    line = line.strip()
    if is_comment(line):
        return None
    r = parse_line(line)
    if isinstance(r, list):
        for rule in r:
            if rule.kind == REGEX:
                from pixelguard.engine import bounded_regex

                err = bounded_regex.check(rule.pattern)
                if err:
                    return err
        return None
    return r.reason


# The three spellings of a plain host rule, lower-case and one name per line: ``||host^``, a hosts line with the
# usual sink address, a domain line. About two thirds of EasyList + EasyPrivacy and every line of a hosts file.
_PLAIN_ABP = re.compile(r"\|\|((?:[\da-z][\da-z_-]*\.)*[\da-z][\da-z_-]*)\^\Z")
_PLAIN_HOSTS = re.compile(
    r"(?:0\.0\.0\.0|127\.0\.0\.1)[ \t]+((?:[\da-z][\da-z_-]*\.)*[\da-z][\da-z-]*[\da-z])\Z"
)


def plain_host(line: str) -> str | None:
    """The host of a stripped line that parse_line reads as one plain ``||host^`` rule, told by its shape alone;
    None when the parser must read the line (every other line, and rarer spellings of a plain rule).

    A list's build takes this path first: the general parser costs about 25 us a line and this about 1, so
    EasyList + EasyPrivacy build in 40% of the time. It accepts only lines parse_line reads the same way
    (tests/test_engine_plain_lines.py checks every line of the lists in ../shared and generated ones), so
    which rules a list holds does not depend on the path.
    """
    if not line or len(line) > MAX_PATTERN:
        return None  # parse_line refuses long patterns; a host that long is nobody's
    if line[0] == "|":
        m = _PLAIN_ABP.match(line)
        return m.group(1) if m else None
    m = _PLAIN_HOSTS.match(line)
    if m is not None:
        return None if _HOSTS_LOCAL.match(m.group(1)) else m.group(1)
    return line if _DOMAIN_LINE.match(line) else None


def _host_rule(text: str, host: str) -> Rule:
    return Rule(
        text, THIRD_PARTY | FIRST_PARTY | TYPELESS, NETWORK_TYPES, HOST, host, None, host, f"||{host}^"
    )


def _hosts_line(line: str) -> list[Rule] | Skip | None:
    """A hosts-file or plain-domain line as host rules; None when the line is not one (an ABP filter)."""
    if "$" in line or line.startswith("@@"):
        return None
    low = line.lower()
    if _DOMAIN_LINE.match(low):
        return [_host_rule(line, low)]
    sink = _HOSTS_SINK.match(low)
    if sink is None:
        return None
    names = low[sink.end() :]
    hash_at = names.find("#")
    if hash_at >= 0:
        names = names[:hash_at]
    rules = []
    for name in names.split():
        name = name.rstrip(".")
        if _HOSTS_LOCAL.match(name) or not _HOSTNAME.match(name):
            continue
        rules.append(_host_rule(line, name))
    return rules or Skip("hosts line for a local name")


# --- options -------------------------------------------------------------------------------------------------


@dataclass
class _Options:
    """What a rule's options say, gathered by the handlers in OPTIONS."""

    flags: int = 0
    types_on: int = 0
    types_off: int = 0
    typed: bool = False  # some type option (positive or negated) was given
    party: int = 0  # 0: any; else THIRD_PARTY or FIRST_PARTY
    domains: dict[str, bool] | None = None
    to: dict[str, bool] | None = None
    methods_on: int = 0
    methods_off: int = 0
    redirect: str = ""
    popup: bool = False
    param: str | None = None
    key_opts: list[str] = field(default_factory=list)


Handler = Callable[[_Options, bool, str, str], Skip | Malformed | None]


# Handlers that take a setting are top-level functions bound with partial (in OPTIONS), not closures: a closure
# is built once at import, where mutation testing (scripts/mutate) cannot reach it, so its tests would not count.
def _party(first: bool, o: _Options, neg: bool, value: str, opt: str) -> None:
    o.party = (THIRD_PARTY if neg else FIRST_PARTY) if first else (FIRST_PARTY if neg else THIRD_PARTY)


def _flag(bit: int, o: _Options, neg: bool, value: str, opt: str) -> None:
    o.flags |= bit


def _domains_option(to: bool, o: _Options, neg: bool, value: str, opt: str) -> Malformed | None:
    if neg or not value:
        return Malformed(f"option {opt!r} needs a value")
    parsed = _parse_domains(value)
    if parsed is None:
        return Malformed(f"bad domain list in {opt!r}")
    if to:
        o.to = {**(o.to or {}), **parsed}
    else:
        o.domains = parsed
    return None


def _denyallow(o: _Options, neg: bool, value: str, opt: str) -> Malformed | None:
    # uBO: "denyallow=a|b" = "to=~a|~b": the rule does not apply to requests for those domains.
    parsed = _parse_domains(value) if value and not neg else None
    if not parsed or not all(parsed.values()):
        return Malformed(f"bad domain list in {opt!r}")
    o.to = {**(o.to or {}), **dict.fromkeys(parsed, False)}
    return None


def _method(o: _Options, neg: bool, value: str, opt: str) -> Malformed | None:
    if neg or not value:
        return Malformed(f"option {opt!r} needs a value")
    for m in value.lower().split("|"):
        off = m.startswith("~")
        bit = METHOD_BITS.get(m.lstrip("~"))
        if bit is None:
            return Malformed(f"unknown method in {opt!r}")
        if off:
            o.methods_off |= bit
        else:
            o.methods_on |= bit
    return None


def _redirect(rule_only: bool, o: _Options, neg: bool, value: str, opt: str) -> None:
    # "name:priority" (uBO): the priority orders competing redirects; one neutral answer needs none.
    o.redirect = value.split(":", 1)[0].strip() or "empty"
    if rule_only:
        o.flags |= REDIRECT_RULE


def _empty(o: _Options, neg: bool, value: str, opt: str) -> None:
    o.redirect = "empty"  # ABP's old $empty: block with an empty answer


def _mp4(o: _Options, neg: bool, value: str, opt: str) -> None:
    o.redirect = "noopmp4-1s"
    o.types_on |= TYPE_BITS["media"]
    o.typed = True


def _popup(o: _Options, neg: bool, value: str, opt: str) -> None:
    o.popup = True
    o.typed = True


def _all(o: _Options, neg: bool, value: str, opt: str) -> None:
    # uBO: every network type, the page itself and popups (which a proxy cannot see).
    o.types_on |= ALL_TYPES
    o.typed = True


def _modifier(flag: int, o: _Options, neg: bool, value: str, opt: str) -> Malformed | None:
    """$removeparam= / $urlskip=: the value is what the rule does to a request (kept in ``param``)."""
    if neg:
        return Malformed(f"option {opt!r} cannot be negated")
    o.param = value
    o.flags |= flag
    return None


def _ignore(o: _Options, neg: bool, value: str, opt: str) -> None:
    return None


def _skip(reason: str, o: _Options, neg: bool, value: str, opt: str) -> Skip:
    return Skip(reason)


OPTIONS: dict[str, Handler] = {
    "third-party": partial(_party, False),
    "3p": partial(_party, False),
    "first-party": partial(_party, True),
    "1p": partial(_party, True),
    "domain": partial(_domains_option, False),
    "from": partial(_domains_option, False),
    "to": partial(_domains_option, True),
    "denyallow": _denyallow,
    "method": _method,
    "important": partial(_flag, IMPORTANT),
    "match-case": partial(_flag, MATCH_CASE),
    "badfilter": partial(_flag, BADFILTER),
    "redirect": partial(_redirect, False),
    "redirect-rule": partial(_redirect, True),
    "empty": _empty,
    "mp4": _mp4,
    "popup": _popup,
    "popunder": _popup,
    "all": _all,
    "removeparam": partial(_modifier, REMOVEPARAM),
    "queryprune": partial(_modifier, REMOVEPARAM),
    "urlskip": partial(_modifier, URLSKIP),
    # Informational (uBO's reason=) or presentation-only: accepted, no effect on matching.
    "reason": _ignore,
    "collapse": _ignore,
    "_": _ignore,
    **dict.fromkeys(COSMETIC_OPTIONS, partial(_skip, "cosmetic")),
    **{name: partial(_skip, reason) for name, reason in UNSUPPORTED.items()},
}


_OPTION_START = re.compile(
    r"~?(?:"
    + "|".join(re.escape(n) for n in sorted({*OPTIONS, *TYPE_BITS, *TYPE_ALIASES}, key=len, reverse=True))
    + r")(?![\w-])",
    re.IGNORECASE,
)


_OPTION_LIKE = re.compile(
    r"(?:~?[a-z][\w-]*(?:=[^,/]*)?(?:,~?[a-z][\w-]*(?:=[^,/]*)?)*|[~,\s]*)\Z", re.IGNORECASE
)


def _parse_options(options: list[str]) -> _Options | Skip | Malformed:
    o = _Options()
    for raw in options:
        opt = raw.strip()
        if not opt:
            return Malformed("empty option")
        name, _, value = opt.partition("=")
        name = name.lower()
        neg = name.startswith("~")
        base = name[1:] if neg else name
        if not base:
            return Malformed(f"empty option in {opt!r}")
        if base.strip("_") == "":
            base = "_"  # uBO's $_ / $__: a no-op that makes long option lists readable
        if base != "badfilter":
            o.key_opts.append(
                opt if base in ("domain", "from", "to") else name + ("=" + value if value else "")
            )
        type_name = TYPE_ALIASES.get(base, base)
        if type_name in TYPE_BITS:
            o.typed = True
            if neg:
                o.types_off |= TYPE_BITS[type_name]
            else:
                o.types_on |= TYPE_BITS[type_name]
            continue
        handler = OPTIONS.get(base)
        if handler is None:
            return Skip(f"unknown option {base}")
        result = handler(o, neg, value, opt)
        if result is not None:
            return result
    return o


def _rule_types(o: _Options) -> int | Skip:
    if not o.typed:
        # uBO: a $removeparam filter without a type also cleans the page's own URL (the address bar).
        if o.flags & URLSKIP:
            return URLSKIP_TYPES
        return ALL_TYPES if o.flags & REMOVEPARAM else NETWORK_TYPES
    if o.popup and not o.types_on and not o.types_off:
        # Popup blocking needs a browser; a proxy cannot tell a popup from a page load. Loaded and counted.
        return Skip("popup")
    # uBO: negated types remove themselves from every network type (a page load is never added by a negation).
    types = (o.types_on or NETWORK_TYPES) & ~o.types_off if o.types_off else o.types_on
    return types or Skip("no resource type left")


def _unrestricted(o: _Options, flags: int, methods: int) -> bool:
    """Do the options leave a rule with an empty pattern applying to every request?"""
    return (
        o.domains is None
        and o.to is None
        and not o.typed
        and not flags & (MODIFIERS | REDIRECT_RULE | REDIRECT_ONLY)
        and methods == ALL_METHODS
    )


def _parse(line: str) -> Rule | Skip | Malformed:
    if not line.isprintable():
        return Malformed("control or non-printable characters")
    if "\ufffd" in line:
        return Malformed("not valid UTF-8")
    if COSMETIC.search(line):
        return Skip("cosmetic")
    text = line
    flags = 0
    if line.startswith("@@"):
        flags |= EXCEPTION
        line = line[2:]
    pattern, options = _split_options(line)
    if options is None and pattern == "":
        return Malformed("empty rule")
    o = _parse_options(options or [])
    if not isinstance(o, _Options):
        return o
    types = _rule_types(o)
    if isinstance(types, Skip):
        return types
    flags |= o.flags | (o.party or THIRD_PARTY | FIRST_PARTY)
    if not o.typed:
        flags |= TYPELESS
    if o.redirect and flags & EXCEPTION:
        flags |= REDIRECT_ONLY  # uBO: @@...$redirect(-rule) cancels the redirect, not the block
    methods = (o.methods_on or ALL_METHODS) & ~o.methods_off
    if not methods:
        return Skip("no method left")

    if len(pattern) > MAX_PATTERN:
        return Skip(f"pattern longer than {MAX_PATTERN} characters")
    kind, pat, host, err = _compile_pattern(pattern, bool(flags & MATCH_CASE))
    if err:
        return Malformed(err)
    if kind != REGEX and not pat and _unrestricted(o, flags, methods):
        # `*`, `|`, `$third-party`: every request. A type, $domain= or $to= makes it real.
        return Malformed("rule matches every request (no pattern, type or $domain=)")
    key = (
        ("@@" if flags & EXCEPTION else "")
        + pattern
        + ("$" + ",".join(sorted(o.key_opts)) if o.key_opts else "")
    )
    return Rule(
        text,
        flags,
        types,
        kind,
        pat,
        o.domains,
        host,
        key,
        redirect=o.redirect,
        explicit_document=bool(o.types_on & DOCUMENT),
        to=o.to,
        methods=methods,
        param=o.param or "",
    )


def _split_options(line: str) -> tuple[str, list[str] | None]:
    """Pattern and option list, split where uBO splits (indexOfNetAnchor): at the last ``$`` that is followed
    by a known option name. Other ``$`` belong to the pattern (``/ads$/``) or to an option's value
    (``replace=/a$/b/``)."""
    j = line.rfind("$")
    while j >= 0:
        if _OPTION_START.match(line, j + 1):
            return line[:j], _split_option_list(line[j + 1 :])
        j = line.rfind("$", 0, j)
    # Options we do not know (a newer syntax): still options, so that the rule is skipped and counted, not
    # read as a pattern that ends in "$name" and matches nothing.
    j = line.rfind("$")
    if j >= 0 and _OPTION_LIKE.match(line, j + 1):
        return line[:j], _split_option_list(line[j + 1 :])
    return line, None


def _split_option_list(opts: str) -> list[str]:
    """Split at commas, except inside a /regex/ value (removeparam=/a,b/): uBO does the same."""
    if "=/" not in opts:
        return opts.split(",")
    out: list[str] = []
    cur = ""
    in_regex = False
    i = 0
    while i < len(opts):
        c = opts[i]
        if c == "\\" and in_regex and i + 1 < len(opts):
            cur += opts[i : i + 2]
            i += 2
            continue
        if c == "/" and (in_regex or cur.endswith("=")):
            in_regex = not in_regex
        if c == "," and not in_regex:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


_DOMAIN_NAME = re.compile(r"[a-z0-9._*\-\[\]:]+")


def _parse_domains(value: str) -> dict[str, bool] | None:
    out: dict[str, bool] = {}
    for part in value.lower().split("|"):
        part = part.strip()
        include = not part.startswith("~")
        name = part.lstrip("~").rstrip(".")
        if not name or not (_DOMAIN_NAME.fullmatch(name) or name.isprintable()):
            return None
        out[name] = include
    return out or None


# --- patterns ------------------------------------------------------------------------------------------------


def _compile_pattern(pattern: str, match_case: bool) -> tuple[int, str, str | None, str | None]:
    """(kind, pattern, host, error). ``host`` is set when the rule is anchored to a whole host."""
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        return _compile_regex(pattern[1:-1], match_case)
    if not match_case:
        pattern = pattern.lower()
    # A run of * is one *: "a****b" must not become a pattern that backtracks.
    pattern, anchored_host, start, end = _anchors(STARS.sub("*", pattern))
    if anchored_host and not pattern:
        return SUBSTR, "", None, "'||' with no host"
    host = None
    if anchored_host:
        compiled = _compile_host_anchored(pattern, end)
        if compiled[0] != WILD:
            return compiled
        host = compiled[2]
    elif not SPECIAL.search(pattern):
        if start and not end:
            return PREFIX, pattern, None, None
        if not start and not end:
            return SUBSTR, pattern, None, None
    anchors = "||" if anchored_host else "|" if start else ""
    return WILD, anchors + pattern + ("|" if end else ""), host, None


def _compile_regex(body: str, match_case: bool) -> tuple[int, str, str | None, str | None]:
    if not body:
        return REGEX, "", None, "empty regular expression"
    if match_case:
        return REGEX, body, None, None
    if not re.search(r"\\[A-Z]", body):
        return REGEX, body.lower(), None, None  # matched against the lower-cased URL: much faster than (?i)
    return REGEX, "(?i)" + body, None, None


def _anchors(pattern: str) -> tuple[str, bool, bool, bool]:
    """(pattern without its anchors and edge stars, anchored to a host (||), to the start (|), to the end (|))."""
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
    return pattern, anchored_host, start, end


def _compile_host_anchored(pattern: str, end: bool) -> tuple[int, str, str | None, str | None]:
    """A ``||`` pattern (anchors removed): HOST or AFTER_PREFIX/AFTER_WILD when it names a whole host, else WILD
    (with the host when one is known, for the index)."""
    m = _HOST_CHARS.match(pattern.lower())
    if not m or m.end() == 0:
        return WILD, "", None, None
    rest = pattern[m.end() :]
    if not ((not rest and end) or (rest and rest[0] in "^/:")):
        return WILD, "", None, None
    host = m.group().strip(".")
    if m.group().startswith("[") and m.group().endswith("]"):
        host = m.group()[1:-1]  # IPv6: requests carry the address without brackets
    if rest == "^" and not end:
        return HOST, host, host, None
    if host == m.group():
        if not end and not SPECIAL.search(rest):
            return AFTER_PREFIX, rest, host, None
        return AFTER_WILD, rest + ("|" if end else ""), host, None
    return WILD, "", host, None


def abp_pattern(rule: Rule) -> str:
    """The rule's ABP pattern as written (lower-cased), without @@ and options."""
    return _split_options(rule.text[2:] if rule.flags & EXCEPTION else rule.text)[0].lower()
