"""Trusting pixelguard's CA where the user's programs look (``pixelguard ca``), as mkcert's ``-install`` does.

Stores (mkcert's truststore_nss.go and truststore_linux.go list the same places):

- ``nss``: Chromium's and Chrome's NSS database, ``~/.pki/nssdb`` (and the snap's copy);
- ``firefox`` / ``thunderbird``: each profile's own NSS database (``cert9.db``; ``cert8.db`` in old ones);
- ``system``: the OS store: Debian/Ubuntu ``update-ca-certificates``, Fedora ``update-ca-trust``, macOS
  ``security add-trusted-cert``, Windows ``certutil -addstore``.

NSS databases are changed with ``certutil`` (Debian's ``libnss3-tools``). The system store needs root: run as
root, the steps are carried out; otherwise they are printed, to be run with sudo. What ``install`` added is
recorded in the data dir (``ca-trust.json``), so that ``uninstall`` removes exactly that and nothing a user or
another tool put there.

Planning is separate from doing: :func:`plan_install` and :func:`plan_uninstall` return the steps, which
``--dry-run`` prints and :func:`carry_out` runs.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelguard.errors import PixelguardError
from pixelguard.fileio import atomic_write

STORES = ("nss", "firefox", "thunderbird", "system")
NICKNAME = "pixelguard CA (mitmproxy)"  # how the certificate is named in NSS databases
RECORD = "ca-trust.json"

# Per-user NSS databases, relative to HOME (mkcert's nssDBs and FirefoxProfiles, plus Thunderbird's).
_NSS_DIRS = (".pki/nssdb", "snap/chromium/current/.pki/nssdb")
_PROFILE_GLOBS = {
    "firefox": (
        ".mozilla/firefox/*",
        "snap/firefox/common/.mozilla/firefox/*",
        ".var/app/org.mozilla.firefox/.mozilla/firefox/*",
    ),
    "thunderbird": (".thunderbird/*", "snap/thunderbird/common/.thunderbird/*"),
}
_CERTUTIL_PACKAGE = "Debian/Ubuntu: sudo apt install libnss3-tools; Fedora: sudo dnf install nss-tools; macOS: brew install nss"


@dataclass
class Step:
    """One change to one store: the command that makes it, and whether it needs root to run."""

    store: str
    where: str
    argv: list[str]
    root: bool = False
    # What uninstall must undo, recorded once the step succeeded (None: nothing to remember).
    record: dict[str, str] | None = None

    def __str__(self) -> str:
        return shlex.join(self.argv)


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # stores skipped, and why


# mitmproxy's CA lives in its confdir; ~/.mitmproxy unless PIXELGUARD_CONFDIR (or --set confdir=) says else.
CONFDIR_ENV = "PIXELGUARD_CONFDIR"


def confdir() -> Path:
    return Path(os.environ.get(CONFDIR_ENV) or "~/.mitmproxy").expanduser()


def ca_file(confdir: Path) -> Path:
    """The CA certificate (PEM) that clients must trust; mitmproxy writes it into its confdir."""
    return confdir / "mitmproxy-ca-cert.pem"


def ensure_ca(confdir: Path) -> Path:
    """The CA certificate, created when the proxy never ran: with an ECDSA P-256 key, in mitmproxy's layout.

    mitmproxy 11 creates an RSA 2048 CA, and every certificate it forges for a site uses the CA's key and is
    signed with it: an RSA signature costs about 0.8 ms of the proxy's one event loop per new host, a P-256
    one about 0.16 ms (measured in issue 25), and the handshakes with an ECDSA certificate are cheaper on
    both legs. A CA created before stays as it is (clients trust it); deleting the confdir's mitmproxy-ca*
    files and running ``pixelguard ca install`` again gives an ECDSA one."""
    path = ca_file(confdir)
    if path.exists():  # written after the key file (create_store), so that one is whole
        return path
    from mitmproxy import certs

    try:
        confdir.mkdir(parents=True, exist_ok=True)
        with _creating(confdir):
            if path.exists():  # another process made it while this one waited
                return path
            # create_store writes the files clients and mitmproxy expect (PEM, .cer, PKCS#12 with and without
            # the key, dhparam) and takes its key from certs.create_ca; it is given an ECDSA one for the call.
            rsa_ca = certs.create_ca
            certs.create_ca = _ecdsa_ca
            try:
                certs.CertStore.create_store(confdir, "mitmproxy", 0)
            finally:
                certs.create_ca = rsa_ca
    except OSError as e:
        raise PixelguardError(f"cannot create the CA in {confdir}: {e.strerror or e}") from None
    return path


@contextmanager
def _creating(confdir: Path) -> Iterator[None]:
    """Held while a CA is created: two processes starting at once on a new confdir (`pixelguard run` and `ca
    install` in two terminals, two proxies sharing one) would each write a CA of their own over the other's
    files, leaving one proxy signing with a key whose certificate the clients were not given, and every HTTPS
    site failing through it. An exclusive lock on the directory itself (no file left behind); where there is no
    flock (Windows) or the file system refuses one, nothing is held, as before: creating the CA must not fail
    for want of a lock."""
    try:
        import fcntl

        fd = os.open(confdir, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # e.g. a network file system without locks
        yield
    finally:
        os.close(fd)  # and the lock with it


def key_kind(cert: Path) -> str:
    """The CA's key as doctor names it: "ECDSA P-256", "RSA 2048" (or "unreadable")."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    except (OSError, ValueError):
        return "unreadable"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA " + {"secp256r1": "P-256", "secp384r1": "P-384"}.get(key.curve.name, key.curve.name)
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    return type(key).__name__


