"""Mutation testing of the pure modules (mutmut 3): do the tests notice when the code is changed?

``scripts/mutate [--sample N] [--group NAME ...] [--module GLOB ...] [--all]`` copies this checkout to a scratch
directory (nothing is written here), and for each group of modules (``--module``: only those matching) runs mutmut
with the group's fast tests: every mutant of a sample of N per module (``--all``: every mutant), each against the
tests that reach its function. It prints, per module, the mutants tried, killed and survived and the score
(killed / tried, timeouts counting as killed), and writes each survivor's diff to a report (its path is printed)
so that the surviving ones can be read and either killed by a test or explained. The sample is seeded: two runs of one checkout try the same mutants.

Not a test (minutes, not seconds); ../shared is used when it is beside the checkout.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAST = ["-m", "not measure", "-k", "not 100_kb_url and not real_lists_agree"]

# name -> (modules to mutate, the tests that must notice, extra pytest arguments)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "engine": (
        ["pixelguard/engine/*"],
        ["tests/test_engine_rules.py", "tests/test_engine_formats.py", "tests/test_engine_conformance.py",
         "tests/test_engine_hostile.py", "tests/test_filters_bundled.py", "tests/test_filters_params.py",
         "tests/test_resource_types.py", "tests/test_bounded_regex.py", "tests/test_connect_refusal.py",
         "tests/test_index_keys.py", "tests/test_urlskip.py", "tests/test_removeparam.py",
         "tests/test_engine_lists.py"],
    ),
    "pipeline": (
        ["pixelguard/decision/pipeline.py", "pixelguard/decision/decision.py", "pixelguard/decision/request_model.py",
         "pixelguard/decision/removeparam.py", "pixelguard/decision/bodies.py", "pixelguard/decision/urlskip.py",
         "pixelguard/decision/redact.py", "pixelguard/decision/schema_learner.py"],
        ["tests/test_pipeline.py", "tests/test_bodies.py", "tests/test_removeparam.py", "tests/test_leaks.py",
         "tests/test_filters_params.py", "tests/test_resource_types.py", "tests/test_urlskip.py",
         "tests/test_schemas.py", "tests/test_decision_edges.py", "tests/test_connect_refusal.py"],
    ),
    "leaks": (["pixelguard/decision/leaks.py"], ["tests/test_leaks.py"]),
    "payloads": (["pixelguard/payloads/*"], ["tests/test_payloads.py", "tests/test_schemas.py",
                                             "tests/test_payloads_exact.py"]),
    "writer": (["pixelguard/store/writer.py"], ["tests/test_store_writer.py", "tests/test_store_faults.py"]),
    "cname": (["pixelguard/cname.py"], ["tests/test_cname.py", "tests/test_config.py", "tests/test_pipeline.py",
                                        "tests/test_decision_edges.py", "tests/test_engine_cli.py",
                                        "tests/test_doctor_cname.py"]),
    "mail": (["pixelguard/css_loads.py", "pixelguard/written_urls.py"],
             ["tests/test_css_loads.py", "tests/test_written_urls.py"]),
    "messages": (["pixelguard/scan.py", "pixelguard/mail_clean.py", "pixelguard/mail_mbox.py"],
                 ["tests/test_scan.py", "tests/test_mail_clean.py", "tests/test_mail_mbox.py",
                  "tests/test_email_corpus.py", "tests/test_written_urls.py", "tests/test_css_loads.py"]),
    "settings": (["pixelguard/config.py", "pixelguard/config_edit.py", "pixelguard/lists.py", "pixelguard/pause.py",
                  "pixelguard/durations.py"],
                 ["tests/test_config.py", "tests/test_config_edit.py", "tests/test_pause.py", "tests/test_durations.py",
                  "tests/test_lists_user.py", "tests/test_lists_status.py"]),
    "output": (["pixelguard/display.py", "pixelguard/render.py", "pixelguard/checking.py", "pixelguard/relays.py"],
               ["tests/test_display.py", "tests/test_engine_cli.py", "tests/test_cli_log.py",
                "tests/test_store_queries.py", "tests/test_cli.py"]),
    "tls": (["pixelguard/tls_policy.py"], ["tests/test_tls_policy.py", "tests/test_workers.py"]),
    "addresses": (["pixelguard/proxy/address_cache.py", "pixelguard/proxy/happy_eyeballs.py",
                   "pixelguard/proxy/upstream_trust.py"],
                  ["tests/test_address_cache.py", "tests/test_happy_eyeballs.py", "tests/test_upstream_trust.py"]),
}  # fmt: skip


SAFE_IDS = """

