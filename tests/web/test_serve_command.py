"""`kura serve` on the command line: loopback by default, a clear message when the port is taken."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from webtools import REPO

from kura.errors import ConfigError
from kura.server.commands import bind, serve


def start(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "kura.cli", "serve", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        found = re.search(r"(http://\S+/)", line)
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"kura serve did not start: {process.stderr.read()}")


def test_serves_on_loopback_by_default(runs_root: Path):
    process, url = start(str(runs_root / "oasst"), "--port", "0")
    try:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "api/runs", timeout=30).json()["runs"][0]["name"] == "oasst"
        port = int(url.rsplit(":", 1)[1].strip("/"))
        listening = [
            line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if line.split()[3] == "0A"
        ]
        addresses = {local for _, local, *_ in listening if int(local.split(":")[1], 16) == port}
        assert addresses == {f"0100007F:{port:04X}"}  # 127.0.0.1 only, not 0.0.0.0
    finally:
        process.terminate()
        process.wait(10)


def test_a_taken_port_is_one_clear_line(runs_root: Path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is in use: pick another with --port"):
            bind("127.0.0.1", port)
        done = subprocess.run(
            [sys.executable, "-m", "kura.cli", "serve", str(runs_root), "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
        assert done.returncode == 1
        assert f"port {port} on 127.0.0.1 is in use: pick another with --port" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        taken.close()


def test_a_missing_folder_and_a_foreign_address_are_clear_errors(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "kura.cli", "serve", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 1 and "no such folder" in done.stderr
    with pytest.raises(ConfigError, match="not an address of this machine"):
        bind("203.0.113.7", 0)


def test_the_defaults_are_safe():
    import inspect

    params = inspect.signature(serve).parameters
    assert params["host"].default.default == "127.0.0.1"
    assert params["open_browser"].default.default is False
