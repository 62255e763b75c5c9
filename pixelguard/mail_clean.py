"""``pixelguard mail clean``: a message with its tracking pixels removed and its tracked links unwrapped, for the
hooks that deliver mail (procmail, maildrop, Sieve's filter extension, fdm, getmail, mbsync), so that every mail
client, phones included, reads the cleaned copy.

What goes, judged as ``pixelguard scan`` judges it (scan.ImageFinder) by the same lists as the proxy:
images a list blocks or that look like pixels (sized 0-2 px, hidden, inside a hidden element), background images
and CSS ``url()`` loads that a list blocks or that a pixel-sized element carries, ``@import`` and web fonts a list
blocks, and ``<link rel=prefetch|preconnect|dns-prefetch|preload|prerender|stylesheet>`` to a blocked host; the AMP
for Email version of a message (its components fetch from the sender at every opening), the HTML one kept. Links
whose destination is in the link (decision/urlskip.py) are rewritten to it; a known click-tracking link that keeps
its destination on the sender's servers (pixelguard-clicks.txt) gets a title saying so. Nothing is ever fetched.

Everything else stays as it came: the HTML is parsed (html.parser) only to find where each tag is, and the text is
edited at those places, so an untouched tag, the text and the layout are byte for byte what they were; the
message is rewritten only when an HTML part changed, with its headers as they were (not refolded) and its other
parts untouched (a changed part is encoded anew, in its charset and transfer encoding). A message that cannot be
read is passed through unchanged and unmarked, with a problem said. DKIM signatures
covering the body no longer verify on a changed message (the original headers are kept).

Each message cleaned gets a first header line ``X-Pixelguard: 2 pixels removed, 1 link unwrapped`` (or "nothing
to remove"), and one that has it as its first line is left alone: cleaning is idempotent. Only the first line
counts, because a sender could write that header too, but not above the lines the receiving server puts on top.
"""

from __future__ import annotations

import html as htmlmod
import io
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

from pixelguard import css_loads
from pixelguard.config import bundled_filters_dir
from pixelguard.decision.urlskip import unwrap
from pixelguard.engine import Engine
from pixelguard.engine.request import Request
from pixelguard.errors import PixelguardError
from pixelguard.scan import (
    _SRC_TAGS,
    DEFAULT_PIXEL,
    NOT_IMAGES,
    ImageFinder,
    _parts,
    parse_message,
    part_base,
    read_html,
)

MARK = "X-Pixelguard"
_MARK_LINE = re.compile(rb"^X-Pixelguard:[^\r\n]*\r?\n", re.I)
# The headers a cleaned HTML part gets anew (the rest are kept as they came).
_REWRITTEN = ("content-type", "content-transfer-encoding")
_CTES = ("7bit", "8bit", "quoted-printable", "base64")
# Headers as they came (not refolded), whatever their length.
_WRITE = policy.default.clone(refold_source="none")


class Clicks:
    """The bundled table of opaque click-tracking links (filters/pixelguard-clicks.txt): which vendor's a link is."""

    def __init__(self, path: Path | None = None) -> None:
        path = path or bundled_filters_dir() / "pixelguard-clicks.txt"
        text = path.read_text(encoding="utf-8")
        self.engine = Engine.from_text(text, "pixelguard-clicks")
        self.vendor_at: dict[int, str] = {}  # rule line -> the vendor its comment names
        vendor = ""
        for i, line in enumerate(text.splitlines(), 1):
            if line.startswith("! ") and ":" in line:
                vendor = line[2:].split(":", 1)[0].strip()
            elif line and not line.startswith(("!", "[")):
                self.vendor_at[i] = vendor

    def vendor(self, url: str) -> str | None:
        v = self.engine.check(url, source_url=None, resource_type="document")
        return self.vendor_at.get(v.line or 0) if v.blocked else None


