"""The event log in SQLite: schema (numbered migrations), the writer (a queue and one thread, never waited on
by a proxy hook) and the queries the CLI and the UI read.

The rule of the tree (pixelguard/__init__.py says it whole): engine/, decision/ and payloads/ are pure logic;
proxy/ holds mitmproxy adapters only; store/ is SQLite; the top-level modules are services with state on disk
or the network, and the front ends (cli, render, display, doctor, scan, checking, tui/).
"""
