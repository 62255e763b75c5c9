"""Downloading one subscription safely: verified before it replaces the working copy, or kept byte for byte.

A download replaces the working copy only when it is verified: HTTP 200, UTF-8 text, an ``[Adblock`` header
(or at least ``! Title:``), it parses, and it is not truncated (at least half the rules of the previous copy).
Anything else keeps the previous copy and says why. Only http(s) redirects are followed.
"""

from __future__ import annotations

import http.client
import io
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelguard import __version__, display
from pixelguard.config import Config, ListSpec, Upstream
from pixelguard.fileio import atomic_write
from pixelguard.limits import LIST_DOWNLOAD_BYTES, LIST_DOWNLOAD_DEADLINE_S
from pixelguard.update.expiry import (
    DEFAULT_EXPIRES,
    due,
    expires_of,
    last_checked,
    parse_expires,
    read_meta,
    write_meta,
)

UPDATED, NOT_MODIFIED, FAILED, SKIPPED = "updated", "not-modified", "failed", "skipped"
TRUNCATED_RATIO = 0.5
CHUNK = 64 * 1024

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None when unknown)


@dataclass(frozen=True)
class UpdateResult:
    name: str
    status: str  # updated | not-modified | failed | skipped
    message: str
    rules: int | None = None

    @property
    def ok(self) -> bool:
        return self.status != FAILED


class _Rejected(Exception):
    """A download that must not replace the working copy; the message says why."""


class _Budget:
    """What one subscription's download may still take, the list and its included files together: bytes
    (LIST_DOWNLOAD_BYTES) and wall-clock time (a deadline on the whole, not on each read)."""

    def __init__(self, deadline_s: float = LIST_DOWNLOAD_DEADLINE_S, max_bytes: int = LIST_DOWNLOAD_BYTES):
        self.deadline = time.monotonic() + deadline_s
        self.deadline_s = deadline_s
        self.left = max_bytes
        self.max_bytes = max_bytes

    def seconds_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Rejected(f"download not done after {self.deadline_s:g} s: gave up")
        return left

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise _Rejected(
                f"more than {display.size(self.max_bytes)} with its included files: not a filter list"
            )


_HEADERS = {
    "User-Agent": f"pixelguard/{__version__} (+filter list update)",
    "Accept": "text/plain, */*;q=0.5",
}


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only: urllib would also follow one to ftp:// or file://."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        scheme = newurl.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {scheme}: refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(via: Upstream | None = None) -> urllib.request.OpenerDirector:
    """urllib's opener: through ``via`` (proxy.upstream: on a network whose only way out is that proxy, a list is
    downloaded through it as everything else is), else through what the environment names (https_proxy, ...)."""
    if via is None or via.scheme != "http":  # urllib speaks to a proxy in plain HTTP only
        return urllib.request.build_opener(_HttpOnlyRedirects)
    proxy = via.url_with_login()
    return urllib.request.build_opener(
        _HttpOnlyRedirects, urllib.request.ProxyHandler({"http": proxy, "https": proxy})
    )


# --- sidecar metadata -------------------------------------------------------------------------------------


def update_list(
    spec: ListSpec,
    *,
    force: bool = False,
    timeout: float = 30,
    progress: Progress | None = None,
    deadline: float = LIST_DOWNLOAD_DEADLINE_S,
    via: Upstream | None = None,
) -> UpdateResult:
    """Download one subscription if due (or ``force``), verify it, and replace the working copy atomically;
    ``via``: the proxy to download through (proxy.upstream).

    Never raises for network or content problems: they come back as a ``failed`` result, copy untouched.
    """
    if not spec.url:
        return UpdateResult(spec.name, SKIPPED, "not a subscription (no url)")
    if not force and not due(spec):
        meta = read_meta(spec)
        left = (last_checked(spec, meta) or 0) + expires_of(spec, meta).total_seconds() - time.time()
        return UpdateResult(
            spec.name, SKIPPED, f"not due yet (next check in {display.seconds(left)}; --force to download)"
        )
    meta = read_meta(spec)
    try:
        return _update(spec, meta, timeout, progress, _Budget(deadline), via)
    except _Rejected as e:
        kept = (
            "kept the previous copy"
            if spec.file.exists()
            else "no copy yet: the list blocks nothing until a download succeeds"
        )
        # Not logged here: each caller reports the result (the CLI prints it, the proxy's updater logs it).
        return UpdateResult(spec.name, FAILED, f"{e}; {kept}")


