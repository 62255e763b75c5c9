"""Configuration: where it is found, defaults, and that every mistake names file:line: key (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelguard import config
from pixelguard.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_missing_default_file_means_defaults(isolated_home: Path) -> None:
    cfg = config.load()
    assert cfg.source is None
    assert (cfg.proxy.host, cfg.proxy.port, cfg.proxy.mode, cfg.proxy.auth) == (
        "127.0.0.1",
        8080,
        "full",
        None,
    )
    assert cfg.database == isolated_home / "data" / "pixelguard" / "pixelguard.db"
    assert cfg.user_list == isolated_home / "config" / "pixelguard" / "user.txt"
    assert cfg.learned_list == isolated_home / "data" / "pixelguard" / "learned.txt"
    assert [s.name for s in cfg.enabled_lists()] == [
        "pixelguard-ads",
        "pixelguard-email",
        "pixelguard-params",
        "pixelguard-links",
        "easyprivacy",
    ]
    assert cfg.pixels == config.PixelsConfig(2, 2, 3)
    assert cfg.log.retention_days == 30
    assert set(cfg.origins.values()) == {"default"}


def test_precedence_explicit_over_env_over_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = config.config_dir() / "config.yaml"
    platform.parent.mkdir(parents=True)
    platform.write_text("proxy: {port: 1111}\n")
    assert config.load().proxy.port == 1111

    env = write(tmp_path, "proxy: {port: 2222}\n", "env.yaml")
    monkeypatch.setenv(config.ENV_VAR, str(env))
    assert config.load().proxy.port == 2222

    explicit = write(tmp_path, "proxy: {port: 3333}\n", "explicit.yaml")
    assert config.load(explicit).proxy.port == 3333
    assert config.locate(explicit) == explicit


def test_named_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.yaml")
    monkeypatch.setenv(config.ENV_VAR, str(tmp_path / "nope-env.yaml"))
    with pytest.raises(ConfigError, match=r"nope-env\.yaml: config file not found"):
        config.load()


def test_values_and_origins(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "proxy:\n"
        "  port: 9090\n"
        "  mode: hosts-only\n"
        "database: db/events.db\n"
        "lists:\n"
        "  - {name: mine, path: rules.txt}\n"
        "  - {name: pixelguard-ads, path: bundled, enabled: false}\n"
        "  - {name: easyprivacy, url: 'https://easylist.to/easylist/easyprivacy.txt'}\n"
        "pixels: {learn_after: 5}\n",
    )
    cfg = config.load(p)
    assert cfg.proxy.port == 9090 and cfg.proxy.mode == "hosts-only"
    assert cfg.database == tmp_path / "db" / "events.db"  # relative to the config file
    assert cfg.user_list == tmp_path / "user.txt"
    # The defaults stay, in their order, each changed where an entry names it; other entries come after.
    names = [s.name for s in cfg.lists]
    assert names == [
        "pixelguard-ads",
        "pixelguard-email",
        "pixelguard-params",
        "pixelguard-links",
        "easyprivacy",
        "easylist",
        "mine",
    ]
    by_name = {s.name: s for s in cfg.lists}
    mine, ads, ep = by_name["mine"], by_name["pixelguard-ads"], by_name["easyprivacy"]
    assert mine.file == tmp_path / "rules.txt" and not mine.bundled
    assert ads.bundled and not ads.enabled and ads.file.name == "pixelguard-ads.txt" and ads.file.is_file()
    assert ep.url and ep.file == cfg.data_dir / "lists" / "easyprivacy.txt"
    assert cfg.pixels.learn_after == 5 and cfg.pixels.max_width == 2
    assert (cfg.proxy.workers, cfg.pixels.max_height) == (1, 2)  # the defaults of the keys not given
    given = config.load(write(tmp_path, "proxy: {workers: 2}\npixels: {max_height: 3}\n"))
    assert (given.proxy.workers, given.pixels.max_height) == (2, 3)
    assert cfg.origins["proxy.port"] == f"{p}:2"
    assert cfg.origins["database"] == f"{p}:4"
    assert cfg.origins["proxy.host"] == "default"


def test_a_lists_section_adds_to_the_defaults_unless_told_otherwise(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("||mine.example^\n")
    added = config.load(write(tmp_path, "lists:\n  - {name: mine, path: mine.txt}\n"))
    assert [s.name for s in added.enabled_lists()] == [
        "pixelguard-ads", "pixelguard-email", "pixelguard-params", "pixelguard-links", "easyprivacy", "mine",
    ]  # fmt: skip
    # A default named with `enabled` alone switches it, in its place.
    switched = config.load(
        write(tmp_path, "lists:\n  - {name: easyprivacy, enabled: false}\n  - {name: easylist}\n")
    )
    assert {s.name: s.enabled for s in switched.lists}["easyprivacy"] is False
    assert {s.name: s.enabled for s in switched.lists}["easylist"] is False  # named alone: as it was
    only = config.load(write(tmp_path, "default_lists: false\nlists:\n  - {name: mine, path: mine.txt}\n"))
    assert [s.name for s in only.lists] == ["mine"]
    # The config shows which lists are in effect, and where that came from.
    rows = {k: v for k, v, *_ in config.describe(added)}
    assert rows["default_lists"] == "true"
    assert any(v.startswith("mine: ") and "(enabled)" in v for k, v in rows.items() if k.startswith("lists["))


def test_filter_files_are_enabled_existing_lists_then_user_and_learned(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("||a.example^\n")
    p = write(
        tmp_path,
        "default_lists: false\n"
        "lists:\n  - {name: a, path: a.txt}\n  - {name: b, path: b.txt}\n"
        "  - {name: c, path: a.txt, enabled: false}\n",
    )
    cfg = config.load(p)
    assert cfg.filter_files() == [tmp_path / "a.txt"]
    cfg.user_list.write_text("@@||a.example^\n")
    cfg.learned_list.parent.mkdir(parents=True, exist_ok=True)
    cfg.learned_list.write_text("||b.example^\n")
    assert cfg.filter_files() == [tmp_path / "a.txt", cfg.user_list, cfg.learned_list]


# Every validation path: (YAML, expected line, expected message fragment).
BAD = [
    ("proxy:\n  port: '80a'\n", 2, 'proxy.port must be an integer 1-65535, got "80a"'),
    ("proxy:\n  port: 0\n", 2, "proxy.port must be an integer 1-65535, got 0"),
    ("proxy:\n  port: 70000\n", 2, "proxy.port must be an integer 1-65535"),
    ("proxy:\n  port: true\n", 2, "proxy.port must be an integer"),
    ("proxy:\n  mode: sometimes\n", 2, "proxy.mode must be one of full, hosts-only, got 'sometimes'"),
    ("proxy:\n  host: 0.0.0.0\n", 2, "proxy.host is '0.0.0.0', which is not a loopback address"),
    ("proxy:\n  host: 192.168.1.4\n", 2, "Set proxy.auth"),
    ("proxy:\n  auth: nopassword\n", 2, 'proxy.auth must look like "user:password"'),
    ("proxy:\n  host: ''\n", 2, "proxy.host must be a non-empty string"),
    ("proxy:\n  hots: 1\n", 2, "proxy.hots is not a known key"),
    ("proxy: 8080\n", 1, "proxy must be a mapping, got 8080"),
    ("\n\nlog:\n  retention_days: -1\n", 4, "log.retention_days must be an integer 1-36500"),
    ("log:\n  keep: 3\n", 2, "log.keep is not a known key"),
    ("pixels:\n  max_width: big\n", 2, 'pixels.max_width must be an integer 1-100, got "big"'),
    ("pixels:\n  learn_after: 0\n", 2, "pixels.learn_after must be an integer 1-1000"),
    ("database: [a, b]\n", 1, "database must be a non-empty string, got a list"),
    ("user_list: 5\n", 1, "user_list must be a non-empty string, got 5"),
    ("colour: blue\n", 1, "colour is not a known key"),
    ("- a\n- b\n", 1, "top level must be a mapping, got a list"),
    ("lists: {a: 1}\n", 1, "lists must be a list"),
    ("lists:\n  - just-a-name\n", 2, 'lists[0] must be a mapping, got "just-a-name"'),
    ("lists:\n  - {path: x.txt}\n", 2, "lists[0].name is missing"),
    ("lists:\n  - {name: 'bad name', path: x.txt}\n", 2, "lists[0].name must be letters"),
    ("lists:\n  - {name: user, path: x.txt}\n", 2, "'user' is reserved"),
    ("lists:\n  - {name: a}\n", 2, "lists[0] needs a path or url ('a' is not a default list"),
    ("default_lists: 'no'\n", 1, 'default_lists must be true or false, got "no"'),
    ("lists:\n  - {name: a, path: x, url: 'http://a/b'}\n", 2, "lists[0] needs exactly one of path or url"),
    ("lists:\n  - {name: a, url: 'ftp://a/b'}\n", 2, "lists[0].url must be an http(s) URL"),
    (
        "lists:\n  - {name: a, path: x}\n  - {name: a, path: y}\n",
        3,
        "lists[1].name 'a' is used by an earlier",
    ),
    (
        "lists:\n  - {name: nosuch, path: bundled}\n",
        2,
        "lists[0].name is not a bundled list (bundled: pixelguard-ads, pixelguard-email, pixelguard-links, "
        "pixelguard-params)",
    ),
    # bundled files that are no filter lists: loaded as one, the banks of tls-passthrough would be blocked
    (
        "lists:\n  - {name: tls-passthrough, path: bundled}\n",
        2,
        "is bundled, but not a filter list: the hosts",
    ),
    ("lists:\n  - {name: pixelguard-clicks, path: bundled}\n", 2, "is bundled, but not a filter list: mail"),
    ("lists:\n  - {name: a, path: x, enabled: maybe}\n", 2, "lists[0].enabled must be true or false"),
    ("lists:\n  - {name: a, path: x, colour: red}\n", 2, "lists[0].colour is not a known key"),
    ("proxy:\n  port: 1\n  port: 2\n", 3, "proxy.port is given twice"),
    # the list-valued keys: the value must be a list, and each entry of its kind
    (
        "tls:\n  passthrough: bank.example\n",
        2,
        'tls.passthrough must be a list of domains, got "bank.example"',
    ),
    ("tls:\n  passthrough:\n    - ok.example\n    - 3\n", 4, "tls.passthrough entries are domains"),
    ("cname:\n  nameservers: 1.1.1.1\n", 2, 'cname.nameservers must be a list of addresses, got "1.1.1.1"'),
    ("cname:\n  nameservers: [nope]\n", 2, 'cname.nameservers entries are "IP" or "IP:PORT", got "nope"'),
    ("identity:\n  emails: me@example.com\n", 2, "identity.emails must be a list of email addresses"),
    ("identity:\n  phones: ['']\n", 2, 'identity.phones entries are phone numbers, got ""'),
    ("proxy:\n  upstream: proxy.example:3128\n", 2, "proxy.upstream must start with http:// or https://"),
    ("proxy:\n  upstream: 'socks5://u:pw@proxy.example:1080'\n", 2, "got socks5"),
    (
        "proxy:\n  upstream: 'http://proxy.example'\n",
        2,
        "needs the proxy's port, such as http://proxy.example:3128",
    ),
    ("proxy:\n  upstream: 'http://proxy.example:0'\n", 2, "needs the proxy's port"),
    ("proxy:\n  upstream: 'http://u:pw@proxy.example:99999'\n", 2, "is not a proxy's URL"),
    ("proxy:\n  upstream: 'http://proxy.example:3128/path'\n", 2, "nothing may follow its port"),
    ("proxy:\n  upstream: 'http://:3128'\n", 2, "proxy.upstream names no host"),
    ("proxy:\n  upstream: [a]\n", 2, "proxy.upstream must be a non-empty string"),
    # what mutation testing found unnamed (scripts/mutate --group settings)
    ("proxy:\n  mode: [full]\n", 2, "proxy.mode must be a non-empty string"),
    ("proxy:\n  workers: 0\n", 2, "proxy.workers must be an integer 1-"),
    ("pixels:\n  max_height: 0\n", 2, "pixels.max_height must be an integer 1-100, got 0"),
    ("cname:\n  enabled: sometimes\n", 2, 'cname.enabled must be true or false, got "sometimes"'),
    ("lists:\n  - {name: a, path: [x]}\n", 2, "lists[0].path must be a non-empty string"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD)
def test_every_mistake_names_file_line_and_key(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(p)
    message = str(err.value)
    assert message.startswith(f"{p}:{line}: "), message
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "line"),
    [("proxy: [\n", 2), ("proxy:\n  port: 1\n bad indent\n", 3), ("a: b: c\n", 1), ("x: 'unclosed\n", 2)],
)
def test_broken_yaml_reports_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(p)
    assert str(err.value).startswith(f"{p}:{line}: invalid YAML"), str(err.value)


def test_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_bytes(b"proxy:\n  host: \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        config.load(p)


def test_auth_allows_non_loopback_and_empty_file_is_defaults(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "proxy: {host: 0.0.0.0, auth: 'me:secret'}\n"))
    assert cfg.proxy.host == "0.0.0.0" and cfg.proxy.auth == "me:secret"
    assert config.load(write(tmp_path, "", "empty.yaml")).proxy.port == 8080
    assert config.load(write(tmp_path, "proxy:\nlog:\n", "nulls.yaml")).log.retention_days == 30


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_hosts_need_no_auth(tmp_path: Path, host: str) -> None:
    assert config.load(write(tmp_path, f"proxy: {{host: '{host}'}}\n")).proxy.host == host


@pytest.mark.parametrize(
    ("value", "url", "auth"),
    [
        ("http://proxy.example:3128", "http://proxy.example:3128", None),
        ("https://Proxy.Example:443/", "https://proxy.example:443", None),
        ("http://[2001:db8::8]:8080", "http://[2001:db8::8]:8080", None),
        ("http://me:p%40ss%3Aword@10.0.0.1:8080", "http://10.0.0.1:8080", "me:p@ss:word"),
        ("http://me@proxy.example:3128", "http://proxy.example:3128", "me:"),
    ],
)
def test_an_upstream_proxy_is_its_url_and_its_login_apart(
    tmp_path: Path, value: str, url: str, auth: str | None
) -> None:
    upstream = config.load(write(tmp_path, f"proxy: {{upstream: '{value}'}}\n")).proxy.upstream
    assert upstream is not None and (upstream.url, upstream.auth) == (url, auth)
    assert config.load(write(tmp_path, "proxy: {upstream: null}\n", "none.yaml")).proxy.upstream is None


def test_a_mistaken_upstream_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        config.load(write(tmp_path, 'proxy: {upstream: "http://evil\\eMx.example"}\n'))
    assert "\x1b" not in str(err.value) and "needs the proxy's port" in str(err.value)


def test_a_mistaken_upstream_never_shows_its_password(tmp_path: Path) -> None:
    for value in ("socks5://me:hunter2@proxy.example:1080", "http://me:hunter2@proxy.example:99999",
                  "http://me:hunter2@proxy.example", "http://me:hunter2@proxy.example:1/x", "me:hunter2@x"):  # fmt: skip
        with pytest.raises(ConfigError) as err:
            config.load(write(tmp_path, f"proxy: {{upstream: '{value}'}}\n"))
        assert "hunter2" not in str(err.value), str(err.value)


def test_config_show_has_every_key_once_and_no_secret(tmp_path: Path) -> None:
    import dataclasses

    path = write(
        tmp_path,
        'proxy: {host: 127.0.0.1, port: 8181, auth: "me:hunter2", upstream: "http://me:hunter3@corp.example:3128"}\n'
        "identity: {emails: [me@example.com], phones: ['+49 170 1234567'], country: '49'}\n"
        "pixels: {learn_after: 5}\n",
    )
    cfg = config.load(path)
    rows = config.describe(cfg)
    keys = [k for k, *_ in rows if not k.startswith("lists[")]
    expected = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in config.DERIVED or f.name == "lists":
            continue
        if dataclasses.is_dataclass(value):
            expected += [f"{f.name}.{sub.name}" for sub in dataclasses.fields(value)]
        else:
            expected.append(f.name)
    assert keys == expected  # generated from the dataclasses: a new key cannot be forgotten here
    shown = {k: (v, origin) for k, v, _, origin in rows}
    assert shown["proxy.port"] == ("8181", f"{path}:1")
    assert shown["pixels.learn_after"][0] == "5" and shown["pixels.max_width"] == ("2", "default")
    values = " ".join(v for _, v, _, _ in rows) + " " + json.dumps([j for _, _, j, _ in rows])
    assert "hunter2" not in values and "me@example.com" not in values and "1234567" not in values
    assert "hunter3" not in values and shown["proxy.upstream"][0] == "http://corp.example:3128 (with a login)"
    assert shown["proxy.auth"][0] == "(set)" and shown["identity.emails"][0] == "1 set"
