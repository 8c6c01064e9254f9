"""The parts of the fleet under test: a throw-away PostgreSQL cluster, `reel up` nodes, haproxy.

Imported by conftest.py and test_fleet.py (pytest puts this folder on sys.path). Everything here starts
processes in their own sessions and stops them by process group (and, for a node, every process below
it), so a failing test leaves nothing running once its finalizers ran.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from reel_http_support import REPO_ROOT, reel_env, tail, wait_until

POSTGRES_CLUSTER = REPO_ROOT / "scripts" / "postgres-cluster"
HEALTH_TIMEOUT_S = 90        # a node answers /healthz after `reel up` (two start at once on two cores)
STOP_GRACE_S = 40            # a node's drain (workers get REEL_DRAIN_TIMEOUT) before SIGKILL
LEASE_S = 8                  # REEL_LEASE_DURATION for the nodes' workers: a killed node's pieces come back soon
DRAIN_S = 5                  # REEL_DRAIN_TIMEOUT

_WORKER_STARTED = re.compile(r"worker (\S+) started")
_COMPLETED = re.compile(r"completed (\w+) job (\d+)\b")


def wait_for(check, timeout: float, what: str, interval: float = 0.25, diagnose=None):
    """`wait_until` with the argument order these tests read best in."""
    return wait_until(check, timeout, interval=interval, what=what, diagnose=diagnose)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren…), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        # pid (comm) state ppid …; comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL to the process group `proc` leads and to every process below it; then reaps it."""
    if proc.poll() is None:
        below = descendants(proc.pid)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass


