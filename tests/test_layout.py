"""The rule of the tree (pixelguard/__init__.py), checked on every module's imports: the pure packages import no
service, front end, SQLite or mitmproxy, and only proxy/ talks to mitmproxy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "pixelguard"

# What each pure package may import of pixelguard (besides itself).
PURE = {
    # The engine reads its lists and keeps its compiled index in a cache file (written atomically).
    "engine": ("pixelguard.limits", "pixelguard.fileio"),
    "payloads": ("pixelguard.engine", "pixelguard.limits"),
    "decision": ("pixelguard.engine", "pixelguard.payloads", "pixelguard.limits"),
}
IMPURE_LIBRARIES = (
    "mitmproxy",
    "sqlite3",
    "sqlite_utils",
    "textual",
    "dns",
    "socket",
    "urllib.request",
    "http.client",
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def modules(package: str) -> list[Path]:
    return sorted((PKG / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(PURE))
def test_pure_packages_import_nothing_impure(package: str) -> None:
    allowed = (f"pixelguard.{package}", *PURE[package])
    for path in modules(package):
        for name in imports_of(path):
            if name.startswith("pixelguard"):
                assert name == "pixelguard" or name.startswith(allowed), f"{path.name} imports {name}"
            assert not name.startswith(IMPURE_LIBRARIES), f"{path.name} imports {name}"


# trust.py makes the CA with mitmproxy's certificate library (the CA the proxy will sign with), talking to no proxy.
MITMPROXY_LIBRARY_USERS = {"trust.py"}


def test_only_the_proxy_package_talks_to_mitmproxy() -> None:
    for path in PKG.rglob("*.py"):
        if "proxy" in path.relative_to(PKG).parts or path.name in MITMPROXY_LIBRARY_USERS:
            continue
        names = imports_of(path)
        assert not any(n.startswith("mitmproxy") for n in names), f"{path.relative_to(PKG)} imports mitmproxy"


def test_no_two_modules_share_a_name() -> None:
    """A name says what a module holds: two modules with one name doing different jobs mislead (there were three
    `params` and two each of `cname`, `pixels` and `tls_policy`)."""
    seen: dict[str, Path] = {}
    for path in PKG.rglob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):  # the package conventions, not names chosen
            continue
        other = seen.setdefault(path.stem, path)
        assert other == path, f"{other.relative_to(PKG)} and {path.relative_to(PKG)}"
