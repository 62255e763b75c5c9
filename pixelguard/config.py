"""Configuration: one YAML file → frozen dataclasses, validated with file:line: key messages.

Where the file is: ``--config PATH``, else ``$PIXELGUARD_CONFIG``, else the platform config dir
(``~/.config/pixelguard/config.yaml`` on Linux). A missing file means defaults. Every value remembers where it
came from (``config show`` prints it), so a user can tell a default from a typo.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import yaml

from pixelguard.display import cut, host_port, safe
from pixelguard.engine.request import normal_host
from pixelguard.errors import ConfigError
from pixelguard.limits import MAX_WORKERS

APP = "pixelguard"
ENV_VAR = "PIXELGUARD_CONFIG"
MODES = ("full", "hosts-only")
LIST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Names the proxy writes itself; a configured list may not take them.
RESERVED_LIST_NAMES = ("user", "learned")
# Files shipped beside the bundled filter lists that are not filter lists: loaded as one, each line would be a
# block rule (tls-passthrough's banks blocked whole).
BUNDLED_NOT_FILTERS = {
    "user": "the template of your own list (user_list)",
    "tls-passthrough": "the hosts never decrypted (tls.passthrough adds to them)",
    "pixelguard-clicks": "mail clean's table of opaque click trackers",
}


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP))


def bundled_filters_dir() -> Path:
    """The lists shipped with pixelguard: inside the wheel, or filters/ beside the package in a checkout."""
    inside = Path(__file__).parent / "filters"
    return inside if inside.is_dir() else Path(__file__).parent.parent / "filters"


@dataclass(frozen=True)
class Upstream:
    """The HTTP proxy pixelguard forwards what it lets through to (proxy.upstream): a company's, a school's."""

    scheme: str  # how pixelguard talks to that proxy: http or https
    host: str
    port: int
    auth: str | None = None  # "user:password", from the URL's login part

    @property
    def url(self) -> str:
        """Without the login: what mitmproxy's upstream mode is given, and what may be shown."""
        return f"{self.scheme}://{host_port(self.host, self.port)}"

    def url_with_login(self) -> str:
        """With the login, percent-encoded, as urllib's ProxyHandler takes a proxy (list downloads). Never shown."""
        if self.auth is None:
            return self.url
        user, _, password = self.auth.partition(":")
        login = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
        return f"{self.scheme}://{login}@{host_port(self.host, self.port)}"


def parse_upstream(text: str) -> Upstream:
    """proxy.upstream's value; ValueError saying what is wrong with it."""
    try:
        parts = urllib.parse.urlsplit(text.strip())
        port = parts.port
    except ValueError as e:
        raise ValueError(f"is not a proxy's URL such as http://proxy.example:3128 ({safe(str(e))})") from None
    if parts.scheme not in ("http", "https"):
        # The value itself is never echoed: it may hold a password.
        raise ValueError(
            f"must start with http:// or https:// (an HTTP proxy's URL), got {parts.scheme or 'none'}"
        )
    if not parts.hostname:
        raise ValueError("names no host (an HTTP proxy's URL, such as http://proxy.example:3128)")
    if not port:
        raise ValueError(f"needs the proxy's port, such as http://{safe(parts.hostname)}:3128")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("is a proxy's address: nothing may follow its port")
    auth = None
    if parts.username is not None or parts.password is not None:
        auth = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
    return Upstream(parts.scheme, parts.hostname, port, auth)


@dataclass(frozen=True)
class ProxyConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    mode: str = "full"
    auth: str | None = None
    workers: int = 1  # processes serving the address (`pixelguard run`, Linux): see proxy/workers.py
    upstream: Upstream | None = None  # forward to this proxy instead of connecting to servers directly


@dataclass(frozen=True)
class ListSpec:
    """One filter list: bundled with pixelguard, a local file, or a subscription downloaded from ``url``."""

    name: str
    file: Path  # where its rules are read from (for a subscription: the downloaded copy)
    url: str | None = None
    enabled: bool = True
    bundled: bool = False


