"""What the index keys a rule by: the tokens every URL it matches contains, and a literal every such URL holds.

Next to the index (index.py), because they are the index's questions about a rule, not the rule's own meaning
(rules.py): the token a rule is filed under and the needle each bucket tests with ``in`` before calling the
matcher. Both are conservative: a rule they say nothing about is still found, by a slower road.
"""

from __future__ import annotations

import re

from pixelguard.engine.bounded_regex import class_end
from pixelguard.engine.rules import (
    AFTER_PREFIX,
    HOST,
    PREFIX,
    REGEX,
    REMOVEPARAM,
    SPECIAL,
    STARS,
    SUBSTR,
    TOKEN_RUN,
    WILD,
    Rule,
    abp_pattern,
)


def tokens_of(rule: Rule) -> list[str]:
    """Tokens of the rule that every URL it matches contains as a whole token (for the token index)."""
    if rule.kind == HOST:
        return []
    if rule.kind == REGEX:
        return regex_tokens(rule.pattern)
    if rule.kind == WILD:
        pat = STARS.sub("*", abp_pattern(rule))
    else:
        pat = rule.pattern.lower()
        if rule.kind == PREFIX:
            pat = "|" + pat
    anchored = pat.startswith("|")
    pat_start = 2 if pat.startswith("||") else 1 if anchored else 0
    out = []
    for m in TOKEN_RUN.finditer(pat):
        s, e = m.start(), m.end()
        before = pat[s - 1] if s > 0 else ""
        after = pat[e] if e < len(pat) else ""
        left_ok = (s == pat_start and anchored) or (s > pat_start and before not in "*|")
        if s == 0 and not anchored:
            left_ok = False
        right_ok = after not in ("", "*") and not (after == "|" and e != len(pat) - 1)
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
    if rule.flags & REMOVEPARAM and not rule.pattern and rule.param and not rule.param.startswith("~"):
        # `$removeparam=fbclid` has no pattern: a URL it applies to names the parameter.
        p = rule.param
        lit = max(regex_literals(p[1:-1]), key=len, default="") if len(p) > 2 and p[0] == p[-1] == "/" else p
        lit = lit.lower()
        return lit if lit.isascii() else ""
    if rule.kind == REGEX:
        needle = max(regex_literals(rule.pattern), key=len, default="").lower()
    elif rule.kind in (SUBSTR, PREFIX, AFTER_PREFIX):
        needle = rule.pattern.lower()
    else:
        # Every character of an ABP pattern other than * ^ and the | anchors is literal.
        pat = abp_pattern(rule)
        # A host-anchored rule is only looked at for that host: the piece that is the host tells nothing new.
        needle = max((p for p in SPECIAL.split(pat) if p != rule.host), key=len, default="")
    return needle if needle.isascii() else ""


# Regex metacharacters that end a run of required literal characters.
_REGEX_BREAK = set(".^$|()[]{}?*+\\")


def regex_tokens(source: str) -> list[str]:
    """Whole tokens every match of the regex ``source`` must contain, for indexing /regex/ rules.

    A token is taken only when both of its neighbours are inside the same literal run (so it cannot be part of
    a longer token in the URL). Anything unusual yields no tokens, and the rule is indexed otherwise.
    """
    out = []
    for lit in regex_literals(source):
        low = lit.lower()
        for m in TOKEN_RUN.finditer(low):
            if m.start() > 0 and m.end() < len(low):
                out.append(m.group())
    return out


def regex_literals(source: str) -> list[str]:
    """Runs of literal characters every match of the regex ``source`` contains.

    Conservative: only runs at the top level (outside groups and classes), none at all when the top level has
    an alternation, and a character followed by a quantifier dropped.
    """
    if re.search(r"\\[0-9xuUNpPk]", source):
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
        elif c == "[":
            flush()
            i = class_end(source, i) + 1  # a class is skipped whole
            continue
        elif c in "({":
            flush()
            close, depth = {"(": ")", "{": "}"}[c], 0
            # Skip the group or repetition count (escapes and classes inside included).
            while i < n:
                if source[i] == "\\":
                    i += 2
                    continue
                if source[i] == "[":
                    i = class_end(source, i) + 1
                    continue
                if source[i] == c:
                    depth += 1
                elif source[i] == close:
                    depth -= 1
                    if depth <= 0:
                        break
                i += 1
            i += 1
            continue
        elif c in _REGEX_BREAK:
            if c == "|":
                return []  # a top-level alternative: no run is required
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
