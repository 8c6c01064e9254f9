"""The systemd units in systemd/: `systemd-analyze verify` is clean on each, and the settings that matter
are there (hardening, configuration, restart policies, drain vs stop timeout, mount ordering, the target).

Nothing here needs systemd as PID 1 or root. `systemd-analyze verify` loads a unit the way the manager
would and checks, among other things, that every directive is known and well formed and that ExecStart's
binary exists and is executable. The units name /usr/local/bin/reel, which is not installed on a build
machine, so they are verified from a temporary copy in which that path is replaced by REEL_BIN (default
.build/debug/reel; /bin/true when neither exists) — nothing else is changed in the copy. Verify does not
resolve User= (the `reel` user need not exist here) nor the NFS server in What=; the user is asserted from
the original files instead.

Skipped only when systemd-analyze is missing (Debian package `systemd`, in scripts/install-deps --full).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
UNITS_DIR = REPO_ROOT / "systemd"
INSTALLED_BIN = "/usr/local/bin/reel"

SERVER = "reel-server.service"
WORKER = "reel-worker@.service"
AUTOSCALER = "reel-autoscaler.service"
TARGET = "reel.target"
MOUNT = "mnt-nfs_share.mount"
SERVICES = [SERVER, WORKER, AUTOSCALER]
UNIT_FILES = SERVICES + [TARGET, MOUNT]
# What verify is asked about: a template unit is verified as one of its instances.
VERIFY_NAMES = [SERVER, "reel-worker@1.service", AUTOSCALER, TARGET, MOUNT]

DATA_DIR = "/mnt/nfs_share/reel"
MOUNT_POINT = "/mnt/nfs_share"
ENV_FILE = "/etc/reel/reel.env"

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (Debian package systemd)")


# --- reading unit files ------------------------------------------------------------------------------


class Unit:
    """A unit file as systemd reads it: sections of key=value assignments, keys may repeat; an empty
    assignment resets list settings (CapabilityBoundingSet=, ReadWritePaths=, ...)."""

    def __init__(self, path: Path):
        self.path = path
        self.sections: dict[str, list[tuple[str, str]]] = {}
        section = None
        pending = ""
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                self.sections.setdefault(section, [])
                continue
            assert section is not None, f"{path.name}: assignment before any section: {line}"
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not a key=value line: {line}"
            self.sections[section].append((key.strip(), value.strip()))

    def all(self, section: str, key: str) -> list[str]:
        return [v for k, v in self.sections.get(section, []) if k == key]

    def last(self, section: str, key: str) -> str | None:
        values = self.all(section, key)
        return values[-1] if values else None

    def words(self, section: str, key: str) -> list[str]:
        """A list setting's effective words: an empty assignment clears what came before."""
        words: list[str] = []
        for value in self.all(section, key):
            words = [] if value == "" else words + value.split()
        return words


def load(name: str) -> Unit:
    return Unit(UNITS_DIR / name)


