"""Settings precedence (config file < environment < flag) and the expiry of abandoned uploads, on a
server of its own: `reel serve --config FILE` with a 2-second upload expiry."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import _stop
from reel_http_support import REPO_ROOT, free_port, reel_env, start_and_wait

TUS = {"Tus-Resumable": "1.0.0"}


def _start(cmd: list[str], env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """Starts a server of this module's own and waits (≤ 60 s) for /healthz; returns it and its base URL."""
    port = int(cmd[cmd.index("--port") + 1])
    return start_and_wait(cmd, log_path, port, env), f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def configured(reel_bin: Path, tmp_path_factory):
    """A server whose config file sets data_dir, port, max_upload_size and upload_expiry; the environment
    overrides max_upload_size and a flag overrides the port."""
    root = tmp_path_factory.mktemp("reel-config")
    data = root / "data"
    file_port, flag_port = free_port(), free_port()
    config = root / "reel.yaml"
    config.write_text(f"data_dir: {data}\nport: {file_port}\nmax_upload_size: 1000\nupload_expiry: 2s\n"
                      "min_free_space: 1MiB\n")
    env = reel_env()
    env["REEL_MAX_UPLOAD_SIZE"] = "2kB"
    key = subprocess.run([str(reel_bin), "keys", "create", "--name", "cfg", "--scope", "upload", "--config", str(config)],
                         capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env, check=True).stdout.split()[0]
    server, base = _start([str(reel_bin), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(flag_port)],
                          env, root / "serve.log")
    yield {"base": base, "file_port": file_port, "data": data, "auth": {"Authorization": f"Bearer {key}"}}
    _stop(server, "reel serve (configured)")


def test_flag_beats_environment_beats_file(configured):
    # The flag's port answers; the file's port does not.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{configured['file_port']}/healthz", timeout=2)
    # The environment's 2 kB beats the file's 1000 bytes.
    r = requests.options(configured["base"] + "/v1/uploads", headers=TUS, timeout=10)
    assert r.headers["Tus-Max-Size"] == "2000"
    # data_dir came from the file: the key created with --config works against that catalog.
    assert requests.get(configured["base"] + "/v1/videos", headers=configured["auth"], timeout=10).status_code == 200
    assert (configured["data"] / "reel.sqlite").is_file()


def test_abandoned_upload_expires_and_is_removed(configured):
    headers = {**TUS, **configured["auth"]}
    r = requests.post(configured["base"] + "/v1/uploads", headers={**headers, "Upload-Length": "100"}, timeout=10)
    assert r.status_code == 201, r.text
    assert "Upload-Expires" in r.headers
    url = configured["base"] + r.headers["Location"]
    upload_id = r.headers["Location"].rsplit("/", 1)[1]
    r = requests.patch(url, data=b"x" * 10, timeout=10, headers={
        **headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "10"
    folder = configured["data"] / "uploads" / upload_id
    assert folder.is_dir()
    deadline = time.monotonic() + 15
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not folder.exists(), "the sweeper did not remove the expired upload within 15 s"
    assert requests.head(url, headers=headers, timeout=10).status_code in (404, 410)
    r = requests.patch(url, data=b"y" * 10, timeout=10, headers={
        **headers, "Upload-Offset": "10", "Content-Type": "application/offset+octet-stream"})
    assert r.status_code in (404, 410)
    videos = requests.get(configured["base"] + "/v1/videos", headers=configured["auth"], timeout=10).json()["items"]
    assert videos == [], "an abandoned upload must not become a video"


def test_unknown_config_key_is_refused(reel_bin: Path, tmp_path):
    config = tmp_path / "reel.yaml"
    config.write_text("prot: 5000\n")
    proc = subprocess.run([str(reel_bin), "serve", "--config", str(config)], capture_output=True, text=True,
                          timeout=60, cwd=REPO_ROOT, env=reel_env())
    assert proc.returncode != 0
    assert "unknown setting 'prot'" in proc.stderr


def test_full_disk_is_507_and_not_ready(reel_bin: Path, tmp_path):
    """A reserve larger than any disk: uploads are refused with 507 and /readyz reports the disk."""
    data = tmp_path / "data"
    env = reel_env()
    key = subprocess.run([str(reel_bin), "keys", "create", "--name", "full", "--scope", "upload", "--data", str(data)],
                         capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env, check=True).stdout.split()[0]
    server, base = _start([str(reel_bin), "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(free_port()),
                           "--min-free-space", "1000TiB", "--metrics-public", "true"], env, tmp_path / "serve.log")
    try:
        auth = {"Authorization": f"Bearer {key}"}
        r = requests.post(base + "/v1/uploads", headers={**TUS, **auth, "Upload-Length": "1000"}, timeout=10)
        assert r.status_code == 507 and r.headers["Content-Type"] == "application/problem+json"
        assert "free" in r.json()["detail"]
        r = requests.put(base + "/v1/videos?filename=a.mp4", data=b"z" * 1000, headers=auth, timeout=10)
        assert r.status_code == 507
        assert not list((data / "uploads").glob("*")) if (data / "uploads").exists() else True
        r = requests.get(base + "/readyz", timeout=10)
        assert r.status_code == 503
        assert r.json()["checks"]["disk"] != "ok" and r.json()["checks"]["catalog"] == "ok"
    finally:
        _stop(server, "reel serve (full disk)")
