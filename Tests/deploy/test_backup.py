"""Backups that restore (issue 13): `reel backup` while a video is being transcoded, `reel restore` into a
fresh root, workers rebuild the outputs, and every video that was ready plays again; `reel verify` finds a
corrupt original and a missing segment; a damaged backup and a non-empty target are refused.

The SQLite path runs everywhere; the PostgreSQL path (pg_dump into pg_restore) needs $REEL_TEST_POSTGRES_URL
(scripts/test starts a throw-away cluster) and is skipped without it unless REEL_REQUIRE_DEPLOY_TOOLS=1.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
from deploy_support import fixture_path, reel, start_reel_up
from reel_http_support import sha256_file as sha256

FFMPEG_TIMEOUT_S = 120
VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nBacked up caption\n"


def make_clip(path, seconds: int) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=24:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(path)], check=True, timeout=FFMPEG_TIMEOUT_S, stdin=subprocess.DEVNULL)


def plays(up, vid: str) -> None:
    """The master over HTTP decodes from start to end with ffmpeg, without an error."""
    url = up.base + up.video(vid)["playbackUrl"]
    out = subprocess.run(["ffmpeg", "-hide_banner", "-v", "error", "-i", url, "-map", "0:v:0", "-map", "0:a:0?",
                          "-f", "null", "-"], capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
    assert out.returncode == 0 and not out.stderr.strip(), f"{url} does not play: {out.stderr[-2000:]}"


def originals(root) -> dict[str, str]:
    """video id → SHA-256 of its original, from the files on the root."""
    found = {}
    for path in sorted((root / "originals").glob("*/*")):
        found[path.parent.name] = sha256(path)
    return found


# --------------------------------------------------------------------------
# SQLite: the embedded default
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory):
    """Two ready videos (one with a caption) and a third still being transcoded when the backup runs."""
    work = tmp_path_factory.mktemp("backup-sqlite")
    long_clip = work / "long.mp4"
    make_clip(long_clip, 40)
    up = start_reel_up(work / "root-a")
    try:
        ready = [up.upload(fixture_path("landscape.mp4"), title="Landscape"),
                 up.upload(fixture_path("phone-rotated.mp4"), title="Phone")]
        for vid in ready:
            up.wait_ready(vid)
        cap = requests.post(f"{up.base}/v1/videos/{ready[0]}/captions", params={"lang": "en", "label": "English"},
                            data=VTT.encode(), headers={**up.auth, "Content-Type": "text/vtt"}, timeout=30)
        assert cap.status_code == 201, cap.text
        busy = up.upload(long_clip, title="Busy")
        deadline = time.monotonic() + 60
        while up.video(busy)["state"] != "processing":
            assert time.monotonic() < deadline, up.video(busy)
            time.sleep(0.1)
        # A tus upload half done when the backup runs: its bytes are not in the backup.
        tus = {**up.auth, "Tus-Resumable": "1.0.0"}
        created = requests.post(up.base + "/v1/uploads", headers={**tus, "Upload-Length": "1000"}, timeout=30)
        assert created.status_code == 201, created.text
        half = requests.patch(up.base + created.headers["Location"], data=b"x" * 400, timeout=30,
                              headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert half.status_code == 204, half.text
        # An upload arriving while the backup runs, too.
        late: dict = {}
        uploader = threading.Thread(target=lambda: late.setdefault("id", up.upload(fixture_path("video-only.mp4"))))
        uploader.start()
        made = reel("backup", "--data", str(up.data), str(work / "backup"))
        uploader.join(timeout=120)
        assert made.returncode == 0, made.stdout + made.stderr
        assert up.video(busy)["state"] == "processing", "the backup was meant to run during a transcode"
        sums_a = originals(up.data)
    finally:
        up.stop()
    return {"work": work, "backup": work / "backup", "ready": ready, "busy": busy, "root_a": up.data,
            "sums_a": sums_a, "printed": made.stdout, "tus": created.headers["Location"]}


def test_backup_holds_the_catalog_the_originals_and_their_checksums(backed_up):
    backup = backed_up["backup"]
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["catalogKind"] == "sqlite" and (backup / "catalog.sqlite").exists()
    ids = {v["id"] for v in manifest["videos"]}
    assert set(backed_up["ready"]) | {backed_up["busy"]} <= ids, manifest["videos"]
    assert manifest["skipped"] == {}
    for entry in manifest["files"]:
        assert sha256(backup / "root" / entry["path"]) == entry["sha256"], entry
    for video in manifest["videos"]:
        assert backed_up["sums_a"][video["id"]] == video["sha256"], video
    assert any(f["path"].startswith(f"captions/{backed_up['ready'][0]}/") for f in manifest["files"]), manifest["files"]
    assert not (backup / "root" / "hls").exists(), "outputs are rebuilt, not backed up"
    assert not list(backed_up["work"].glob(".backup.partial-*")), "the staging directory was left behind"
    assert "videos" in backed_up["printed"], backed_up["printed"]


def test_restore_rebuilds_and_every_ready_video_plays(backed_up):
    root_b = backed_up["work"] / "root-b"
    restored = reel("restore", "--data", str(root_b), str(backed_up["backup"]))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "queued to be transcoded again" in restored.stdout, restored.stdout
    up = start_reel_up(root_b, log_name="reel-up-b.log")
    try:
        for vid in backed_up["ready"] + [backed_up["busy"]]:
            up.wait_ready(vid)
            plays(up, vid)
        master = requests.get(up.base + up.video(backed_up["ready"][0])["playbackUrl"], timeout=30).text
        assert 'TYPE=SUBTITLES' in master and 'LANGUAGE="en"' in master, master
        # The half-done upload is gone (a client starts it again), not resumable onto a missing file.
        head = requests.head(up.base + backed_up["tus"], headers={**up.auth, "Tus-Resumable": "1.0.0"}, timeout=30)
        assert head.status_code == 404, head.headers
        titles = {vid: up.video(vid)["title"] for vid in backed_up["ready"]}
        assert titles == dict(zip(backed_up["ready"], ["Landscape", "Phone"])), titles
    finally:
        up.stop()
    sums_b = originals(root_b)
    for vid in backed_up["ready"] + [backed_up["busy"]]:
        assert sums_b[vid] == backed_up["sums_a"][vid], vid
    verified = reel("verify", "--data", str(root_b))
    assert verified.returncode == 0 and "all good" in verified.stdout, verified.stdout + verified.stderr

    # A flipped byte in an original and a lost segment are each named.
    victim = next((root_b / "originals" / backed_up["ready"][1]).iterdir())
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    segment = next((root_b / "hls" / backed_up["ready"][0]).glob("*/seg-00001.m4s"))
    segment.unlink()
    verified = reel("verify", "--data", str(root_b))
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert f"video {backed_up['ready'][1]}: original" in verified.stdout and "corrupt" in verified.stdout, verified.stdout
    assert f"{segment.parent.name}/seg-00001.m4s is missing" in verified.stdout, verified.stdout
    assert "2 problem(s)" in verified.stdout, verified.stdout


def test_a_damaged_backup_or_a_used_target_is_refused(backed_up, tmp_path):
    backup = tmp_path / "damaged"
    shutil.copytree(backed_up["backup"], backup)
    original = next((backup / "root" / "originals").glob("*/*"))
    original.write_bytes(original.read_bytes()[:-1] + b"\0")
    refused = reel("restore", "--data", str(tmp_path / "root"), str(backup))
    assert refused.returncode == 1 and "damaged" in refused.stderr and original.name in refused.stderr, refused.stderr
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").iterdir()), "something was written"

    # A manifest is data from a directory someone handed over: no path of it may leave the new root.
    for evil in ("../escaped", "/tmp/escaped-absolute", "originals/../../escaped", "hls/x/master.m3u8"):
        crafted = tmp_path / f"crafted-{abs(hash(evil))}"
        shutil.copytree(backed_up["backup"], crafted)
        manifest = json.loads((crafted / "manifest.json").read_text())
        entry = dict(manifest["files"][0])
        (crafted / "root" / "evil").write_bytes(b"x")
        entry.update(path=evil, size=1, sha256=hashlib.sha256(b"x").hexdigest())
        manifest["files"].append(entry)
        (crafted / "manifest.json").write_text(json.dumps(manifest))
        target = tmp_path / f"root-{abs(hash(evil))}"
        refused = reel("restore", "--data", str(target), str(crafted))
        assert refused.returncode == 1 and "not a place in a storage root" in refused.stderr, (evil, refused.stderr)
        assert not target.exists() or not any(target.iterdir()), evil
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/escaped-absolute").exists()

    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    refused = reel("restore", "--data", str(used), str(backed_up["backup"]))
    assert refused.returncode == 1 and "not empty" in refused.stderr, refused.stderr
    again = reel("backup", "--data", str(backed_up["root_a"]), str(backed_up["backup"]))
    assert again.returncode == 1 and "already exists" in again.stderr, again.stderr


# --------------------------------------------------------------------------
# PostgreSQL: pg_dump, pg_restore into an empty database
# --------------------------------------------------------------------------


def _postgres_url() -> str:
    url = os.environ.get("REEL_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("REEL_REQUIRE_DEPLOY_TOOLS") == "1":
            pytest.fail("REEL_TEST_POSTGRES_URL is not set (scripts/test starts a PostgreSQL cluster)")
        pytest.skip("REEL_TEST_POSTGRES_URL is not set")
    return url


def _database(url: str, name: str) -> str:
    """A new empty database on the test cluster; its URL."""
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", f"DROP DATABASE IF EXISTS {name}",
                    "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=60)
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def test_postgres_backup_restores_into_an_empty_database(tmp_path):
    url = _postgres_url()
    source, target = _database(url, "reel_backup_src"), _database(url, "reel_backup_dst")
    up = start_reel_up(tmp_path / "root-c", "--database", source)
    try:
        vid = up.upload(fixture_path("landscape.mp4"), title="On PostgreSQL")
        up.wait_ready(vid)
        made = reel("backup", "--data", str(up.data), "--database", source, str(tmp_path / "backup"))
        assert made.returncode == 0, made.stdout + made.stderr
    finally:
        up.stop()
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["catalogKind"] == "postgres" and (tmp_path / "backup" / "catalog.pgdump").exists()

    refused = reel("restore", "--data", str(tmp_path / "root-x"), "--database", source, str(tmp_path / "backup"))
    assert refused.returncode == 1 and "not empty" in refused.stderr, refused.stderr
    refused = reel("restore", "--data", str(tmp_path / "root-y"), str(tmp_path / "backup"))
    assert refused.returncode == 1 and "PostgreSQL catalog" in refused.stderr, refused.stderr

    restored = reel("restore", "--data", str(tmp_path / "root-d"), "--database", target, str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    up = start_reel_up(tmp_path / "root-d", "--database", target, log_name="reel-up-d.log")
    try:
        up.wait_ready(vid)
        plays(up, vid)
    finally:
        up.stop()
    verified = reel("verify", "--data", str(tmp_path / "root-d"), "--database", target)
    assert verified.returncode == 0, verified.stdout + verified.stderr
