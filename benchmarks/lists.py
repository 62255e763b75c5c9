"""The filter lists and requests of ../shared that the benchmarks and the agreement test use."""

from __future__ import annotations

from pathlib import Path

from pixelguard.engine.request import guess_type
from pixelguard.engine.rules import TYPE_ALIASES, TYPE_BITS

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FILTERLISTS = SHARED / "filterlists"

# Named list sets; a name not here is a file in ../shared/filterlists (without .txt).
SETS = {
    "easylist+easyprivacy": ["easylist", "easyprivacy"],
    "ubo": ["ubo-filters.min", "ubo-privacy.min"],
    "all": ["easylist", "easyprivacy", "ubo-filters.min", "ubo-privacy.min", "fanboy-social", "adaway-hosts"],
}
HOSTS_FORMAT = {"adaway-hosts"}  # what Brave's engine must be told is a hosts file


def resolve(spec: str) -> list[Path]:
    """A set name or comma-separated list names (or paths to list files) → files."""
    names: list[str] = []
    for part in spec.split(","):
        names += SETS.get(part.strip(), [part.strip()])
    return [Path(n) if "/" in n else FILTERLISTS / f"{n}.txt" for n in names]


def is_hosts_file(path: Path) -> bool:
    return path.stem in HOSTS_FORMAT or path.stem.endswith("-hosts")


def write_synthetic_hosts(path: Path, n: int) -> Path:
    """A hosts file of n made-up names (as big blocklists are: one `0.0.0.0 name` a line), to measure size."""
    import random
    import string

    rnd = random.Random(1)
    tlds = ["com", "net", "org", "io"]
    with open(path, "w") as f:
        f.write("# synthetic hosts file\n127.0.0.1 localhost\n")
        for _ in range(n):
            name = "".join(rnd.choices(string.ascii_lowercase + string.digits, k=rnd.randint(6, 14)))
            f.write(f"0.0.0.0 {name}.{rnd.choice(tlds)}\n")
    return path


def load_requests() -> list[tuple[str, str, str]]:
    """(url, source_url, type) from both corpora."""
    out = []
    page = ""
    for line in (SHARED / "requests" / "top500-sitelist.txt").read_text().split("\n"):
        url = line.strip()
        if not url:
            continue
        rest = url.split("://", 1)[-1]
        if "/" not in rest or rest.index("/") == len(rest) - 1:
            page = url  # a site's root URL starts a page load; the subresources that follow belong to it
            out.append((url, url, "document"))
        else:
            out.append((url, page, guess_type(url, has_page=True)))
    lines = (SHARED / "requests" / "pagexray-requests.tsv").read_text().split("\n")[1:]
    for line in lines:
        cols = line.split("\t")
        if len(cols) >= 3:
            t = TYPE_ALIASES.get(cols[2], cols[2])
            out.append((cols[0], cols[1], t if t in TYPE_BITS else "other"))
    return out


def brave_engine(paths: list[Path]):  # type: ignore[no-untyped-def]
    import adblock

    fs = adblock.FilterSet(debug=True)
    for p in paths:
        fs.add_filter_list(p.read_text(), format="hosts" if is_hosts_file(p) else "standard")
    return adblock.Engine(fs, optimize=True)