def _ecdsa_ca(organization: str, cn: str, key_size: int) -> tuple[Any, Any]:
    """mitmproxy's create_ca with a P-256 key (key_size is ignored): the same name, lifetime and extensions."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from mitmproxy.certs import CA_EXPIRY

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .serial_number(x509.random_serial_number())
        .subject_name(name)
        .issuer_name(name)
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + CA_EXPIRY)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(private_key=key, algorithm=hashes.SHA256())
    )
    return key, cert


def parse_stores(spec: str | None) -> tuple[str, ...] | None:
    """``--store nss,firefox`` → the names (None: every store found)."""
    if not spec:
        return None
    names = tuple(s.strip() for s in spec.split(",") if s.strip())
    unknown = [n for n in names if n not in STORES]
    if unknown or not names:
        raise PixelguardError(
            f"--store: unknown store {', '.join(unknown) or 'in ' + repr(spec)} (choose from {', '.join(STORES)})"
        )
    return names


# --- finding stores --------------------------------------------------------------------------------------------


def nss_databases(home: Path, store: str) -> list[Path]:
    """The NSS database directories of one store under home that exist (a profile without one is skipped)."""
    if store == "nss":
        dirs = [home / d for d in _NSS_DIRS]
    else:
        dirs = [Path(p) for g in _PROFILE_GLOBS[store] for p in sorted(glob.glob(str(home / g)))]
    return [d for d in dirs if (d / "cert9.db").exists() or (d / "cert8.db").exists()]


def _db_arg(d: Path) -> str:
    return f"sql:{d}" if (d / "cert9.db").exists() else f"dbm:{d}"


@dataclass
class SystemStore:
    """How one OS trusts a root certificate: the commands to add and remove it."""

    name: str
    add: Callable[[Path], list[list[str]]]
    remove: Callable[[Path], list[list[str]]]


def _debian_add(cert: Path) -> list[list[str]]:
    return [
        ["cp", str(cert), "/usr/local/share/ca-certificates/pixelguard-ca.crt"],
        ["update-ca-certificates"],
    ]


def _debian_remove(cert: Path) -> list[list[str]]:
    return [
        ["rm", "-f", "/usr/local/share/ca-certificates/pixelguard-ca.crt"],
        ["update-ca-certificates", "--fresh"],
    ]


def _fedora_add(cert: Path) -> list[list[str]]:
    return [
        ["cp", str(cert), "/etc/pki/ca-trust/source/anchors/pixelguard-ca.pem"],
        ["update-ca-trust", "extract"],
    ]


def _fedora_remove(cert: Path) -> list[list[str]]:
    return [
        ["rm", "-f", "/etc/pki/ca-trust/source/anchors/pixelguard-ca.pem"],
        ["update-ca-trust", "extract"],
    ]


def _macos_add(cert: Path) -> list[list[str]]:
    keychain = "/Library/Keychains/System.keychain"
    return [["security", "add-trusted-cert", "-d", "-k", keychain, str(cert)]]


def _macos_remove(cert: Path) -> list[list[str]]:
    return [["security", "remove-trusted-cert", "-d", str(cert)]]


def _windows_add(cert: Path) -> list[list[str]]:
    return [["certutil", "-addstore", "-f", "ROOT", str(cert)]]


def _windows_remove(cert: Path) -> list[list[str]]:
    return [["certutil", "-delstore", "ROOT", "mitmproxy"]]  # the CA's common name


def system_store(
    platform: str = sys.platform, exists: Callable[[str], bool] = os.path.exists
) -> SystemStore | None:
    """This machine's system store (None when pixelguard does not know it)."""
    if platform == "darwin":
        return SystemStore("macOS keychain", _macos_add, _macos_remove)
    if platform == "win32":
        return SystemStore("Windows root store", _windows_add, _windows_remove)
    if exists("/usr/local/share/ca-certificates") or exists("/usr/sbin/update-ca-certificates"):
        return SystemStore("update-ca-certificates (Debian, Ubuntu)", _debian_add, _debian_remove)
    if exists("/etc/pki/ca-trust/source/anchors"):
        return SystemStore("update-ca-trust (Fedora, RHEL)", _fedora_add, _fedora_remove)
    return None


