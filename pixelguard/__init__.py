"""pixelguard: a user-side proxy that stops tracking pixels and tracker requests.

How the tree is laid out, and the rule each part keeps:

- ``engine/`` (pure): filter lists → an index → a Verdict per request. Imports nothing else of pixelguard but
  ``limits`` and ``fileio`` (its cache file).
- ``decision/`` (pure): the request model and the pipeline that gives one typed Decision per request (lists,
  CNAME chain, leak alarm, body stages, parameter cleaning), and the pure helpers it uses (image sizes, bodies,
  the pixel learner).
- ``payloads/`` (pure): what a stopped request would have told the tracker.
- ``proxy/`` (mitmproxy adapters only): build the request model from a flow, ask the pipeline, apply and record
  the Decision; run and reload.
- ``store/`` (SQLite): the event log, its writer and its queries.
- ``update/`` (network): list downloads.
- Top level, services with state on disk or the network: config, lists, pause, running, cname (DNS),
  tls_policy, protection (the pipeline as configured), trust, service, fileio, limits (every budget).
- Front ends: cli, checking (``pixelguard check``), render, display, doctor, scan, config_edit, tui/.

Pure means no network, no SQLite and no mitmproxy (and no files, but for the engine's own lists and compiled
cache): a pure module can be tested, fuzzed and mutated with nothing running. tests/test_layout.py checks it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pixelguard")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
