"""``pixelguard ca``: trusting the CA in real NSS databases in a throwaway HOME (with Debian's certutil), and the
system-store steps through --dry-run and the plan for each OS."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner

from pixelguard import trust
from pixelguard.cli import cli

CERTUTIL = shutil.which("certutil")
needs_certutil = pytest.mark.skipif(
    CERTUTIL is None, reason="certutil (Debian: libnss3-tools) is not installed"
)


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), prog_name="pixelguard")


def listing(db: Path) -> str:
    return subprocess.run(
        ["certutil", "-L", "-d", f"sql:{db}"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with Chromium's NSS database, one Firefox profile with a database and one without."""
    h = tmp_path / "home"
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("PIXELGUARD_CONFDIR", str(tmp_path / "mitmproxy"))
    if CERTUTIL:
        for d in (h / ".pki/nssdb", h / ".mozilla/firefox/ab12.default-release"):
            d.mkdir(parents=True)
            subprocess.run(["certutil", "-N", "--empty-password", "-d", f"sql:{d}"], check=True)
    (h / ".mozilla/firefox/new.profile").mkdir(parents=True)  # never started: no database to change
    return h


def dbs(home: Path) -> list[Path]:
    return [home / ".pki/nssdb", home / ".mozilla/firefox/ab12.default-release"]


@needs_certutil
def test_install_trusts_the_ca_in_chromium_and_firefox_and_uninstall_leaves_them_as_before(
    home: Path, tmp_path: Path
) -> None:
    before = {d: listing(d) for d in dbs(home)}
    assert not (tmp_path / "mitmproxy").exists()  # the proxy never ran

    result = invoke("ca", "install", "--store", "nss,firefox")
    assert result.exit_code == 0, result.output
    cert = tmp_path / "mitmproxy" / "mitmproxy-ca-cert.pem"
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")  # created first
    for d in dbs(home):
        assert trust.NICKNAME in listing(d), d
        assert f"{d}: now trusts the CA" in result.output
    # What certutil holds is the CA file's certificate, trusted for TLS servers.
    pem = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{home / '.pki/nssdb'}", "-n", trust.NICKNAME, "-a"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "".join(pem.split()) == "".join(cert.read_text().split())

    again = invoke("ca", "install", "--store", "nss,firefox")
    assert again.exit_code == 0 and "already trusts" in again.output

    result = invoke("ca", "uninstall")
    assert result.exit_code == 0, result.output
    assert {d: listing(d) for d in dbs(home)} == before
    assert "no longer trusts the CA" in result.output
    assert "nothing to remove" in invoke("ca", "uninstall").output


@needs_certutil
def test_uninstall_removes_only_what_install_added(home: Path, tmp_path: Path) -> None:
    # The user had trusted the CA in Chromium by hand; install adds it to Firefox only, uninstall removes that.
    cert = trust.ensure_ca(tmp_path / "mitmproxy")
    chromium = home / ".pki/nssdb"
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{chromium}", "-t", "C,,", "-n", trust.NICKNAME, "-i", str(cert)],
        check=True,
    )
    assert invoke("ca", "install", "--store", "nss,firefox").exit_code == 0
    assert invoke("ca", "uninstall").exit_code == 0
    assert trust.NICKNAME in listing(chromium)
    assert trust.NICKNAME not in listing(home / ".mozilla/firefox/ab12.default-release")


@needs_certutil
def test_dry_run_prints_every_step_and_changes_nothing(home: Path, tmp_path: Path) -> None:
    before = {d: listing(d) for d in dbs(home)}
    result = invoke("ca", "install", "--dry-run")
    assert result.exit_code == 0, result.output
    for d in dbs(home):
        assert (
            f"would run: {CERTUTIL} -A -d sql:{d} -t C,, -n 'pixelguard CA (mitmproxy)' -i " in result.output
        )
    assert "new.profile" not in result.output
    assert {d: listing(d) for d in dbs(home)} == before
    assert not (tmp_path / "mitmproxy").exists()  # not even the CA is created
    store = trust.system_store()
    if store is not None:  # this machine's system store: the root steps are printed, not run
        cert = trust.ca_file(tmp_path / "mitmproxy")
        for argv in store.add(cert):
            assert f"would run (as root): {' '.join(argv)}" in result.output


