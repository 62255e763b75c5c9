"""What a stylesheet or a style attribute loads, read as browsers' CSS parsers read it (CSS Syntax Level 3):
``url()``, the images of ``image-set()``, ``@import`` targets and the sources of ``@font-face`` rules, with
escapes decoded and comments and strings skipped, each with where it is in the text (mail clean cuts it there).

Mail clients read CSS with the same tokenizer as browsers, so ``u\\72l(https://tr\\61 cker.example/p)`` loads
``https://tracker.example/p``, ``@import"https://tracker.example/t.css";`` needs no space, and a ``/*`` inside a
string or a ``url()`` opens no comment. A reading that missed any of those would leave a sender's pixel in a
cleaned mail.

Hand-written rather than tinycss2, which reads the same syntax: tinycss2 holds every token of the text at once,
about 90 bytes per character of input (271 MB at the peak for a 3 MB style block, measured), and a mail has no
size limit. This reading keeps only what it finds, and is linear: each search starts where the last ended, and a
search that can run to the end of the text (``;`` after an ``@import``, ``}`` after an ``@font-face``) is done
once and reused.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# CSS whitespace; "\r\n" counts as one (CSS Syntax 3.3, preprocessing).
_ONE_WS = r"(?:\r\n|[ \t\r\n\f])"
# 4.3.7, consume an escaped code point: "\" and 1-6 hex digits, then one optional whitespace; or "\" and any
# character but a newline (in a string, "\" and a newline is a line continuation and reads as nothing).
_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})" + _ONE_WS + r"?|(\r\n|[^\r\n\f]|[\r\n\f]))")


def _unescaped(m: re.Match[str]) -> str:
    digits, other = m.group(1), m.group(2)
    if digits is None:
        return "" if other in ("\r\n", "\r", "\n", "\f") else other
    code = int(digits, 16)
    # Zero, a surrogate or past Unicode's last code point reads as U+FFFD.
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def unescape(text: str) -> str:
    """``text`` with its CSS escapes decoded (``tr\\61 cker`` is ``tracker``)."""
    return _ESCAPE.sub(_unescaped, text) if "\\" in text else text


def _word(word: str) -> str:
    """A regex for ``word`` as an identifier may spell it: any letter written as itself (any case), as a hex
    escape (``\\72``, ``\\000072 ``), or, when it is not a hex digit, as ``\\`` and the letter (``\\r``)."""
    parts = []
    for ch in word:
        codes = "|".join(sorted({f"{ord(ch.lower()):x}", f"{ord(ch.upper()):x}"}))
        alts = [re.escape(ch), rf"\\0{{0,4}}(?:{codes}){_ONE_WS}?"]
        if ch.lower() not in "0123456789abcdef":
            alts.append(rf"\\{re.escape(ch)}")
        parts.append("(?:" + "|".join(alts) + ")")
    return "".join(parts)


_URL_FN = _word("url") + r"\("
# What the walk stops at: a string or a comment (skipped whole), or the start of something that loads.
_NEXT = re.compile(
    r"""(?P<quote>["'])|(?P<comment>/\*)|(?P<url>"""
    + _URL_FN
    + r""")|(?P<set>(?:-webkit-)?"""
    + _word("image-set")
    + r"""\()|@(?P<import>"""
    + _word("import")
    + r""")(?![\w\\-])|@(?P<font>"""
    + _word("font-face")
    + r""")(?![\w\\-])""",
    re.I,
)
# Inside image-set(): its strings, url()s and parentheses.
_IN_SET = re.compile(
    r"""(?P<quote>["'])|(?P<comment>/\*)|(?P<url>""" + _URL_FN + r""")|(?P<paren>[()])""", re.I
)
_URL_AFTER = re.compile(r"(?:" + _URL_FN + r")", re.I)
# 4.3.6, consume a url token: no quote, "(", whitespace or non-printable inside, "\" only as a valid escape;
# whitespace may come before the ")". Stops at the first character it cannot hold, so scans never overlap.
_UNQUOTED = re.compile(
    r"""((?:[^()'"\\\s\x00-\x08\x0b\x0e-\x1f\x7f]|\\(?:[0-9a-fA-F]{1,6}"""
    + _ONE_WS
    + r"""?|[^0-9a-fA-F\r\n\f]))*)[ \t\r\n\f]*\)"""
)
_WHITESPACE = re.compile(r"[ \t\r\n\f]*")


class Load(NamedTuple):
    start: int  # where what loads begins in the text, and where it ends: mail clean replaces it with "none"
    end: int  # (an @import: the whole statement, through its ";", which mail clean removes)
    url: str  # as written, escapes decoded; not yet read as a URL (written_urls.py does that)
    where: str  # "css" an image, "font" a source of an @font-face rule, "import" a stylesheet


# What ends a string, or escapes the character after it (4.3.5), for each quote.
_STRING_STOPS = {q: re.compile(r"[\\\r\n\f" + q + "]") for q in "\"'"}


def _string_end(css: str, start: int) -> tuple[int, bool]:
    """Where the string opening at ``start`` ends, and whether its quote closed it: just past that quote, or at
    the newline that ends it unclosed, or at the end of the text (4.3.5). An escaped quote or newline does not
    end it."""
    quote = css[start]
    stop = _STRING_STOPS[quote]
    i = start + 1
    while True:
        m = stop.search(css, i)
        if m is None:
            return len(css), False
        c = m.group()
        if c == quote:
            return m.end(), True
        if c != "\\":
            return m.start(), False
        i = m.end() + (2 if css.startswith("\r\n", m.end()) else 1)


def _comment_end(css: str, start: int) -> int:
    end = css.find("*/", start + 2)
    return len(css) if end < 0 else end + 2


def _skip_space(css: str, i: int) -> int:
    """Past whitespace and comments from ``i``."""
    while True:
        i = _WHITESPACE.match(css, i).end()  # type: ignore[union-attr]
        if not css.startswith("/*", i):
            return i
        i = _comment_end(css, i)


def _url_arg(css: str, fn_end: int) -> tuple[str, int] | None:
    """The argument of the url( ending at ``fn_end`` and where its ")" ends, or None when it is not one a
    browser loads (a bad url token, a string followed by anything but ")")."""
    i = _WHITESPACE.match(css, fn_end).end()  # type: ignore[union-attr]
    if i < len(css) and css[i] in "\"'":
        end, closed = _string_end(css, i)
        if not closed:
            return None  # a bad string
        close = _skip_space(css, end)
        if close < len(css) and css[close] == ")":
            return unescape(css[i + 1 : end - 1]), close + 1
        return None
    m = _UNQUOTED.match(css, i)
    return (unescape(m.group(1)), m.end()) if m else None


class _Ends:
    """The next occurrence of a character from a position on, found once and reused while it lies ahead: many
    statements with none after them cost one search, not one each (which would be quadratic)."""

    def __init__(self, css: str, char: str) -> None:
        self.css, self.char, self.at = css, char, -1

    def after(self, i: int) -> int:
        if self.at < i:
            found = self.css.find(self.char, i)
            self.at = len(self.css) if found < 0 else found
        return self.at


def loads(css: str) -> list[Load]:
    """Everything ``css`` loads, in the order of the text."""
    low = css.lower()
    if "\\" not in css and "url" not in low and "image-set" not in low and "@import" not in low:
        return []  # nothing can load (the usual style attribute): no walk
    out: list[Load] = []
    semis, closes, ats = _Ends(css, ";"), _Ends(css, "}"), _Ends(css, "@")
    font_until = -1  # the end of the @font-face block the walk is in
    i = 0
    while (m := _NEXT.search(css, i)) is not None:
        kind, start = m.lastgroup, m.start()
        where = "font" if start < font_until else "css"
        i = m.end()
        if kind == "quote":
            i = _string_end(css, start)[0]
        elif kind == "comment":
            i = _comment_end(css, start)
        elif kind == "url":
            arg = _url_arg(css, m.end())
            if arg is not None:
                out.append(Load(start, arg[1], arg[0], where))
                i = arg[1]
        elif kind == "set":
            i = _image_set(css, start, m.end(), where, out)
        elif kind == "import":
            i = _import(css, start, m.end(), semis, ats, out)
        elif kind == "font":
            brace = _skip_space(css, m.end())
            if brace < len(css) and css[brace] == "{":
                font_until = closes.after(brace)
                i = brace + 1
    return out


def _image_set(css: str, start: int, i: int, where: str, out: list[Load]) -> int:
    """The images of the image-set( ending at ``i``: each a Load spanning the whole image-set(), which mail clean
    replaces with "none" if any one of them is a tracker's. Returns where the walk goes on."""
    found: list[str] = []
    depth = 1
    end = len(css)
    while depth and (m := _IN_SET.search(css, i)) is not None:
        kind = m.lastgroup
        i = m.end()
        if kind == "quote":
            i, closed = _string_end(css, m.start())
            # Its own strings are images; one inside another function is not (type("image/avif")).
            if depth == 1 and closed:
                found.append(unescape(css[m.start() + 1 : i - 1]))
        elif kind == "comment":
            i = _comment_end(css, m.start())
        elif kind == "url":
            arg = _url_arg(css, m.end())
            if arg is not None:
                found.append(arg[0])
                i = arg[1]
            else:
                depth += 1  # a function token url( with something else in it: its ")" is still to come
        elif m.group() == "(":
            depth += 1
        else:
            depth -= 1
            if not depth:
                end = i
    out.extend(Load(start, end, url, where) for url in found)
    return end  # the end of the input when the image-set( never closed


def _import(css: str, start: int, i: int, semis: _Ends, ats: _Ends, out: list[Load]) -> int:
    """The @import whose keyword ends at ``i``: its target and the statement's span, through its ";" when one
    comes before the next at-rule, else through the target (an @import with no ";" loads nothing, but it is
    removed all the same). Returns where the walk goes on."""
    i = _skip_space(css, i)
    if i < len(css) and css[i] in "\"'":
        end, closed = _string_end(css, i)
        if not closed:
            return end
        target, after = unescape(css[i + 1 : end - 1]), end
    else:
        m = _URL_AFTER.match(css, i)
        arg = _url_arg(css, m.end()) if m else None
        if arg is None:
            return i
        target, after = arg
    semi = semis.after(after)
    stop = semi + 1 if semi < ats.after(after) and semi < len(css) else after
    out.append(Load(start, stop, target, "import"))
    return stop


def plain(css: str) -> str:
    """``css`` with its comments removed and its escapes decoded, for reading declarations as a browser does
    (``d\\69splay:/**/none`` is ``display:none``). Linear: one search for each comment's end."""
    if "/*" in css:
        parts = []
        i = 0
        while (j := css.find("/*", i)) >= 0:
            parts.append(css[i:j])
            i = _comment_end(css, j)
        parts.append(css[i:])
        css = "".join(parts)
    return unescape(css)


def urls(css: str) -> list[tuple[str, str]]:
    """(url, where) for everything ``css`` loads, in order, once per place it is loaded from."""
    return [(load.url, load.where) for load in loads(css)]
