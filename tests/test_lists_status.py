"""What `pixelguard lists` and doctor say of each kind of list (issue 28): a bundled list has no age (its file is
as old as the installation, which said "updated 10m ago"), and a missing list file of the user's own is named
with a fix that can work (`lists update` cannot download a file that has no URL)."""

from __future__ import annotations

from pathlib import Path

from pixelguard import config as configmod
from pixelguard import doctor, render, update


def _cfg(tmp_path: Path) -> configmod.Config:
    p = tmp_path / "config.yaml"
    p.write_text(
        f"database: {tmp_path}/pg.db\nuser_list: {tmp_path}/user.txt\nlearned_list: {tmp_path}/learned.txt\n"
        f"lists:\n  - {{name: mine, path: {tmp_path}/mine.txt}}\n  - {{name: here, path: {tmp_path}/here.txt}}\n"
    )
    (tmp_path / "here.txt").write_text("||tracker.example^\n")
    return configmod.load(p)


def test_bundled_lists_have_no_age_and_a_missing_own_list_gets_a_fix_that_works(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    rows = {r["name"]: r for r in update.list_status(cfg)}
    assert rows["pixelguard-ads"]["updated_ts"] is None and rows["here"]["updated_ts"] is not None
    table = {line.split()[0]: line for line in render.lists_table(list(rows.values()))[1:]}
    assert table["pixelguard-ads"].split()[4] == "-"
    findings = {f.detail.split(":")[0]: f for f in doctor.check_lists(cfg)}
    assert findings["pixelguard-ads"].ok and "bundled with pixelguard" in findings["pixelguard-ads"].detail
    mine = findings["mine"]
    assert (
        not mine.ok and "does not exist" in mine.detail and mine.fix.startswith(f"create {tmp_path}/mine.txt")
    )
    assert "lists update" not in mine.fix
    assert findings["here"].ok and "updated" in findings["here"].detail
