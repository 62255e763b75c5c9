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
    """A set name or comma-separated list names → files."""
    names: list[str] = []
    for part in spec.split(","):
        names += SETS.get(part.strip(), [part.strip()])
    return [FILTERLISTS / f"{n}.txt" for n in names]


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
        fs.add_filter_list(p.read_text(), format="hosts" if p.stem in HOSTS_FORMAT else "standard")
    return adblock.Engine(fs, optimize=True)