@dataclass(frozen=True)
class PixelsConfig:
    max_width: int = 2
    max_height: int = 2
    learn_after: int = 3


@dataclass(frozen=True)
class LogConfig:
    retention_days: int = 30


@dataclass(frozen=True)
class CnameConfig:
    enabled: bool = True
    nameservers: tuple[str, ...] = ()  # () = the system's resolvers; else "IP" or "IP:PORT"


@dataclass(frozen=True)
class TlsConfig:
    passthrough: tuple[str, ...] = ()  # never decrypted, besides the bundled list (and subdomains)
    learn: bool = True  # a client that refuses our certificate for a host gets it passed through
    # A CONNECT to a host that lists block whole is refused before any handshake (Pipeline.decide_connect)
    refuse_blocked: bool = True


@dataclass(frozen=True)
class IdentityConfig:
    """The leak alarm's: never written anywhere but this config (identity.py)."""

    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    country: str = ""  # calling code for phones written without one ("49" for 0170 ...)


@dataclass(frozen=True)
class PrivacyConfig:
    gpc: bool = True  # Sec-GPC: 1 on every request passed upstream
    # A tracker request an allow rule lets through loses its client/user IDs and tracker cookies (decision/redact.py)
    redact_allowed: bool = True
    # Third-party tracker requests that pass lose If-None-Match/If-Modified-Since and X-Client-Data, and their
    # Referer is cut to the page's origin (decision/pipeline.py, _hygiene)
    header_hygiene: bool = True


@dataclass(frozen=True)
class Config:
    proxy: ProxyConfig
    database: Path
    lists: tuple[
        ListSpec, ...
    ]  # in effect: the defaults (unless default_lists is false) with the file's changes
    user_list: Path
    learned_list: Path
    pixels: PixelsConfig
    log: LogConfig
    # Where state shared between the proxy, UI and CLI lives (pause switch, downloaded subscriptions).
    data_dir: Path
    # Compiled-index cache; safe to delete.
    cache_dir: Path
    privacy: PrivacyConfig = PrivacyConfig()
    cname: CnameConfig = CnameConfig()
    tls: TlsConfig = TlsConfig()
    identity: IdentityConfig = IdentityConfig()
    default_lists: bool = True  # the bundled lists and EasyPrivacy, besides what lists: adds
    source: Path | None = None  # the YAML file read, None when it did not exist
    origins: dict[str, str] = field(default_factory=dict)  # dotted key → "default" | "file:line"

    def enabled_lists(self) -> list[ListSpec]:
        return [spec for spec in self.lists if spec.enabled]

    def filter_files(self) -> list[Path]:
        """Every list file the engine loads, in order: enabled lists that exist, then user and learned."""
        files = [spec.file for spec in self.enabled_lists() if spec.file.is_file()]
        files += [p for p in (self.user_list, self.learned_list) if p.is_file()]
        return files


def default_lists(data: Path) -> tuple[ListSpec, ...]:
    bundled = bundled_filters_dir()
    return (
        ListSpec("pixelguard-ads", bundled / "pixelguard-ads.txt", bundled=True),
        ListSpec("pixelguard-email", bundled / "pixelguard-email.txt", bundled=True),
        ListSpec("pixelguard-params", bundled / "pixelguard-params.txt", bundled=True),
        ListSpec("pixelguard-links", bundled / "pixelguard-links.txt", bundled=True),
        ListSpec(
            "easyprivacy",
            data / "lists" / "easyprivacy.txt",
            url="https://easylist.to/easylist/easyprivacy.txt",
            enabled=True,
        ),
        ListSpec(
            "easylist",
            data / "lists" / "easylist.txt",
            url="https://easylist.to/easylist/easylist.txt",
            enabled=False,
        ),
    )