def seconds(value: str) -> float:
    """A systemd time span as used in these units: "40", "40s", "1min 30s", "2min", "500ms"."""
    units = {"": 1, "s": 1, "sec": 1, "ms": 0.001, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts and "".join(n + u for n, u in parts) == value.replace(" ", ""), f"unexpected time span {value!r}"
    for number, unit in parts:
        assert unit in units, f"unexpected time unit in {value!r}"
        total += float(number) * units[unit]
    return total


def exec_start(unit: Unit) -> list[str]:
    values = unit.all("Service", "ExecStart")
    assert len(values) == 1, f"{unit.path.name}: expected one ExecStart, got {values}"
    return shlex.split(values[0])


# --- systemd-analyze verify --------------------------------------------------------------------------


def reel_binary() -> str:
    candidates = [os.environ.get("REEL_BIN", ""), str(REPO_ROOT / ".build/debug/reel")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return str(Path(candidate).resolve())
    return "/bin/true"


@pytest.fixture(scope="module")
def verify_dir(tmp_path_factory) -> Path:
    """The units copied as they are, except /usr/local/bin/reel → an executable that exists here."""
    directory = tmp_path_factory.mktemp("units")
    binary = reel_binary()
    for path in UNITS_DIR.iterdir():
        if path.suffix in (".service", ".target", ".mount"):
            text = path.read_text(encoding="utf-8")
            (directory / path.name).write_text(text.replace(INSTALLED_BIN, binary), encoding="utf-8")
    return directory


def run_verify(*paths: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="notice", SYSTEMD_LOG_COLOR="0", SYSTEMD_LOG_LOCATION="0",
               SYSTEMD_PAGER="cat")
    return subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", "--generators=no", *map(str, paths)],
                          capture_output=True, text=True, env=env, timeout=120)


@needs_analyze
@pytest.mark.parametrize("name", VERIFY_NAMES)
def test_verify_is_clean(verify_dir, name):
    result = run_verify(verify_dir / name)
    report = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert result.stderr.strip() == "", report


@needs_analyze
def test_verify_all_together_is_clean(verify_dir):
    """Loaded together, as on a host: the target pulls in the services, they pull in the mount."""
    result = run_verify(*(verify_dir / name for name in VERIFY_NAMES))
    assert (result.returncode, result.stderr.strip()) == (0, ""), result.stderr


@needs_analyze
def test_verify_would_notice_mistakes(verify_dir, tmp_path):
    """The clean results above mean something: the same verify call reports an unknown directive in the
    worker template (a warning, exit 0 — hence the stderr check) and a missing binary (exit 1)."""
    text = (verify_dir / WORKER).read_text(encoding="utf-8")
    assert "[Service]\n" in text
    (tmp_path / WORKER).write_text(text.replace("[Service]\n", "[Service]\nDrainTimeoutSec=20\n"), encoding="utf-8")
    result = run_verify(tmp_path / "reel-worker@1.service")
    assert "Unknown key" in result.stderr and "DrainTimeoutSec" in result.stderr, result.stderr

    missing = tmp_path / "missing"
    missing.mkdir()
    server = (UNITS_DIR / SERVER).read_text(encoding="utf-8").replace(INSTALLED_BIN, str(missing / "reel"))
    (missing / SERVER).write_text(server, encoding="utf-8")
    result = run_verify(missing / SERVER)
    assert result.returncode != 0 and "is not executable" in result.stderr, result.stderr


# --- what the services must say ----------------------------------------------------------------------

HARDENING_YES = [
    "NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
    "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "RestrictNamespaces",
    "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute",
]


@pytest.mark.parametrize("name", SERVICES)
def test_service_hardening(name):
    unit = load(name)
    for key in HARDENING_YES:
        assert unit.last("Service", key) == "yes", f"{name}: {key}=yes missing"
    assert unit.last("Service", "ProtectSystem") == "strict"
    # The storage root is the one writable place (ProtectSystem=strict makes the rest read-only).
    assert unit.words("Service", "ReadWritePaths") == [DATA_DIR]
    assert set(unit.words("Service", "RestrictAddressFamilies")) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in unit.words("Service", "SystemCallFilter")
    assert unit.last("Service", "SystemCallArchitectures") == "native"
    # No capabilities: the key is present and its last assignment empties the set.
    assert unit.all("Service", "CapabilityBoundingSet") and unit.words("Service", "CapabilityBoundingSet") == []
    assert unit.words("Service", "AmbientCapabilities") == []
    assert unit.last("Service", "User") == "reel" and unit.last("Service", "Group") == "reel"


@pytest.mark.parametrize("name", SERVICES)
def test_service_configuration_and_storage(name):
    unit = load(name)
    # Optional ("-"), so a host without the file still starts with the defaults below.
    assert unit.all("Service", "EnvironmentFile") == ["-" + ENV_FILE]
    defaults = dict(v.split("=", 1) for v in unit.all("Service", "Environment"))
    assert defaults.get("REEL_DATA_DIR") == DATA_DIR
    assert defaults.get("REEL_PROFILES_DIR") == "/usr/local/share/reel/profiles"
    # (Values from EnvironmentFile= override Environment=, wherever the lines are.)
    argv = exec_start(unit)
    assert argv[0] == INSTALLED_BIN
    # Ordered after (and requiring) the NFS mount.
    mounts = unit.words("Unit", "RequiresMountsFor")
    after = unit.words("Unit", "After")
    assert any(p == MOUNT_POINT or p.startswith(MOUNT_POINT + "/") for p in mounts) or MOUNT in after, \
        f"{name}: not ordered after {MOUNT}"
    assert "network-online.target" in unit.words("Unit", "After")
    assert "network-online.target" in unit.words("Unit", "Wants")
    assert "reel.target" in unit.words("Unit", "PartOf")
    assert unit.last("Service", "Type") == "exec"


def test_server_restarts_always():
    unit = load(SERVER)
    assert exec_start(unit)[1] == "serve"
    assert unit.last("Service", "Restart") == "always"
    assert seconds(unit.last("Service", "RestartSec")) >= 1
    assert unit.last("Service", "KillSignal") == "SIGTERM"
    assert "Install" not in unit.sections  # reel.target pulls it in; the target is what gets enabled


def test_worker_drains_before_it_is_killed():
    unit = load(WORKER)
    argv = exec_start(unit)
    assert argv[1] == "worker"
    assert "--supervised" not in argv  # that flag is for children of `reel up`
    drain = float(argv[argv.index("--drain-timeout") + 1]) if "--drain-timeout" in argv else 20.0
    stop = seconds(unit.last("Service", "TimeoutStopSec"))
    # SIGKILL only after the drain bound has passed, with room for giving the piece back.
    assert stop >= drain + 10, f"TimeoutStopSec={stop} must exceed --drain-timeout {drain}"
    assert unit.last("Service", "KillSignal") == "SIGTERM"
    assert unit.last("Service", "KillMode") in ("mixed", "control-group")


def test_worker_hang_is_caught_by_the_watchdog():
    unit = load(WORKER)
    assert unit.last("Service", "NotifyAccess") == "main"  # WATCHDOG=1 comes from the worker itself
    watchdog = seconds(unit.last("Service", "WatchdogSec"))
    # The worker's signs of life: every claim attempt (1 s) and every heartbeat (lease 60 s / 3 = 20 s).
    assert watchdog >= 3 * 20, f"WatchdogSec={watchdog} would abort a busy worker between two heartbeats"
    assert seconds(unit.last("Service", "TimeoutAbortSec")) > 0


def test_worker_crash_loop_stops_being_restarted():
    unit = load(WORKER)
    assert unit.last("Service", "Restart") == "on-failure"  # a drained worker exits 0 and stays stopped
    assert seconds(unit.last("Service", "RestartSec")) >= 1
    interval = seconds(unit.last("Unit", "StartLimitIntervalSec"))
    burst = int(unit.last("Unit", "StartLimitBurst"))
    assert interval > 0 and burst >= 1
    # The limit must be reachable: `burst` restarts spaced by RestartSec fit in the interval.
    assert burst * seconds(unit.last("Service", "RestartSec")) < interval
    assert unit.words("Install", "WantedBy") == ["reel.target"]


def test_autoscaler_drives_worker_units():
    unit = load(AUTOSCALER)
    argv = exec_start(unit)
    assert argv[1:4] == ["autoscale", "--driver", "systemd"]
    assert unit.last("Service", "Restart") in ("always", "on-failure")
    # Not root: starting and stopping reel-worker@N is granted by the polkit rule shipped beside it.
    assert unit.last("Service", "User") == "reel"
    assert (UNITS_DIR / "50-reel-autoscaler.rules").is_file()
    assert "Install" not in unit.sections


POLKIT_HARNESS = r"""
const fs = require("fs");
const rules = [];
const polkit = {Result: {YES: "yes", NO: "no", NOT_HANDLED: null, AUTH_ADMIN: "auth_admin"},
                addRule: (f) => rules.push(f)};
new Function("polkit", fs.readFileSync(process.argv[2], "utf8"))(polkit);
const cases = JSON.parse(process.argv[3]);
const answers = cases.map(([id, user, unit, verb]) => {
  const action = {id, lookup: (k) => ({unit, verb})[k]};
  for (const rule of rules) { const r = rule(action, {user}); if (r !== null && r !== undefined) return r; }
  return null;
});
console.log(JSON.stringify(answers));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed (used only to run the polkit rule)")
def test_polkit_rule_allows_only_worker_units(tmp_path):
    """Runs the rule's JavaScript against stand-ins for polkit's action and subject objects."""
    manage = "org.freedesktop.systemd1.manage-units"
    cases = [
        ([manage, "reel", "reel-worker@1.service", "start"], "yes"),
        ([manage, "reel", "reel-worker@12.service", "stop"], "yes"),
        ([manage, "reel", "reel-worker@3.service", "restart"], "yes"),
        ([manage, "reel", "reel-worker@4.service", "kill"], "yes"),
        ([manage, "reel", "reel-worker@3.service", "reset-failed"], None),
        ([manage, "reel", "reel-server.service", "stop"], None),
        ([manage, "reel", "reel-worker@x.service", "start"], None),
        ([manage, "reel", "reel-worker@1.service.d", "start"], None),
        ([manage, "reel", "sshd.service", "start"], None),
        ([manage, "www-data", "reel-worker@1.service", "start"], None),
        (["org.freedesktop.systemd1.manage-unit-files", "reel", "reel-worker@1.service", "enable"], None),
    ]
    harness = tmp_path / "harness.js"
    harness.write_text(POLKIT_HARNESS, encoding="utf-8")
    result = subprocess.run(["node", str(harness), str(UNITS_DIR / "50-reel-autoscaler.rules"),
                             json.dumps([c for c, _ in cases])], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert list(zip([c for c, _ in cases], answers)) == [(c, a) for c, a in cases]


def test_target_groups_the_services():
    unit = load(TARGET)
    wants = unit.words("Unit", "Wants")
    assert SERVER in wants and AUTOSCALER in wants
    assert unit.words("Install", "WantedBy") == ["multi-user.target"]


def test_mount_unit():
    unit = load(MOUNT)
    assert unit.last("Mount", "Where") == MOUNT_POINT
    assert unit.last("Mount", "Type") in ("nfs", "nfs4")
    options = unit.last("Mount", "Options").split(",")
    assert "rw" in options and "hard" in options
    assert "soft" not in options and "ro" not in options
    assert ":" in unit.last("Mount", "What")  # host:/export
    assert "network-online.target" in unit.words("Unit", "After")
    assert "network-online.target" in unit.words("Unit", "Wants")
    # systemd requires a mount unit's name to be its escaped Where= path.
    if shutil.which("systemd-escape"):
        escaped = subprocess.run(["systemd-escape", "--path", "--suffix=mount", MOUNT_POINT],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert escaped == MOUNT


# --- the environment file and the docs ---------------------------------------------------------------


def test_env_example_documents_every_variable():
    text = (UNITS_DIR / "reel.env.example").read_text(encoding="utf-8")
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            assert re.fullmatch(r"REEL_[A-Z_]+=.*", stripped), f"not a VARIABLE=value line: {line!r}"
    mentioned = set(re.findall(r"\bREEL_[A-Z_]+\b", text))
    # Every variable of README's Configuration table ...
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    config = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    wanted = set(re.findall(r"`(REEL_[A-Z_]+)`", config)) - {"REEL_WORKERS", "REEL_PROFILE"}  # `reel up` only
    # ... and every variable the units expand in ExecStart.
    for name in SERVICES:
        wanted |= set(re.findall(r"\$\{?(REEL_[A-Z_]+)", " ".join(load(name).all("Service", "ExecStart"))))
    assert wanted, "README's Configuration table lists no REEL_ variables?"
    assert wanted <= mentioned, f"not in reel.env.example: {sorted(wanted - mentioned)}"


def test_deploy_doc_mentions_every_shipped_file():
    doc = (REPO_ROOT / "docs/DEPLOY.md").read_text(encoding="utf-8")
    for path in UNITS_DIR.iterdir():
        assert path.name in doc, f"docs/DEPLOY.md does not mention systemd/{path.name}"
