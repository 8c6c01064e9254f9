"""Webhooks (issue 13) end to end: a real `reel serve` and `reel worker`, and a receiver on loopback.

Three endpoints of one upload key: `ok` answers 200, `flaky` answers 500 twice and then 200, `slow` takes
longer than `webhook_timeout`. A video is uploaded and transcoded. Every event reaches `ok` once, in
order (upload.completed, video.playable, video.ready), signed with the endpoint's secret; `flaky` gets
its third attempt; `slow` does not hold up the others; the delivery log says what happened.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import subprocess
import threading
import time

import pytest
import requests

from reel_http_support import REPO_ROOT, create_key, fixture_path, free_port, reel_env, start_and_wait, tail

WEBHOOK_TIMEOUT_S = 2
READY_TIMEOUT_S = 180


class Receiver:
    """An HTTP receiver on 127.0.0.1 that records every request and answers per path."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.flaky_failures = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                started = time.monotonic()
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                              "at": started})
                    fail = self.path == "/flaky" and receiver.flaky_failures < 2
                    if fail:
                        receiver.flaky_failures += 1
                if self.path == "/slow":
                    time.sleep(WEBHOOK_TIMEOUT_S * 3)
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def stop(self):
        self.server.shutdown()


def verify(secret: str, header: str, body: bytes, now: float, tolerance: int = 300) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(","))
    signed = f"{parts['t']}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(now - int(parts["t"])) <= tolerance


@pytest.fixture(scope="module")
def setup(reel_bin, tmp_path_factory):
    folder = tmp_path_factory.mktemp("webhooks")
    data = folder / "data"
    key = create_key(reel_bin, data, "hooks", "upload")
    port = free_port()
    server = start_and_wait([str(reel_bin), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data),
                             "--webhook-allow-private", "true", "--webhook-timeout", f"{WEBHOOK_TIMEOUT_S}s",
                             "--webhook-retry-base", "1s"], folder / "serve.log", port, reel_env())
    worker = subprocess.Popen([str(reel_bin), "worker", "--data", str(data), "--profile", "small"],
                              stdout=open(folder / "worker.log", "wb"), stderr=subprocess.STDOUT, env=reel_env(), cwd=REPO_ROOT)
    receiver = Receiver()
    try:
        yield {"base": f"http://127.0.0.1:{port}", "auth": {"Authorization": f"Bearer {key}"}, "receiver": receiver,
               "log": folder / "serve.log"}
    finally:
        receiver.stop()
        for proc in (worker, server):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_events_arrive_once_in_order_signed_and_retried(setup):
    base, auth, receiver = setup["base"], setup["auth"], setup["receiver"]
    hooks = {}
    for name, events in (("ok", None), ("flaky", ["video.ready"]), ("slow", ["video.ready"])):
        body = {"url": f"http://127.0.0.1:{receiver.port}/{name}"}
        if events:
            body["events"] = events
        r = requests.post(base + "/v1/webhooks", json=body, headers=auth, timeout=10)
        assert r.status_code == 201, r.text
        hooks[name] = r.json()
        assert hooks[name]["secret"].startswith("whsec_")
    listed = requests.get(base + "/v1/webhooks", headers=auth, timeout=10).json()["items"]
    assert [h["id"] for h in listed] == [hooks[n]["id"] for n in ("ok", "flaky", "slow")]
    assert all("secret" not in h or h["secret"] is None for h in listed), "the secret is shown once"

    with open(fixture_path("landscape.mp4"), "rb") as f:
        made = requests.put(base + "/v1/videos", params={"filename": "landscape.mp4"}, data=f, headers=auth, timeout=60)
    assert made.status_code == 201, made.text
    vid = made.json()["id"]
    deadline = time.monotonic() + READY_TIMEOUT_S
    while requests.get(f"{base}/v1/videos/{vid}", headers=auth, timeout=10).json()["state"] != "ready":
        assert time.monotonic() < deadline, tail(setup["log"])
        time.sleep(0.5)

    def events(path):
        return [json.loads(r["body"])["event"] for r in receiver.to(path)]

    deadline = time.monotonic() + 60
    while (len(receiver.to("/ok")) < 3 or len(receiver.to("/flaky")) < 3) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert events("/ok") == ["upload.completed", "video.playable", "video.ready"], events("/ok")
    for r in receiver.to("/ok"):
        body = json.loads(r["body"])
        assert body["video"]["id"] == vid
        assert r["headers"]["Reel-Event"] == body["event"] and r["headers"]["Content-Type"] == "application/json"
        assert verify(hooks["ok"]["secret"], r["headers"]["Reel-Signature"], r["body"], time.time()), r["headers"]
        assert not verify(hooks["flaky"]["secret"], r["headers"]["Reel-Signature"], r["body"], time.time())
    # The flaky endpoint: two 500s, then the third attempt lands; the same delivery each time.
    flaky = receiver.to("/flaky")
    assert len(flaky) == 3 and len({r["headers"]["Reel-Delivery"] for r in flaky}) == 1, [r["headers"] for r in flaky]
    log = requests.get(f"{base}/v1/webhooks/{hooks['flaky']['id']}/deliveries", headers=auth, timeout=10).json()["items"]
    assert [(d["event"], d["state"], d["attempts"]) for d in log] == [("video.ready", "delivered", 3)], log
    # The slow endpoint's attempts time out without holding up the ready event to the others.
    slow = receiver.to("/slow")
    ready_ok = next(r for r in receiver.to("/ok") if json.loads(r["body"])["event"] == "video.ready")
    assert slow and ready_ok["at"] < slow[0]["at"] + WEBHOOK_TIMEOUT_S, "the ready event waited for the slow endpoint"
    deadline = time.monotonic() + 30
    while True:
        slow_log = requests.get(f"{base}/v1/webhooks/{hooks['slow']['id']}/deliveries", headers=auth, timeout=10).json()["items"]
        if slow_log and slow_log[0]["attempts"] >= 1 and slow_log[0]["lastError"]:
            break
        assert time.monotonic() < deadline, slow_log
        time.sleep(0.5)
    assert slow_log[0]["state"] == "pending" and "time" in slow_log[0]["lastError"].lower(), slow_log

    # Deleting an endpoint ends its deliveries.
    assert requests.delete(f"{base}/v1/webhooks/{hooks['slow']['id']}", headers=auth, timeout=10).status_code == 204
    assert requests.get(f"{base}/v1/webhooks/{hooks['slow']['id']}/deliveries", headers=auth, timeout=10).status_code == 404


def test_registration_is_checked(reel):
    """The HTTP suite's server allows no private receivers: loopback and metadata addresses are refused."""
    for url, words in (("http://127.0.0.1:9/x", "loopback"), ("http://169.254.169.254/latest", "link-local"),
                       ("ftp://example.com/", "http"), ("not a url", "")):
        r = reel.request("POST", "/v1/webhooks", json={"url": url})
        assert r.status_code == 422 and words in r.text.lower(), (url, r.status_code, r.text)
    r = reel.request("POST", "/v1/webhooks", json={"url": "https://hooks.example/x", "events": ["video.exploded"]})
    assert r.status_code == 422 and "video.exploded" in r.text, r.text
    assert reel.request("POST", "/v1/webhooks", json={"url": "https://hooks.example/x"}, key=None).status_code == 401
