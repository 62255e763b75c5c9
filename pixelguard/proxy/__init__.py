"""mitmproxy adapters, and nothing else: each addon builds the request model from a flow (once), asks the
decision pipeline (pixelguard.decision), applies and records what it answered. No filtering logic lives here.

The rule of the tree (pixelguard/__init__.py says it whole): engine/, decision/ and payloads/ are pure logic;
proxy/ holds mitmproxy adapters only; store/ is SQLite; the top-level modules are services with state on disk
or the network, and the front ends (cli, render, display, doctor, scan, checking, tui/).
"""