def pytest_make_parametrize_id(config, val, argname):  # added by scripts/mutate
    import re
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", repr(val))[:48]
"""


def scratch_copy() -> Path:
    """The checkout as it is now (tracked and untracked files, not ignored ones) in a new directory."""
    out = Path(tempfile.mkdtemp(prefix="pixelguard-mutate-")) / "main"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            dst = out / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return out


def configure(root: Path, only: list[str], tests: list[str]) -> None:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    section = {
        "source_paths": ["pixelguard/"],
        "only_mutate": only,
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": [
            "-p",
            "no:cacheprovider",
            "-q",
            "-x",
            "-W",
            "ignore::DeprecationWarning",
            *FAST,
        ],
        "also_copy": ["filters/"],
        # Each mutant's tests run in a process forked from one that has only collected them: forked from mutmut's
        # main process (its default), they inherited the memos its stats run filled (compiled regexes, host and
        # page info), so a mutant in a memoised function never ran and was counted a survivor.
        "process_isolation": "forkserver",
        "forkserver_warmup": "collect",
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in section.items()]
    (root / "pyproject.toml").write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    # mutmut selects tests by node id, and an id pytest escaped (a backslash, non-ASCII) is then not found. In this
    # scratch copy only, every parameter gets a plain ASCII id (pytest numbers the ones that come out alike).
    conftest = root / "tests" / "conftest.py"
    if SAFE_IDS not in conftest.read_text(encoding="utf-8"):
        conftest.write_text(conftest.read_text(encoding="utf-8") + SAFE_IDS, encoding="utf-8")


def mutmut(root: Path, *args: str, timeout: float = 7200) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIXELGUARD_NO_UPDATES": "1", "PIXELGUARD_NO_CNAME": "1"}
    shared = REPO.parent / "shared"
    if shared.is_dir():
        env["PIXELGUARD_SHARED"] = str(shared)
    return subprocess.run([str(REPO / ".venv" / "bin" / "mutmut"), *args], cwd=root, env=env, text=True,
                          capture_output=True, timeout=timeout)  # fmt: skip


def mutant_names(root: Path) -> dict[str, list[str]]:
    """Module path -> its mutants' names, read from mutmut's .meta files."""
    out: dict[str, list[str]] = {}
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        names = sorted(data.get("exit_code_by_key", {}))
        if names:
            out[str(meta.relative_to(root / "mutants"))[: -len(".meta")]] = names
    return out


def statuses(root: Path) -> dict[str, str]:
    out = {}
    for line in mutmut(root, "results", "--all", "true").stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            out[name] = status.strip()
    return out


def run_group(
    root: Path,
    group: str,
    sample: int | None,
    rng: random.Random,
    report: list[str],
    modules: list[str] | None = None,
) -> list[tuple]:
    only, tests = GROUPS[group]
    configure(root, only, tests)
    shutil.rmtree(root / "mutants", ignore_errors=True)
    mutmut(root, "run", "no-such-mutant")  # generates the mutants and maps tests to functions, runs none
    by_module = mutant_names(root)
    if modules:  # mutmut still generates every module's mutants (cheap); only the matching ones are run
        by_module = {m: n for m, n in by_module.items() if any(fnmatch.fnmatch(m, g) for g in modules)}
    if not by_module:
        raise SystemExit(f"mutate: no mutants for {group} (did mutmut run? see {root})")
    chosen = {m: names if sample is None else sorted(rng.sample(names, min(sample, len(names))))
              for m, names in by_module.items()}  # fmt: skip
    wanted = [n for names in chosen.values() for n in names]
    started = time.monotonic()
    for i in range(0, len(wanted), 200):  # a few hundred names an invocation keeps the command line short
        mutmut(root, "run", *wanted[i : i + 200])
    took = time.monotonic() - started
    status = statuses(root)
    rows = []
    for module, names in chosen.items():
        counts = Counter(status.get(n, "not checked") for n in names)
        killed = counts["killed"] + counts["timeout"]
        survived = counts["survived"]
        tried = killed + survived
        rows.append((group, module, len(by_module[module]), tried, killed, survived, counts))
        for n in names:
            if status.get(n) == "survived":
                diff = mutmut(root, "show", n).stdout
                report.append(f"## {n}\n\n```diff\n{diff.strip()}\n```\n")
    print(f"  {group}: {len(wanted)} mutants in {took:.0f} s", file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, default=60, help="mutants tried per module (default 60)")
    ap.add_argument("--all", action="store_true", help="try every mutant (slow: engine/ alone has thousands)")
    ap.add_argument("--group", action="append", choices=sorted(GROUPS), help="only these groups (repeatable)")
    ap.add_argument("--seed", type=int, default=1, help="the sample's seed")
    ap.add_argument(
        "--module",
        action="append",
        metavar="GLOB",
        help="only the group's modules whose path matches (e.g. '*/engine.py'; repeatable)",
    )
    args = ap.parse_args()
    root = scratch_copy()
    rng = random.Random(args.seed)
    report = [f"# Surviving mutants ({time.strftime('%Y-%m-%d %H:%M')})\n"]
    rows = []
    for group in args.group or list(GROUPS):
        rows += run_group(root, group, None if args.all else args.sample, rng, report, args.module)
    print(f"{'module':<44} {'mutants':>8} {'tried':>6} {'killed':>7} {'survived':>9} {'score':>6}")
    for group in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == group]
        for _, module, total, tried, killed, survived, _ in mine:
            score = f"{100 * killed / tried:.0f}%" if tried else "-"
            print(f"{module:<44} {total:>8} {tried:>6} {killed:>7} {survived:>9} {score:>6}")
        tried = sum(r[3] for r in mine)
        killed = sum(r[4] for r in mine)
        print(f"{'  ' + group + ' (all its modules)':<44} {sum(r[2] for r in mine):>8} {tried:>6} {killed:>7} "
              f"{tried - killed:>9} {100 * killed / max(tried, 1):>5.0f}%")  # fmt: skip
    path = root.parent / "surviving-mutants.md"
    path.write_text("\n".join(report), encoding="utf-8")
    print(f"\nsurvivors' diffs: {path}")


if __name__ == "__main__":
    main()
