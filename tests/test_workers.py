"""`pixelguard run --workers N`, the parts that need no process: the checks before anything starts, the
config key, the helper's environment, and the learned-TLS file that several workers write."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pixelguard import config, running, tls_policy
from pixelguard.errors import ConfigError, PixelguardError
from pixelguard.limits import MAX_WORKERS, TLS_LEARN_AFTER
from pixelguard.proxy import workers


def learn(policy: tls_policy.Policy, client: str, host: str) -> None:
    for _ in range(TLS_LEARN_AFTER):
        policy.refused(client, host)


def test_a_worker_keeps_what_another_learned(tmp_path: Path) -> None:
    # Two workers, each with its own copy of the file read at start; each learns a host before it looks at the
    # file again (it looks at most once a second). The file must end with both.
    a = tls_policy.Policy((), tmp_path)
    b = tls_policy.Policy((), tmp_path)
    learn(a, "127.0.0.1", "pinned-one.example")
    learn(b, "127.0.0.1", "pinned-two.example")
    assert {e.host for e in tls_policy.learned_entries(tmp_path)} == {
        "pinned-one.example",
        "pinned-two.example",
    }


def test_a_forgotten_host_stays_forgotten_when_a_worker_writes(tmp_path: Path) -> None:
    a = tls_policy.Policy((), tmp_path)
    learn(a, "127.0.0.1", "pinned-one.example")
    b = tls_policy.Policy((), tmp_path)  # has read pinned-one
    assert tls_policy.forget(tmp_path, "pinned-one.example") == 1
    learn(b, "127.0.0.1", "pinned-two.example")  # writes before following the file
    assert {e.host for e in tls_policy.learned_entries(tmp_path)} == {"pinned-two.example"}


@pytest.mark.parametrize("count", [0, -1, MAX_WORKERS + 1])
def test_a_worker_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(PixelguardError, match=f"--workers must be between 1 and {MAX_WORKERS}"):
        workers.check_count(count, ())


def test_one_worker_needs_nothing() -> None:
    workers.check_count(1, ("mode=socks5",))  # one process: every mode, every platform


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the mode check comes after the platform's")
def test_another_mitmproxy_mode_is_refused_with_workers() -> None:
    with pytest.raises(PixelguardError, match=r"--set mode=\.\.\. serves one process only"):
        workers.check_count(2, ("ssl_insecure=true", "mode=socks5"))
    workers.check_count(2, ("ssl_insecure=true",))


def test_workers_come_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("proxy:\n  workers: 4\n")
    assert config.load(path).proxy.workers == 4
    assert config.load(None).proxy.workers == 1
    path.write_text("proxy:\n  workers: 0\n")
    with pytest.raises(ConfigError, match=f"proxy.workers.*must be an integer 1-{MAX_WORKERS}, got 0"):
        config.load(path)


def test_a_helpers_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(workers.ENV, raising=False)
    assert workers.helper_spec() is None
    r, w = os.pipe()
    try:
        monkeypatch.setenv(workers.ENV, f"2:{r}")
        assert workers.helper_spec() == workers.HelperSpec(2, r)
    finally:
        os.close(r)
        os.close(w)
    for bad in ("x", "1:2:3", f"1:{r}"):  # not numbers, too many, a descriptor not open (closed above)
        monkeypatch.setenv(workers.ENV, bad)
        with pytest.raises(PixelguardError, match=f"{workers.ENV}=.* is not a worker pixelguard started"):
            workers.helper_spec()


def test_a_helper_is_started_with_the_parents_config_address_and_options() -> None:
    argv = workers.helper_argv("/c/config.yaml", "127.0.0.1", 8181, ("confdir=/d", "ssl_insecure=true"))
    assert argv[0] == sys.executable
    assert argv[1:] == [
        "-m", "pixelguard", "--config", "/c/config.yaml", "run", "--host", "127.0.0.1", "--port", "8181",
        "--set", "confdir=/d", "--set", "ssl_insecure=true",
    ]  # fmt: skip
    assert "--config" not in workers.helper_argv(None, "::1", 1, ())


def test_proxy_json_says_how_many_workers(tmp_path: Path) -> None:
    running.announce(tmp_path, "127.0.0.1:8080", "full", tmp_path / "ca.pem", 3)
    info = running.read(tmp_path)
    assert info is not None and info.workers == 3 and info.pid == os.getpid()
    (tmp_path / running.FILE).write_text(
        json.dumps({"listen": "127.0.0.1:1", "pid": os.getpid(), "workers": "many"})
    )
    assert running.read(tmp_path) is None  # a hand-edited file is ignored, not a crash
