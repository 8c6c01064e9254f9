"""Pages, health and metrics (docs/HTTP.md, "Pages and health")."""

from __future__ import annotations

import re
import time

import requests

from reel_http_support import assert_problem


def test_root_page_is_fast_html(reel):
    requests.get(reel.url("/"), timeout=10)                 # warm the connection path once
    started = time.monotonic()
    r = requests.get(reel.url("/"), timeout=10)
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "text/html"
    assert "<html" in r.text.lower()
    assert elapsed < 0.5, f"GET / took {elapsed:.3f} s; it is the load balancer's health check"


def test_healthz(reel):
    r = requests.get(reel.url("/healthz"), timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "alive"}


def test_readyz(reel):
    """The status is for the load balancer (no key); the checks, which name paths and errors, for admins."""
    r = requests.get(reel.url("/readyz"), timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
    assert r.json() == {"status": "ready"}
    assert reel.get("/readyz", key="upload").json() == {"status": "ready"}
    r = reel.get("/readyz", key="admin")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "checks": {"catalog": "ok", "storage": "ok", "disk": "ok"}}


def test_metrics_need_an_admin_key(reel):
    assert_problem(reel.get("/metrics", key=None), 401, "/metrics without a key")
    assert_problem(reel.get("/metrics", key="upload"), 403, "/metrics with an upload key")


def test_metrics_public_setting_opens_metrics_and_checks(reel, tmp_path):
    """`metrics_public: true` (here as REEL_METRICS_PUBLIC) is for a port only the scraper can reach."""
    import os

    from reel_http_support import PROFILES_DIR, free_port, start_and_wait

    port = free_port()
    env = {**os.environ, "REEL_PROFILES_DIR": str(PROFILES_DIR), "REEL_METRICS_PUBLIC": "true"}
    env.pop("REEL_DATA_DIR", None)
    proc = start_and_wait([str(reel.bin), "serve", "--host", "127.0.0.1", "--port", str(port),
                           "--data", str(tmp_path / "data")], tmp_path / "serve.log", port, env)
    try:
        base = f"http://127.0.0.1:{port}"
        r = requests.get(base + "/metrics", timeout=10)
        assert r.status_code == 200 and "reel_jobs" in r.text
        assert requests.get(base + "/readyz", timeout=10).json()["checks"]["catalog"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_metrics(reel, landscape_upload):
    for _ in range(3):                                       # some traffic to count
        requests.get(reel.url("/healthz"), timeout=10)
    r = reel.get("/metrics", key="admin")
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith(("text/plain", "application/openmetrics-text"))
    text = r.text

    def series(name: str) -> list[tuple[str, float]]:
        return [(m.group(1) or "", float(m.group(2)))
                for m in re.finditer(rf"^{name}(\{{[^}}]*\}})?\s+([-+0-9.eEnaIf]+)(?:\s+\d+)?$", text, re.M)]

    assert series("reel_http_requests_total") or series("hb_requests_total") or series("hb_requests"), \
        "no HTTP request counter (reel_http_requests_total or Hummingbird's hb_requests)"
    uploaded = series("reel_upload_bytes_total")
    assert uploaded, "no reel_upload_bytes_total"
    assert sum(v for _, v in uploaded) >= landscape_upload["size"], uploaded
    jobs = series("reel_jobs")
    assert jobs and all('state="' in labels for labels, _ in jobs), jobs
    assert series("reel_workers"), "no reel_workers"


def test_the_binary_alone_serves_the_pages(reel, tmp_path):
    """docs/DEPLOY.md installs only the `reel` binary: the pages are compiled into it, so a copy with
    nothing beside it (no build tree, no resource folder) still serves them."""
    import shutil

    from reel_http_support import PROFILES_DIR, REPO_ROOT, free_port, start_and_wait, tail

    alone = tmp_path / "bin" / "reel"
    alone.parent.mkdir()
    shutil.copy2(reel.bin, alone)
    # On this machine a resource bundle would still be found in the build tree; on a host it would not.
    assert b"Reel_Server.resources" not in alone.read_bytes(), "the binary still looks for a resource bundle"
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "REEL_PROFILES_DIR": str(PROFILES_DIR), "HOME": str(tmp_path)}
    proc = start_and_wait([str(alone), "serve", "--host", "127.0.0.1", "--port", str(port),
                           "--data", str(tmp_path / "data")], tmp_path / "serve.log", port, env, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        for path, kind in [("/", "text/html"), ("/upload", "text/html"), ("/assets/app.js", "text/javascript"),
                           ("/assets/tus.js", "text/javascript"), ("/assets/player.js", "text/javascript"),
                           ("/assets/app.css", "text/css")]:
            r = requests.get(base + path, timeout=10)
            assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}\n{tail(tmp_path / 'serve.log')}"
            assert r.headers["Content-Type"].split(";")[0] == kind
            assert len(r.content) > 500
        # The bytes are those of the source files.
        pages = REPO_ROOT / "Sources" / "Server" / "Pages"
        assert requests.get(base + "/assets/tus.js", timeout=10).content == (pages / "tus.js").read_bytes()
        assert requests.get(base + "/assets/player.js", timeout=10).content == (pages / "player.js").read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
