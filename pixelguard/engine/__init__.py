"""The filter engine: EasyList/EasyPrivacy-compatible request matching with the reason for every decision.

Pure: no network, no SQLite, no mitmproxy. ``Engine.from_files([...]).check(url, source_url, type)``.
"""

from pixelguard.engine.engine import Engine, ListStats, Verdict

__all__ = ["Engine", "ListStats", "Verdict"]