# --- planning --------------------------------------------------------------------------------------------------


def _nss_certutil(platform: str) -> str:
    # Windows has a certutil of its own (the system store's tool), which does not speak NSS.
    return "" if platform == "win32" else shutil.which("certutil") or ""


def _has_nickname(db: Path) -> bool:
    out = subprocess.run(
        ["certutil", "-L", "-d", _db_arg(db), "-n", NICKNAME], capture_output=True, check=False
    )
    return out.returncode == 0


def plan_install(
    cert: Path,
    home: Path,
    stores: Iterable[str] | None = None,
    *,
    platform: str = sys.platform,
    exists: Callable[[str], bool] = os.path.exists,
    certutil: str | None = None,
) -> Plan:
    certutil = certutil if certutil is not None else _nss_certutil(platform)
    wanted = tuple(stores) if stores is not None else STORES
    plan = Plan()
    for store in wanted:
        if store == "system":
            sysstore = system_store(platform, exists)
            if sysstore is None:
                plan.notes.append(
                    "system: this system's certificate store is not one pixelguard knows; trust "
                    f"{cert} by hand"
                )
                continue
            for argv in sysstore.add(cert):
                plan.steps.append(Step("system", sysstore.name, argv, root=True))
            plan.steps[-1].record = {"store": "system", "where": sysstore.name}
            continue
        dbs = nss_databases(home, store)
        if not dbs and store == "nss" and stores is not None and certutil:
            # Asked for by name before Chromium ever ran: make the database it will use (as it would, empty
            # password) and trust the CA there, rather than doing nothing.
            d = home / _NSS_DIRS[0]
            plan.notes.append(
                f"nss: no NSS database in {d} yet (Chromium makes it on its first start): creating it"
            )
            plan.steps.append(Step(store, str(d), ["mkdir", "-p", "-m", "700", str(d)]))
            plan.steps.append(Step(store, str(d), [certutil, "-N", "-d", f"sql:{d}", "--empty-password"]))
            argv = [certutil, "-A", "-d", f"sql:{d}", "-t", "C,,", "-n", NICKNAME, "-i", str(cert)]
            plan.steps.append(Step(store, str(d), argv, record={"store": store, "where": str(d)}))
            continue
        if not dbs:
            if stores is not None:  # asked for by name: say why nothing happens
                plan.notes.append(f"{store}: {_missing(store, home)}")
            continue
        if not certutil:
            plan.notes.append(
                f"{store}: certutil is needed to change {len(dbs)} NSS database(s) ({_CERTUTIL_PACKAGE})"
            )
            continue
        for d in dbs:
            if _has_nickname(d):
                plan.notes.append(f"{store}: {d} already trusts {NICKNAME!r}")
                continue
            argv = [certutil, "-A", "-d", _db_arg(d), "-t", "C,,", "-n", NICKNAME, "-i", str(cert)]
            plan.steps.append(Step(store, str(d), argv, record={"store": store, "where": str(d)}))
    return plan


def _missing(store: str, home: Path) -> str:
    if store == "nss":
        return f"no Chromium/Chrome NSS database in {home / _NSS_DIRS[0]} (start the browser once, then run this again)"
    return f"no {store.capitalize()} profile under {home} with a certificate database"


