"""Company and category of tracker hosts, from the compiled third-party-web table."""

from __future__ import annotations

import json

import pytest

from pixelguard import entities


@pytest.mark.parametrize(
    ("host", "company", "category"),
    [
        ("www.google-analytics.com", "Google", "analytics"),
        ("stats.g.doubleclick.net", "Google", "ad"),  # listed as *.doubleclick.net
        ("doubleclick.net", "Google", "ad"),
        ("CONNECT.FACEBOOK.NET.", "Facebook", "social"),  # case and trailing dot
        ("bat.bing.com", "Bing Ads", "ad"),  # no company field: the entity name,
    ],
)
def test_lookup_walks_host_suffixes(host: str, company: str, category: str) -> None:
    hit = entities.lookup(host)
    assert hit is not None
    assert (hit.company, hit.category) == (company, category)


@pytest.mark.parametrize("host", ["", "example.invalid", "notdoubleclick.net", "com"])
def test_unknown_hosts_have_no_entity(host: str) -> None:
    assert entities.lookup(host) is None


def test_data_file_names_source_and_licence() -> None:
    raw = json.loads(entities.DATA_FILE.read_text(encoding="utf-8"))
    assert "third-party-web" in raw["_source"] and raw["_license"].startswith("MIT")
    assert len(raw["domains"]) > 2000