def locate(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file path by precedence: explicit argument, $PIXELGUARD_CONFIG, platform config dir."""
    # Absolute, so that paths relative to the config file stay right whatever the working directory.
    if explicit:
        return Path(explicit).expanduser().absolute()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().absolute()
    return config_dir() / "config.yaml"


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the configuration. Raises ConfigError (exit 2) naming file:line: key."""
    path = locate(explicit)
    if not path.exists():
        if explicit or os.environ.get(ENV_VAR):
            # A file the user named must exist; silently running on defaults would hide a typo.
            raise ConfigError(f"{path}: config file not found")
        return _build(None, None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from e
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from e
    return _build(path, node)


# --- validation -------------------------------------------------------------------------------------------


class _Reader:
    """Walks the composed YAML tree so that every error can name the line of the offending key."""

    def __init__(self, path: Path | None):
        self.path = path
        self.origins: dict[str, str] = {}

    def where(self, node: yaml.Node | None) -> str:
        if self.path is None:
            return "<defaults>"
        if node is None:
            return str(self.path.name)
        return f"{self.path}:{node.start_mark.line + 1}"

    def fail(self, node: yaml.Node | None, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where(node)}: {key} {message}")

    def mapping(self, node: yaml.Node | None, key: str, allowed: tuple[str, ...]) -> dict[str, yaml.Node]:
        if node is None or _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key or "top level", f"must be a mapping, got {_describe(node)}")
        out: dict[str, yaml.Node] = {}
        for knode, vnode in node.value:
            name = knode.value if isinstance(knode, yaml.ScalarNode) else None
            dotted = f"{key}.{name}" if key else str(name)
            if name not in allowed:
                hint = ", ".join(allowed)
                raise self.fail(knode, dotted, f"is not a known key (expected one of: {hint})")
            if name in out:
                raise self.fail(knode, dotted, "is given twice")
            out[name] = vnode
        return out

    def note(self, key: str, node: yaml.Node | None) -> None:
        self.origins[key] = self.where(node) if node is not None else "default"

    def integer(self, node: yaml.Node | None, key: str, default: int, lo: int, hi: int) -> int:
        self.note(key, node)
        if node is None:
            return default
        value = _scalar(node)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(node, key, f"must be an integer {lo}-{hi}, got {_show(node)}")
        return value

    def string(self, node: yaml.Node | None, key: str, default: str | None, nullable: bool = False) -> Any:
        self.note(key, node)
        if node is None:
            return default
        if nullable and _is_null(node):
            return None
        value = _scalar(node)
        if not isinstance(value, str) or not value:
            raise self.fail(node, key, f"must be a non-empty string, got {_show(node)}")
        return value

    def boolean(self, node: yaml.Node | None, key: str, default: bool) -> bool:
        self.note(key, node)
        if node is None:
            return default
        value = _scalar(node)
        if not isinstance(value, bool):
            raise self.fail(node, key, f"must be true or false, got {_show(node)}")
        return value

    def filepath(self, node: yaml.Node | None, key: str, default: Path) -> Path:
        value = self.string(node, key, None, nullable=True)
        if value is None:
            self.origins[key] = "default" if node is None else self.origins[key]
            return default
        p = Path(value).expanduser()
        if not p.is_absolute() and self.path is not None:
            # Relative paths are relative to the config file, so a config directory can move as a whole.
            p = self.path.parent / p
        return p


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return node  # a mapping or sequence: never a valid scalar, reported by the caller
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        # An unknown tag (!foo), an integer of thousands of digits: not a value of any setting; the caller
        # says which setting and what it got.
        return node
    finally:
        loader.dispose()


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return _show(node)


def _show(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        value = safe(cut(node.value, 60))
        if not node.tag.startswith("tag:yaml.org,2002:"):
            return f"{node.tag} {value}"
        return '"' + value + '"' if node.tag.endswith(":str") else value or "null"
    return _describe(node)


def _build(path: Path | None, root: yaml.Node | None) -> Config:
    r = _Reader(path)
    data, cache = data_dir(), cache_dir()
    top = r.mapping(
        root,
        "",
        (
            "proxy",
            "database",
            "lists",
            "default_lists",
            "user_list",
            "learned_list",
            "pixels",
            "log",
            "privacy",
            "cname",
            "tls",
            "identity",
        ),
    )

    px = r.mapping(top.get("proxy"), "proxy", ("host", "port", "mode", "auth", "workers", "upstream"))
    host = r.string(px.get("host"), "proxy.host", "127.0.0.1")
    port = r.integer(px.get("port"), "proxy.port", 8080, 1, 65535)
    mode = r.string(px.get("mode"), "proxy.mode", "full")
    if mode not in MODES:
        raise r.fail(px.get("mode"), "proxy.mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    auth = r.string(px.get("auth"), "proxy.auth", None, nullable=True)
    workers = r.integer(px.get("workers"), "proxy.workers", 1, 1, MAX_WORKERS)
    upstream_text = r.string(px.get("upstream"), "proxy.upstream", None, nullable=True)
    try:
        upstream = parse_upstream(upstream_text) if upstream_text else None
    except ValueError as e:
        raise r.fail(px.get("upstream"), "proxy.upstream", str(e)) from None
    if auth is not None and (":" not in auth or auth.startswith(":")):
        raise r.fail(px.get("auth"), "proxy.auth", 'must look like "user:password"')
    if not is_loopback(host) and auth is None:
        raise r.fail(
            px.get("host"),
            "proxy.host",
            f"is {host!r}, which is not a loopback address: anyone on the network could use the proxy. "
            "Set proxy.auth (user:password) to listen there",
        )

    database = r.filepath(top.get("database"), "database", data / "pixelguard.db")
    # The user list lives beside the config file in use, so --config DIR/config.yaml keeps all its state there.
    conf_home = path.parent if path is not None else config_dir()
    user_list = r.filepath(top.get("user_list"), "user_list", conf_home / "user.txt")
    learned_list = r.filepath(top.get("learned_list"), "learned_list", data / "learned.txt")
    with_defaults = r.boolean(top.get("default_lists"), "default_lists", True)
    lists = _lists(r, top.get("lists"), data, with_defaults)

    pn = r.mapping(top.get("pixels"), "pixels", ("max_width", "max_height", "learn_after"))
    pixels = PixelsConfig(
        max_width=r.integer(pn.get("max_width"), "pixels.max_width", 2, 1, 100),
        max_height=r.integer(pn.get("max_height"), "pixels.max_height", 2, 1, 100),
        learn_after=r.integer(pn.get("learn_after"), "pixels.learn_after", 3, 1, 1000),
    )
    ln = r.mapping(top.get("log"), "log", ("retention_days",))
    log = LogConfig(retention_days=r.integer(ln.get("retention_days"), "log.retention_days", 30, 1, 36500))
    pv = r.mapping(top.get("privacy"), "privacy", ("gpc", "redact_allowed", "header_hygiene"))
    privacy = PrivacyConfig(
        gpc=r.boolean(pv.get("gpc"), "privacy.gpc", True),
        redact_allowed=r.boolean(pv.get("redact_allowed"), "privacy.redact_allowed", True),
        header_hygiene=r.boolean(pv.get("header_hygiene"), "privacy.header_hygiene", True),
    )
    cn = r.mapping(top.get("cname"), "cname", ("enabled", "nameservers"))
    cname = CnameConfig(
        enabled=r.boolean(cn.get("enabled"), "cname.enabled", True),
        nameservers=_nameservers(r, cn.get("nameservers")),
    )
    tn = r.mapping(top.get("tls"), "tls", ("passthrough", "learn", "refuse_blocked"))
    tls = TlsConfig(
        passthrough=_domains(r, tn.get("passthrough")),
        learn=r.boolean(tn.get("learn"), "tls.learn", True),
        refuse_blocked=r.boolean(tn.get("refuse_blocked"), "tls.refuse_blocked", True),
    )
    idn = r.mapping(top.get("identity"), "identity", ("emails", "phones", "country"))
    country = r.string(idn.get("country"), "identity.country", "", nullable=True) or ""
    if country and not country.lstrip("+").isdigit():
        raise r.fail(
            idn.get("country"), "identity.country", f'is a calling code such as "49", got {country!r}'
        )
    identity = IdentityConfig(
        emails=_strings(r, idn.get("emails"), "identity.emails", "email addresses"),
        phones=_strings(r, idn.get("phones"), "identity.phones", "phone numbers"),
        country=country.lstrip("+"),
    )

    return Config(
        proxy=ProxyConfig(host=host, port=port, mode=mode, auth=auth, workers=workers, upstream=upstream),
        database=database,
        lists=lists,
        user_list=user_list,
        learned_list=learned_list,
        pixels=pixels,
        log=log,
        privacy=privacy,
        cname=cname,
        tls=tls,
        identity=identity,
        default_lists=with_defaults,
        data_dir=data,
        cache_dir=cache,
        source=path,
        origins=r.origins,
    )


_DOMAIN = re.compile(r"(?:[a-z0-9_-]+\.)*[a-z0-9-]+\Z")


def _items(r: _Reader, node: yaml.Node | None, key: str, what: str) -> list[yaml.Node]:
    """The entries of a list-valued key (none when absent or null); anything but a list is an error."""
    r.note(key, node)
    if node is None or _is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise r.fail(node, key, f"must be a list of {what}, got {_describe(node)}")
    return node.value


def _domains(r: _Reader, node: yaml.Node | None) -> tuple[str, ...]:
    out = []
    for item in _items(r, node, "tls.passthrough", "domains"):
        value = _scalar(item)
        if not isinstance(value, str) or not _DOMAIN.match(normal_host(value.strip())):
            raise r.fail(item, "tls.passthrough", f"entries are domains (bank.example), got {_show(item)}")
        out.append(normal_host(value.strip()))
    return tuple(out)


def _strings(r: _Reader, node: yaml.Node | None, key: str, what: str) -> tuple[str, ...]:
    out = []
    for item in _items(r, node, key, what):
        value = _scalar(item)
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            raise r.fail(item, key, f"entries are {what}, got {_show(item)}")
        out.append(str(value).strip())
    return tuple(out)


def _nameservers(r: _Reader, node: yaml.Node | None) -> tuple[str, ...]:
    from pixelguard.cname import parse_nameserver

    out = []
    for item in _items(r, node, "cname.nameservers", "addresses"):
        value = _scalar(item)
        try:
            parse_nameserver(str(value)) if isinstance(value, str) else parse_nameserver("")
        except ValueError:
            raise r.fail(
                item, "cname.nameservers", f'entries are "IP" or "IP:PORT", got {_show(item)}'
            ) from None
        out.append(str(value))
    return tuple(out)


def _lists(
    r: _Reader, node: yaml.Node | None, data: Path, with_defaults: bool = True
) -> tuple[ListSpec, ...]:
    """The lists in effect: the defaults (unless ``default_lists: false``), then each entry of ``lists:``. An entry
    naming a default list changes it in its place: with ``path``/``url`` it replaces it, with only ``enabled`` it
    switches it; any other entry is added after them."""
    defaults = {spec.name: spec for spec in default_lists(data)}
    specs: dict[str, ListSpec] = dict(defaults) if with_defaults else {}
    r.note("lists", node)
    if node is None or _is_null(node):
        return tuple(specs.values())
    if not isinstance(node, yaml.SequenceNode):
        raise r.fail(node, "lists", f"must be a list of {{name, path | url}} entries, got {_describe(node)}")
    bundled = bundled_filters_dir()
    seen: set[str] = set()
    for i, item in enumerate(node.value):
        key = f"lists[{i}]"
        m = r.mapping(item, key, ("name", "path", "url", "enabled"))
        if not m:
            raise r.fail(item, key, "must be a mapping with a name and a path or url")
        name = r.string(m.get("name"), f"{key}.name", None)
        if name is None:
            raise r.fail(item, f"{key}.name", "is missing")
        if not LIST_NAME.match(name):
            raise r.fail(m["name"], f"{key}.name", f"must be letters, digits, '.', '_' or '-', got {name!r}")
        if name in RESERVED_LIST_NAMES:
            raise r.fail(m["name"], f"{key}.name", f"{name!r} is reserved for pixelguard's own {name} list")
        if name in seen:
            raise r.fail(m["name"], f"{key}.name", f"{name!r} is used by an earlier list")
        seen.add(name)
        has_path, has_url = "path" in m, "url" in m
        if has_path and has_url:
            raise r.fail(item, key, "needs exactly one of path or url")
        if not has_path and not has_url:
            if name not in defaults:
                known = ", ".join(defaults)
                raise r.fail(item, key, f"needs a path or url ({name!r} is not a default list: {known})")
            enabled = r.boolean(m.get("enabled"), f"{key}.enabled", defaults[name].enabled)
            specs[name] = dataclasses.replace(defaults[name], enabled=enabled)
            continue
        enabled = r.boolean(m.get("enabled"), f"{key}.enabled", True)
        if has_url:
            url = r.string(m["url"], f"{key}.url", None)
            if not re.match(r"^https?://[^/\s]+", url):
                raise r.fail(m["url"], f"{key}.url", f"must be an http(s) URL, got {url!r}")
            specs[name] = ListSpec(name, data / "lists" / f"{name}.txt", url=url, enabled=enabled)
            continue
        raw = r.string(m["path"], f"{key}.path", None)
        if raw == "bundled":
            file = bundled / f"{name}.txt"
            if name in BUNDLED_NOT_FILTERS:
                raise r.fail(
                    m["name"],
                    f"{key}.name",
                    f"is bundled, but not a filter list: {BUNDLED_NOT_FILTERS[name]}",
                )
            if not file.is_file():
                available = ", ".join(
                    sorted(p.stem for p in bundled.glob("*.txt") if p.stem not in BUNDLED_NOT_FILTERS)
                )
                raise r.fail(m["name"], f"{key}.name", f"is not a bundled list (bundled: {available})")
            specs[name] = ListSpec(name, file, enabled=enabled, bundled=True)
        else:
            specs[name] = ListSpec(name, r.filepath(m["path"], f"{key}.path", Path()), enabled=enabled)
    return tuple(specs.values())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Config fields that are worked out, not set in the file.
DERIVED = ("data_dir", "cache_dir", "source", "origins")
# How a value shows in ``config show`` when not as itself: secrets and the user's identifiers never do.
_SHOWN: dict[str, Callable[[Any], str]] = {
    "proxy.auth": lambda v: "(set)" if v else "null",
    "proxy.upstream": lambda v: f"{v.url}{' (with a login)' if v.auth else ''}" if v else "null",
    "identity.emails": lambda v: f"{len(v)} set",  # how many, never which
    "identity.phones": lambda v: f"{len(v)} set",
    "identity.country": lambda v: "(set)" if v else "(none)",
    "tls.passthrough": lambda v: ", ".join(v) or "(bundled list only)",
    "cname.nameservers": lambda v: ", ".join(v) or "(system)",
}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def json_value(key: str, value: Any) -> Any:
    """A key's value as ``config show --json`` gives it: numbers, booleans and null as themselves, lists as
    lists, paths as text; a secret or an identifier as its shown form (never the value)."""
    if value is None:
        return None
    if key in _SHOWN:
        return _SHOWN[key](value)
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return [json_value("", v) for v in value]
    return str(value)


def describe(cfg: Config) -> list[tuple[str, str, Any, str]]:
    """(key, shown value, JSON value, origin) rows for ``pixelguard config show``: every key of Config, in its
    order."""
    o = cfg.origins
    rows: list[tuple[str, str, Any, str]] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in DERIVED:
            continue
        if f.name == "lists":
            for i, spec in enumerate(value):
                source = spec.url or ("bundled" if spec.bundled else str(spec.file))
                state = "enabled" if spec.enabled else "disabled"
                shown = f"{spec.name}: {source} ({state})"
                as_json = {"name": spec.name, "source": source, "enabled": spec.enabled}
                rows.append((f"lists[{i}]", shown, as_json, o.get("lists", "default")))
            continue
        parts = (
            [(f"{f.name}.{sub.name}", getattr(value, sub.name)) for sub in dataclasses.fields(value)]
            if dataclasses.is_dataclass(value)
            else [(f.name, value)]
        )
        for key, v in parts:
            rows.append((key, _SHOWN.get(key, _shown)(v), json_value(key, v), o.get(key, "default")))
    return rows
