"""Files pixelguard writes are never written through a symbolic link someone placed there, and a data dir it
cannot use is one line naming the path and the fix (issue 24): through the real `pixelguard run` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import REPO, free_port, write_config

pytestmark = pytest.mark.e2e


def run_proxy(
    home: Path, config: Path, confdir: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_CACHE_HOME": str(home / "cache"), "PIXELGUARD_CONFDIR": str(confdir)}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "pixelguard", "--config", str(config), "run", "--port", str(free_port())],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file\n")
    victim.chmod(0o644)
    return victim


def test_a_symbolic_link_at_the_log_is_refused_in_one_line(tmp_path: Path, confdir: Path) -> None:
    config = write_config(tmp_path, {"t": "||tracker.test^\n"})
    data = tmp_path / "data" / "pixelguard"
    data.mkdir(parents=True)
    victim = _victim(tmp_path)
    (data / "proxy.log").symlink_to(victim)
    r = run_proxy(tmp_path, config, confdir)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "proxy.log is a symbolic link" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert victim.read_text() == "the user's own file\n" and victim.stat().st_mode & 0o777 == 0o644


def test_a_symbolic_link_at_the_database_is_refused_in_one_line(tmp_path: Path, confdir: Path) -> None:
    config = write_config(tmp_path, {"t": "||tracker.test^\n"})
    victim = _victim(tmp_path)
    (tmp_path / "pixelguard.db").symlink_to(victim)
    r = run_proxy(tmp_path, config, confdir)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "is a symbolic link" in r.stderr and "Traceback" not in r.stderr
    assert victim.read_text() == "the user's own file\n" and victim.stat().st_mode & 0o777 == 0o644


def test_a_read_only_data_dir_is_one_line_naming_it(tmp_path: Path, confdir: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only directory anyway; the refusal cannot happen as root")
    config = write_config(tmp_path, {"t": "||tracker.test^\n"})
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        r = run_proxy(tmp_path, config, confdir)
    finally:
        data.chmod(0o700)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"cannot use the data dir {data / 'pixelguard'}" in r.stderr and "chmod" in r.stderr


def test_the_config_editor_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    from pixelguard import config as configmod
    from pixelguard.config_edit import set_list_enabled

    config = write_config(tmp_path, {"t": "||tracker.test^\n"})
    victim = _victim(tmp_path)
    for name in (".config.yaml.check", ".config.yaml.tmp"):  # the fixed names a link could be planted at
        (tmp_path / name).symlink_to(victim)
    set_list_enabled(configmod.load(config), "t", False)
    assert victim.read_text() == "the user's own file\n"
    assert not configmod.load(config).lists[0].enabled


def test_a_data_dir_that_cannot_be_made_is_one_line_naming_it(tmp_path: Path, confdir: Path) -> None:
    config = write_config(tmp_path, {"t": "||tracker.test^\n"})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "pixelguard").write_text("a file where the data dir should be\n")
    r = run_proxy(tmp_path, config, confdir)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert f"cannot use the data dir {tmp_path / 'data' / 'pixelguard'}" in r.stderr