def test_the_system_store_steps_of_each_os(tmp_path: Path) -> None:
    cert = tmp_path / "ca.pem"

    def steps(platform: str, present: set[str]) -> list[str]:
        plan = trust.plan_install(
            cert, tmp_path, ["system"], platform=platform, exists=lambda p: p in present, certutil=""
        )
        assert all(s.root for s in plan.steps)
        return [str(s) for s in plan.steps]

    assert steps("linux", {"/usr/local/share/ca-certificates"}) == [
        f"cp {cert} /usr/local/share/ca-certificates/pixelguard-ca.crt",
        "update-ca-certificates",
    ]
    assert steps("linux", {"/etc/pki/ca-trust/source/anchors"}) == [
        f"cp {cert} /etc/pki/ca-trust/source/anchors/pixelguard-ca.pem",
        "update-ca-trust extract",
    ]
    assert steps("darwin", set()) == [
        f"security add-trusted-cert -d -k /Library/Keychains/System.keychain {cert}"
    ]
    assert steps("win32", set()) == [f"certutil -addstore -f ROOT {cert}"]
    unknown = trust.plan_install(cert, tmp_path, ["system"], platform="linux", exists=lambda p: False)
    assert not unknown.steps and "by hand" in unknown.notes[0]
    # Uninstall undoes the same store with the opposite commands.
    rec = [{"store": "system", "where": "update-ca-certificates (Debian, Ubuntu)"}]
    plan = trust.plan_uninstall(
        cert, rec, platform="linux", exists=lambda p: p == "/usr/sbin/update-ca-certificates"
    )
    assert [str(s) for s in plan.steps] == [
        "rm -f /usr/local/share/ca-certificates/pixelguard-ca.crt",
        "update-ca-certificates --fresh",
    ]


def test_without_root_the_system_steps_are_printed_for_sudo(tmp_path: Path) -> None:
    cert = tmp_path / "ca.pem"
    plan = trust.plan_install(
        cert, tmp_path, ["system"], platform="linux", exists=lambda p: p == "/usr/local/share/ca-certificates"
    )
    outcome = trust.carry_out(plan, tmp_path, adding=True, is_root=False)
    assert not outcome.done and len(outcome.need_root) == 2
    lines = trust.describe(plan, outcome, adding=True)
    assert lines[0] == "the system store needs root; run:"
    assert lines[1] == f"  sudo cp {cert} /usr/local/share/ca-certificates/pixelguard-ca.crt"
    assert trust.read_record(tmp_path) == []  # nothing was added, so nothing to undo


def test_missing_certutil_is_named_with_the_package_that_has_it(home: Path, tmp_path: Path) -> None:
    (home / ".pki/nssdb").mkdir(parents=True, exist_ok=True)
    (home / ".pki/nssdb/cert9.db").touch()
    plan = trust.plan_install(tmp_path / "ca.pem", home, ["nss"], certutil="")
    assert not plan.steps and "libnss3-tools" in plan.notes[0]


def test_a_store_asked_for_but_absent_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("PIXELGUARD_CONFDIR", str(tmp_path / "conf"))
    result = invoke("ca", "install", "--dry-run", "--store", "thunderbird")
    assert result.exit_code == 0
    assert "thunderbird: no Thunderbird profile" in result.output
    plan = trust.plan_install(tmp_path / "ca.pem", tmp_path / "empty", ["nss"], certutil="")
    assert "nss: no Chromium/Chrome NSS database" in plan.notes[0]  # without certutil it cannot make one


