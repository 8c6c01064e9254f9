"""Reel's units under a real systemd 252 as PID 1, installed the way docs/DEPLOY.md says.

systemd boots in new PID and mount namespaces (`boot-in-namespace.sh`), with D-Bus and polkitd so that
the autoscaler, running as the unprivileged user `reel`, starts and stops `reel-worker@N` through the
polkit rule. The network namespace is the host's, so the test talks HTTP to the front end on loopback.

Checked: `systemctl start reel.target` brings up the front end, the autoscaler and a first worker, all
as `reel`, sandboxed (no new privileges, seccomp, no capabilities); uploads make the autoscaler start more
workers and the videos become ready; it stops them again when the queue is empty; the polkit rule lets
`reel` manage worker units and nothing else; a hung worker is killed by systemd's watchdog and restarted;
`systemctl stop reel.target` stops everything cleanly.

Bounded: every wait has a deadline; systemd and everything under it is killed at the end, also on failure.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
BOOT = Path(__file__).with_name("boot-in-namespace.sh")
REEL_UID = 850            # as in docs/DEPLOY.md; must be free on this machine
BOOT_TIMEOUT_S = 60
READY_TIMEOUT_S = 300


def _reel_bin() -> Path:
    path = Path(os.environ.get("REEL_BIN", ".build/debug/reel"))
    return path if path.is_absolute() else REPO / path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, timeout: float, check, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Booted:
    """systemd running in its namespaces; commands run inside with nsenter."""

    def __init__(self, stage: Path, port: int, unshare: subprocess.Popen, log: Path):
        self.stage, self.port, self.unshare, self.log = stage, port, unshare, log
        self.init_pid = None

    def run(self, *args: str, user: str | None = None, timeout: float = 60, check: bool = True):
        prefix = ["nsenter", "-t", str(self.init_pid), "-m", "-p", "--"]
        if user:
            prefix += ["setpriv", f"--reuid={REEL_UID}", f"--regid={REEL_UID}", "--clear-groups"]
        proc = subprocess.run(prefix + list(args), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}: {proc.stdout}{proc.stderr}\n{self.logs()}")
        return proc

    def systemctl(self, *args: str, **kw):
        return self.run("systemctl", *args, **kw)

    def active(self, unit: str) -> bool:
        return self.systemctl("is-active", unit, check=False).stdout.strip() == "active"

    def workers(self) -> list[str]:
        out = self.systemctl("list-units", "--plain", "--no-legend", "--state=active", "reel-worker@*").stdout
        return sorted(line.split()[0] for line in out.splitlines() if line.strip())

    def main_pid(self, unit: str) -> int:
        return int(self.systemctl("show", "-p", "MainPID", "--value", unit).stdout.strip())

    def status(self, pid: int) -> dict[str, str]:
        text = self.run("cat", f"/proc/{pid}/status").stdout
        return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def logs(self, lines: int = 30) -> str:
        out = [f"--- namespace ({self.log})", *self.log.read_text(errors="replace").splitlines()[-lines:]]
        if self.init_pid:
            folder = Path(f"/proc/{self.init_pid}/root/run/reel-logs")
            for path in sorted(folder.glob("*.log")) if folder.is_dir() else []:
                out += [f"--- {path.name}", *path.read_text(errors="replace").splitlines()[-lines:]]
        return "\n".join(out)


@pytest.fixture(scope="module")
def booted(tmp_path_factory):
    for tool in ("unshare", "nsenter", "setpriv", "/lib/systemd/systemd", "/usr/lib/polkit-1/polkitd", "dbus-daemon"):
        if shutil.which(tool) is None and not Path(tool).exists():
            pytest.fail(f"{tool} is missing: scripts/install-deps --full installs systemd, dbus and polkitd", pytrace=False)
    if os.geteuid() != 0:
        pytest.skip("booting systemd in a namespace needs root")
    try:
        pwd.getpwuid(REEL_UID)
        pytest.fail(f"uid {REEL_UID} is taken on this machine; the test needs it free for the reel user", pytrace=False)
    except KeyError:
        pass
    reel = _reel_bin()
    assert reel.is_file(), f"{reel} is missing: swift build first"

    stage = tmp_path_factory.mktemp("systemd-stage")
    stage.chmod(0o755)
    (stage / "bin").mkdir()
    shutil.copy2(reel, stage / "bin" / "reel")
    shutil.copytree(REPO / "profiles", stage / "profiles")
    shutil.copytree(REPO / "systemd", stage / "units")
    (stage / "passwd").write_text(Path("/etc/passwd").read_text()
                                  + f"reel:x:{REEL_UID}:{REEL_UID}:Reel:/nonexistent:/usr/sbin/nologin\n")
    (stage / "group").write_text(Path("/etc/group").read_text() + f"reel:x:{REEL_UID}:\n")
    data = stage / "data" / "reel"          # /mnt/nfs_share/reel inside
    data.mkdir(parents=True)
    os.chown(data, REEL_UID, REEL_UID)
    data.chmod(0o750)
    port = _free_port()
    (stage / "reel.env").write_text("\n".join([
        "REEL_DATA_DIR=/mnt/nfs_share/reel",
        "REEL_PROFILES_DIR=/usr/local/share/reel/profiles",
        "REEL_HOST=127.0.0.1",
        f"REEL_PORT={port}",
        # Heartbeats (and so WATCHDOG=1) every second: the test shortens the watchdog to 4 s.
        "REEL_WORKER_OPTIONS=--profile small --chunk-seconds 4 --lease 6 --heartbeat 1",
        "REEL_MIN_WORKERS=1", "REEL_MAX_WORKERS=3",
        "REEL_SCALE_OUT_COOLDOWN=2s", "REEL_SCALE_IN_COOLDOWN=5s", "REEL_WARMUP=2s",
        "REEL_CPU_WINDOW=2s", "REEL_AUTOSCALE_INTERVAL=1s",
        "",
    ]))

    log = stage / "systemd.log"
    with open(log, "wb") as out:
        unshare = subprocess.Popen(["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--uts", "--ipc", "--kill-child",
                                    str(BOOT), str(stage)], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    b = Booted(stage, port, unshare, log)
    try:
        def init_pid():
            assert unshare.poll() is None, f"the namespace exited {unshare.returncode}\n{log.read_text()}"
            children = subprocess.run(["pgrep", "-P", str(unshare.pid)], capture_output=True, text=True).stdout.split()
            pid = int(children[0]) if children else None
            return pid if pid and Path(f"/proc/{pid}/exe").resolve().name == "systemd" else None
        b.init_pid = _wait("systemd to start", BOOT_TIMEOUT_S, init_pid)
        _wait("systemd to finish booting", BOOT_TIMEOUT_S, lambda: b.systemctl(
            "is-system-running", check=False).stdout.strip() in ("running", "degraded"))
        yield b
    finally:
        if b.init_pid:
            os.kill(b.init_pid, signal.SIGRTMIN + 4)      # systemd: power off
            try:
                unshare.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        if unshare.poll() is None:
            os.killpg(unshare.pid, signal.SIGKILL)          # takes the whole PID namespace with it
            unshare.wait(timeout=30)


def _clip(path: Path, seconds: int) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=1280x720:r=30:d={seconds}",
                    "-f", "lavfi", "-i", f"sine=f=440:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-shortest", str(path)], check=True, timeout=120)
    return path


def test_reel_target_runs_scales_and_stops_under_systemd(booted: Booted, tmp_path):
    b = booted
    dropins = Path(f"/proc/{b.init_pid}/root/etc/systemd/system/reel-worker@.service.d")
    dropins.mkdir(parents=True, exist_ok=True)
    (dropins / "test-watchdog.conf").write_text("[Service]\nWatchdogSec=4\nRestartSec=1\n")
    b.systemctl("daemon-reload")
    b.systemctl("start", "reel.target", timeout=120)
    _wait("the front end to answer /healthz", 60, lambda: _healthy(b))
    _wait("the autoscaler to start reel-worker@1", 60, lambda: b.workers())
    assert b.active("reel-server.service") and b.active("reel-autoscaler.service"), b.logs()

    # Every service runs as reel, sandboxed.
    for unit in ["reel-server.service", "reel-autoscaler.service", b.workers()[0]]:
        status = b.status(b.main_pid(unit))
        assert status["Uid"].split()[0] == str(REEL_UID), f"{unit}: {status['Uid']}"
        assert status["NoNewPrivs"] == "1", unit
        assert status["Seccomp"] == "2", f"{unit}: seccomp mode {status['Seccomp']}"
        assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, unit

    # The polkit rule: reel may start and stop worker units, and nothing else.
    denied = b.systemctl("restart", "reel-server.service", user="reel", check=False)
    assert denied.returncode != 0, "user reel could restart the front end"
    b.systemctl("start", "reel-worker@9.service", user="reel")
    assert b.active("reel-worker@9.service")
    b.systemctl("stop", "reel-worker@9.service", user="reel", timeout=90)

    # Uploads: the autoscaler starts more workers, the videos become ready.
    key = b.run("/usr/local/bin/reel", "keys", "create", "--name", "systemd-test", "--scope", "admin",
                "--data", "/mnt/nfs_share/reel", user="reel").stdout.split()[0]
    auth = {"Authorization": f"Bearer {key}"}
    clip = _clip(tmp_path / "clip.mp4", 20)
    ids = []
    for n in range(3):
        with open(clip, "rb") as body:
            r = requests.put(b.url(f"/v1/videos?filename=clip{n}.mp4"), data=body, headers=auth, timeout=60)
        assert r.status_code == 201, f"{r.status_code} {r.text[:300]}\n{b.logs()}"
        ids.append(r.json()["id"])
    most = 0

    def all_ready():
        nonlocal most
        most = max(most, len(b.workers()))
        states = [requests.get(b.url(f"/v1/videos/{vid}"), headers=auth, timeout=10).json()["state"] for vid in ids]
        assert "failed" not in states, f"{states}\n{b.logs()}"
        return all(state == "ready" for state in states)
    try:
        _wait("the three videos to be ready", READY_TIMEOUT_S, all_ready, interval=1)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{b.logs()}") from None
    assert most >= 2, f"the autoscaler never ran more than {most} worker\n{b.logs()}"

    # The queue is empty: back to the minimum of one worker.
    _wait("the workers to shrink to one", 90, lambda: len(b.workers()) == 1)

    # A hung worker (SIGSTOP: no claim attempts, no heartbeats, so no WATCHDOG=1) is killed by systemd's
    # watchdog and restarted by Restart=on-failure. A stopped process cannot exit by itself, so a new main
    # process means the watchdog fired. The autoscaler is stopped first (its workers keep running): it
    # would otherwise start another worker while this one waits for its restart, and then stop one.
    b.systemctl("stop", "reel-autoscaler.service", timeout=60)
    unit = b.workers()[0]
    hung = b.main_pid(unit)
    restarts = int(b.systemctl("show", "-p", "NRestarts", "--value", unit).stdout)
    b.run("kill", "-STOP", str(hung))

    def restarted():
        now = int(b.systemctl("show", "-p", "NRestarts", "--value", unit).stdout)
        return now > restarts and b.active(unit) and b.main_pid(unit) not in (0, hung)
    try:
        _wait(f"systemd's watchdog to restart {unit}", 60, restarted)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{b.logs()}") from None

    # Stop: everything stops and nothing failed.
    b.systemctl("stop", "reel.target", timeout=120)
    _wait("every reel unit to stop", 90, lambda: not any(
        b.active(u) for u in ["reel-server.service", "reel-autoscaler.service", *b.workers()]))
    failed = b.systemctl("list-units", "--plain", "--no-legend", "--state=failed", "reel-*").stdout.strip()
    assert not failed, f"failed units: {failed}\n{b.logs()}"
    logs = b.logs(400)
    assert "scale-out to" in logs and "scale-in to" in logs, logs
    print(logs)  # shown with -s, and kept in the report of a later failure


def _healthy(b: Booted) -> bool:
    try:
        return requests.get(b.url("/healthz"), timeout=2).status_code == 200
    except requests.RequestException:
        return False
