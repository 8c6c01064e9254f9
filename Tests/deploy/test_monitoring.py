"""Dashboards, alert rules and structured logs (issue 13), checked against a real Reel.

  1. deploy/prometheus/reel-rules.yml passes `promtool check rules`, and its unit tests
     (reel-rules.test.yml: alerts that fire and ones that must not) pass `promtool test rules`;
  2. every query of deploy/grafana/reel-dashboard.json is valid PromQL (promtool checks it as a
     recording rule), and the panels fit Grafana's 24-column grid without overlapping;
  3. `reel up --log-format json` (server, autoscaler and a worker process) transcodes a fixture: every
     line any of them logs is one JSON object with time, level, logger, message and source, and both the
     server's and the worker's lines are there;
  4. every reel_* metric the rules and the dashboard use is one that run's /metrics exports (a renamed
     metric would leave a panel empty and an alert silent).

promtool comes from Debian's `prometheus` package (scripts/install-deps --full). Skipped without it unless
REEL_REQUIRE_DEPLOY_TOOLS=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest
import requests
from deploy_support import REPO_ROOT, fixture_path, start_reel_up

RULES = REPO_ROOT / "deploy" / "prometheus" / "reel-rules.yml"
RULE_TESTS = REPO_ROOT / "deploy" / "prometheus" / "reel-rules.test.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "reel-dashboard.json"

# Histograms are used through their series; the family is what /metrics names in # TYPE.
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        if os.environ.get("REEL_REQUIRE_DEPLOY_TOOLS") == "1":
            pytest.fail("promtool is not installed (Debian package prometheus; scripts/install-deps --full)")
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return found


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, **kw)


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) of every target, Grafana's variables replaced by what Prometheus would get."""
    out = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "5m").replace('"$job"', '"reel"')
            out.append((panel["title"], expr))
    return out


def rule_exprs() -> list[str]:
    import yaml
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    names = set()
    for name in re.findall(r"\breel_[a-z0-9_]+", expr):
        for suffix in SERIES_SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        names.add(name)
    return names


# --------------------------------------------------------------------------
# Rules and dashboard, on their own
# --------------------------------------------------------------------------


def test_rules_are_valid_and_their_unit_tests_pass():
    tool = promtool()
    checked = run([tool, "check", "rules", str(RULES)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run([tool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_dashboard_queries_are_promql_and_panels_fit(tmp_path):
    tool = promtool()
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {ids}"
    taken = set()
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, f"{p['title']} leaves the 24-column grid: {g}"
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"{p['title']} overlaps another panel at {sorted(cells & taken)[:3]}"
        taken |= cells
        if p["type"] != "row":
            assert p["targets"] and p["datasource"]["uid"] == "${datasource}", p["title"]
    queries = dashboard_queries()
    assert len(queries) >= 15
    # promtool parses each expression when it checks a rule file: one recording rule per query.
    import yaml
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = run([tool, "check", "rules", str(path)])
    assert checked.returncode == 0, f"a dashboard query is not valid PromQL:\n{checked.stdout}{checked.stderr}"


# --------------------------------------------------------------------------
# A real Reel: JSON logs, and the metrics the rules and the dashboard need
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reel_up(tmp_path_factory):
    up = start_reel_up(tmp_path_factory.mktemp("reel-up-json"), "--log-format", "json")
    try:
        yield up
    finally:
        up.stop()


@pytest.fixture(scope="module")
def transcoded(reel_up) -> str:
    """A fixture uploaded and transcoded by `reel up`'s worker, with a scrape before and after (job
    durations count from the first scrape on)."""
    base, auth = reel_up.base, reel_up.auth
    assert requests.get(base + "/metrics", headers=auth, timeout=30).status_code == 200
    reel_up.wait_ready(reel_up.upload(fixture_path("landscape.mp4")))
    # The autoscaler publishes its status every few seconds.
    deadline = time.monotonic() + 30
    while True:
        text = requests.get(base + "/metrics", headers=auth, timeout=30).text
        if "reel_autoscaler_updated_timestamp_seconds" in text and "reel_job_duration_seconds" in text:
            return text
        assert time.monotonic() < deadline, f"/metrics lacks the autoscaler or job durations:\n{text}"
        time.sleep(1)


def test_every_process_logs_json_lines(reel_up, transcoded):
    lines = [line for line in reel_up.log.read_text(errors="replace").splitlines() if line.strip()]
    assert lines, "reel up logged nothing"
    loggers = set()
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            pytest.fail(f"line {number} of the log is not JSON ({exc}): {line[:300]}", pytrace=False)
        assert list(entry)[:5] == ["time", "level", "logger", "message", "source"], entry
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"]), entry
        assert entry["level"] in {"trace", "debug", "info", "notice", "warning", "error", "critical"}, entry
        assert isinstance(entry.get("metadata", {}), dict), entry
        loggers.add(entry["logger"])
    # The server's own lines and the worker process's (started by `reel up`, which hands it the format).
    assert {"reel.up", "reel.worker"} <= loggers, f"loggers seen: {sorted(loggers)}"


def test_rules_and_dashboard_use_only_exported_metrics(transcoded):
    exported = set(re.findall(r"^# TYPE (reel_[a-z0-9_]+) ", transcoded, re.M))
    assert "reel_jobs" in exported, transcoded[:2000]
    wanted: dict[str, set[str]] = {}
    for expr in rule_exprs():
        for name in metric_names(expr):
            wanted.setdefault(name, set()).add("rules")
    for title, expr in dashboard_queries():
        for name in metric_names(expr):
            wanted.setdefault(name, set()).add(f"panel '{title}'")
    missing = {name: sorted(where) for name, where in wanted.items() if name not in exported}
    assert not missing, f"used but not exported by /metrics: {missing}\nexported: {sorted(exported)}"
    # Everything Reel exports is on the dashboard: a new metric gets a panel.
    unused = exported - set(wanted)
    assert not unused, f"exported but on no panel or rule: {sorted(unused)}"
