"""tls_policy.py without a proxy: what is passed through undecrypted and why, and learning that a flood cannot
poison (a host is learned only after TLS_LEARN_AFTER refusals in a row, per client, never one a list names; both
tables bounded). tests/e2e/test_protection_holds.py drives the same through a real proxy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pixelguard import tls_policy
from pixelguard.limits import TLS_LEARN_AFTER
from pixelguard.tls_policy import Policy, forget, learned_entries, refusal_kind


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            "Client TLS handshake failed. The client does not trust the proxy's certificate (tlsv1 alert unknown ca)",
            "alert",
        ),
        ("sslv3 alert bad certificate", "alert"),
        ("SSL alert: certificate unknown", "alert"),
        ("Client disconnected during the handshake.", "closed"),
        ("Cannot parse ClientHello: garbage", None),  # refused nothing: it never got to a certificate
        ("unsupported protocol", None),
        ("", None),
        (None, None),
    ],
)
def test_only_a_refused_certificate_counts_as_a_refusal(error: str | None, kind: str | None) -> None:
    assert refusal_kind(error) == kind


def _refuse(policy: Policy, client: str, host: str, times: int) -> list[object]:
    return [policy.refused(client, host) for _ in range(times)]


def test_a_host_is_learned_after_refusals_in_a_row_for_its_client_only(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    policy = Policy((), tmp_path, clock=lambda: now[0])
    made = _refuse(policy, "10.0.0.2", "Pinned.Example.", TLS_LEARN_AFTER)
    assert made[:-1] == [None] * (TLS_LEARN_AFTER - 1) and made[-1] is not None  # the last refusal learns it
    assert policy.passthrough("pinned.example", "10.0.0.2")
    assert policy.passthrough("api.pinned.example", "10.0.0.2")  # a name covers its subdomains
    assert not policy.passthrough("pinned.example", "10.0.0.3")  # another client still gets it decrypted
    why = policy.why("pinned.example", "10.0.0.2")
    assert why is not None and f"refused pixelguard's certificate {TLS_LEARN_AFTER} times" in why
    assert "tls forget pinned.example" in why
    # Kept in the data dir for the next start, private to the user.
    assert [(e.client, e.host) for e in learned_entries(tmp_path)] == [("10.0.0.2", "pinned.example")]
    assert Policy((), tmp_path).passthrough("pinned.example", "10.0.0.2")
    assert os.stat(tmp_path / tls_policy.LEARNED_FILE).st_mode & 0o077 == 0
    assert forget(tmp_path, "pinned.example") == 1 and learned_entries(tmp_path) == []


def test_a_completed_handshake_starts_the_count_again(tmp_path: Path) -> None:
    policy = Policy((), tmp_path)
    _refuse(policy, "c", "flaky.example", TLS_LEARN_AFTER - 1)
    policy.succeeded("c", "flaky.example")  # a browser's aborted spare connection, not a pinning app
    assert _refuse(policy, "c", "flaky.example", TLS_LEARN_AFTER - 1) == [None] * (TLS_LEARN_AFTER - 1)
    assert not policy.passthrough("flaky.example", "c")
    assert policy.refused("c", "flaky.example") is not None


def test_what_is_never_learned(tmp_path: Path) -> None:
    listed = Policy((), tmp_path, named_by_lists=lambda host: host == "tracker.example")
    assert _refuse(listed, "c", "tracker.example", 3 * TLS_LEARN_AFTER) == [None] * (3 * TLS_LEARN_AFTER)
    assert not listed.passthrough("tracker.example", "c")  # a host the lists know stays decrypted
    off = Policy((), tmp_path, learn=False)
    assert _refuse(off, "c", "pinned.example", 3 * TLS_LEARN_AFTER) == [None] * (3 * TLS_LEARN_AFTER)
    unknown = Policy((), tmp_path)
    assert [unknown.refused("c", "pinned.example", kind=None) for _ in range(3 * TLS_LEARN_AFTER)] == [
        None
    ] * (3 * TLS_LEARN_AFTER)  # failures that say nothing about the certificate
    assert unknown.refused("", "pinned.example") is None and unknown.refused("c", "") is None
    assert learned_entries(tmp_path) == []


def test_a_list_that_starts_naming_a_learned_host_takes_it_back(tmp_path: Path) -> None:
    named: set[str] = set()
    policy = Policy((), tmp_path, named_by_lists=lambda host: host in named)
    _refuse(policy, "c", "pinned.example", TLS_LEARN_AFTER)
    assert policy.passthrough("pinned.example", "c")
    named.add("pinned.example")  # a list update names it
    assert not policy.passthrough("pinned.example", "c")


def test_the_bundled_list_and_the_config_cover_subdomains_and_say_so(tmp_path: Path) -> None:
    bank = tls_policy.bundled()[0]
    policy = Policy(("Intranet.Example",), tmp_path)
    assert policy.why(f"login.{bank}") == f"{bank} is on the bundled list of sensitive sites"
    assert policy.why("hr.intranet.example") == "intranet.example is in tls.passthrough in the config"
    assert policy.why("notintranet.example") is None and policy.why("") is None


def test_a_flood_of_junk_hosts_fills_bounded_tables_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tls_policy, "TLS_CANDIDATES", 50)
    monkeypatch.setattr(tls_policy, "TLS_LEARNED", 5)
    policy = Policy((), tmp_path)
    for n in range(500):  # refused once each: candidates, never learned
        policy.refused("c", f"junk{n}.example")
        assert policy.candidates() <= 50
    assert learned_entries(tmp_path) == []
    now = [1_700_000_000.0]
    policy = Policy((), tmp_path, clock=lambda: now[0])
    for n in range(5):
        now[0] += 1
        _refuse(policy, "c", f"pinned{n}.example", TLS_LEARN_AFTER)
    now[0] += 1
    assert policy.passthrough("pinned0.example", "c")  # used: no longer the least recently used
    now[0] += 1
    _refuse(policy, "c", "pinned5.example", TLS_LEARN_AFTER)  # a sixth: the least recently used one goes
    assert {e.host for e in learned_entries(tmp_path)} == {
        "pinned0.example", "pinned2.example", "pinned3.example", "pinned4.example", "pinned5.example",
    }  # fmt: skip


def test_a_learned_file_that_is_broken_or_old_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    path = tmp_path / tls_policy.LEARNED_FILE
    path.write_text("{not json")
    assert learned_entries(tmp_path) == []
    # The older form, {client: [host, ...]}, and rows with fields missing or wrong.
    path.write_text(json.dumps({"10.0.0.2": ["Old.Example"], "10.0.0.3": "not a list"}))
    assert [(e.client, e.host) for e in learned_entries(tmp_path)] == [("10.0.0.2", "old.example")]
    path.write_text(json.dumps({"version": 2, "learned": [{"client": "c", "host": "a.example", "last": 5},
                                                          {"host": "no-client.example"}, "junk",
                                                          {"client": "c", "host": "b.example", "since": "x"}]}))  # fmt: skip
    assert [(e.client, e.host) for e in learned_entries(tmp_path)] == [("c", "a.example")]


def test_what_is_learned_is_kept_with_its_times_and_its_use_written_at_most_hourly(tmp_path: Path) -> None:
    import time

    now = [1_700_000_000.0]
    policy = Policy((), tmp_path, clock=lambda: now[0])
    _refuse(policy, "c", "pinned.example", TLS_LEARN_AFTER)
    (entry,) = learned_entries(tmp_path)
    assert (entry.since, entry.last, entry.refusals) == (now[0], now[0], TLS_LEARN_AFTER)
    why = policy.why("pinned.example", "c")
    assert why is not None and f"since {time.strftime('%Y-%m-%d %H:%M', time.localtime(now[0]))}:" in why
    now[0] += 600
    policy.why("pinned.example", "c")
    assert learned_entries(tmp_path)[0].last == now[0] - 600  # used, but not written yet: once an hour
    now[0] += tls_policy.TOUCH_WRITE_S
    policy.why("pinned.example", "c")
    assert learned_entries(tmp_path)[0].last == now[0]
    # Read back by a new process: the same entry, the same times.
    (again,) = Policy((), tmp_path).learned()
    assert (again.since, again.last, again.refusals) == (entry.since, now[0], TLS_LEARN_AFTER)


def test_forget_takes_one_clients_entry_or_all_and_a_running_policy_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = [1000.0]
    monkeypatch.setattr(tls_policy.time, "monotonic", lambda: ticks[0])
    policy = Policy((), tmp_path)
    for client in ("a", "b", "c"):
        _refuse(policy, client, "pinned.example", TLS_LEARN_AFTER)
    assert forget(tmp_path, "Pinned.Example", client="b") == 1
    assert {e.client for e in learned_entries(tmp_path)} == {"a", "c"}
    assert policy.passthrough("pinned.example", "b")  # the file is looked at once a second, not at every use
    ticks[0] += 1.5
    assert not policy.passthrough("pinned.example", "b") and policy.passthrough("pinned.example", "a")
    assert forget(tmp_path, "pinned.example") == 2
    ticks[0] += 1.5
    assert not policy.passthrough("pinned.example", "a") and not policy.learned()


def test_the_oldest_refusal_count_is_the_one_a_full_table_forgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tls_policy, "TLS_CANDIDATES", 3)
    policy = Policy((), tmp_path)
    _refuse(policy, "c", "pinned.example", TLS_LEARN_AFTER - 1)  # one refusal short of learned
    for n in range(3):
        policy.refused("c", f"junk{n}.example")  # the table overflows: the oldest count goes
    assert policy.candidates() == 3
    assert policy.refused("c", "pinned.example") is None  # counting starts again
    assert not policy.passthrough("pinned.example", "c")


def test_a_learned_host_from_the_older_file_form_is_passed_through(tmp_path: Path) -> None:
    (tmp_path / tls_policy.LEARNED_FILE).write_text(json.dumps({"10.0.0.2": ["Old.Example"]}))
    assert Policy((), tmp_path).passthrough("www.old.example", "10.0.0.2")
