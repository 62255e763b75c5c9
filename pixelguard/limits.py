"""Every budget pixelguard keeps on what grows with its input, in one place, each with the reason for its value.

A new feature that holds something per host, per request or per byte inherits a bound from here instead of
inventing one. Sizes are bytes unless the name says otherwise; counts are entries.
"""

from __future__ import annotations

# --- names and URLs -----------------------------------------------------------------------------------------
# The longest name DNS can resolve (RFC 1035: 255 octets on the wire, 253 characters written out). A longer
# "host" is matched on its last 253 characters; a Host header longer than that names nothing.
MAX_HOST = 253

# The engine's memos of what it works out per host and per page (engine/request.py): a day's browsing touches a
# few thousand hosts and pages, and a page's subresources repeat its URL. Emptied when full (cheaper on the
# request path than LRU bookkeeping); only keys up to MEMO_KEY_MAX characters are kept, so that long hostile
# names cannot fill them with big entries.
HOST_MEMO_SIZE = 8192
PAGE_MEMO_SIZE = 4096
MEMO_KEY_MAX = 256
# Registrable domains remembered (an LRU of host -> domain, about 300 bytes an entry: 5 MB when full). A day's
# browsing touches a few thousand hosts; at 65,536 the cache alone grew the 200,000-request soak by some 20 MB.
DOMAIN_CACHE = 16_384
# The longest URL path whose other spellings are undone before matching (engine/request.py, canonical_url): a
# longer one is matched as sent. Servers refuse request lines well before this (nginx answers 414 past 8 KB by
# default, large_client_header_buffers; Apache past 8,190 bytes, LimitRequestLine), and it bounds the work a
# hostile path of nothing but escapes costs (about 0.1 ms a KB).
CANONICAL_URL_MAX = 16 * 1024
# The tokens of a rule's literal inside a long URL: one entry per rule literal looked for, bounded by the lists.
NEEDLE_TOKENS_CACHE = 65_536
# Hosts whose CONNECT verdict (Engine.blocks_whole_host) is remembered: a day's browsing opens tunnels to a few
# thousand hosts; past this the memo starts again (each answer costs a few host-map lookups to redo).
HOST_VERDICTS = 8192
# How long a client counts as on a page that a $document exception allows (Pipeline.decide_connect): its tunnels
# to hosts blocked whole stay open so that the page's requests can be allowed one by one. Pages stay open for
# a while and send beacons long after they load; half an hour covers a visit.
PAGE_EXCEPTION_WINDOW_S = 1800.0
# Clients remembered as on such a page: one per address; a proxy serves a handful.
PAGE_EXCEPTION_CLIENTS = 1024

# Certificates forged for sites and kept (mitmproxy keeps its last 100): 60 pages of the top sites reach 544
# hosts, so 100 made a long-running proxy forge again for most new connections. One costs a few KB.
FORGED_CERTS = 2048

# A decrypted stream that starts like an HTTP request line with no line end yet waits for this many bytes of it
# before it is taken for HTTP (proxy/http_lines.py). Below it a line usually ends within the next read.
REQUEST_LINE_WAIT = 8 * 1024

# What passes without being read whole is recorded so that the user sees it: a tunnel that carries something
# other than HTTP, relayed as raw bytes (proxy/raw_relays.py), and a request body too big to hold, whose middle
# streams to the server unread (proxy/decider.py). The same client's to the same place at most once in this many
# seconds: a mail client's IMAP reconnects all day, a backup tool uploads all night, and one event an hour says so.
UNDECIDED_EVENT_EVERY_S = 3600.0
# (client, place) pairs remembered for that; past this the memory starts again (a few more events).
UNDECIDED_EVENT_KEYS = 4096

# A tunnel whose client has said nothing this long after it opened (or after its TLS handshake, when it offered
# no HTTP protocol) gets its server connection, so that a server that speaks first can (proxy/server_first.py).
# Browsers send within milliseconds; a mail client waiting for its server's greeting waits this long once.
SERVER_FIRST_WAIT_S = 1.0

# Forged certificates and keys kept in OpenSSL's form as well (proxy/tls_objects.py): the hosts a few pages
# talk to at once. Each is a parsed X509 of a few KB.
CONVERTED_CERTS = 256

# TLS sessions kept to resume with servers (proxy/tls_sessions.py), one per site, server and name: a session
# holds the server's certificates, a few KB.
TLS_SESSIONS = 1024

# --- request bodies -----------------------------------------------------------------------------------------
# A request body up to this size is held whole before anything leaves, and every body stage reads all of it.
# mitmproxy streams bodies above it (stream_large_bodies), which the decision pipeline then reads as a
# bounded view: session-replay and batched beacons pass 256 KB, so a larger bound would hold much memory per
# upload for little gain.
BODY_HOLD = 256 * 1024
# Of a body too big to hold, the stages read its first BODY_HOLD bytes and its last BODY_TAIL: a tracker's
# batch starts with its envelope (ids, keys) and ends with its last events.
BODY_TAIL = 64 * 1024
# A compressed body is inflated to at most this much for the body stages: a bomb of any ratio costs this.
BODY_INFLATE = 1024 * 1024

# `check --body @FILE` reads at most this much: the proxy streams an upload of any size, but a command must end
# (`@/dev/zero`), and what the body stages read of a bigger one is its head and tail all the same.
CHECK_BODY_MAX = 1 << 30

