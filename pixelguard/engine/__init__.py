"""The filter engine: request matching for every list format people use, with the reason for every decision.

Pure: no network, no SQLite, no mitmproxy. ``Engine.from_files([...]).check(url, source_url, type)``.

The rule of the tree (pixelguard/__init__.py says it whole): engine/, decision/ and payloads/ are pure logic;
proxy/ holds mitmproxy adapters only; store/ is SQLite; the top-level modules are services with state on disk
or the network, and the front ends (cli, render, display, doctor, scan, checking, tui/).
"""

from pixelguard.engine.engine import Engine, ListStats, ParamRule, Verdict, count_rules

__all__ = ["Engine", "ListStats", "ParamRule", "Verdict", "count_rules"]
