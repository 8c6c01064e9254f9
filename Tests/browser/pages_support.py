"""Fixtures and helpers for test_pages.py: a running `reel up` and two Chromiums.

Imported by test_pages.py (pytest puts this folder on sys.path, the way it
loads conftest.py); conftest.py still provides ``browser_paths`` (skip without
Chromium unless REEL_REQUIRE_BROWSER=1) and ``reel_bin``.

Module-wide (stopped when test_pages.py is done):
  * ``reel_server`` - ``reel up --workers 1 --profile small`` on a free port with
                      its own data dir and an admin key; stopped by a finalizer
  * ``desktop``     - headless Chromium, 1280x800, its own profile
  * ``phone``       - headless Chromium with a Pixel 7 user agent, 412x915

Every wait is bounded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "Fixtures"

# The same switches as conftest.py's driver (autoplay without a gesture, no sound), each with its window size.
from chromium_support import start_chromium  # noqa: E402  (pytest puts this folder on sys.path)

PHONE_UA = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/156.0.0.0 Mobile Safari/537.36")

KEY_CREATE_TIMEOUT_S = 60
HEALTHY_TIMEOUT_S = 60
STOP_GRACE_S = 20


# --------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------


def wait_until(check, timeout: float, what: str, poll: float = 0.25, diagnose=None):
    """Call check() until it returns something truthy; fail after `timeout` seconds.

    check may raise AssertionError to fail at once (e.g. the page shows an error).
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            extra = ("\n" + diagnose()) if diagnose else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last value {last!r}{extra}",
                        pytrace=False)
        time.sleep(poll)


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


@dataclasses.dataclass
class ReelServer:
    proc: subprocess.Popen
    port: int
    key: str
    data: Path
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_tail(self, chars: int = 6000) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return f"--- reel up log ({self.log}), last {chars} chars ---\n{text[-chars:]}"

    def api(self, path: str, timeout: float = 10, method: str = "GET", body: bytes | None = None,
            content_type: str | None = None):
        """A JSON API request with the admin key (GET unless told); returns (status, parsed body or text)."""
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url(path), data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (reel drains its worker), then SIGKILL to the whole process group
    (reel up and any worker processes it started) after STOP_GRACE_S."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def reel_server(browser_paths, reel_bin, tmp_path_factory, request) -> ReelServer:
    """`reel up` (server and one worker) on its own data dir, with an admin key."""
    data = tmp_path_factory.mktemp("reel-up-data")
    created = subprocess.run(
        [str(reel_bin), "keys", "create", "--name", "test", "--scope", "admin", "--data", str(data)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=KEY_CREATE_TIMEOUT_S, stdin=subprocess.DEVNULL,
    )
    lines = created.stdout.splitlines()
    if created.returncode != 0 or not lines or not lines[0].strip():
        pytest.fail(f"reel keys create failed (rc={created.returncode})\nstdout: {created.stdout}\n"
                    f"stderr: {created.stderr}", pytrace=False)
    key = lines[0].strip()

    port = _free_port()
    log = tmp_path_factory.mktemp("reel-up-log") / "reel-up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(reel_bin), "up", "--host", "127.0.0.1", "--data", str(data), "--port", str(port), "--workers", "1",
             "--profile", "small"],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, for the SIGKILL in _stop
        )
    request.addfinalizer(lambda: _stop(proc))
    server = ReelServer(proc, port, key, data, log)

    def up():
        if proc.poll() is not None:
            pytest.fail(f"reel up exited with status {proc.returncode}\n{server.log_tail()}", pytrace=False)
        return _healthy(server.url("/healthz"))

    wait_until(up, HEALTHY_TIMEOUT_S, f"GET {server.url('/healthz')} to answer 200",
               poll=0.2, diagnose=server.log_tail)
    return server


# --------------------------------------------------------------------------
# Browsers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def desktop(browser_paths, tmp_path_factory):
    drv = start_chromium(browser_paths, tmp_path_factory.mktemp("chromium-desktop"), ["--window-size=1280,800"])
    try:
        yield drv
    finally:
        drv.quit()


# What Chrome on a Pixel 7 sends as User-Agent client hints. --user-agent= alone
# changes only the User-Agent header: Chromium on Linux would still send
# `Sec-CH-UA-Mobile: ?0` and `Sec-CH-UA-Platform: "Linux"`, a combination no
# phone sends, and a server that trusts the hints first would call it a desktop.
PHONE_UA_METADATA = {
    "brands": [{"brand": "Chromium", "version": "156"}, {"brand": "Not:A-Brand", "version": "8"}],
    "fullVersion": "156.0.0.0",
    "platform": "Android",
    "platformVersion": "13.0.0",
    "architecture": "",
    "model": "Pixel 7",
    "mobile": True,
}


@pytest.fixture(scope="module")
def phone(browser_paths, tmp_path_factory):
    drv = start_chromium(browser_paths, tmp_path_factory.mktemp("chromium-phone"),
                    [f"--user-agent={PHONE_UA}", "--window-size=412,915"])
    try:
        # Applies to this tab (the only one) for the whole session.
        drv.execute_cdp_cmd("Emulation.setUserAgentOverride", {
            "userAgent": PHONE_UA, "platform": "Linux armv81", "userAgentMetadata": PHONE_UA_METADATA})
        yield drv
    finally:
        drv.quit()


def console(driver) -> str:
    try:
        entries = driver.get_log("browser")
    except Exception as exc:  # depends on the driver
        return f"(browser console unavailable: {exc})"
    return "browser console:\n" + ("\n".join(f"  {e.get('level')}: {e.get('message')}" for e in entries)
                                   or "  (nothing)")
