"""Chromium plays over HTTPS (issue 13): `reel serve` with a certificate made at test time, HTTP/2 by ALPN.

The certificate is signed by a CA made here, which Chromium does not know. Rather than turning
certificate checks off, Chromium is told to trust exactly this certificate's public key
(`--ignore-certificate-errors-spki-list`, which pins it); a second Chromium without that pin must refuse
the page. The watch page then plays the ladder natively, and the page's own requests went over h2.
"""

from __future__ import annotations

import base64
import hashlib
import signal
import subprocess
import sys
import time

import pytest
from chromium_support import start_chromium
from pages_support import REPO_ROOT, _free_port, wait_until

sys.path.insert(0, str(REPO_ROOT / "Tests" / "http"))
from reel_http_support import make_certificates, reel_env, tail  # noqa: E402

PLAY_TIMEOUT_S = 30

STATE_JS = """
const v = document.querySelector('video');
if (!v) return null;
if (v.paused && v.readyState >= 2) { v.muted = true; v.play(); }
const api = performance.getEntriesByType('resource').filter(e => e.name.includes('/v1/videos/'));
return {currentTime: v.currentTime, error: v.error ? v.error.code + ' ' + v.error.message : null,
        protocols: api.map(e => e.nextHopProtocol), secure: window.isSecureContext};
"""


def spki_hash(cert) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate, what Chromium's pin list takes."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"], capture_output=True, check=True, timeout=30)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub.stdout, capture_output=True,
                         check=True, timeout=30)
    return base64.b64encode(hashlib.sha256(der.stdout).digest()).decode()


@pytest.fixture(scope="module")
def https_server(reel_bin, tmp_path_factory):
    folder = tmp_path_factory.mktemp("https")
    certs = make_certificates(folder / "certs")
    cert, key = certs.issue("server")
    data = folder / "data"
    env = reel_env()
    ingest = subprocess.run([str(reel_bin), "ingest", "--data", str(data), str(REPO_ROOT / "Fixtures" / "landscape.mp4")],
                            capture_output=True, text=True, timeout=60, env=env, cwd=REPO_ROOT)
    assert ingest.returncode == 0, ingest.stderr
    video = ingest.stdout.split()[0]
    worker = subprocess.run([str(reel_bin), "worker", "--data", str(data), "--profile", "small", "--exit-when-idle"],
                            capture_output=True, text=True, timeout=300, env=env, cwd=REPO_ROOT)
    assert worker.returncode == 0, worker.stderr[-2000:]
    port = _free_port()
    log = folder / "reel-serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(reel_bin), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data),
                                 "--tls-certificate", str(cert), "--tls-key", str(key)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=REPO_ROOT)
    try:
        def up():
            assert proc.poll() is None, tail(log)
            return subprocess.run(["curl", "-s", "-o", "/dev/null", "--cacert", str(certs.ca),
                                   f"https://localhost:{port}/healthz"], timeout=10).returncode == 0
        wait_until(up, 30, "reel serve with TLS to answer", poll=0.2, diagnose=lambda: tail(log))
        yield {"port": port, "video": video, "pin": spki_hash(cert), "log": log}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_chromium_plays_the_watch_page_over_https_and_http2(browser_paths, https_server, tmp_path):
    (tmp_path / "pinned").mkdir()
    drv = start_chromium(browser_paths, tmp_path / "pinned", [f"--ignore-certificate-errors-spki-list={https_server['pin']}"])
    try:
        drv.get(f"https://localhost:{https_server['port']}/watch/{https_server['video']}")

        def playing():
            s = drv.execute_script(STATE_JS)
            if s and s["error"]:
                raise AssertionError(f"the video failed over https: {s}")
            return s if s and s["currentTime"] > 1.0 else None

        s = wait_until(playing, PLAY_TIMEOUT_S, "the watch page to play past 1 s over https", poll=0.25,
                       diagnose=lambda: f"{drv.execute_script(STATE_JS)}\n{tail(https_server['log'])}")
        assert s["secure"] is True, s
        assert s["protocols"] and set(s["protocols"]) == {"h2"}, f"the page's API requests were not HTTP/2: {s}"
    finally:
        drv.quit()


def test_chromium_without_the_pin_refuses_the_certificate(browser_paths, https_server, tmp_path):
    (tmp_path / "unpinned").mkdir()
    drv = start_chromium(browser_paths, tmp_path / "unpinned", [])
    try:
        drv.get(f"https://localhost:{https_server['port']}/watch/{https_server['video']}")
        time.sleep(1)
        # Chromium shows its interstitial instead of the page: no <video>, no watch page title.
        assert drv.execute_script("return document.querySelector('video')") is None
        assert "Reel" not in drv.title, drv.title
    finally:
        drv.quit()
