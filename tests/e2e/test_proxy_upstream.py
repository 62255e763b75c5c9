"""Behind a proxy the network requires (proxy.upstream): a real `pixelguard run` still decides every request, and
only what it lets through reaches that proxy, with its login; a blocked request and a refused tunnel never do.
The proxy is tests/upstream_proxy.py, a real one on 127.0.0.1 that records every request line it is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import GREETING, Echo, Origin, Proxy, open_tunnel, read_line
from upstream_proxy import UpstreamProxy

pytestmark = pytest.mark.e2e

LIST = "||tracker.test^\n/track/*\n"
LOGIN = "me:p@ss:word"  # an @ and a : in the password: percent-encoded in the URL


@pytest.fixture
def upstream() -> Iterator[UpstreamProxy]:
    up = UpstreamProxy(login=LOGIN)
    yield up
    up.close()


@pytest.fixture
def proxy(make_proxy, upstream: UpstreamProxy) -> Proxy:
    return make_proxy({"trackers": LIST}, upstream=f"http://me:p%40ss%3Aword@127.0.0.1:{upstream.port}")


def test_what_passes_goes_through_the_upstream_proxy_and_what_is_blocked_never_reaches_it(
    proxy: Proxy, origin: Origin, upstream: UpstreamProxy
) -> None:
    origin.serve("/ok/up", b"via upstream", "text/plain")
    plain = proxy.get(origin.url("/ok/up"))
    tls = proxy.get(origin.url("/ok/up", https=True, host="localhost"))
    assert (plain.status, plain.body) == (200, b"via upstream")
    assert (tls.status, tls.body) == (200, b"via upstream")
    assert origin.hits["/ok/up"] == 2
    assert f"GET http://127.0.0.1:{origin.http_port}/ok/up HTTP/1.1" in upstream.seen
    assert f"CONNECT localhost:{origin.https_port} HTTP/1.1" in upstream.seen
    assert upstream.refused == 0  # every request carried the login
    seen = len(upstream.seen)

    origin.serve("/track/pixel.gif", b"GIF89a", "image/gif")
    blocked = proxy.get(origin.url("/track/pixel.gif?uid=1", https=True, host="localhost"))
    assert blocked.status == 200 and origin.hits["/track/pixel.gif"] == 0
    with pytest.raises(OSError, match="403"):  # a host blocked whole: the tunnel is refused at CONNECT
        proxy.get("https://tracker.test/t.gif")
    assert upstream.seen[seen:] == []  # neither reached the upstream proxy


def test_run_and_doctor_say_where_it_forwards_and_whether_that_answers(
    proxy: Proxy, upstream: UpstreamProxy
) -> None:
    where = f"http://127.0.0.1:{upstream.port}"
    assert f"forwarding to {where}" in proxy.log()
    doctor = " ".join(proxy.cli("doctor").stdout.split())
    assert f"ok upstream what pixelguard lets through goes on to {where} with a login (it answers)" in doctor
    upstream.close()
    doctor = " ".join(proxy.cli("doctor").stdout.split())
    assert f"FIX upstream {where} does not answer" in doctor
    assert "p@ss" not in doctor and "p%40ss" not in doctor and "p@ss" not in proxy.log()


def test_an_upstream_that_is_pixelguard_itself_is_refused(tmp_path, confdir, certs) -> None:
    import subprocess

    from harness import PIXELGUARD, REPO, free_port, pixelguard_env
    from helpers import write_config

    port = free_port()
    home = tmp_path / "loop"
    config = write_config(home, {}, upstream=f"http://127.0.0.1:{port}")
    run = subprocess.run(
        [*PIXELGUARD, "--config", str(config), "run", "--port", str(port)],
        cwd=REPO, env=pixelguard_env(home, confdir), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode != 0
    assert f"proxy.upstream http://127.0.0.1:{port} is pixelguard's own address" in run.stdout + run.stderr


def test_a_passed_through_host_is_tunnelled_through_the_upstream_proxy(
    make_proxy, origin: Origin, upstream: UpstreamProxy, certs
) -> None:
    """A host never decrypted (tls.passthrough: a bank, a pinned app) still goes through the proxy the network
    requires: its TLS goes on untouched inside a CONNECT to it."""
    import ssl

    from harness import fetch

    proxy = make_proxy(
        {},
        upstream=f"http://me:p%40ss%3Aword@127.0.0.1:{upstream.port}",
        extra="tls: {passthrough: [localhost]}\n",
    )
    origin.serve("/ok/bank", b"untouched", "text/plain")
    own = ssl.create_default_context(cafile=str(certs.ca))  # the origin's own certificate, not pixelguard's
    r = fetch(origin.url("/ok/bank", https=True, host="localhost"), proxy.port, context=own)
    assert (r.status, r.body) == (200, b"untouched")
    assert upstream.seen == [f"CONNECT localhost:{origin.https_port} HTTP/1.1"]


def test_doctor_tells_a_refused_or_missing_login_from_an_accepted_one(
    tmp_path, upstream: UpstreamProxy
) -> None:
    from helpers import write_config

    from pixelguard import config, doctor

    def finding(url: str) -> doctor.Finding:
        (result,) = doctor.check_upstream(config.load(write_config(tmp_path, {}, upstream=url)))
        return result

    base = f"127.0.0.1:{upstream.port}"
    accepted = finding(f"http://me:p%40ss%3Aword@{base}")
    assert accepted.ok and "with a login (it answers)" in accepted.detail
    assert upstream.seen == ["CONNECT pixelguard-check.invalid:443 HTTP/1.1"]  # a name that exists nowhere
    wrong = finding(f"http://me:nope@{base}")
    assert not wrong.ok and "refuses pixelguard's login (407)" in wrong.detail and "config path" in wrong.fix
    missing = finding(f"http://{base}")
    assert not missing.ok and "asks for a login (add user:password@ to its URL)" in missing.detail
    assert "nope" not in wrong.detail + wrong.fix


def test_doctor_notes_a_proxy_the_environment_names_that_pixelguard_does_not_use(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import write_config

    from pixelguard import config, doctor

    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    cfg = config.load(write_config(tmp_path, {}))
    assert doctor.check_upstream(cfg) == []  # nothing named, nothing set: nothing to say
    monkeypatch.setenv("https_proxy", "http://me:secret@corp.example:3128")
    (note,) = doctor.check_upstream(cfg)
    assert note.ok and "names the proxy http://corp.example:3128, but pixelguard connects" in note.detail
    assert "secret" not in note.detail
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{cfg.proxy.port}")  # pixelguard itself
    assert doctor.check_upstream(cfg) == []


def test_a_server_that_speaks_first_is_heard_through_the_upstream_proxy(
    proxy: Proxy, upstream: UpstreamProxy
) -> None:
    """A mail client's SMTP through pixelguard behind the network's proxy: after the client's silence the tunnel is
    opened through that proxy (CONNECT) and the server's greeting comes back (proxy/server_first.py)."""
    server = Echo(greeting=GREETING)
    try:
        with open_tunnel(proxy.port, "localhost", server.port, timeout=15) as raw:
            assert read_line(raw) == GREETING
            raw.sendall(b"QUIT\r\n")
            assert raw.recv(65536) == b"echo:QUIT\r\n"
        assert f"CONNECT localhost:{server.port} HTTP/1.1" in upstream.seen
    finally:
        server.close()