def _update(
    spec: ListSpec,
    meta: dict[str, Any],
    timeout: float,
    progress: Progress | None,
    budget: _Budget,
    via: Upstream | None = None,
) -> UpdateResult:
    assert spec.url is not None
    headers = dict(_HEADERS)
    if spec.file.is_file():
        # Conditional only while the copy we would keep exists; otherwise a 304 would leave us with nothing.
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    req = urllib.request.Request(spec.url, headers=headers)
    try:
        resp = _opener(via).open(req, timeout=min(timeout, budget.seconds_left()))
    except urllib.error.HTTPError as e:
        if e.code == 304 and spec.file.is_file():
            meta = {**meta, "url": spec.url, "checked": time.time()}
            write_meta(spec, meta)
            return UpdateResult(
                spec.name, NOT_MODIFIED, "not modified since the last download", meta.get("rules")
            )
        raise _Rejected(f"HTTP {e.code} {e.reason}") from None
    except TimeoutError:
        raise _Rejected(f"timed out after {timeout:g}s") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            raise _Rejected(f"timed out after {timeout:g}s") from None
        raise _Rejected(f"cannot connect: {getattr(reason, 'strerror', None) or reason}") from None
    except (OSError, ValueError) as e:
        raise _Rejected(f"cannot download: {e}") from None
    with resp:
        if resp.status != 200:
            raise _Rejected(f"HTTP {resp.status} (expected 200)")
        ctype = (resp.headers.get("Content-Type") or "").lower()
        body = _read(resp, timeout, progress, budget)
        etag, last_modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
    text = _verify_text(body, ctype)
    included = _fetch_includes(spec, text, timeout, budget, via)
    rules = _verify_rules(spec, text, meta, included)
    _write_includes(spec, included)  # before the list itself: the proxy reloads when the list file changes
    atomic_write(spec.file, body)
    now = time.time()
    expires = parse_expires(text)
    new_meta = {
        "url": spec.url,
        "etag": etag,
        "last_modified": last_modified,
        "checked": now,
        "updated": now,
        "rules": rules,
        "bytes": len(body),
        "expires_seconds": int((expires or DEFAULT_EXPIRES).total_seconds()),
        "includes": sorted(included),
    }
    write_meta(spec, new_meta)
    before = meta.get("rules")
    delta = f" ({rules - before:+d})" if isinstance(before, int) else ""
    return UpdateResult(spec.name, UPDATED, f"{rules} rules{delta}, {display.size(len(body))}", rules)


def _read(resp: Any, timeout: float, progress: Progress | None, budget: _Budget) -> bytes:
    """The body, read as it arrives (read1: one socket read at a time, so that the deadline is looked at after
    every byte a trickling server sends), within the subscription's byte budget and deadline."""
    total_header = resp.headers.get("Content-Length")
    total = int(total_header) if total_header and total_header.isdigit() else None
    if total is not None and total > budget.left:
        raise _Rejected(f"the server announces {display.size(total)}, more than a filter list can be")
    body = bytearray()
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    # Python 3.13's HTTPResponse closes itself, and its socket, as it reads the last byte of a body of known
    # length: the read after that returns nothing, but the socket's timeout can no longer be set.
    done = getattr(resp, "isclosed", lambda: False)
    try:
        while True:
            left = budget.seconds_left()
            if sock is not None and not done():
                sock.settimeout(min(timeout, left))  # no read outlasts the deadline
            chunk = resp.read1(CHUNK) if hasattr(resp, "read1") else resp.read(CHUNK)
            if not chunk:
                break
            budget.take(len(chunk))
            body += chunk
            if progress is not None:
                progress(len(body), total)
    except TimeoutError:
        budget.seconds_left()  # the deadline's own message when that is what ran out
        raise _Rejected(f"timed out after {timeout:g}s while downloading") from None
    except (OSError, http.client.HTTPException) as e:
        raise _Rejected(f"connection broken while downloading: {type(e).__name__}") from None
    if total is not None and len(body) < total:
        raise _Rejected(f"connection closed after {len(body)} of {total} bytes")
    return bytes(body)


def _verify_text(body: bytes, ctype: str, *, need_header: bool = True) -> str:
    if "html" in ctype:
        raise _Rejected(f"the server sent a web page ({ctype.split(';')[0]}), not a filter list")
    if b"\x00" in body[:65536]:
        raise _Rejected("the server sent binary data, not a filter list")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _Rejected("not UTF-8 text") from None
    head = text.lstrip()[:2048]
    if head[:1] == "<" or "<html" in head.lower():
        raise _Rejected("the server sent a web page, not a filter list")
    if need_header and not _looks_like_a_list(text):
        raise _Rejected(
            "no [Adblock Plus] header, '! Title:' line, or lines that read as rules, hosts or domains: "
            "not a filter list"
        )
    return text


HEAD_LINES = 1000  # lines read to tell a headerless hosts file or domain list from something else


