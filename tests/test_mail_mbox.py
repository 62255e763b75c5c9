"""`pixelguard mail clean --mbox`: an mbox cleaned in place (same inode) once, its envelope lines kept and no new
message boundary made; a run killed while it writes leaves the mailbox as it was; a copy killed midway is finished
by the next run, keeping a delivery that came meanwhile; the dot-lock and fcntl lock of mail delivery are honoured,
and a dot-lock left by a killed pixelguard is taken back."""

from __future__ import annotations

import mailbox
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_mail_clean import PIXEL, RULES, _message, cli_env

from pixelguard import mail_mbox
from pixelguard.engine import Engine
from pixelguard.errors import PixelguardError
from pixelguard.mail_clean import Judge, clean_message, is_cleaned
from pixelguard.mail_mbox import clean_mbox, done_of, dotlock_of, journal_of

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge(Engine.from_text(RULES, "t"), frozenset({"t"}))


def _envelope(i: int) -> bytes:
    return f"From news{i}@shop.example Thu Dec  3 10:{i % 60:02d}:00 2026\n".encode()


def _mbox(path: Path, messages: list[bytes]) -> bytes:
    data = b"".join(_envelope(i) + m.rstrip(b"\n") + b"\n\n" for i, m in enumerate(messages))
    path.write_bytes(data)
    return data


def _qp_from_line() -> bytes:
    """A message whose HTML, decoded, has a line starting 'From ' (quoted-printable hid it as =46rom)."""
    raw = _message("single", pixel=PIXEL + "\nFROM_LINE the team")
    assert b"FROM_LINE" in raw
    return raw.replace(b"FROM_LINE", b"=46rom")


def _subjects_and_cleaned(path: Path) -> list[tuple[str, bool, str]]:
    box = mailbox.mbox(path, create=False)
    try:
        return [(m.get_from(), is_cleaned(box.get_bytes(k)), str(m["Subject"])) for k, m in box.items()]
    finally:
        box.close()


def test_an_mbox_is_cleaned_in_place_once(tmp_path: Path, judge: Judge) -> None:
    path = tmp_path / "inbox"
    messages = [_message("mixed"), _qp_from_line(), _message("single"), _message("related", linesep="\r\n")]
    _mbox(path, messages)
    inode = path.stat().st_ino
    result = clean_mbox(path, judge)
    assert (result.cleaned, result.skipped, result.counts.pixels) == (4, 0, 4)
    assert (
        path.stat().st_ino == inode
    )  # rewritten in place: a delivery holding the file open writes into this one
    after = _subjects_and_cleaned(path)
    assert [(f, c) for f, c, _ in after] == [(_envelope(i).decode()[5:].strip(), True) for i in range(4)]
    assert b"\n>From the team" in path.read_bytes()  # the line the re-encoding uncovered made no new message
    assert not journal_of(path).exists() and not done_of(path).exists() and not dotlock_of(path).exists()
    snapshot = path.read_bytes()
    again = clean_mbox(path, judge)
    assert (again.cleaned, again.skipped) == (0, 4)
    assert path.read_bytes() == snapshot


def test_only_the_tail_from_the_first_new_message_is_written(tmp_path: Path, judge: Judge) -> None:
    path = tmp_path / "inbox"
    first = clean_message(_message("single"), judge).data
    _mbox(path, [first, _message("mixed")])
    head = path.read_bytes()[: path.read_bytes().index(b"\nFrom news1") + 1]
    result = clean_mbox(path, judge)
    assert (result.cleaned, result.skipped) == (1, 1)
    assert path.read_bytes().startswith(head)
    assert [c for _, c, _ in _subjects_and_cleaned(path)] == [True, True]


def test_an_empty_mbox_is_fine_and_a_file_that_is_not_one_is_refused(tmp_path: Path, judge: Judge) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert clean_mbox(empty, judge).cleaned == 0 and empty.read_bytes() == b""
    eml = tmp_path / "message.eml"
    eml.write_bytes(_message("single"))
    with pytest.raises(PixelguardError, match="not an mbox"):
        clean_mbox(eml, judge)
    assert eml.read_bytes() == _message("single")
    with pytest.raises(PixelguardError, match="no such mbox"):
        clean_mbox(tmp_path / "missing", judge)


# --- killed ---------------------------------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _killed_before_the_copy(path: Path, judge: Judge, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Run a clean that dies right after its journal got its name; the journal's tail."""
    real, calls = mail_mbox._finish_journal, []

    def finish(path: Path, f: object) -> None:
        calls.append(path)
        if len(calls) == 2:  # the first call finishes an older journal; the second would copy this one
            raise KeyboardInterrupt
        real(path, f)  # type: ignore[arg-type]

    with monkeypatch.context() as m:
        m.setattr(mail_mbox, "_finish_journal", finish)
        with pytest.raises(KeyboardInterrupt):
            clean_mbox(path, judge)
    return journal_of(path).read_bytes().partition(b"\n")[2]


