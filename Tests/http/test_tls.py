"""Built-in TLS (issue 13): HTTP/2 and HTTP/1.1 over TLS on one port (ALPN), HSTS, the plain-HTTP redirect
listener, certificates reloaded on SIGHUP without dropping open connections, and `trusted_proxies` for the
scheme of absolute links behind a TLS-terminating balancer.

Certificates are made at test time with openssl (a CA of our own, and server certificates it signs: a
valid one, an expired one). Clients: curl (--http2, --http1.1), Python's ssl/http.client, ffmpeg.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import requests

from reel_http_support import (REPO_ROOT, create_key, fast_answer_count, free_port, make_certificates, reel_env, router_only,
                               start_and_wait, tail)

START_TIMEOUT_S = 60
HEAD_TIMEOUT_S = 2            # the handshake, and a request head on the redirect port, must be done by then
CONNECTIONS_PER_CLIENT = 32  # ffmpeg alone keeps a connection per rendition and playlist


def _https(port: int, path: str = "/", host: str = "localhost") -> str:
    return f"https://{host}:{port}{path}"


def _curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, text=True, timeout=60)


def _peer_serial(port: int, ca: Path) -> int:
    """The serial number of the certificate a new connection gets."""
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return int(tls.getpeercert()["serialNumber"], 16)


class TLSServer:
    def __init__(self, reel_bin: Path, folder: Path):
        self.folder = folder
        self.certs = make_certificates(folder / "certs")
        self.good_cert, self.good_key = self.certs.issue("good")
        self.expired_cert, self.expired_key = self.certs.issue("expired", dates=("20200101000000Z", "20200201000000Z"))
        self.cert, self.key = folder / "server.pem", folder / "server.key"   # what the server reads
        shutil.copy(self.good_cert, self.cert)
        shutil.copy(self.good_key, self.key)
        self.data = folder / "data"
        self.key_secret = create_key(reel_bin, self.data, "tls-admin", "admin")
        ingest = subprocess.run([str(reel_bin), "ingest", "--data", str(self.data), str(REPO_ROOT / "Fixtures" / "landscape.mp4")],
                                capture_output=True, text=True, timeout=60, env=reel_env(), cwd=REPO_ROOT)
        assert ingest.returncode == 0, ingest.stderr
        self.video = ingest.stdout.split()[0]
        worker = subprocess.run([str(reel_bin), "worker", "--data", str(self.data), "--profile", "small", "--exit-when-idle"],
                                capture_output=True, text=True, timeout=300, env=reel_env(), cwd=REPO_ROOT)
        assert worker.returncode == 0, worker.stderr[-3000:]
        self.port, self.redirect_port = free_port(), free_port()
        self.log = folder / "reel-serve-tls.log"
        cmd = [str(reel_bin), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data", str(self.data),
               "--tls-certificate", str(self.cert), "--tls-key", str(self.key), "--http-redirect-port", str(self.redirect_port),
               "--sendfile", "true", "--request-head-timeout", str(HEAD_TIMEOUT_S),
               "--max-connections-per-client", str(CONNECTIONS_PER_CLIENT)]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=reel_env(),
                                         cwd=REPO_ROOT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.proc.poll() is None, f"reel serve exited {self.proc.returncode}\n{tail(self.log)}"
            try:
                if requests.get(_https(self.port, "/healthz"), verify=str(self.certs.ca), timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"reel serve with TLS did not answer\n{tail(self.log)}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def reload(self, cert: Path, key: Path) -> None:
        shutil.copy(key, self.key)
        shutil.copy(cert, self.cert)
        self.proc.send_signal(signal.SIGHUP)

    def largest_segment(self) -> Path:
        return max((self.data / "hls" / self.video).glob("*/seg-*.m4s"), key=lambda p: p.stat().st_size)


@pytest.fixture(scope="module")
def tls_server(reel_bin, tmp_path_factory):
    server = TLSServer(reel_bin, tmp_path_factory.mktemp("tls"))
    try:
        yield server
    finally:
        server.stop()


def test_http2_and_http1_on_one_port_with_hsts(tls_server):
    ca = str(tls_server.certs.ca)
    h2 = _curl("--http2", "--cacert", ca, "-D", "-", "-o", "/dev/null", "-w", "%{http_version}", _https(tls_server.port, "/"))
    assert h2.returncode == 0, h2.stderr
    assert h2.stdout.startswith("HTTP/2 200") and h2.stdout.endswith("2"), h2.stdout
    assert "strict-transport-security: max-age=15552000" in h2.stdout.lower(), h2.stdout
    # Problems are answers too: they carry HSTS.
    for path in ("/v1/videos/nope", "/hls/nope/master.m3u8"):
        problem = requests.get(_https(tls_server.port, path), verify=ca, timeout=10)
        assert problem.status_code in (401, 404) and problem.headers["Strict-Transport-Security"] == "max-age=15552000", \
            (path, problem.status_code, problem.headers)
    h1 = _curl("--http1.1", "--cacert", ca, "-o", "/dev/null", "-w", "%{http_version} %{http_code}", _https(tls_server.port, "/healthz"))
    assert h1.stdout == "1.1 200", h1.stdout + h1.stderr
    # A client that offers only http/1.1 in ALPN (or none at all) is served HTTP/1.1.
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["http/1.1"])
    conn = http.client.HTTPSConnection("localhost", tls_server.port, context=context, timeout=10)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert response.status == 200 and response.version == 11 and b"alive" in response.read()
    conn.close()


@pytest.mark.parametrize("version", ["--http2", "--http1.1"])
def test_segments_arrive_whole_and_by_range(tls_server, version, tmp_path):
    """Files go through FileBodyHandler (no sendfile through TLS or into HTTP/2 frames): whole, and by range."""
    segment = tls_server.largest_segment()
    assert segment.stat().st_size > 64 << 10, "the test needs a segment large enough for the file path"
    path = f"/hls/{tls_server.video}/{segment.parent.name}/{segment.name}"
    out = tmp_path / "whole"
    got = _curl(version, "--cacert", str(tls_server.certs.ca), "-o", str(out), "-w", "%{http_code}", _https(tls_server.port, path))
    assert got.stdout == "200" and out.read_bytes() == segment.read_bytes(), got.stderr
    part = tmp_path / "part"
    got = _curl(version, "--cacert", str(tls_server.certs.ca), "-r", "1000-70999", "-o", str(part), "-w", "%{http_code}",
                _https(tls_server.port, path))
    assert got.stdout == "206" and part.read_bytes() == segment.read_bytes()[1000:71000], got.stderr


def _answer(server, version: str, path: str, tmp: Path, *headers: str) -> tuple:
    """(status line, headers without Date, body) of one curl request."""
    head, body = tmp / "head", tmp / "body"
    extra = [arg for h in headers for arg in ("-H", h)]
    got = _curl(version, "--cacert", str(server.certs.ca), "-D", str(head), "-o", str(body), *extra, _https(server.port, path))
    assert got.returncode == 0, got.stderr
    lines = head.read_text().strip().splitlines()
    fields = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    fields.pop("date", None)
    return lines[0].strip(), fields, body.read_bytes()


def _fast_answers(server) -> int:
    r = requests.get(_https(server.port, "/metrics"), headers={"Authorization": f"Bearer {server.key_secret}"},
                     verify=str(server.certs.ca), timeout=10)
    assert r.status_code == 200, r.text[:300]
    return fast_answer_count(r.text)


def test_http2_streams_take_the_fast_path_with_the_routers_answers(tls_server, tmp_path):
    """On HTTP/2 each stream may be answered by the fast path, with exactly the router's answer (HSTS included);
    HTTP/1.1 over TLS always goes to the router."""
    segment = tls_server.largest_segment()
    rung = segment.parent.name
    cases = [(f"/hls/{tls_server.video}/master.m3u8", ()),
             (f"/hls/{tls_server.video}/{rung}/index.m3u8", ("Accept-Encoding: gzip",)),
             (f"/hls/{tls_server.video}/{rung}/{segment.name}", ()),
             (f"/hls/{tls_server.video}/{rung}/{segment.name}", ("Range: bytes=10-70009",))]
    for path, headers in cases:
        for _ in range(3):
            reference = _answer(tls_server, "--http2", router_only(path), tmp_path, *headers)
            before = _fast_answers(tls_server)
            fast = _answer(tls_server, "--http2", path, tmp_path, *headers)
            if _fast_answers(tls_server) == before + 1:
                break
        else:
            raise AssertionError(f"{path} {headers} was never answered on the fast path over HTTP/2")
        assert fast == reference, path
        assert fast[1]["strict-transport-security"] == "max-age=15552000"
    assert _answer(tls_server, "--http2", cases[2][0], tmp_path)[2] == segment.read_bytes()
    before = _fast_answers(tls_server)
    for _ in range(3):
        assert _answer(tls_server, "--http1.1", cases[0][0], tmp_path)[0] == "HTTP/1.1 200 OK"
    assert _fast_answers(tls_server) == before


def test_ffmpeg_plays_the_ladder_over_https(tls_server):
    url = _https(tls_server.port, f"/hls/{tls_server.video}/master.m3u8")
    out = subprocess.run(["ffmpeg", "-hide_banner", "-v", "error", "-ca_file", str(tls_server.certs.ca), "-tls_verify", "1",
                          "-i", url, "-map", "0:v:0", "-map", "0:a:0", "-f", "null", "-"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr[-2000:]


def test_client_refuses_a_wrong_name(tls_server):
    ca = str(tls_server.certs.ca)
    wrong = _curl("--cacert", ca, "--resolve", f"other.example:{tls_server.port}:127.0.0.1",
                  _https(tls_server.port, "/", host="other.example"))
    assert wrong.returncode == 60, (wrong.returncode, wrong.stderr)  # peer certificate cannot be authenticated
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
            context.wrap_socket(raw, server_hostname="other.example")


def test_reload_on_sighup_keeps_open_connections(tls_server):
    ca = str(tls_server.certs.ca)
    before = _peer_serial(tls_server.port, tls_server.certs.ca)
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["http/1.1"])
    kept = http.client.HTTPSConnection("localhost", tls_server.port, context=context, timeout=10)
    kept.request("GET", "/healthz")
    assert kept.getresponse().read()

    # An expired certificate put in place: new connections get it (and a client refuses it) …
    tls_server.reload(tls_server.expired_cert, tls_server.expired_key)
    deadline = time.monotonic() + 15
    while True:
        refused = _curl("--cacert", ca, "-o", "/dev/null", _https(tls_server.port, "/healthz"))
        if refused.returncode == 60:
            assert "expired" in refused.stderr, refused.stderr
            break
        assert time.monotonic() < deadline, f"the expired certificate was not loaded\n{tail(tls_server.log)}"
        time.sleep(0.2)
    # … while the connection opened before goes on with the one it began with.
    kept.request("GET", "/healthz")
    assert kept.getresponse().status == 200
    kept.close()

    # A pair that does not belong together is refused; the expired one stays (a client still refuses it).
    shutil.copy(tls_server.good_cert, tls_server.cert)  # the key file still holds the expired pair's key
    tls_server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while "TLS certificate not reloaded" not in tls_server.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, tail(tls_server.log)
        time.sleep(0.2)
    assert _curl("--cacert", ca, "-o", "/dev/null", _https(tls_server.port, "/healthz")).returncode == 60

    # A fresh valid pair: new connections get its serial.
    fresh_cert, fresh_key = tls_server.certs.issue("fresh")
    tls_server.reload(fresh_cert, fresh_key)
    deadline = time.monotonic() + 15
    while True:
        try:
            serial = _peer_serial(tls_server.port, tls_server.certs.ca)
            if serial != before:
                break
        except ssl.SSLError:
            pass
        assert time.monotonic() < deadline, tail(tls_server.log)
        time.sleep(0.2)
    assert tls_server.proc.poll() is None


def test_redirect_listener(tls_server):
    plain = f"http://127.0.0.1:{tls_server.redirect_port}"
    r = requests.get(plain + "/watch/abc?x=1", headers={"Host": "videos.example:80"}, allow_redirects=False, timeout=10)
    assert r.status_code == 308 and r.headers["Location"] == f"https://videos.example:{tls_server.port}/watch/abc?x=1", r.headers
    r = requests.post(plain + "/v1/uploads", headers={"Host": "videos.example"}, allow_redirects=False, timeout=10)
    assert r.status_code == 308, "a POST is redirected with its method kept (308, not 301)"
    # The balancer's health check may stay on plain HTTP.
    assert requests.get(plain + "/", timeout=10).status_code == 200


def test_settings_are_checked_at_start(reel_bin, tls_server, tmp_path):
    base = [str(reel_bin), "serve", "--host", "127.0.0.1", "--port", str(free_port()), "--data", str(tmp_path / "d")]
    alone = subprocess.run(base + ["--tls-certificate", str(tls_server.good_cert)], capture_output=True, text=True,
                           timeout=60, env=reel_env(), cwd=REPO_ROOT)
    assert alone.returncode != 0 and "tls_certificate and tls_key go together" in alone.stderr, alone.stderr
    mismatched = subprocess.run(base + ["--tls-certificate", str(tls_server.good_cert), "--tls-key", str(tls_server.expired_key)],
                                capture_output=True, text=True, timeout=60, env=reel_env(), cwd=REPO_ROOT)
    assert mismatched.returncode != 0 and "does not go with" in mismatched.stderr, mismatched.stderr
    bad = subprocess.run(base + ["--trusted-proxies", "10.0.0.0/40"], capture_output=True, text=True, timeout=60,
                         env=reel_env(), cwd=REPO_ROOT)
    assert bad.returncode != 0 and "trusted_proxies" in bad.stderr, bad.stderr
    redirect = subprocess.run(base + ["--http-redirect-port", "8080"], capture_output=True, text=True, timeout=60,
                              env=reel_env(), cwd=REPO_ROOT)
    assert redirect.returncode != 0 and "needs TLS" in redirect.stderr, redirect.stderr


def test_forwarded_proto_is_believed_only_from_trusted_proxies(reel, reel_bin, tmp_path):
    """The discovery Link of a watch page says https only when a trusted proxy says the client used it."""
    headers = {"X-Forwarded-Proto": "https", "Host": "videos.example"}
    untrusted = requests.get(reel.url("/watch/abc"), headers=headers, timeout=10)
    assert "url=http%3A%2F%2Fvideos%2Eexample%2Fwatch%2Fabc" in untrusted.headers["Link"] or \
        "http%3A%2F%2Fvideos" in untrusted.headers["Link"], untrusted.headers["Link"]
    port = free_port()
    log = tmp_path / "serve.log"
    proc = start_and_wait([str(reel_bin), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(tmp_path / "d"),
                           "--trusted-proxies", "10.0.0.0/8, 127.0.0.1"], log, port, reel_env())
    try:
        trusted = requests.get(f"http://127.0.0.1:{port}/watch/abc", headers=headers, timeout=10)
        assert "https%3A%2F%2Fvideos" in trusted.headers["Link"], trusted.headers["Link"]
        plain = requests.get(f"http://127.0.0.1:{port}/watch/abc", headers={"Host": "videos.example"}, timeout=10)
        assert "http%3A%2F%2Fvideos" in plain.headers["Link"], plain.headers["Link"]
        # `systemctl reload` (SIGHUP) never ends a server, with TLS or without.
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200 and proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert os.path.exists(log)


def _closed_within(sockets, seconds: float) -> int:
    """How many of `sockets` the server closed within `seconds` (EOF or reset on a read)."""
    deadline = time.monotonic() + seconds
    closed = set()
    while time.monotonic() < deadline and len(closed) < len(sockets):
        for i, s in enumerate(sockets):
            if i in closed:
                continue
            s.settimeout(0.05)
            try:
                if s.recv(1) == b"":
                    closed.add(i)
            except socket.timeout:
                pass
            except OSError:
                closed.add(i)
    return len(closed)


@pytest.mark.parametrize("port_name,opening", [("port", b""), ("redirect_port", b"GET / HTTP/1.1\r\nHo")])
def test_silent_connections_are_capped_and_timed_out(tls_server, port_name, opening):
    """Sockets that never finish a TLS handshake (or a request head, on the plain redirect port) are closed
    after request_head_timeout, and one address gets at most max_connections_per_client of them."""
    port = getattr(tls_server, port_name)
    sockets = []
    try:
        for _ in range(CONNECTIONS_PER_CLIENT + 4):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if opening:
                s.sendall(opening)
            sockets.append(s)
        # The ones over the cap go at once; the rest when their deadline passes.
        assert _closed_within(sockets, 1.0) >= 4
        assert _closed_within(sockets, HEAD_TIMEOUT_S + 4) == len(sockets)
        # And the server still answers.
        assert requests.get(_https(tls_server.port, "/healthz"), verify=str(tls_server.certs.ca), timeout=10).status_code == 200
    finally:
        for s in sockets:
            s.close()
