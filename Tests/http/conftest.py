"""Session fixtures for the HTTP suite: one real `reel serve` on loopback, its workers, keys and sample videos.

Nothing is built here: the binary is REEL_BIN (default .build/debug/reel, relative to the repo root).

  * ``reel``        - the server (`reel serve --data TMP --port FREE --max-upload-size 200000000`), after
                      `reel keys create` made an admin and an upload key; REEL_HTTP_WORKERS (default 2)
                      long-running `reel worker --data TMP --profile small` processes beside it
  * ``landscape_upload`` / ``landscape``  - Fixtures/landscape.mp4 uploaded once with `curl -T`, public;
                      the second waits until it is ready (the streaming, device and signing tests share it)
  * ``private_upload`` / ``private_video`` - Fixtures/phone-rotated.mp4 uploaded with visibility=private
  * ``broken_upload`` - Fixtures/not-a-video.mp4, which must end failed with a reason

The sample uploads start with the first test (autouse), so transcoding overlaps the tests that need no video.
Every wait is bounded; every process started here is stopped by a finalizer (SIGTERM, then SIGKILL after 20 s).
On a failing test the tails of the server and worker logs are attached to the report.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from reel_http_support import (
    FIXTURES,
    MAX_UPLOAD_SIZE,
    REPO_ROOT,
    Reel,
    reel_binary,
    create_key,
    curl,
    free_port,
    reel_env,
    sha256_file,
    tail,
)

HEALTH_TIMEOUT_S = 60
STOP_GRACE_S = 20
_ACTIVE: list[Reel] = []


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def reel_bin() -> Path:
    return reel_binary()


def _stop(proc: subprocess.Popen, name: str) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        print(f"{name} (pid {proc.pid}) ignored SIGTERM for {STOP_GRACE_S} s; SIGKILL")
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def reel(reel_bin: Path, tmp_path_factory, request) -> Reel:
    root = tmp_path_factory.mktemp("reel-http")
    data, logs = root / "data", root / "logs"
    data.mkdir()
    logs.mkdir()
    admin_key = create_key(reel_bin, data, "http-tests-admin", "admin")
    upload_key = create_key(reel_bin, data, "http-tests-upload", "upload")

    port = free_port()
    server_log = logs / "server.log"
    cmd = [str(reel_bin), "serve", "--host", "127.0.0.1", "--data", str(data), "--port", str(port),
           "--max-upload-size", str(MAX_UPLOAD_SIZE), *shlex.split(os.environ.get("REEL_SERVE_ARGS", ""))]
    with open(server_log, "wb") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  cwd=REPO_ROOT, env=reel_env())
    request.addfinalizer(lambda: _stop(server, "reel serve"))

    r = Reel(bin=reel_bin, data=data, port=port, admin_key=admin_key, upload_key=upload_key,
             log_dir=logs, server_log=server_log)
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    last = "no answer"
    while True:
        if server.poll() is not None:
            pytest.fail(f"{' '.join(cmd)} exited {server.returncode} before answering /healthz\n"
                        f"{tail(server_log, 80)}", pytrace=False)
        try:
            resp = requests.get(r.url("/healthz"), timeout=2)
            if resp.status_code == 200:
                break
            last = f"HTTP {resp.status_code}"
        except requests.RequestException as e:
            last = str(e)
        if time.monotonic() > deadline:
            pytest.fail(f"`reel serve` did not answer GET /healthz with 200 within {HEALTH_TIMEOUT_S} s ({last})\n"
                        f"{tail(server_log, 80)}", pytrace=False)
        time.sleep(0.2)

    for i in range(max(1, int(os.environ.get("REEL_HTTP_WORKERS", "2")))):
        wlog = logs / f"worker-{i}.log"
        wcmd = [str(reel_bin), "worker", "--data", str(data), "--profile", "small"]
        with open(wlog, "wb") as log:
            worker = subprocess.Popen(wcmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      cwd=REPO_ROOT, env=reel_env())
        request.addfinalizer(lambda w=worker, n=i: _stop(w, f"reel worker #{n}"))
        r.worker_logs.append(wlog)
        time.sleep(0.3)
        if worker.poll() is not None:
            pytest.fail(f"{' '.join(wcmd)} exited {worker.returncode} at once\n{tail(wlog, 80)}", pytrace=False)

    _ACTIVE.append(r)
    request.addfinalizer(lambda: _ACTIVE.remove(r))
    return r


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _ACTIVE:
        report.sections.append(("reel logs", _ACTIVE[-1].log_tails(40)))


# --------------------------------------------------------------------------
# Sample videos, shared by the whole session
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def landscape_upload(reel: Reel, tmp_path_factory):
    """`curl -T Fixtures/landscape.mp4 … /v1/videos?filename=landscape.mp4&sha256=…` (the test of record for curl)."""
    src = FIXTURES / "landscape.mp4"
    digest = sha256_file(src)
    res = curl(["-T", str(src), "-H", f"Authorization: Bearer {reel.admin_key}",
                f"{reel.base}/v1/videos?filename=landscape.mp4&title=Landscape&sha256={digest}"],
               tmp_path_factory.mktemp("curl-landscape"))
    return {"result": res, "sha256": digest, "size": src.stat().st_size}


@pytest.fixture(scope="session")
def landscape(reel: Reel, landscape_upload) -> dict:
    """The landscape video once ready (its Video JSON)."""
    res = landscape_upload["result"]
    assert res.status == 201, f"curl upload of landscape.mp4: {res.status} {res.body[:500]!r}\n{reel.log_tails()}"
    return reel.wait_state(res.json()["id"], "ready")


@pytest.fixture(scope="session")
def private_upload(reel: Reel) -> dict:
    resp = reel.put_video("phone-rotated.mp4", visibility="private", title="Private phone clip")
    assert resp.status_code == 201, f"PUT private video: {resp.status_code} {resp.text[:500]}"
    return resp.json()


@pytest.fixture(scope="session")
def private_video(reel: Reel, private_upload) -> dict:
    return reel.wait_state(private_upload["id"], "ready")


@pytest.fixture(scope="session")
def broken_upload(reel: Reel, tmp_path_factory):
    src = FIXTURES / "not-a-video.mp4"
    res = curl(["-T", str(src), "-H", f"Authorization: Bearer {reel.admin_key}",
                f"{reel.base}/v1/videos?filename=not-a-video.mp4"], tmp_path_factory.mktemp("curl-broken"))
    return res


@pytest.fixture(scope="session", autouse=True)
def _start_samples(request):
    """Starts the shared uploads with the first test, unless the run needs no server at all (-k selections)."""
    names = {n for item in request.session.items for n in getattr(item, "fixturenames", ())}
    if names & {"landscape", "landscape_upload", "private_upload", "private_video", "broken_upload"}:
        for name in ("landscape_upload", "private_upload", "broken_upload"):
            request.getfixturevalue(name)