@dataclass
class Judge:
    """What the lists say about a remote load or a link in mail (no page: mail has none)."""

    engine: Engine
    urlskip_lists: frozenset[str] = frozenset()
    pixel: tuple[int, int] = DEFAULT_PIXEL
    clicks: Clicks | None = None

    def blocked(self, url: str, rtype: str) -> bool:
        return bool(self.engine.check(url, source_url=None, resource_type=rtype).blocked)

    def destination(self, url: str) -> str | None:
        """Where a tracked link goes, when the link says so."""
        if not self.urlskip_lists:
            return None
        try:
            req = Request(url, None, "document")
        except Exception:  # a link the URL model cannot read is left as it is
            return None
        rules = self.engine.urlskips_for(req)
        found = unwrap(url, req.host, rules, self.urlskip_lists) if rules else None
        return found.url if found else None

    def link(self, url: str) -> tuple[str | None, str | None]:
        """A link as scan reports it: (destination, None), (None, vendor) or neither."""
        dest = self.destination(url)
        return (dest, None) if dest else (None, self.opaque(url))

    def opaque(self, url: str) -> str | None:
        """The vendor of a click-tracking link that cannot be unwrapped, when it is a known one."""
        return self.clicks.vendor(url) if self.clicks is not None else None


def opaque_title(vendor: str) -> str:
    return f"tracked link ({vendor}): opening it tells the sender"


@dataclass
class Counts:
    pixels: int = 0  # images and CSS images removed
    loads: int = 0  # other tracker loads removed: stylesheets, fonts, media, prefetches
    links: int = 0  # links unwrapped
    marked: int = 0  # opaque tracked links given a title that says so

    def add(self, other: Counts) -> None:
        self.pixels += other.pixels
        self.loads += other.loads
        self.links += other.links
        self.marked += other.marked

    def summary(self) -> str:
        parts = [
            _plural(self.pixels, "pixel") + " removed" if self.pixels else "",
            _plural(self.loads, "tracker load") + " removed" if self.loads else "",
            _plural(self.links, "link") + " unwrapped" if self.links else "",
            _plural(self.marked, "tracked link") + " marked" if self.marked else "",
        ]
        return ", ".join(p for p in parts if p) or "nothing to remove"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- HTML ---------------------------------------------------------------------------------------------------


