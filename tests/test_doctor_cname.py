"""``doctor`` on CNAME uncloaking: with no DNS server that answers, every lookup fails open and trackers behind
first-party names pass without a word, so doctor names it with its fix. Against real DNS servers on 127.0.0.1
(tests/dns_server.py) and a UDP socket that never answers; the system's resolvers are never asked."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest
from dns_server import DnsServer
from helpers import write_config

from pixelguard import cname, doctor
from pixelguard import config as configmod
from pixelguard.config import CnameConfig


@pytest.fixture
def silent() -> Iterator[str]:
    """A nameserver that never answers (a VPN's resolver after the VPN went down)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def _finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **cname_cfg: object) -> doctor.Finding:
    monkeypatch.delenv(cname.NO_CNAME_ENV, raising=False)
    cfg = configmod.load(write_config(tmp_path / "home", {"t": "||tracker.test^\n"}))
    return doctor.check_cname(dataclasses.replace(cfg, cname=CnameConfig(**cname_cfg)))  # type: ignore[arg-type]


def test_a_nameserver_that_answers_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with DnsServer({}) as dns_server:
        f = _finding(tmp_path, monkeypatch, nameservers=(f"127.0.0.1:{dns_server.port}",))
        # What it asked tells the resolver nothing of what the user visits (.invalid, RFC 6761).
        assert dns_server.asked == [cname.PROBE_NAME]
    assert f.ok and f.detail == f"uncloaking asks 127.0.0.1:{dns_server.port}"


def test_no_nameserver_that_answers_is_a_problem_with_its_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent: str
) -> None:
    f = _finding(tmp_path, monkeypatch, nameservers=(silent,))
    assert not f.ok
    assert f"{silent}: no answer in 1 s" in f.detail and "trackers behind first-party names pass" in f.detail
    assert "config path" in f.fix and "cname.nameservers" in f.fix


def test_a_quiet_nameserver_beside_one_that_answers_is_said_but_protection_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent: str
) -> None:
    with DnsServer({}) as dns_server:
        f = _finding(tmp_path, monkeypatch, nameservers=(silent, f"127.0.0.1:{dns_server.port}"))
    assert f.ok and f"{silent} did not answer" in f.detail


def test_no_nameserver_at_all_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(configure: bool) -> None:
        raise dns.resolver.NoResolverConfiguration("no /etc/resolv.conf")

    monkeypatch.setattr(cname.dns.resolver, "Resolver", unreadable)
    f = _finding(tmp_path, monkeypatch)
    assert not f.ok and "no DNS server to ask" in f.detail and "cname.nameservers" in f.fix


def test_uncloaking_switched_off_is_said_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = _finding(tmp_path, monkeypatch, enabled=False, nameservers=("127.0.0.1:9",))
    assert f.ok and "uncloaking is off (cname.enabled: false)" in f.detail
    monkeypatch.setenv(cname.NO_CNAME_ENV, "1")
    cfg = configmod.load(write_config(tmp_path / "home", {"t": "||tracker.test^\n"}))
    f = doctor.check_cname(cfg)
    assert f.ok and f.detail == f"uncloaking is off ({cname.NO_CNAME_ENV}=1 in the environment)"


def test_what_the_running_proxy_sees_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The proxy may run as a service with other DNS settings than the shell doctor runs in: its own word counts.
    import time

    from pixelguard import dns_health, running

    with DnsServer({}) as dns_server:
        cfg = configmod.load(write_config(tmp_path / "home", {"t": "||tracker.test^\n"}))
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        running.announce(
            cfg.data_dir, "127.0.0.1:1", "full", tmp_path / "ca.pem"
        )  # this process as the proxy
        watch = dns_health.Watch(cfg.data_dir)  # the proxy's, fed by its lookups
        for _ in range(dns_health.SILENT_AFTER):
            watch.unanswered()
        monkeypatch.delenv(cname.NO_CNAME_ENV, raising=False)
        f = doctor.check_cname(
            dataclasses.replace(cfg, cname=CnameConfig(nameservers=(f"127.0.0.1:{dns_server.port}",)))
        )
        assert not f.ok and "the running proxy's lookups get no answer since" in f.detail
        assert time.strftime("%Y-%m-%d") in f.detail and "cname.nameservers" in f.fix
        watch.answered()  # an answer: the doctor's own probe speaks again
        f = doctor.check_cname(
            dataclasses.replace(cfg, cname=CnameConfig(nameservers=(f"127.0.0.1:{dns_server.port}",)))
        )
        assert f.ok, f.detail
