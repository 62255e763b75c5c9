"""TLS sessions with servers are resumed, and kept apart per site as browsers keep theirs (proxy/tls_sessions.py).

A real ``pixelguard run`` and a real TLS origin (Python's ssl, which hands out TLS 1.3 tickets): the origin
records whether each connection it accepted resumed a session.
"""

from __future__ import annotations

from harness import Origin, Proxy, fetch, open_tunnel


def _get(proxy: Proxy, origin: Origin, referer: str | None) -> None:
    headers = {"Referer": referer} if referer else {}
    r = fetch(
        origin.url("/tls-session.js", https=True, host="localhost"),
        proxy.port,
        headers,
        context=proxy.client_context(),
    )
    assert r.status == 200  # each fetch is its own client tunnel, so its own upstream connection


def _resumed_after(origin: Origin, proxy: Proxy, referers: list[str | None]) -> list[bool]:
    first = len(origin.tls_resumed)
    for referer in referers:
        _get(proxy, origin, referer)
    return origin.tls_resumed[first:]


def test_a_second_connection_for_the_same_site_resumes_and_another_site_never_does(
    make_proxy, origin
) -> None:
    # A server may decline a session it handed out: this origin (Python's ssl) does so about once in 30
    # resumptions in this suite, at no fixed place, for a cause not found (the proxy offered the session; see
    # proxy/tls_sessions.py). So each site gets three chances to resume; what may never happen is that a
    # site's first connection resumes, as it would with another site's session.
    proxy = make_proxy()
    a, b = "https://news.example/article", "https://shop.example/cart"
    resumed = _resumed_after(origin, proxy, [a, a, a, a, b, b, b, b])
    assert resumed[0] is False and resumed[4] is False, resumed
    assert any(resumed[1:4]) and any(resumed[5:8]), resumed


def test_without_a_page_nothing_is_resumed(make_proxy, origin) -> None:
    # Mail clients and no-referrer pages: the site is unknown, so no session can link two of them.
    proxy = make_proxy()
    assert _resumed_after(origin, proxy, [None, None, None]) == [False, False, False]


def test_a_page_load_is_its_own_site(make_proxy, origin) -> None:
    # A request with no Referer that is a page load belongs to the page's own site (localhost here).
    proxy = make_proxy()
    first = len(origin.tls_resumed)
    for _ in range(4):
        r = fetch(
            origin.url("/page.html", https=True, host="localhost"),
            proxy.port,
            {"Sec-Fetch-Dest": "document", "Accept": "text/html"},
            context=proxy.client_context(),
        )
        assert r.status == 200
    resumed = origin.tls_resumed[first:]
    assert resumed[0] is False and any(resumed[1:]), resumed  # three chances, as above


def test_the_client_resumes_its_session_with_the_proxy(make_proxy, origin) -> None:
    # The other leg, as a browser's second connection to a host does: the proxy's forged certificate is not
    # signed again for it.
    proxy = make_proxy()
    context, session = proxy.client_context(), None
    reused = []
    for _ in range(3):
        with context.wrap_socket(
            open_tunnel(proxy.port, "localhost", origin.https_port),
            server_hostname="localhost",
            session=session,
        ) as tls:
            tls.sendall(b"GET /tls-session.js HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
            reused.append(tls.session_reused)
            session = tls.session
    assert reused == [False, True, True]