def stop_gently(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> None:
    """SIGTERM, then after `grace` s SIGKILL to the whole tree."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    kill_tree(proc)


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Postgres:
    """A cluster made by scripts/postgres-cluster in `folder`; `pause`/`resume` keep its port and data."""

    folder: Path
    url: str = ""

    def _run(self, verb: str) -> str:
        proc = subprocess.run([str(POSTGRES_CLUSTER), verb, str(self.folder)], capture_output=True, text=True,
                              timeout=90, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"scripts/postgres-cluster {verb} exited {proc.returncode}: {proc.stderr}"
        return proc.stdout.strip()

    def start(self) -> str:
        self.url = self._run("start")
        return self.url

    def pause(self) -> None:
        self._run("pause")

    def resume(self) -> None:
        self._run("resume")

    @property
    def running(self) -> bool:
        return (self.folder / "data" / "postmaster.pid").exists()

    def stop(self) -> None:
        self._run("stop")

    def log_tail(self, lines: int = 30) -> str:
        return f"--- postgres server.log ---\n{tail(self.folder / 'server.log', lines)}"


# --------------------------------------------------------------------------
# A node: `reel up` (server and its worker processes)
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Node:
    name: str
    bin: Path
    data: Path
    database: str
    port: int
    log: Path
    admin_key: str
    proc: subprocess.Popen | None = None
    workers: bool = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        # Autoscaled, but at most one worker per node: two nodes on two cores.
        workers = ["--min-workers", "1", "--max-workers", "1"] if self.workers else ["--workers", "0"]
        return [str(self.bin), "up", "--host", "127.0.0.1", "--port", str(self.port), "--data", str(self.data),
                "--database", self.database, "--profile", "small", *workers,
                "--max-connections-per-client", "0", "--max-upload-size", "200000000"]

    def launch(self) -> None:
        """Starts `reel up` in its own session; its output (and its workers') is appended to `log`."""
        assert self.proc is None or self.proc.poll() is not None, f"node {self.name} is already running"
        # Both nodes run on one machine: node names keep their workers, locks and autoscaler status apart.
        env = reel_env(REEL_LEASE_DURATION=f"{LEASE_S}s", REEL_DRAIN_TIMEOUT=str(DRAIN_S), REEL_NODE_NAME=self.name)
        with open(self.log, "ab") as out:
            out.write(f"\n==== fleet test: starting node {self.name}: {' '.join(self.command())}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=REPO_ROOT, env=env, start_new_session=True)

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT_S) -> None:
        def healthy():
            assert self.running, f"node {self.name} exited {self.proc.returncode}\n{self.log_tail(60)}"
            try:
                return requests.get(self.base + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, timeout, f"node {self.name} answering GET /healthz", interval=0.2, diagnose=self.log_tail)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9 of the node: `reel up` and every worker it started."""
        if self.proc is not None:
            kill_tree(self.proc)

    def stop(self) -> None:
        """SIGTERM (workers finish or give back their piece), SIGKILL to what is left after the grace."""
        if self.proc is not None:
            stop_gently(self.proc)

    def worker_pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.running else []

    def readyz(self, key: bool = False) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.admin_key}"} if key else {}
        return requests.get(self.base + "/readyz", headers=headers, timeout=60)

    def readyz_status(self) -> int | None:
        """/readyz's status without a key (what a load balancer sees), None when it does not answer."""
        try:
            return self.readyz().status_code
        except requests.RequestException:
            return None

    # -- what its log says -------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def worker_owners(self) -> list[str]:
        """Lease owners of every worker this node started (all its runs), in order."""
        return _WORKER_STARTED.findall(self.log_text())

    def completions(self) -> list[tuple[str, int]]:
        """(kind, job id) for every `completed … job N` its workers logged."""
        return [(kind, int(job)) for kind, job in _COMPLETED.findall(self.log_text())]

    def log_tail(self, lines: int = 40) -> str:
        return f"--- node {self.name} ({self.log}) ---\n{tail(self.log, lines)}"


# --------------------------------------------------------------------------
# haproxy
# --------------------------------------------------------------------------

HAPROXY_CONFIG = """\
global
    maxconn 2000
    stats socket {socket} mode 600 level admin
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout check 3s
    # A connection refused by a node that just died goes to the other one.
    retries 3
    option redispatch 1

frontend fleet
    bind 127.0.0.1:{port}
    default_backend reel

backend reel
    balance roundrobin
    option httpchk GET /
    http-check expect status 200
    # Which node answered, for the tests (and for anyone reading responses).
    http-response set-header Reel-Node %[srv_name]
{servers}
"""


@dataclasses.dataclass
class Haproxy:
    folder: Path
    port: int
    nodes: list[Node]
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        return self.folder / "haproxy.sock"

    @property
    def log(self) -> Path:
        return self.folder / "haproxy.log"

    def start(self) -> None:
        servers = "\n".join(f"    server {n.name} 127.0.0.1:{n.port} check inter 500ms fall 2 rise 2" for n in self.nodes)
        config = self.folder / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(socket=self.socket_path, port=self.port, servers=servers))
        check = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"haproxy -c refused the config:\n{check.stdout}\n{check.stderr}"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: self.socket_path.exists() and self._answers(), 30, "haproxy listening",
                 diagnose=lambda: tail(self.log))

    def _answers(self) -> bool:
        assert self.proc.poll() is None, f"haproxy exited {self.proc.returncode}\n{tail(self.log)}"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_gently(self.proc, grace=10)

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.socket_path))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def servers(self) -> dict[str, dict[str, str]]:
        """The backend's servers from `show stat`: name -> row (status, stot = sessions served, …)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r for r in rows if r["pxname"] == "reel" and r["svname"] not in ("FRONTEND", "BACKEND")}

    def status(self) -> dict[str, str]:
        return {name: row["status"] for name, row in self.servers().items()}

    def wait_status(self, node: str, want: str, timeout: float = 60) -> None:
        """Until haproxy's health checks call `node` `want` (UP or DOWN)."""
        wait_for(lambda: self.status().get(node, "").split(" ")[0] == want, timeout,
                 f"haproxy reporting node {node} {want}", diagnose=lambda: f"status: {self.status()}")

    def log_tail(self, lines: int = 30) -> str:
        return f"--- haproxy ({self.log}) ---\n{tail(self.log, lines)}"


def jobs(bin: Path, data: Path, database: str) -> list[dict]:
    """`reel jobs list --json` (every job, newest first)."""
    proc = subprocess.run([str(bin), "jobs", "list", "--json", "--limit", "100000", "--data", str(data),
                           "--database", database], capture_output=True, text=True, timeout=60,
                          cwd=REPO_ROOT, env=reel_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"reel jobs list exited {proc.returncode}: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)