class _Cleaner(ImageFinder):
    """ImageFinder's judgements, turned into edits at the places the parser found each tag."""

    def __init__(self, html: str, judge: Judge, base: str | None = None) -> None:
        super().__init__(judge.pixel, base)
        self.html = html
        self.judge = judge
        self.edits: list[tuple[int, int, str]] = []  # (start, end, replacement), in document order
        self.counts = Counts()
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", html))]
        self._style_at: int | None = None

    def _offset(self) -> int:
        line, col = self.getpos()
        return self._line_starts[line - 1] + col

    def _tracks(self, url: str, where: str, pixel: str | None) -> bool:
        rtype = NOT_IMAGES.get(where)
        if rtype is not None:
            return self.judge.blocked(url, rtype)
        return bool(pixel) or self.judge.blocked(url, "image")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start, raw = self._offset(), self.get_starttag_text() or ""
        before = len(self.found)
        super().handle_starttag(tag, attrs)
        if tag == "style":
            self._style_at = None
        if self.html[start : start + len(raw)] != raw:
            return  # the parser's position and the text disagree: leave this tag as it is
        found = self.found[before:]
        bad = {(f.url, f.where) for f in found if self._tracks(f.url, f.where, f.pixel)}
        a = {k.lower(): v or "" for k, v in attrs}
        image = tag in _SRC_TAGS or (tag == "input" and a.get("type", "").lower() == "image")
        # A <source> of a <picture> goes like an image; a <video>, an <audio> or a <source> of a tracker's
        # media, or a <link> that loads from one, goes as a load (a closing tag and fallback content stay, and
        # load nothing).
        image = image or (tag == "source" and any(w == "srcset" for _, w in bad))
        loads = any(w in ("media", "link") or (tag == "link" and w == "import") for _, w in bad)
        if (image and any(w in ("img", "srcset") for _, w in bad)) or loads:
            self.edits.append((start, start + len(raw), ""))
            if image:
                self.counts.pixels += 1
            else:
                self.counts.loads += 1
            return
        new = list(attrs)
        changed = False
        for i, (k, v) in enumerate(attrs):
            name = k.lower()
            if name == "background" and v and (self.remote(v), "background") in bad:
                new[i] = ("", None)  # dropped
                self.counts.pixels += 1
                changed = True
            elif name == "poster" and tag == "video" and v and (self.remote(v), "img") in bad:
                new[i] = ("", None)  # the video stays, without the tracker's picture
                self.counts.pixels += 1
                changed = True
            elif name == "style" and v:
                urls = {u for u, w in bad if w in ("style", "import", "font")}
                css, n = _strip_css(v, urls, self.remote)
                if n:
                    new[i] = (k, css)
                    self.counts.pixels += n
                    changed = True
            elif name == "href" and tag == "a" and (link := self.remote(v)):
                dest = self.judge.destination(link)
                if dest:
                    new[i] = (k, dest)
                    self.counts.links += 1
                    changed = True
                elif "title" not in a and (vendor := self.judge.opaque(link)):
                    new.append(("title", opaque_title(vendor)))
                    self.counts.marked += 1
                    changed = True
        if changed:
            self.edits.append((start, start + len(raw), _tag_text(raw, tag, new)))

    def handle_data(self, data: str) -> None:
        if self._in_style and self._style_at is None:
            self._style_at = self._offset()
        super().handle_data(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._in_style:
            self._clean_style_block()
        super().handle_endtag(tag)

    def close(self) -> None:
        if self._in_style:
            self._clean_style_block()  # a <style> never closed: what was read of it
        super().close()

    def _clean_style_block(self) -> None:
        css, at = "".join(self._style_text), self._style_at
        self._style_at = None
        if not css or at is None or self.html[at : at + len(css)] != css:
            return  # not one piece of the source text (it never is otherwise): leave it as it is
        bad = set()
        for url, where in css_loads.urls(css):
            remote = self.remote(url)
            if remote and self._tracks(remote, where, None):
                bad.add(url)
        cleaned, n = _strip_css(css, bad, self.remote)
        if n:
            self.edits.append((at, at + len(css), cleaned))
            self.counts.pixels += n


def _strip_css(css: str, urls: set[str], remote: Callable[[str], str | None]) -> tuple[str, int]:
    """``css`` with each ``@import`` of one of ``urls`` removed and each other load of one (a ``url()``, an
    ``image-set()``) replaced by ``none`` (valid wherever an image may be, and a load of nothing); how many went.
    The loads come in order (css_loads.py); an image-set's images share its span, cut once. ``remote``: how the
    document reads a reference (ImageFinder.remote, which knows its <base>)."""
    if not urls:
        return css, 0
    cuts: list[tuple[int, int, str]] = []
    for load in css_loads.loads(css):
        if cuts and load.start < cuts[-1][1]:
            continue  # inside what is cut already
        if load.url in urls or remote(load.url) in urls:
            cuts.append((load.start, load.end, "" if load.where == "import" else "none"))
    if not cuts:
        return css, 0
    return _apply(css, cuts), len(cuts)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """``text`` with non-overlapping (start, end, replacement) edits made (an overlapping one is left out)."""
    out, pos = [], 0
    for start, end, repl in sorted(edits):
        if start < pos:
            continue
        out += [text[pos:start], repl]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _tag_text(raw: str, tag: str, attrs: list[tuple[str, str | None]]) -> str:
    """A start tag written anew from its attributes (the name as the source spelled it; dropped ones: "")."""
    name = raw[1 : 1 + len(tag)] if raw[1 : 1 + len(tag)].lower() == tag else tag
    parts = [name]
    for k, v in attrs:
        if not k:
            continue
        parts.append(k if v is None else f'{k}="{htmlmod.escape(v, quote=True)}"')
    return "<" + " ".join(parts) + (" />" if raw.rstrip().endswith("/>") else ">")


def clean_html(html: str, judge: Judge, base: str | None = None) -> tuple[str, Counts]:
    """The HTML with its trackers removed and its tracked links unwrapped, and what was done. ``base``: the
    part's own (scan.part_base)."""
    # A parser bug loses no message: what was found is edited.
    p = read_html(_Cleaner(html, judge, base), html)
    return (_apply(html, p.edits), p.counts) if p.edits else (html, Counts())


# --- messages -----------------------------------------------------------------------------------------------


@dataclass
class Cleaned:
    data: bytes  # the message to deliver
    counts: Counts = field(default_factory=Counts)
    problems: list[str] = field(default_factory=list)
    already: bool = False  # it carried the mark: left exactly as it was


def is_cleaned(raw: bytes) -> bool:
    """Does the message (after an mbox envelope line) begin with the mark?"""
    if raw.startswith(b"From "):
        raw = raw.partition(b"\n")[2]
    return _MARK_LINE.match(raw) is not None


def clean_message(raw: bytes, judge: Judge) -> Cleaned:
    """One RFC 5322 message cleaned. Never raises for what the message holds: an unreadable one passes."""
    envelope = b""
    if raw.startswith(b"From "):  # an mbox envelope line (procmail passes it to filters): kept first
        first, _, rest = raw.partition(b"\n")
        envelope, raw = first + b"\n", rest
    if is_cleaned(raw):
        return Cleaned(envelope + raw, already=True)
    linesep = "\r\n" if raw.split(b"\n", 1)[0].endswith(b"\r") else "\n"
    counts, problems = Counts(), list[str]()
    try:
        msg = parse_message(raw, _WRITE)
        changed = False
        parts = _parts(msg, problems)
        for part in parts:
            amp = _drop_amp(part)
            counts.loads += amp
            changed |= bool(amp)
        for part in parts:
            if part.get_content_type() != "text/html" or part.is_multipart():
                continue
            text = _text_of(part, problems)
            if text is None:
                continue
            new, done = clean_html(text, judge, part_base(part))
            if new != text and _replace_text(part, new, problems):
                counts.add(done)
                changed = True
        mark = f"{MARK}: {counts.summary()}{linesep}".encode("ascii")
        if not changed:
            return Cleaned(envelope + mark + raw, counts, problems)
        # Written after the envelope and the mark in one buffer: the message is copied once more, not twice.
        out = io.BytesIO()
        out.write(envelope + mark)
        BytesGenerator(out, mangle_from_=False, policy=_WRITE.clone(linesep=linesep)).flatten(msg)
        return Cleaned(out.getvalue(), counts, problems)
    except Exception as e:  # the email package on a crafted message: deliver it as it came, unmarked
        problems.append(f"not cleaned, passed unchanged: {type(e).__name__}")
        return Cleaned(envelope + raw, Counts(), problems)


def _drop_amp(part: Message) -> int:
    """Remove the AMP for Email version (text/x-amp-html) from a multipart/alternative that has an HTML one: its
    components fetch content from the sender each time the message is opened (amp-list, amp-img, forms), which
    is what tracks, and the spec requires the HTML version for clients without AMP. How many went."""
    if part.get_content_type() != "multipart/alternative":
        return 0
    subparts = part.get_payload()
    if not isinstance(subparts, list):
        return 0
    types = [p.get_content_type() if isinstance(p, Message) else "" for p in subparts]
    if "text/html" not in types:
        return 0
    amp = [p for p, t in zip(subparts, types, strict=True) if t == "text/x-amp-html"]
    for p in amp:
        subparts.remove(p)
    return len(amp)


def _text_of(part: Message, problems: list[str]) -> str | None:
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else None
    except Exception as e:
        problems.append(f"an HTML part left as it is: cannot decode it ({type(e).__name__})")
        return None
    if not isinstance(content, str):
        return None
    return content


def _replace_text(part: Message, html: str, problems: list[str]) -> bool:
    """Put cleaned HTML in a part, in its charset and transfer encoding. Its headers stay as they came, in their
    order; Content-Type and Content-Transfer-Encoding are written anew, in their places, only where the new
    value says something the old one did not (a charset a part without one cannot hold, say)."""
    assert isinstance(part, EmailMessage)
    declared = part.get_param("charset")
    declared = declared if isinstance(declared, str) else None
    # No charset means US-ASCII (RFC 2045): kept so when the text still is; else UTF-8, said in the header.
    charset = declared or ("us-ascii" if html.isascii() else "utf-8")
    # No header means 7bit (RFC 2045), which a part of non-ASCII text can only have been in practice as 8bit.
    had_cte = "content-transfer-encoding" in part
    cte = str(part.get("content-transfer-encoding", "")).strip().lower() or "7bit"
    if cte == "7bit" and not html.isascii():
        cte = "8bit"
    params = {k: v for k, v in part.get_params(failobj=[])[1:] if k.lower() != "charset"}
    try:
        html.encode(charset)
    except (LookupError, UnicodeEncodeError):
        problems.append(f"an HTML part left as it is: its charset {charset!r} cannot hold the cleaned text")
        return False
    before = list(part.raw_items())
    part.set_content(html, subtype="html", charset=charset, cte=cte if cte in _CTES else None, params=params)
    written = {k.lower(): v for k, v in part.raw_items() if k.lower() in _REWRITTEN}
    same_type = declared is not None or charset == "us-ascii"  # the old Content-Type still says it all
    if same_type:
        written.pop("content-type", None)
    if not had_cte and cte == "7bit":
        written.pop("content-transfer-encoding", None)
    headers = [(k, written.pop(k.lower(), v) if k.lower() in _REWRITTEN else v) for k, v in before]
    headers += list(written.items())  # one the part did not have (a transfer encoding, say)
    for name in set(part.keys()):
        del part[name]
    for k, v in headers:
        part.set_raw(k, v)
    return True


# --- a Maildir ------------------------------------------------------------------------------------------------


@dataclass
class MailboxResult:
    cleaned: int = 0
    skipped: int = 0  # already cleaned
    counts: Counts = field(default_factory=Counts)
    problems: list[str] = field(default_factory=list)


def maildir_messages(root: Path) -> Iterator[Path]:
    """The messages of a Maildir (new/ and cur/), in name order; raises PixelguardError for one that is not."""
    if not all((root / sub).is_dir() for sub in ("new", "cur", "tmp")):
        raise PixelguardError(f"{root}: not a Maildir (it needs new/, cur/ and tmp/)")
    for sub in ("new", "cur"):
        for name in sorted(os.listdir(root / sub)):
            if not name.startswith("."):
                yield root / sub / name


def clean_maildir(root: Path, judge: Judge, each: Any = None) -> MailboxResult:
    """Clean every message of a Maildir in place. Safe to interrupt at any point: each cleaned copy is written in
    tmp/ and renamed over the message (one atomic step), with its file name (flags and all), mode and time."""
    result = MailboxResult()
    for path in maildir_messages(root):
        if each is not None:
            each(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                raw, st = f.read(), os.fstat(f.fileno())
        except FileNotFoundError:
            continue  # the mail client moved it meanwhile; the next run sees it under its new name
        except OSError as e:
            result.problems.append(f"{path}: cannot read: {e.strerror or e}")
            continue
        out = clean_message(raw, judge)
        result.problems += [f"{path.name}: {p}" for p in out.problems]
        if out.already:
            result.skipped += 1
            continue
        _replace(root, path, out.data, st)
        result.cleaned += 1
        result.counts.add(out.counts)
    return result


def _replace(root: Path, path: Path, data: bytes, st: os.stat_result) -> None:
    host = socket.gethostname().replace("/", "_").replace(":", "_")
    tmp = root / "tmp" / f"{int(time.time())}.P{os.getpid()}Q{time.monotonic_ns()}.pixelguard.{host}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, st.st_mode & 0o777)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))  # clients sort by it
        if not path.exists():  # moved by the mail client while this one was cleaned: keep its copy
            os.unlink(tmp)
            return
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # Dovecot's ",S=<size>" in a file name is the message's size: say the new one (a rename, atomic too).
    sized = re.sub(r",S=\d+", f",S={len(data)}", path.name, count=1)
    if sized != path.name:
        os.rename(path, path.with_name(sized))
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