# --- the leak alarm -------------------------------------------------------------------------------------------
# Percent-decoding rounds: %2540 is twice-encoded "@"; trackers have not been seen to go deeper, and each
# round copies the text.
LEAK_DECODE_ROUNDS = 4
# Characters of one text (a URL, a header, a body view) the leak alarm scans: a body view is at most
# BODY_HOLD + BODY_TAIL inflated to BODY_INFLATE, and a URL is cut by the proxy long before this.
LEAK_SCAN_CHARS = BODY_INFLATE

# --- $removeparam ---------------------------------------------------------------------------------------------
# Parameters looked at in one query: a URL with more is hostile; every one up to this is still compared, in
# one pass (the old cap of 1,000 let a click ID hide behind 1,000 dummies, so there is no cap below the URL's
# own length any more: this bound is the URL's length in parameters).
MAX_QUERY_PARAMS = 100_000

# --- CNAME chains ---------------------------------------------------------------------------------------------
# Hops followed from a host to its canonical names. Resolvers follow about 16 (dnspython's own limit, and
# BIND's); a chain that is cut is judged on every name seen so far, never let through for being long.
MAX_CNAME_CHAIN = 32
CNAME_CACHE = 10_000  # hosts whose chain is remembered (by TTL): one entry per host a user's browsing touches
# A chain whose TTL ran out is still used for this long while a new lookup runs (cname.Resolver): a host a user
# keeps visiting never makes a request wait for DNS again. uBO keeps its chains 120 minutes whatever their TTL.
CNAME_STALE_S = 3600.0
# Lookups under way at once (one per host; every request for that host waits on the same one). Each holds a
# UDP socket for at most the resolver's timeout; a flood of new names beyond this is judged without a chain,
# as an unanswered lookup is, instead of taking file descriptors from connections.
CNAME_IN_FLIGHT = 128

# --- TLS passthrough learning ----------------------------------------------------------------------------------
# Certificate refusals for one (client, host) before the host is passed through undecrypted: one refusal is
# a cancelled fetch or a script without the CA as often as a pinning app, which refuses every time.
TLS_LEARN_AFTER = 5
# (client, host) pairs with refusals counted but not yet learned: junk hosts fill this, never the learned table.
TLS_CANDIDATES = 2_000
# Learned passthrough hosts kept; the least recently used goes first, so junk learned once and never used
# again leaves before the pinned app that connects every day.
TLS_LEARNED = 1_000

# --- connections -----------------------------------------------------------------------------------------------
# File descriptors kept free for what is not a connection: lists, the database and its WAL, the log, DNS.
CONNECTION_RESERVE_FDS = 64
# Connections at most: half of what the process may open (a client connection may need an upstream one),
# whatever the `nofile` limit is, and never more than this (beyond it the event loop is the limit anyway).
MAX_CONNECTIONS = 10_000
# At capacity, connections silent this long are the first closed to make room for a new one (least recently
# active first): a browser opens a new connection when it needs one, so closing its idle one costs a handshake.
IDLE_EVICT_S = 1.0
# HTTP/2 streams on one connection that may end in an error (reset by the client, or failed before any
# answer) within RESET_WINDOW_S before the connection is closed (rapid reset, CVE-2023-44487: a request is
# opened and reset at once, and the proxy has already begun it, upstream lookup and all). A browser cancelling
# a page's requests ends tens so; an attack, thousands a second.
MAX_STREAM_RESETS = 200
RESET_WINDOW_S = 10.0
# Streams of one connection begun and not yet answered or failed. The proxy advertises at most 100 open streams
# (h2's SETTINGS_MAX_CONCURRENT_STREAMS default), and a client that keeps to it never has more than 100 here plus
# the few reset whose end the proxy has not yet seen; twice that is a client opening streams faster than it lets
# them finish.
MAX_STREAMS_IN_FLIGHT = 200
# Request bodies held in memory at once (each at most BODY_HOLD): past it, idle holders are closed first, then a
# new request with a body is cut. A held body costs the proxy about twice its size in the end (buffers grown as
# it arrives, freed blocks the allocator keeps), so this is a quarter of the memory the bodies may take; it is
# still 64 uploads of 256 KB at once, or a thousand 16 KB beacons.
MAX_BODIES_IN_FLIGHT = 16 * 1024 * 1024

# --- list downloads -------------------------------------------------------------------------------------------
# Bytes a subscription may bring, itself and every file it includes together: EasyList is about 2 MB and the
# biggest hosts files people subscribe to are about 60 MB, so more is not a filter list.
LIST_DOWNLOAD_BYTES = 64 * 1024 * 1024
# Seconds a subscription's whole download may take, its includes among them: a server sending a byte a second
# keeps every socket read short, so only a deadline on the whole stops it.
LIST_DOWNLOAD_DEADLINE_S = 60.0
# Rules one list may hold (a hosts file near the download cap is about 2.4 million lines): a bigger list is not
# loaded, and says so, rather than making the proxy rebuild for minutes in gigabytes.
MAX_RULES_PER_LIST = 2_500_000
# Requests one client connection serves before pixelguard has it closed (HTTP/1.1: `Connection: close` on the
# response; HTTP/2: closed when no request is in flight). mitmproxy keeps a connection's state, every upstream
# connection and stream it used, until the client disconnects (mitmproxy issues #4456, #4786), so a client that
# keeps one connection for hours would grow the proxy without end; a new connection costs it one handshake.
RECYCLE_AFTER_FLOWS = 1000
# Processes `pixelguard run --workers N` may start: each holds its own engine and connections (about 140 MB with
# EasyList + EasyPrivacy), so past the cores of any machine pixelguard runs on more only cost memory.
MAX_WORKERS = 64
