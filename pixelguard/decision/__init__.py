"""Pure decision logic: a request model in, one typed Decision out.

The rule of the tree: ``engine/``, ``decision/`` and ``payloads/`` are pure (no network, no files, no SQLite, no
mitmproxy); ``proxy/`` holds mitmproxy adapters only (they build the request model, call the pipeline once,
apply and record the Decision); ``store/`` is SQLite; the modules at the top level are services with state on
disk or the network (config, lists, pause, DNS chains, TLS learning, trust, updates) and the front ends (cli,
render, display, doctor, scan, tui/).
"""

from pixelguard.decision.decision import PASSED, STAGES, Action, Decision, Reason
from pixelguard.decision.pipeline import Pipeline
from pixelguard.decision.request_model import RequestModel

__all__ = ["PASSED", "STAGES", "Action", "Decision", "Pipeline", "Reason", "RequestModel"]
