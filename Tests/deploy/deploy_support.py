"""What the Tests/deploy suites share: the reel binary, `reel up` on a storage root of its own, and a
video uploaded and waited for over its API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "Tests" / "http"))
from reel_http_support import fixture_path, free_port, reel_env, tail  # noqa: E402,F401

UP_TIMEOUT_S = 60
READY_TIMEOUT_S = 180


def reel_bin() -> Path:
    path = Path(os.environ.get("REEL_BIN") or REPO_ROOT / ".build" / "debug" / "reel")
    if not path.exists():
        pytest.fail(f"no reel binary at {path} (set REEL_BIN)")
    return path


def reel(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs `reel ARGS` to the end; stdout and stderr as text."""
    return subprocess.run([str(reel_bin()), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env or reel_env())


@dataclass
class ReelUp:
    """`reel up` (server, autoscaler, worker processes) on its own storage root and port."""
    proc: subprocess.Popen
    port: int
    data: Path
    log: Path
    key: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def upload(self, path: Path, **params) -> str:
        with open(path, "rb") as body:
            r = requests.put(self.base + "/v1/videos", params={"filename": path.name, **params}, data=body,
                             headers=self.auth, timeout=120)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def video(self, vid: str) -> dict:
        r = requests.get(f"{self.base}/v1/videos/{vid}", headers=self.auth, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def wait_ready(self, vid: str, timeout: float = READY_TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            video = self.video(vid)
            if video["state"] == "ready":
                return video
            assert video["state"] != "failed" and time.monotonic() < deadline, \
                f"video {vid} is {video['state']}: {video.get('error')}\n{tail(self.log)}"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start_reel_up(data: Path, *extra: str, log_name: str = "reel-up.log") -> ReelUp:
    """Starts `reel up --workers 1 --profile small` on `data` and waits for /healthz and its admin key."""
    log = data.parent / log_name
    port = free_port()
    cmd = [str(reel_bin()), "up", "--host", "127.0.0.1", "--port", str(port), "--data", str(data),
           "--workers", "1", "--profile", "small", *extra]
    with open(log, "ab") as out:
        # stdout is the banner (for people); the log goes to stderr, every process's into the same file.
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=out, stdin=subprocess.DEVNULL, cwd=REPO_ROOT,
                                env=reel_env(), start_new_session=True)
    up = ReelUp(proc, port, data, log, "")
    deadline = time.monotonic() + UP_TIMEOUT_S
    try:
        while True:
            assert proc.poll() is None, f"reel up exited {proc.returncode}\n{tail(log)}"
            try:
                if requests.get(up.base + "/healthz", timeout=2).status_code == 200 and (data / "admin.key").exists():
                    up.key = (data / "admin.key").read_text().strip()
                    return up
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"reel up did not come up\n{tail(log)}"
            time.sleep(0.2)
    except BaseException:
        up.stop()
        raise
