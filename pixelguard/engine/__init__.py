"""The filter engine: request matching for every list format people use, with the reason for every decision.

Pure: no network, no SQLite, no mitmproxy. ``Engine.from_files([...]).check(url, source_url, type)``.
"""

from pixelguard.engine.engine import Engine, ListStats, ParamRule, Verdict, count_rules

__all__ = ["Engine", "ListStats", "ParamRule", "Verdict", "count_rules"]