def plan_uninstall(
    cert: Path,
    recorded: list[dict[str, str]],
    stores: Iterable[str] | None = None,
    *,
    platform: str = sys.platform,
    exists: Callable[[str], bool] = os.path.exists,
    certutil: str | None = None,
) -> Plan:
    """Undo what install recorded (only that), limited to ``stores`` when given."""
    certutil = certutil if certutil is not None else _nss_certutil(platform)
    plan = Plan()
    for rec in recorded:
        store, where = rec.get("store", ""), rec.get("where", "")
        if stores is not None and store not in stores:
            continue
        if store == "system":
            sysstore = system_store(platform, exists)
            if sysstore is None:
                plan.notes.append(f"system: {where} is not on this machine")
                continue
            for argv in sysstore.remove(cert):
                plan.steps.append(Step("system", sysstore.name, argv, root=True))
            plan.steps[-1].record = rec
        elif not certutil:
            plan.notes.append(f"{store}: certutil is needed to change {where} ({_CERTUTIL_PACKAGE})")
        elif not Path(where).is_dir():
            plan.notes.append(f"{store}: {where} no longer exists")
            plan.steps.append(Step(store, where, [], record=rec))  # nothing to run: forget it
        elif not _has_nickname(Path(where)):
            plan.notes.append(f"{store}: {where} no longer holds {NICKNAME!r}")
            plan.steps.append(Step(store, where, [], record=rec))
        else:
            argv = [certutil, "-D", "-d", _db_arg(Path(where)), "-n", NICKNAME]
            plan.steps.append(Step(store, where, argv, record=rec))
    if not recorded:
        plan.notes.append("nothing to remove: `pixelguard ca install` has not added the CA anywhere")
    return plan


# --- doing -----------------------------------------------------------------------------------------------------


def read_record(data_dir: Path) -> list[dict[str, str]]:
    try:
        data = json.loads((data_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def _write_record(data_dir: Path, records: list[dict[str, str]]) -> None:
    atomic_write(data_dir / RECORD, json.dumps(records, indent=1))


@dataclass
class Outcome:
    done: list[Step] = field(default_factory=list)
    need_root: list[Step] = field(default_factory=list)
    failed: list[tuple[Step, str]] = field(default_factory=list)


def carry_out(plan: Plan, data_dir: Path, *, adding: bool, is_root: bool | None = None) -> Outcome:
    """Run the plan's steps; root-only steps are left for the user when not root. Updates the record."""
    is_root = is_root if is_root is not None else hasattr(os, "geteuid") and os.geteuid() == 0
    records = read_record(data_dir)
    out = Outcome()
    skip_store: set[str] = set()
    for step in plan.steps:
        if step.store in skip_store:
            continue
        if step.root and not is_root:
            out.need_root.append(step)
            continue
        if step.argv:
            try:
                r = subprocess.run(step.argv, capture_output=True, text=True, check=False, timeout=120)
                err = (r.stderr or r.stdout).strip().splitlines()[-1:] if r.returncode else None
            except (OSError, subprocess.TimeoutExpired) as e:
                err = [str(e)]
            if err is not None:
                out.failed.append((step, err[0] if err else f"exit status {r.returncode}"))
                if step.root:
                    skip_store.add(step.store)  # the later steps of this store depend on this one
                continue
        out.done.append(step)
        if step.record is not None:
            if adding:
                records = [r for r in records if r != step.record] + [step.record]
            else:
                records = [r for r in records if r != step.record]
    _write_record(data_dir, records)
    return out


def describe(plan: Plan, outcome: Outcome | None, *, adding: bool) -> list[str]:
    """What happened (or, with no outcome, what would happen), one line each, for the CLI to print."""
    lines: list[str] = []
    if outcome is None:
        for s in plan.steps:
            lines.append(
                f"would run{' (as root)' if s.root else ''}: {s}" if s.argv else f"would forget {s.where}"
            )
    else:
        for s in outcome.done:
            if s.record is not None and s.argv:
                lines.append(f"{s.store}: {s.where}: {'now trusts' if adding else 'no longer trusts'} the CA")
        for s, err in outcome.failed:
            lines.append(f"{s.store}: {s.where}: {shlex.join(s.argv)} failed: {err}")
        if outcome.need_root:
            lines.append("the system store needs root; run:")
            lines += [f"  sudo {s}" for s in outcome.need_root]
    lines += plan.notes
    return lines


def untrusted_databases(home: Path) -> list[str]:
    """For doctor: the NSS databases under home that do not trust the CA ([] when certutil cannot tell)."""
    if not _nss_certutil(sys.platform):
        return []
    dbs = [d for store in ("nss", "firefox", "thunderbird") for d in nss_databases(home, store)]
    return [str(d) for d in dbs if not _has_nickname(d)]
