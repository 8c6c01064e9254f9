"""Fixtures for the fleet test: two `reel up` nodes behind haproxy, one PostgreSQL, one storage root.

Session-wide (everything stopped by finalizers, also when a test fails):
  * ``reel_bin`` - the reel executable (REEL_BIN, default .build/debug/reel)
  * ``postgres`` - a throw-away cluster from scripts/postgres-cluster in a temporary folder
  * ``fleet``    - keys made with `reel keys create --database …`, then nodes `a` and `b` started together
                   (`reel up --database URL --data SHARED --max-workers 1 --profile small`, each on its own
                   loopback port, workers with a short lease), then haproxy in front of them (round robin,
                   `option httpchk GET /`, checks every 500 ms, `fall 2 rise 2`), which names the node that
                   answered in a `Reel-Node` response header
  * ``whole_fleet`` (autouse) - before each test: the database running, both nodes running, haproxy
                   calling both UP; a test that kills or stops something need not put it back itself

On a failing test the tails of the nodes', haproxy's and PostgreSQL's logs are attached to the report.
The helpers of Tests/http (reel_http_support) and Tests/browser (chromium_support) are imported, not copied.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO_ROOT / "Tests" / "http"), str(REPO_ROOT / "Tests" / "browser")]

from fleet_support import Haproxy, Node, Postgres, jobs  # noqa: E402
from reel_http_support import Reel, create_key, free_port, reel_binary  # noqa: E402

_ACTIVE: list["Fleet"] = []


class Fleet:
    """The nodes, the balancer, the database, and a client (`Reel` of Tests/http) aimed at the balancer."""

    def __init__(self, bin: Path, root: Path, postgres: Postgres, admin_key: str, upload_key: str):
        self.bin = bin
        self.root = root
        self.data = root / "data"
        self.postgres = postgres
        logs = root / "logs"
        logs.mkdir(exist_ok=True)
        self.nodes = {name: Node(name, bin, self.data, postgres.url, free_port(), logs / f"node-{name}.log", admin_key)
                      for name in ("a", "b")}
        (root / "haproxy").mkdir(exist_ok=True)
        self.haproxy = Haproxy(root / "haproxy", free_port(), list(self.nodes.values()))
        self.client = Reel(bin=bin, data=self.data, port=self.haproxy.port, admin_key=admin_key, upload_key=upload_key,
                           log_dir=logs, server_log=self.nodes["a"].log, worker_logs=[self.nodes["b"].log])

    @property
    def database(self) -> str:
        return self.postgres.url

    def jobs(self) -> list[dict]:
        return jobs(self.bin, self.data, self.database)

    def node_of_owner(self, owner: str | None) -> str | None:
        """Which node started the worker that holds (or last held) a lease: its log says so, and the
        owner's name (`node:pid:nonce`) must agree."""
        for name, node in self.nodes.items():
            if owner in node.worker_owners():
                assert owner.startswith(f"{name}:"), f"worker {owner} of node {name} is not named after it"
                return name
        return None

    def completions(self) -> list[tuple[str, int, str]]:
        """(kind, job id, node) for every completion logged by any node's workers."""
        return [(kind, job, name) for name, node in self.nodes.items() for kind, job in node.completions()]

    def restore(self) -> None:
        """The database up, both nodes up and called UP by haproxy."""
        if not self.postgres.running:
            self.postgres.resume()
        stopped = [n for n in self.nodes.values() if not n.running]
        for node in stopped:
            node.launch()
        for node in stopped:
            node.wait_healthy()
        for name in self.nodes:
            self.haproxy.wait_status(name, "UP")

    def diagnosis(self, lines: int = 40) -> str:
        parts = [n.log_tail(lines) for n in self.nodes.values()]
        parts += [self.haproxy.log_tail(15), self.postgres.log_tail(15)]
        try:
            parts.append(f"haproxy says: {self.haproxy.status()}")
        except OSError as e:
            parts.append(f"haproxy stats: {e}")
        return "\n".join(parts)


@pytest.fixture(scope="session")
def reel_bin() -> Path:
    return reel_binary()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory, request) -> Postgres:
    # Its own cluster (not $REEL_TEST_POSTGRES_URL's): this suite stops and restarts it. Not under pytest's
    # temporary folder: that one is root's alone, and the cluster runs as the postgres user.
    cluster = Postgres(Path(tempfile.mkdtemp(prefix="reel-fleet-pg.")))
    request.addfinalizer(cluster.stop)
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def fleet(reel_bin, postgres, tmp_path_factory, request) -> Fleet:
    for tool in ("haproxy", "ffmpeg", "ffprobe"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ.get("PATH", "").split(":")):
            pytest.fail(f"{tool} is not installed (scripts/install-deps --full)", pytrace=False)
    root = tmp_path_factory.mktemp("fleet")
    data = root / "data"
    data.mkdir()
    database = ("--database", postgres.url)
    admin_key = create_key(reel_bin, data, "fleet-admin", "admin", database)
    upload_key = create_key(reel_bin, data, "fleet-upload", "upload", database)
    fleet = Fleet(reel_bin, root, postgres, admin_key, upload_key)

    # Stopped in reverse order of starting, whatever happens below.
    for node in fleet.nodes.values():
        request.addfinalizer(node.stop)
    request.addfinalizer(fleet.haproxy.stop)
    _ACTIVE.append(fleet)
    request.addfinalizer(lambda: _ACTIVE.remove(fleet))

    # Both at once: the schema migration and the shared signing key must survive the race.
    for node in fleet.nodes.values():
        node.launch()
    for node in fleet.nodes.values():
        node.wait_healthy()
    fleet.haproxy.start()
    for name in fleet.nodes:
        fleet.haproxy.wait_status(name, "UP")
    return fleet


@pytest.fixture(autouse=True)
def whole_fleet(fleet) -> Fleet:
    fleet.restore()
    return fleet


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _ACTIVE:
        report.sections.append(("fleet logs", _ACTIVE[-1].diagnosis()))

