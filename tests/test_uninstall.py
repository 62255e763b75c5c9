"""`pixelguard uninstall` (issue 28): undoes the trust in the CA, the service and the system proxy setting, and with
--data the history and caches; --dry-run changes nothing; the user's config and rules stay. In a throwaway HOME
with a real NSS database (Debian's certutil)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pixelguard import running, trust
from pixelguard.cli import cli

needs_certutil = pytest.mark.skipif(
    shutil.which("certutil") is None, reason="certutil (libnss3-tools) is not installed"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    for var, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                     ("XDG_CACHE_HOME", ".cache")):  # fmt: skip
        monkeypatch.setenv(var, str(h / sub))
    monkeypatch.setenv("PIXELGUARD_CONFDIR", str(tmp_path / "mitmproxy"))
    monkeypatch.delenv("PIXELGUARD_CONFIG", raising=False)
    monkeypatch.setenv("GSETTINGS_BACKEND", "memory")  # no desktop setting is read or changed
    (h / ".config" / "pixelguard").mkdir(parents=True)
    (h / ".config" / "pixelguard" / "config.yaml").write_text("default_lists: false\nlists: []\n")
    return h


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), prog_name="pixelguard")


def _listing(db: Path) -> str:
    return subprocess.run(
        ["certutil", "-L", "-d", f"sql:{db}"], capture_output=True, text=True, check=True
    ).stdout


@needs_certutil
def test_uninstall_undoes_the_trust_and_with_data_the_data_and_keeps_the_users_files(home: Path) -> None:
    assert invoke("ca", "install", "--store", "nss").exit_code == 0
    nssdb = home / ".pki" / "nssdb"
    assert trust.NICKNAME in _listing(nssdb)
    data = home / ".local" / "share" / "pixelguard"
    (data / "lists").mkdir(parents=True, exist_ok=True)
    (data / "lists" / "easyprivacy.txt").write_text("||t.example^\n")
    (data / "pixelguard.db").write_bytes(b"history")
    cache = home / ".cache" / "pixelguard"
    cache.mkdir(parents=True)
    config = home / ".config" / "pixelguard" / "config.yaml"

    dry = invoke("uninstall", "--data", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete" in dry.output and trust.NICKNAME in _listing(nssdb) and data.exists()

    r = invoke("uninstall", "--data")
    assert r.exit_code == 0, r.output
    assert "service: none installed" in r.output and "system proxy: pixelguard never set it" in r.output
    assert trust.NICKNAME not in _listing(nssdb)
    assert not data.exists() and not cache.exists()
    assert config.exists() and "left in place: your config" in r.output


def test_data_is_not_deleted_under_a_running_proxy_nor_outside_its_own_directory(
    home: Path, tmp_path: Path
) -> None:
    data = home / ".local" / "share" / "pixelguard"
    data.mkdir(parents=True)
    running.announce(data, "127.0.0.1:8080", "full", tmp_path / "ca.pem")  # this process plays the proxy
    r = invoke("uninstall", "--data")
    assert r.exit_code == 2 and f"a proxy is running from {data} (pid {os.getpid()})" in r.output
    assert data.exists()
    running.withdraw(data)


def test_only_directories_named_for_pixelguard_are_deleted_whole(tmp_path: Path) -> None:
    """The data and cache dirs come from XDG_*_HOME and are always named pixelguard; the check stands guard in
    case that ever changes: a directory of another name may hold more than pixelguard's files."""
    from types import SimpleNamespace

    from pixelguard.cli import _remove_data

    other = tmp_path / "shared-dir"
    other.mkdir()
    (other / "mine.txt").write_text("not pixelguard's")
    own = tmp_path / "pixelguard"
    own.mkdir()
    db = tmp_path / "elsewhere.db"
    db.write_bytes(b"history")
    _remove_data(SimpleNamespace(data_dir=other, cache_dir=own, database=db), False, None)
    assert (other / "mine.txt").exists() and not own.exists() and not db.exists()