def _looks_like_a_list(text: str) -> bool:
    """An ABP header or title, or (hosts files and domain lists have neither) mostly lines that are rules."""
    from pixelguard.engine import rules

    head = text.lstrip()[:2048]
    if head.startswith("[Adblock") or re.search(r"^[!#]\s*Title\s*:", head, re.M):
        return True
    seen = good = 0
    for line in io.StringIO(text):
        line = line.strip()
        if rules.is_comment(line) or line.startswith("#"):
            continue
        seen += 1
        good += rules.looks_like_a_rule(line)
        if seen >= HEAD_LINES:
            break
    return seen > 0 and good * 2 > seen


MAX_INCLUDES = 32


def _fetch_includes(
    spec: ListSpec, text: str, timeout: float, budget: _Budget, via: Upstream | None = None
) -> dict[str, bytes]:
    """The files the list's ``!#include`` lines name, from the list's own origin (uBO: same origin, one level).

    Any of them failing fails the update: a list missing part of itself must not replace a whole one."""
    from urllib.parse import urljoin, urlsplit

    from pixelguard.engine import preprocess

    assert spec.url is not None
    out: dict[str, bytes] = {}
    targets = list(dict.fromkeys(preprocess.include_targets(text)))
    if len(targets) > MAX_INCLUDES:
        raise _Rejected(f"includes {len(targets)} files; at most {MAX_INCLUDES} are followed")
    origin = urlsplit(spec.url)[:2]
    for target in targets:
        if not preprocess.is_relative(target):
            continue  # reported by the engine when it reads the list: "only files beside the list"
        url = urljoin(spec.url, target)
        if urlsplit(url)[:2] != origin:
            continue
        try:
            request = urllib.request.Request(url, headers=_HEADERS)
            resp = _opener(via).open(request, timeout=min(timeout, budget.seconds_left()))
        except urllib.error.HTTPError as e:
            raise _Rejected(f"included file {target}: HTTP {e.code} {e.reason}") from None
        except (OSError, ValueError) as e:
            raise _Rejected(f"included file {target}: cannot download: {e}") from None
        with resp:
            body = _read(resp, timeout, None, budget)
            ctype = (resp.headers.get("Content-Type") or "").lower()
        try:
            _verify_text(body, ctype, need_header=False)
        except _Rejected as e:
            raise _Rejected(f"included file {target}: {e}") from None
        out[target] = body
    return out


def include_dir(spec: ListSpec) -> Path:
    """Where a subscription's included files are kept (the engine reads them from there)."""
    return spec.file.with_name(spec.file.stem + ".include")


def _write_includes(spec: ListSpec, included: dict[str, bytes]) -> None:
    base = include_dir(spec)
    for target, body in included.items():
        atomic_write(base / target, body)


def _verify_rules(spec: ListSpec, text: str, meta: dict[str, Any], included: dict[str, bytes]) -> int:
    from pixelguard.engine import count_rules, preprocess

    def read(target: str) -> tuple[str | None, str | None]:
        body = included.get(target)
        return (body.decode("utf-8", "replace"), None) if body is not None else (None, "not downloaded")

    try:
        named, _ = preprocess.expand(spec.name, text, read)
        rules = count_rules(named)
    except Exception as e:  # the parser never should raise; if it does, the list must not go live
        raise _Rejected(f"does not parse: {type(e).__name__}: {e}") from None
    if rules == 0:
        raise _Rejected("no usable rules in the download")
    before = meta.get("rules")
    if not isinstance(before, int) and spec.file.is_file():
        before = _count_rules(spec)
    if isinstance(before, int) and before > 0 and rules < before * TRUNCATED_RATIO:
        raise _Rejected(f"looks truncated: {rules} rules, the previous copy had {before}")
    return rules


def _count_rules(spec: ListSpec) -> int | None:
    from pixelguard.engine import count_rules

    try:
        text = spec.file.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    return count_rules([(spec.name, text)])


def iter_update(
    cfg: Config,
    names: list[str] | None = None,
    *,
    force: bool = False,
    timeout: float = 30,
    progress_for: Callable[[ListSpec], Progress | None] | None = None,
) -> Iterator[UpdateResult]:
    """Update every subscription (or the ones named), yielding each outcome; one failure never stops the rest."""
    for spec in cfg.lists:
        if names is not None and spec.name not in names:
            continue
        if not spec.url:
            if names is not None:
                yield UpdateResult(spec.name, SKIPPED, "not a subscription (no url)")
            continue
        if names is None and not spec.enabled:
            # A list the user did not enable is only downloaded when named explicitly.
            yield UpdateResult(spec.name, SKIPPED, "disabled (name it to download it anyway)")
            continue
        progress = progress_for(spec) if progress_for else None
        yield update_list(spec, force=force, timeout=timeout, progress=progress, via=cfg.proxy.upstream)
