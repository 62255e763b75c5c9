"""README's "Check that it works" commands, run as written against a real proxy (only its port and CA path
changed): what it says curl prints is what curl prints. The request is blocked, so it never leaves the machine."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable

import pytest
from harness import REPO, Proxy

README = (REPO / "README.md").read_text(encoding="utf-8")


def readme_check_block() -> tuple[str, str]:
    """(the curl command, the status and type the README says it prints)."""
    block = README.split("**Check that it works**", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    command = block.replace("\\\n", " ").split("\n", 1)[0]
    said = re.search(r"^# (\d{3} \S+)", block, re.M)
    assert command.startswith("curl ") and said, block
    return command, said.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_curl_prints_what_the_readme_says(make_proxy: Callable[..., Proxy]) -> None:
    proxy = make_proxy({}, bundled=("pixelguard-ads",))
    command, said = readme_check_block()
    command = command.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{proxy.port}")
    command = command.replace("~/.mitmproxy/mitmproxy-ca-cert.pem", str(proxy.ca))
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, check=False)
    assert run.stdout.strip() == said, run.stderr
    # And what it says of the same request without the Accept header.
    bare = subprocess.run(
        ["bash", "-c", command.replace("-H 'Accept: image/*'", "")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "without the Accept header curl gets 204" in README and bare.stdout.split()[0] == "204"
