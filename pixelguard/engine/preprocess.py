"""uBO's list pre-parsing directives: ``!#if``/``!#else``/``!#endif`` and ``!#include``.

``!#if EXPR`` keeps or drops the lines up to its ``!#else``/``!#endif``; EXPR is tokens joined by ``&&``/``||``,
each maybe negated with ``!``, as uBO's ``preparser.evaluateExpr`` reads them (src/js/static-filtering-parser.js).
pixelguard answers as uBO on desktop Chromium: ``ext_ublock`` and ``env_chromium`` are true; other ``env_*`` and
``ext_*`` tokens, and every ``cap_*`` (capabilities such as HTML filtering, which a proxy does not do) are false;
AdGuard's tokens follow uBO's table. A token nobody knows makes the block "unknown": kept, as uBO keeps it.

``!#include path`` inserts another file of the same origin (a relative path, no ``..``), one level deep as uBO
does: an included file's own includes are ignored. Dropped lines become blank lines, so every rule keeps the
line number it has in its file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# uBO's preparserTokens, with the values uBO has on desktop Chromium.
TRUE_TOKENS = frozenset({"ext_ublock", "env_chromium", "adguard_ext_chromium", "adguard_ext_opera"})
KNOWN_TOKENS = TRUE_TOKENS | frozenset(
    {
        "ext_ubol",
        "ext_devbuild",
        "ext_abp",
        "env_brave",
        "env_edge",
        "env_firefox",
        "env_legacy",
        "env_mobile",
        "env_mv3",
        "env_safari",
        "false",
        "adguard",
        "adguard_app_android",
        "adguard_app_cli",
        "adguard_app_ios",
        "adguard_app_mac",
        "adguard_app_windows",
        "adguard_ext_android_cb",
        "adguard_ext_chromium_mv3",
        "adguard_ext_edge",
        "adguard_ext_firefox",
        "adguard_ext_safari",
    }
)
MAX_DEPTH = 64  # nested !#if blocks; deeper ones are malformed input, treated as unknown

_DIRECTIVE = re.compile(r"!#(if|else|endif|include)\b(.*)")
_WORD = re.compile(r"(?:(?:&&|\|\|)\s+)?\S+")

# (target) -> (text, None) or (None, why not)
IncludeReader = Callable[[str], tuple[str | None, str | None]]


def _token(token: str) -> bool | None:
    neg = token.startswith("!")
    name = token[1:] if neg else token
    if name not in KNOWN_TOKENS and not name.startswith("cap_"):
        return None
    return (name in TRUE_TOKENS) != neg


def evaluate(expr: str) -> bool | None:
    """True/False as uBO evaluates EXPR; None when uBO would not understand it (the block is kept)."""
    expr = expr.strip()
    if expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1]
    words = _WORD.findall(expr)
    if not words or words[0][0] in "|&":
        return None
    result = _token(words[0])
    for word in words[1:]:
        parts = word.split()
        if len(parts) != 2:
            return None
        state = _token(parts[1])
        if state is None or result is None:
            return None
        result = (result or state) if parts[0] == "||" else (result and state) if parts[0] == "&&" else None
        if result is None:
            return None
    return result


def expand(
    name: str, text: str, read_include: IncludeReader | None, *, depth: int = 0
) -> tuple[list[tuple[str, str]], list[str]]:
    """The list's kept text and its included files, as [(name, text)], and errors as ``name:line: why``."""
    if "!#" not in text:
        return [(name, text)], []
    lines = text.split("\n")
    stack: list[bool | None] = []  # per open !#if: True keep, False drop, None unknown (kept)
    dropping = False
    out: list[tuple[str, str]] = []
    errors: list[str] = []
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line.startswith("!#"):
            if dropping:
                lines[i] = ""
            continue
        m = _DIRECTIVE.match(line)
        if m is None:
            continue
        word, arg = m.group(1), m.group(2).strip()
        if word == "if":
            stack.append(evaluate(arg) if len(stack) < MAX_DEPTH else None)
        elif word == "else" and stack:
            top = stack.pop()
            stack.append(None if top is None else not top)
        elif word == "endif" and stack:
            stack.pop()
        elif word == "include" and not dropping:
            if depth > 0:
                continue  # one level, as uBO
            target = arg.split()[0] if arg else ""
            text_in, why = _read(target, read_include)
            if text_in is None:
                errors.append(f"{name}:{i + 1}: cannot include {target or '(nothing)'}: {why}")
            else:
                sub, sub_errors = expand(f"{name}/{target}", text_in, None, depth=depth + 1)
                out += sub
                errors += sub_errors
        dropping = any(v is False for v in stack)
        lines[i] = ""
    return [(name, "\n".join(lines)), *out], errors


def _read(target: str, read_include: IncludeReader | None) -> tuple[str | None, str | None]:
    if not target:
        return None, "no file named"
    if not is_relative(target):
        return None, "only files beside the list can be included (a relative path without '..')"
    if read_include is None:
        return None, "this list is not a file"
    return read_include(target)


def is_relative(target: str) -> bool:
    """uBO includes only resources of the list's own origin: here, a relative path inside its directory."""
    if target.startswith(("/", "\\", "~")) or ":" in target:  # ":" also rules out URLs and drives
        return False
    return ".." not in target.replace("\\", "/").split("/")


def include_targets(text: str) -> list[str]:
    """Every ``!#include`` target of a list (also in dropped blocks): what a download fetches beside it."""
    if "!#include" not in text:
        return []
    return [
        m.group(2).split()[0]
        for m in (_DIRECTIVE.match(line.strip()) for line in text.split("\n"))
        if m and m.group(1) == "include" and m.group(2).strip()
    ]