# How far the killed copy got: none of the tail, half, all of it (the old bytes past it still there), all of it
# and the file cut to it.
@pytest.mark.parametrize(("copied", "cut"), [(0.0, False), (0.5, False), (1.0, False), (1.0, True)])
# The cleaned tail shorter than the old one (a pixel removed from each message, two MIME shapes), and longer (no
# tracker: each message only gains its mark line).
@pytest.mark.parametrize(("shape", "pixel"), [("single", PIXEL), ("mixed", PIXEL), ("mixed", "")])
def test_a_copy_killed_midway_is_finished_next_time_keeping_a_delivery_made_meanwhile(
    tmp_path: Path,
    judge: Judge,
    monkeypatch: pytest.MonkeyPatch,
    copied: float,
    cut: bool,
    shape: str,
    pixel: str,
) -> None:
    path = tmp_path / "inbox"
    kept = clean_message(_message("single"), judge).data
    messages = [_message(shape, pixel=pixel), _message(shape, pixel=pixel)]
    assert (len(clean_message(messages[0], judge).data) > len(messages[0])) == (not pixel)
    original = _mbox(path, [kept, *messages])
    reference = tmp_path / "reference"
    reference.write_bytes(original)
    clean_mbox(reference, judge)
    cleaned = reference.read_bytes()
    offset = original.index(b"\nFrom news1") + 1
    tail = _killed_before_the_copy(path, judge, monkeypatch)
    assert tail == cleaned[offset:] and path.read_bytes() == original
    # What a kill during the copy leaves: the tail's first bytes over the old ones (all of them, and then the file
    # cut to size, before the journal was marked done) and the dead run's dot-lock; then a delivery that honours
    # fcntl locks only appends a message.
    written = int(len(tail) * copied)
    state = bytearray(original)
    state[offset : offset + written] = tail[:written]
    if cut:
        del state[offset + written :]
    delivered = _envelope(7) + _message("single") + b"\n"
    path.write_bytes(bytes(state) + delivered)
    dotlock_of(path).write_text(f"{_dead_pid()} pixelguard {os.uname().nodename}\n")
    result = clean_mbox(path, judge)
    assert result.cleaned == 1 and result.skipped == 3
    after = path.read_bytes()
    assert after.startswith(cleaned)  # the tail copied whole
    assert after[len(cleaned) :] == clean_message(delivered, judge).data  # the delivery kept, and cleaned
    assert not journal_of(path).exists() and not dotlock_of(path).exists()


def test_a_finished_copy_whose_marker_was_left_is_not_copied_again(tmp_path: Path, judge: Judge) -> None:
    path = tmp_path / "inbox"
    _mbox(path, [_message("single")])
    clean_mbox(path, judge)
    done_of(path).write_bytes(b"pixelguard-mbox-journal offset=0 end=1\nstale")
    snapshot = path.read_bytes()
    assert clean_mbox(path, judge).skipped == 1
    assert path.read_bytes() == snapshot and not done_of(path).exists()


def test_a_run_killed_while_it_writes_the_journal_leaves_the_mailbox_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "inbox"
    big = _message("mixed").replace(b"invoice", b"invoice " * 20_000)
    original = _mbox(path, [big] * 300)
    env = cli_env(tmp_path / "home")
    cmd = [sys.executable, "-m", "pixelguard", "mail", "clean", "--mbox", str(path)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tmp = path.with_name(f".{path.name}.pixelguard-tmp")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not (tmp.exists() and tmp.stat().st_size):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert (
        tmp.exists()
    )  # killed while writing the journal (the run takes seconds, the journal its whole time)
    assert path.read_bytes() == original and not journal_of(path).exists()
    subprocess.run(cmd, env=env, cwd=REPO, check=True, capture_output=True, timeout=120)
    after = _subjects_and_cleaned(path)
    assert len(after) == 300 and all(c for _, c, _ in after)
    assert not tmp.exists() and not dotlock_of(path).exists()


# --- locks ----------------------------------------------------------------------------------------------------


def test_a_delivery_holding_a_lock_is_waited_for_then_reported(
    tmp_path: Path, judge: Judge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail_mbox, "LOCK_WAIT", 0.3)
    path = tmp_path / "inbox"
    original = _mbox(path, [_message("single")])
    # procmail's dot-lock (it writes no pid), a live pixelguard's, and one left on a shared spool by a pixelguard of
    # another machine (its pid means nothing here, so whether it lives cannot be told): none is taken over
    others = (
        f"{os.getpid()} pixelguard {os.uname().nodename}\n",
        f"{_dead_pid()} pixelguard other-{os.uname().nodename}\n",
    )
    for content in ("", *others):
        dotlock_of(path).write_text(content)
        with pytest.raises(PixelguardError, match=r"inbox\.lock is held"):
            clean_mbox(path, judge)
    dotlock_of(path).unlink()
    # an fcntl lock held by another process
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys,time\nf=open(sys.argv[1],'r+b')\nfcntl.lockf(f.fileno(),"
         "fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(60)", str(path)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        with pytest.raises(PixelguardError, match="locked by another program"):
            clean_mbox(path, judge)
        assert not dotlock_of(path).exists()  # its own dot-lock given back
    finally:
        holder.kill()
        holder.wait()
    assert path.read_bytes() == original
    assert clean_mbox(path, judge).cleaned == 1


def test_the_command_cleans_an_mbox_and_refuses_mixed_options(tmp_path: Path) -> None:
    path = tmp_path / "inbox"
    _mbox(path, [_message("single"), _message("mixed")])
    env = cli_env(tmp_path / "home")
    base = [sys.executable, "-m", "pixelguard", "mail", "clean"]
    out = subprocess.run([*base, "--mbox", str(path)], env=env, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and f"{path}: 2 cleaned (2 pixels removed), 0 cleaned before" in out.stdout
    both = subprocess.run([*base, "--mbox", str(path), "--maildir", str(tmp_path)], env=env, cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    assert both.returncode != 0 and "not both" in both.stderr
    with_file = subprocess.run([*base, "--mbox", str(path), "-o", str(tmp_path / "x")], env=env, cwd=REPO,
                               capture_output=True, text=True)  # fmt: skip
    assert with_file.returncode != 0 and "--mbox cleans in place" in with_file.stderr