@needs_certutil
def test_nss_asked_for_before_chromium_ever_ran_gets_its_database_made_and_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28: `ca install --store nss` exited 0 having done nothing when Chromium never made its database."""
    home = tmp_path / "fresh"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PIXELGUARD_CONFDIR", str(tmp_path / "conf"))
    result = invoke("ca", "install", "--store", "nss")
    assert result.exit_code == 0, result.output
    assert "creating it" in result.output
    assert trust.NICKNAME in listing(home / ".pki/nssdb")
    assert (home / ".pki/nssdb").stat().st_mode & 0o777 == 0o700
    assert invoke("ca", "uninstall", "--store", "nss").exit_code == 0
    assert trust.NICKNAME not in listing(home / ".pki/nssdb")
    bad = invoke("ca", "install", "--store", "nss,edge")
    assert bad.exit_code == 2 and "unknown store edge" in bad.output


def test_ca_path_prints_where_the_certificate_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXELGUARD_CONFDIR", str(tmp_path / "conf"))
    missing = invoke("ca", "path")
    assert missing.exit_code == 1 and "ca install" in missing.output
    trust.ensure_ca(tmp_path / "conf")
    found = invoke("ca", "path")
    assert found.exit_code == 0 and found.output.strip() == str(tmp_path / "conf" / "mitmproxy-ca-cert.pem")


def test_a_new_ca_has_an_ecdsa_key_and_mitmproxy_forges_with_it(tmp_path: Path) -> None:
    """Issue 25: every certificate mitmproxy forges takes the CA's key and is signed with it; P-256 makes each
    forging about five times cheaper than RSA 2048. The files are mitmproxy's own layout, and what it forges
    from them verifies against the CA as a client checks it."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from mitmproxy import certs

    conf = tmp_path / "conf"
    pem = trust.ensure_ca(conf)
    assert sorted(p.name for p in conf.iterdir()) == [
        "mitmproxy-ca-cert.cer", "mitmproxy-ca-cert.p12", "mitmproxy-ca-cert.pem", "mitmproxy-ca.p12",
        "mitmproxy-ca.pem", "mitmproxy-dhparam.pem",
    ]  # fmt: skip
    assert (conf / "mitmproxy-ca.pem").stat().st_mode & 0o077 == 0  # the key: the user's eyes only
    ca = x509.load_pem_x509_certificate(pem.read_bytes())
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert certs.create_ca.__module__ == "mitmproxy.certs"  # mitmproxy's own is back in place
    before = pem.read_bytes()
    assert trust.ensure_ca(conf) == pem and pem.read_bytes() == before  # an existing CA is kept as it is

    store = certs.CertStore.from_store(conf, "mitmproxy", 2048)
    leaf = store.get_cert("shop.example", [x509.DNSName("shop.example")])
    assert isinstance(leaf.cert.public_key(), ec.EllipticCurvePublicKey)
    x509.load_pem_x509_certificate(leaf.cert.to_pem()).verify_directly_issued_by(ca)
    ctx = ssl.create_default_context(cafile=str(pem))  # a client trusting this CA loads it without complaint
    assert ctx.cert_store_stats()["x509_ca"] == 1


RACER = """
import sys, time
from pathlib import Path
from pixelguard import trust

conf, go = Path(sys.argv[1]), Path(sys.argv[2])
write_bytes = Path.write_bytes
def slow_write(self, data):  # a slow disk: what one process writes, another can write in between
    time.sleep(0.005)
    return write_bytes(self, data)
Path.write_bytes = slow_write
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:  # all start creating at once
    time.sleep(0.001)
trust.ensure_ca(conf)
# What this process's proxy would sign with: the certificate in the key file, which mitmproxy loads.
from cryptography import x509
from cryptography.hazmat.primitives import hashes
print(x509.load_pem_x509_certificate((conf / "mitmproxy-ca.pem").read_bytes()).fingerprint(hashes.SHA256()).hex())
"""


def test_processes_creating_the_ca_at_once_all_end_with_the_one_clients_are_given(tmp_path: Path) -> None:
    """`pixelguard run` and `ca install` started together on a new confdir each created a CA over the other's
    files: a proxy could sign with a key whose certificate the clients were never given."""
    conf, go = tmp_path / "conf", tmp_path / "go"
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(conf), str(go)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    go.touch()
    used = {r.communicate(timeout=120)[0].strip() for r in racers}
    assert all(r.returncode == 0 for r in racers)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    given = x509.load_pem_x509_certificate((conf / "mitmproxy-ca-cert.pem").read_bytes())
    assert used == {given.fingerprint(hashes.SHA256()).hex()}
    assert (conf / "mitmproxy-ca-cert.cer").read_bytes() == (conf / "mitmproxy-ca-cert.pem").read_bytes()


def test_a_file_system_that_refuses_the_lock_still_gets_its_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some network and FUSE file systems refuse flock; creating the CA goes on without it, as before the lock."""
    import fcntl

    def refuse(fd: int, op: int) -> None:
        raise OSError(37, "No locks available")  # ENOLCK, as an NFS mount without a lock daemon answers

    monkeypatch.setattr(fcntl, "flock", refuse)
    pem = trust.ensure_ca(tmp_path / "conf")
    assert pem.exists() and (tmp_path / "conf" / "mitmproxy-ca.pem").exists()
