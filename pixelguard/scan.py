"""Email audit: every remote image in .eml, .mbox and .html files, with the engine's verdict for each.

The same engine as the proxy decides (``engine.check(url, resource_type="image")``); on top of that, an image
that *looks* like a tracking pixel (0-2 px width/height attributes, ``display:none``, ``visibility:hidden``,
a tiny CSS size, or inside a hidden element) is flagged even when no rule names it, which is what the proxy's
pixel detector would catch at run time.

Bad input never raises out of :func:`scan_file` except as PixelguardError naming the file (missing, unreadable,
not a mailbox): undecodable parts and broken HTML are scanned as far as they go.
"""

from __future__ import annotations

import logging
import mailbox
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email import policy
from email.feedparser import BytesFeedParser
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pixelguard import css_loads
from pixelguard.config import PixelsConfig
from pixelguard.errors import PixelguardError
from pixelguard.written_urls import fetched_url

log = logging.getLogger(__name__)

# Elements whose src (or href) is an image the mail client fetches: the VML tags are Outlook's images and
# backgrounds, image and feImage SVG's (Apple Mail draws SVG written in a mail).
_SRC_TAGS = {"img", "v:fill", "v:image", "v:imagedata", "image", "feimage"}
_VOID = set(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
_CSS_DECL = re.compile(r"([a-zA-Z-]+)\s*:\s*([^;]+)")
_PX = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(px)?\s*(!important)?\s*$", re.I)
# Remote loads found in HTML that are not images, and the resource type the engine is asked with for each.
NOT_IMAGES = {"import": "stylesheet", "font": "font", "media": "media", "link": "other"}
# <link rel=...> values that make a mail client (or the browser showing the message) load the target: a
# stylesheet is a stylesheet's load ("import"), the rest connect or fetch ahead ("link").
_LOADING_RELS = {
    "prefetch",
    "preconnect",
    "dns-prefetch",
    "preload",
    "prerender",
    "stylesheet",
    "modulepreload",
}
# The pixel size: the user's pixels.max_width/max_height (config.PixelsConfig), the same as the proxy's.
DEFAULT_PIXEL = (PixelsConfig.max_width, PixelsConfig.max_height)


class _Checker(Protocol):
    def check(self, url: str, source_url: str | None = None, resource_type: str | None = None) -> Any: ...


@dataclass
class ImageReport:
    url: str
    # img | srcset | background | css | style (images); import | font | media | link (MessageReport.other)
    where: str
    blocked: bool = False
    rule: str | None = None
    list: str | None = None
    line: int | None = None
    pixel: str | None = None  # why it looks like a pixel, None when it does not
    width: str | None = None
    height: str | None = None

    @property
    def flagged(self) -> bool:
        return self.blocked or self.pixel is not None


@dataclass
class LinkReport:
    url: str
    destination: str | None = None  # where the link goes, read from the link itself ($urlskip)
    vendor: str | None = None  # an opaque click-tracking link: whose (pixelguard-clicks.txt)


# A tracked link judged: (destination, vendor), either or neither known.
LinkJudge = Callable[[str], "tuple[str | None, str | None]"]


@dataclass
class MessageReport:
    file: str
    index: int  # position in an mbox (0 for .eml and .html)
    subject: str = ""
    sender: str = ""
    images: list[ImageReport] = field(default_factory=list)
    # Other remote loads of the message's HTML (stylesheets it imports, web fonts): checked, not images.
    other: list[ImageReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # parts that could not be decoded, etc.
    links: list[LinkReport] = field(default_factory=list)  # tracked links: unwrappable or opaque

    @property
    def blocked(self) -> int:
        return sum(1 for i in self.images if i.blocked)

    @property
    def pixel_like(self) -> int:
        """Images no rule blocks that still look like tracking pixels."""
        return sum(1 for i in self.images if not i.blocked and i.pixel)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(blocked=self.blocked, pixel_like=self.pixel_like, image_count=len(self.images))
        return d

    @property
    def other_blocked(self) -> int:
        return sum(1 for i in self.other if i.blocked)


# --- HTML -------------------------------------------------------------------------------------------------


@dataclass
class FoundImage:
    url: str
    where: str
    width: str | None = None
    height: str | None = None
    pixel: str | None = None


def _css_decls(style: str) -> dict[str, str]:
    """A style attribute's declarations, read after comments and escapes (``d\\isplay:/**/none`` hides too)."""
    return {k.lower(): v.strip().lower() for k, v in _CSS_DECL.findall(css_loads.plain(style or ""))}


def _hidden_reason(decls: dict[str, str]) -> str | None:
    if decls.get("display", "").startswith("none"):
        return "display:none"
    if decls.get("visibility", "").startswith("hidden"):
        return "visibility:hidden"
    return None


def _tiny(value: str | None, limit: int) -> bool:
    if value is None:
        return False
    m = _PX.match(value)
    return m is not None and float(m.group(1)) <= limit


def parse_srcset(srcset: str) -> list[str]:
    """Candidate URLs of a srcset (HTML spec: URL, then descriptors up to a comma; URLs may hold commas)."""
    out = []
    i, n = 0, len(srcset)
    while i < n:
        while i < n and (srcset[i].isspace() or srcset[i] == ","):
            i += 1
        start = i
        while i < n and not srcset[i].isspace():
            i += 1
        url = srcset[start:i]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0
            while i < n and (depth or srcset[i] != ","):
                depth += srcset[i] == "("
                depth -= srcset[i] == ")" and depth > 0
                i += 1
        if url:
            out.append(url)
    return out


class ImageFinder(HTMLParser):
    """Collects remote images from HTML that may be broken; never raises on malformed markup."""

    def __init__(self, pixel: tuple[int, int] = DEFAULT_PIXEL, base: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.pixel = pixel  # (max width, max height) of a tracking pixel
        self.found: list[FoundImage] = []
        self.links: list[str] = []  # every remote <a href>, in document order
        self._in_style = 0
        self._style_text: list[str] = []
        self._stack: list[tuple[str, str | None]] = []  # (tag, hidden reason) of open elements
        # The first <base href> decides what relative references resolve against (HTML's document base URL):
        # an http(s) URL makes them loads from there, as Outlook, Thunderbird and Apple Mail load them;
        # anything else leaves them where a mail client finds nothing to fetch.
        # ``base``: the HTML part's own base (part_base), which Thunderbird writes as a <base> before the HTML.
        self.base = fetched_url(base) if base is not None else None
        self._based = base is not None

    def remote(self, url: str | None) -> str | None:
        """The absolute http(s) URL a mail client loads for a reference, in the form it sends it
        (written_urls.py), or None for cid:, data:, empty references and relative ones with no http(s) base."""
        return fetched_url(url, self.base) if url else None

    def _hidden_ancestor(self) -> str | None:
        for _tag, reason in reversed(self._stack):
            if reason:
                return f"inside a {reason} element"
        return None

    def _add(self, raw: str | None, where: str, **kw: Any) -> None:
        url = self.remote(raw)
        if url:
            self.found.append(FoundImage(url, where, **kw))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        decls = _css_decls(a.get("style", ""))
        hidden = _hidden_reason(decls)
        if tag == "style":
            self._in_style += 1
        if tag == "base" and "href" in a and not self._based:
            self._based = True
            self.base = fetched_url(a["href"])
        if tag in _SRC_TAGS or (tag == "input" and a.get("type", "").lower() == "image"):
            w, h = a.get("width"), a.get("height")
            pixel = _pixel_reason(w, h, decls, self.pixel) or hidden or self._hidden_ancestor()
            if pixel and _bigger_than(w, h, decls, self.pixel):
                # A hidden image the sender sized as a picture is the other copy of a responsive layout
                # (mobile or desktop), not a tracking pixel: a pixel is small, or has no size at all.
                pixel = None
            self._add(
                a.get("src") or a.get("href") or a.get("xlink:href"), "img", width=w, height=h, pixel=pixel
            )
            for url in parse_srcset(a.get("srcset", "")):
                self._add(url, "srcset", width=w, height=h, pixel=pixel)
        if tag == "video":
            self._add(a.get("poster"), "img")
        if tag in ("video", "audio"):
            # Apple Mail and iOS Mail play <video> and <audio> in mail, and fetch what they name on opening.
            self._add(a.get("src"), "media")
        if tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if rels & _LOADING_RELS:
                self._add(a.get("href"), "import" if "stylesheet" in rels else "link")
        if tag == "source":
            # A <picture>'s sources are images, and the client picks one of them before its <img>; a <video>'s
            # or an <audio>'s are media.
            for url in parse_srcset(a.get("srcset", "")):
                self._add(url, "srcset", width=a.get("width"), height=a.get("height"))
            self._add(a.get("src"), "media")
        if tag == "a":
            link = self.remote(a.get("href"))
            if link:
                self.links.append(link)
        if a.get("background"):
            self._add(a["background"], "background", pixel=hidden or self._hidden_ancestor())
        if a.get("style"):
            for url, where in css_loads.urls(a["style"]):
                tiny = _tiny(decls.get("width"), self.pixel[0]) and _tiny(decls.get("height"), self.pixel[1])
                pixel = "tiny CSS size" if tiny else hidden or self._hidden_ancestor()
                self._add(url, "style" if where == "css" else where, pixel=pixel if where == "css" else None)
        if tag not in _VOID:
            self._stack.append((tag, hidden))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._stack and self._stack[-1][0] == tag:
            self._stack.pop()
        if tag == "style":
            self._in_style = max(0, self._in_style - 1)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._in_style:
            self._in_style -= 1
            self._flush_style()
        # Pop to the matching open element; a stray end tag (broken HTML) changes nothing.
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._style_text.append(data)

    def _flush_style(self) -> None:
        css = "".join(self._style_text)
        self._style_text.clear()
        for url, where in css_loads.urls(css):
            self._add(url, where)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._style_text:
                self._flush_style()


def _pixel_reason(
    width: str | None, height: str | None, decls: dict[str, str], pixel: tuple[int, int]
) -> str | None:
    w, h = _int_attr(width), _int_attr(height)
    if (w is not None or h is not None) and (w is None or w <= pixel[0]) and (h is None or h <= pixel[1]):
        return f"{width or '?'}x{height or '?'} attributes"
    if _tiny(decls.get("width"), pixel[0]) and _tiny(decls.get("height"), pixel[1]):
        return "tiny CSS size"
    if decls.get("max-height", "").startswith("0") or decls.get("opacity", "").strip() in ("0", "0.0"):
        return "invisible by CSS"
    return None


def _bigger_than(
    width: str | None, height: str | None, decls: dict[str, str], pixel: tuple[int, int]
) -> bool:
    """Does the markup give the image a size beyond a pixel's (attributes or CSS pixels)?"""
    sizes = [
        (_int_attr(width), pixel[0]),
        (_int_attr(height), pixel[1]),
        (_css_px(decls.get("width")), pixel[0]),
        (_css_px(decls.get("height")), pixel[1]),
    ]
    return any(v is not None and v > limit for v, limit in sizes)


def _css_px(value: str | None) -> float | None:
    m = _PX.match(value) if value else None
    return float(m.group(1)) if m else None


def _int_attr(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.match(r"\s*(\d+)\s*(px)?\s*$", value)
    return int(m.group(1)) if m else None


def find_images(html: str, pixel: tuple[int, int] = DEFAULT_PIXEL) -> list[FoundImage]:
    """Every remote image reference in ``html``, in document order (broken markup is read as far as it goes)."""
    return _read(html, pixel).found


def _read(html: str, pixel: tuple[int, int], base: str | None = None) -> ImageFinder:
    return read_html(ImageFinder(pixel, base), html)


def part_base(part: Message) -> str | None:
    """What an HTML part's relative references resolve against before any <base> in it: its Content-Base header,
    else its Content-Location (RFC 2110, 2557), with whitespace and quotes removed. Thunderbird writes that as a
    <base href> ahead of the part's HTML (mailnews/mime/src/mimethtm.cpp), so it is the first base."""
    for name in ("content-base", "content-location"):
        value = _header(part, name)
        if value:
            return "".join(c for c in value if not c.isspace() and c != '"')
    return None


P = TypeVar("P", bound=HTMLParser)


def read_html(p: P, html: str) -> P:
    """``p`` fed the whole of ``html``. html.parser is lenient, but a parser bug must not lose what was found so
    far: it stops the reading there, never raises."""
    try:
        p.feed(html)
        p.close()
    except Exception as e:
        log.debug("HTML parser stopped: %s", e)
    return p


# --- messages ---------------------------------------------------------------------------------------------


MAX_DEPTH = 50  # MIME nesting a real message never reaches; a crafted one could exhaust Python's stack
MAX_PARTS = 5000


def _parts(msg: Message, problems: list[str]) -> list[Message]:
    """Every part of a message, walked without recursion, within MAX_DEPTH and MAX_PARTS."""
    out: list[Message] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if len(out) >= MAX_PARTS:
            problems.append(f"more than {MAX_PARTS} MIME parts: the rest were not scanned")
            break
        out.append(part)
        if part.is_multipart():
            if depth >= MAX_DEPTH:
                problems.append(
                    f"MIME parts nested deeper than {MAX_DEPTH}: the deeper ones were not scanned"
                )
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
    return out


def html_parts(msg: Message) -> tuple[list[tuple[str, str | None]], list[str]]:
    """The decoded text/html parts of a message, each with its part_base, and problems met decoding them."""
    texts: list[tuple[str, str | None]] = []
    problems: list[str] = []
    for part in _parts(msg, problems):
        if part.get_content_type() != "text/html":
            continue
        base = part_base(part)
        try:
            content = part.get_content() if isinstance(part, EmailMessage) else None
            if not isinstance(content, str):
                raise TypeError("not text")
            texts.append((content, base))
        except Exception as e:  # unknown charset, broken transfer encoding: fall back to bytes
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append((payload.decode("utf-8", errors="replace"), base))
                problems.append(f"html part decoded with replacement characters ({type(e).__name__})")
            else:
                problems.append(f"html part could not be decoded ({type(e).__name__})")
    return texts, problems


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
        return str(value) if value is not None else ""
    except Exception:  # a malformed header must not stop the scan
        raw = msg.get_all(name, failobj=[]) if hasattr(msg, "get_all") else []
        return str(raw[0]) if raw else ""


def _report(file: str, index: int, images: list[FoundImage], engine: _Checker, **kw: Any) -> MessageReport:
    rep = MessageReport(file=file, index=index, **kw)
    for img in images:
        rtype = NOT_IMAGES.get(img.where, "image")
        v = engine.check(img.url, source_url=None, resource_type=rtype)
        (rep.images if rtype == "image" else rep.other).append(
            ImageReport(
                url=img.url,
                where=img.where,
                blocked=bool(v.blocked),
                rule=v.rule if v.blocked else None,
                list=v.list if v.blocked else None,
                line=v.line if v.blocked else None,
                pixel=img.pixel,
                width=img.width,
                height=img.height,
            )
        )
    return rep


def scan_message(
    msg: Message,
    engine: _Checker,
    file: str,
    index: int = 0,
    pixel: tuple[int, int] = DEFAULT_PIXEL,
    links: LinkJudge | None = None,
) -> MessageReport:
    texts, problems = html_parts(msg)
    read = [_read(html, pixel, base) for html, base in texts]
    images = [img for r in read for img in r.found]
    rep = _report(
        file,
        index,
        images,
        engine,
        subject=_header(msg, "subject"),
        sender=_header(msg, "from"),
        problems=problems,
    )
    if links is not None:
        for url in dict.fromkeys(u for r in read for u in r.links):  # each link once
            destination, vendor = links(url)
            if destination or vendor:
                rep.links.append(LinkReport(url, destination, vendor))
    return rep


def _kind(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix in (".eml", ".msg"):
        return "eml"
    if suffix in (".mbox", ".mbx"):
        return "mbox"
    if suffix in (".html", ".htm", ".xhtml"):
        return "html"
    # Unknown suffix (a Maildir's files have none): sniff by how the file begins, not by what it mentions (a
    # README that quotes "<img" or a "To: " line is neither). An mbox starts with a "From " line; a message with
    # its header fields, one of mail's own among them before the first empty line; HTML with a tag, after
    # whitespace and a byte order mark, as WHATWG's MIME Sniffing standard reads an unknown type ("identifying a
    # resource with an unknown MIME type": its HTML patterns, plus <img and <meta that saved mail fragments start
    # with). Anything else (an image, a config file) is not something to scan: say so.
    if head.startswith(b"From "):
        return "mbox"
    if _FIELD.match(head) and _MAIL_HEADER.search(_HEADER_END.split(head, 1)[0]):
        return "eml"
    if _MARKUP.match(head):
        return "html"
    raise PixelguardError(f"{path}: not an email (.eml, .mbox) or HTML file")


_FIELD = re.compile(rb"[!-9;-~]+:")  # a header field's name (RFC 5322: printable ASCII but ":") and its colon
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MAIL_HEADER = re.compile(
    rb"^(?:From|Subject|Date|Received|Message-ID|MIME-Version|Return-Path|To):[ \t]", re.I | re.M
)
_MARKUP = re.compile(
    rb"(?:\xef\xbb\xbf)?[\t\n\x0c\r ]*"
    rb"<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|img|meta|!--)[ >\t\n\r/]",
    re.I,
)


def message_files(path: Path) -> list[Path]:
    """The files to scan for a path: itself, or for a directory (a Maildir: cur/, new/, tmp/) every file under
    it, in name order, hidden ones left out (a Maildir client keeps its own state in them)."""
    if not path.is_dir():
        return [path]
    out: list[Path] = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / n for n in sorted(names) if not n.startswith(".")]
    return out


def scan_file(
    path: Path | str, engine: _Checker, pixel: tuple[int, int] = DEFAULT_PIXEL, links: LinkJudge | None = None
) -> list[MessageReport]:
    """One report per message in ``path`` (.eml, .mbox or .html). Raises PixelguardError naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        raise PixelguardError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PixelguardError(f"{path}: is a directory") from None
    except OSError as e:
        raise PixelguardError(f"{path}: cannot read: {e.strerror or e}") from None
    kind = _kind(path, head)
    try:
        if kind == "html":
            html = path.read_bytes().decode("utf-8", errors="replace")
            return [_report(str(path), 0, find_images(html, pixel), engine, subject=_html_title(html))]
        if kind == "eml":
            msg = parse_message(path.read_bytes())
            return [scan_message(msg, engine, str(path), pixel=pixel, links=links)]
        return _scan_mbox(path, engine, pixel, links)
    except PixelguardError:
        raise
    except OSError as e:
        raise PixelguardError(f"{path}: cannot read: {e.strerror or e}") from None
    except RecursionError:
        raise PixelguardError(f"{path}: nested too deeply to read (a crafted message?)") from None


_PARSE_PIECE = 1 << 20


def parse_message(raw: bytes, how: EmailPolicy[EmailMessage] = policy.default) -> EmailMessage:
    """``email.message_from_bytes``, fed to the parser 1 MiB at a time: the same message, but the parser decodes and
    splits one piece at a time, where whole it held the message as a str and its lines besides. A 57 MB message
    with an attachment peaked at 439 MB whole, at 155 MB in pieces (tracemalloc), in the same time."""
    parser = BytesFeedParser(EmailMessage, policy=how)
    view = memoryview(raw)
    for i in range(0, len(raw), _PARSE_PIECE):
        parser.feed(bytes(view[i : i + _PARSE_PIECE]))
    return parser.close()


def _scan_mbox(
    path: Path, engine: _Checker, pixel: tuple[int, int], links: LinkJudge | None
) -> list[MessageReport]:
    box = mailbox.mbox(str(path), create=False)
    reports = []
    try:
        for i, key in enumerate(box.iterkeys()):
            try:
                msg = parse_message(box.get_bytes(key))
            except Exception as e:  # one broken message must not hide the others
                reports.append(MessageReport(str(path), i, problems=[f"unreadable message: {e}"]))
                continue
            reports.append(scan_message(msg, engine, str(path), i, pixel, links))
    finally:
        box.close()
    return reports


class _Title(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.inside = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text.append(data)


def _html_title(html: str) -> str:
    p = _Title()
    try:
        p.feed(html[:200_000])
    except Exception:
        return ""
    return " ".join("".join(p.text).split())
