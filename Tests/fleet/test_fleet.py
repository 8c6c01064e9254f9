"""Reel as a fleet: two `reel up` nodes on one PostgreSQL and one storage root, behind haproxy.

What must hold when Reel runs on several hosts:
  1. a tus upload whose PATCHes land on both nodes, interrupted and resumed, registers the exact bytes;
     a plain PUT does too, and a signed URL made by one node plays on the other (one signing key);
  2. a batch is transcoded by the workers of both nodes;
  3. a node killed with kill -9 in the middle of a batch: haproxy takes it out, uploads and playback go
     on through the other, its pieces come back after their leases, every video ends ready with valid
     playlists, and no job completes twice;
  4. PostgreSQL restarted in the middle of a batch: the nodes say 503 on /readyz while it is away, come
     back by themselves, and nothing is lost (every video ready, no worker died);
  5. Chromium playing through haproxy keeps playing (and seeking) while a node is stopped.

No timing assertions: every wait is bounded and generous, and only outcomes are checked.
"""

from __future__ import annotations

import collections
import os
import subprocess
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import m3u8
import pytest
import requests

from fleet_support import LEASE_S, wait_for
from reel_http_support import FIXTURES, HTTP_TIMEOUT_S, REPO_ROOT, TUS, sha256_file

READY_TIMEOUT_S = 300        # a batch on two workers (debug build, two cores)
DETECT_TIMEOUT_S = 60        # haproxy or /readyz noticing a change
BATCH = ["landscape.mp4", "interlaced.ts", "vfr.mkv", "odd-size.mp4", "phone-rotated.mp4"]


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory) -> Path:
    """A 48 s clip (testsrc2 at 426x240 with a tone), long enough to play through a node's stop and to be
    cut into two chunks, which the fixtures (2-8 s) are not."""
    path = tmp_path_factory.mktemp("clips") / "long.mp4"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=426x240:rate=25",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "48",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"ffmpeg could not make the long clip: {proc.stderr[-2000:]}"
    return path


def upload(fleet, source: str | Path, **params) -> str:
    """PUT /v1/videos through haproxy; the new video's id."""
    r = fleet.client.put_video(source, **params)
    assert r.status_code == 201, f"PUT {source} through haproxy: {r.status_code} {r.text[:500]}\n{fleet.diagnosis()}"
    return r.json()["id"]


def wait_ready(fleet, ids: list[str]) -> dict[str, dict]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    return {vid: fleet.client.wait_state(vid, "ready", timeout=max(5.0, deadline - time.monotonic())) for vid in ids}


def check_playlists(fleet, ids: list[str]) -> None:
    """Every published ladder passes scripts/check-hls.py (strict m3u8 parse, files present)."""
    for vid in ids:
        master = fleet.data / "hls" / vid / "master.m3u8"
        proc = subprocess.run(["python3", str(REPO_ROOT / "scripts" / "check-hls.py"), str(master), "--quiet"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"check-hls.py {master}: {proc.stderr[-3000:]}"


def check_jobs(fleet, ids: list[str]) -> list[dict]:
    """Every job of these videos succeeded, and no job was completed twice (by any worker, on any node).
    A ready video's downloads job (small.yaml offers downloads) runs after it turned ready: waited for."""
    deadline = time.monotonic() + 120
    while True:
        mine = [j for j in fleet.jobs() if j["videoId"] in ids]
        if time.monotonic() > deadline or not any(j["kind"] == "downloads" and j["state"] in ("queued", "running")
                                                  for j in mine):
            break
        time.sleep(0.5)
    assert mine, f"no jobs listed for {ids}"
    unfinished = [(j["id"], j["kind"], j["state"], j["attempt"], j["lastError"]) for j in mine if j["state"] != "succeeded"]
    assert not unfinished, f"jobs not succeeded: {unfinished}"
    counts = collections.Counter(job for _, job, _ in fleet.completions())
    twice = {job: [c for c in fleet.completions() if c[1] == job] for job, n in counts.items() if n > 1}
    assert not twice, f"jobs completed more than once: {twice}"
    ours = {j["id"] for j in mine}
    missing = ours - set(counts)
    assert not missing, f"succeeded jobs whose completion no node logged: {sorted(missing)}"
    return mine


def fetch_ladder(fleet, vid: str) -> collections.Counter:
    """GET the master, every media playlist and every segment through haproxy; which node served how many."""
    served: collections.Counter = collections.Counter()

    def get(path: str) -> requests.Response:
        r = requests.get(fleet.haproxy.base + path, timeout=HTTP_TIMEOUT_S)
        assert r.status_code == 200, f"GET {path} through haproxy: {r.status_code} {r.text[:300]}"
        served[r.headers.get("Reel-Node", "?")] += 1
        return r

    base = f"/hls/{vid}/"
    master = m3u8.loads(get(base + "master.m3u8").text)
    playlists = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
    for uri in playlists:
        media = m3u8.loads(get(base + uri).text)
        folder = uri.rsplit("/", 1)[0] + "/" if "/" in uri else ""
        for segment in media.segments:
            if segment.init_section is not None:
                get(base + folder + segment.init_section.uri)
            get(base + folder + segment.uri)
    return served


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------
# 1. Uploads across nodes
# --------------------------------------------------------------------------


def test_tus_upload_across_nodes_interrupted_and_resumed(fleet):
    from tusclient import client as tus

    src = FIXTURES / "landscape.mp4"
    size = src.stat().st_size
    chunk = 48 * 1024                                   # ~13 PATCHes
    served = []                                         # node of each PATCH, in order

    first = tus.TusClient(fleet.client.url("/v1/uploads"), headers=fleet.client.admin).uploader(
        str(src), chunk_size=chunk, metadata={"filename": "landscape.mp4", "title": "fleet tus"})
    first.set_url(first.create_url())
    while first.offset < size // 2:
        first.upload_chunk()
        served.append(first.request.response_headers.get("reel-node"))
    url = first.url                                     # the connection "drops": this uploader is abandoned

    second = tus.TusClient(fleet.client.url("/v1/uploads"), headers=fleet.client.admin).uploader(
        str(src), url=url, chunk_size=chunk)
    assert second.offset == first.offset, "HEAD (on whichever node) must report the bytes already stored"
    while second.offset < size:
        second.upload_chunk()
        served.append(second.request.response_headers.get("reel-node"))

    assert None not in served, f"a PATCH response without Reel-Node (haproxy names the node): {served}"
    assert set(served) == {"a", "b"}, f"the PATCHes did not land on both nodes: {served}"
    last = second.request.response_headers
    vid = last.get("reel-video-id")
    assert vid, f"the last PATCH named no video: {last}"
    video = fleet.client.video(vid)
    assert video["sha256"] == sha256_file(src), f"the registered original differs from the file sent (PATCHes: {served})"
    assert video["sizeBytes"] == size
    assert (fleet.data / "originals").is_dir()
    wait_ready(fleet, [vid])
    check_playlists(fleet, [vid])


def test_plain_upload_and_a_signed_url_that_plays_on_both_nodes(fleet):
    src = FIXTURES / "phone-rotated.mp4"
    r = fleet.client.put_video(src, visibility="private", sha256=sha256_file(src))
    assert r.status_code == 201, f"PUT through haproxy: {r.status_code} {r.text[:500]}"
    assert r.headers.get("Reel-Node") in ("a", "b")
    vid = r.json()["id"]
    assert r.json()["sha256"] == sha256_file(src)
    video = wait_ready(fleet, [vid])[vid]

    # The signature was made by whichever node answered; both must accept it (one shared signing.key).
    signed = urlsplit(video["playbackUrl"]).path
    assert signed.startswith("/s/"), f"a private video's playbackUrl is signed: {video['playbackUrl']}"
    for node in fleet.nodes.values():
        r = requests.get(node.base + signed, timeout=HTTP_TIMEOUT_S)
        assert r.status_code == 200, f"node {node.name} refused the signed master: {r.status_code} {r.text[:300]}"
        assert r.text.startswith("#EXTM3U")
        unsigned = requests.get(node.base + f"/hls/{vid}/master.m3u8", timeout=HTTP_TIMEOUT_S)
        assert unsigned.status_code == 404, f"node {node.name} served a private video unsigned"


# --------------------------------------------------------------------------
# 2. Work spread over the nodes
# --------------------------------------------------------------------------


def test_a_batch_is_transcoded_by_workers_of_both_nodes(fleet):
    ids = [upload(fleet, name) for name in BATCH]
    wait_ready(fleet, ids)
    mine = check_jobs(fleet, ids)
    by_node = collections.Counter(fleet.node_of_owner(j["leaseOwner"]) for j in mine)
    assert None not in by_node, f"jobs held by a worker no node started: {[j['leaseOwner'] for j in mine]}"
    assert set(by_node) == {"a", "b"}, f"only {dict(by_node)} took jobs of the batch"
    check_playlists(fleet, ids)


# --------------------------------------------------------------------------
# 3. A node killed with kill -9
# --------------------------------------------------------------------------


def test_a_node_killed_mid_batch(fleet, long_clip):
    a = fleet.nodes["a"]
    ids = [upload(fleet, long_clip)] + [upload(fleet, name) for name in BATCH[:3]]

    def held_by_a():
        return [j for j in fleet.jobs() if j["state"] == "running" and fleet.node_of_owner(j["leaseOwner"]) == "a"]

    running = wait_for(held_by_a, 120, "a job of the batch running on node a", interval=0.3,
                       diagnose=fleet.diagnosis)
    # The workers of `reel up` got the short lease (lease_duration) from the node's settings.
    for job in running:
        lease = (parse_time(job["leaseExpiresAt"]) - parse_time(job["updatedAt"])).total_seconds()
        assert lease <= LEASE_S + 1, f"job {job['id']} runs on a {lease:.0f} s lease, not lease_duration {LEASE_S} s"

    a.kill()
    killed = [j for j in fleet.jobs() if j["state"] == "running" and fleet.node_of_owner(j["leaseOwner"]) == "a"]
    assert killed, "the job node a was running finished in the instant before kill -9; nothing was interrupted"
    fleet.haproxy.wait_status("a", "DOWN", DETECT_TIMEOUT_S)

    # Uploads go on through the other node.
    r = fleet.client.put_video("prores-422.mov")
    assert r.status_code == 201, f"PUT while node a is down: {r.status_code} {r.text[:300]}"
    assert r.headers.get("Reel-Node") == "b"
    ids.append(r.json()["id"])

    # So does playback: the first video of the batch that is ready, every file of it through haproxy.
    def any_ready():
        return next((vid for vid in ids if fleet.client.video(vid)["state"] == "ready"), None)

    first = wait_for(any_ready, READY_TIMEOUT_S, "a video of the batch ready on node b alone", interval=1,
                     diagnose=fleet.diagnosis)
    served = fetch_ladder(fleet, first)
    assert set(served) == {"b"}, f"with node a down, haproxy sent requests elsewhere: {dict(served)}"

    wait_ready(fleet, ids)
    mine = check_jobs(fleet, ids)
    by_id = {j["id"]: j for j in mine}
    for job in killed:
        after = by_id[job["id"]]
        assert after["attempt"] > job["attempt"], (
            f"job {job['id']} ({job['kind']}) was running on the killed node; it must have been run again: {after}")
        assert fleet.node_of_owner(after["leaseOwner"]) == "b"
    check_playlists(fleet, ids)


# --------------------------------------------------------------------------
# 4. PostgreSQL restarted
# --------------------------------------------------------------------------


def test_postgres_restarted_mid_batch(fleet, long_clip):
    ids = [upload(fleet, long_clip)] + [upload(fleet, name) for name in BATCH[1:4]]
    wait_for(lambda: any(j["state"] == "running" for j in fleet.jobs()), 120, "a job of the batch running",
             interval=0.3, diagnose=fleet.diagnosis)
    workers_before = {name: node.worker_owners() for name, node in fleet.nodes.items()}

    fleet.postgres.pause()
    paused = time.monotonic()
    try:
        for node in fleet.nodes.values():
            wait_for(lambda: node.readyz_status() == 503, DETECT_TIMEOUT_S,
                     f"node {node.name}'s /readyz answering 503 while the database is down", diagnose=fleet.diagnosis)
            # An operator with the admin key learns why: the key cannot be checked, and the problem says so.
            r = node.readyz(key=True)
            assert r.status_code == 503, f"node {node.name} /readyz with a key: {r.status_code} {r.text[:300]}"
            assert r.headers.get("Content-Type", "").startswith("application/problem+json"), r.text[:300]
            assert "catalog cannot be reached" in r.json()["detail"], r.text[:300]
        # The API through haproxy says the service is unavailable (a problem, not a crash).
        r = fleet.client.get("/v1/videos")
        assert r.status_code == 503, f"GET /v1/videos with the database down: {r.status_code} {r.text[:300]}"
        assert r.headers.get("Content-Type", "").startswith("application/problem+json")
        # Down for longer than a lease: running pieces cannot heartbeat meanwhile.
        time.sleep(max(0.0, paused + LEASE_S + 2 - time.monotonic()))
    finally:
        fleet.postgres.resume()

    for node in fleet.nodes.values():
        wait_for(lambda: node.readyz_status() == 200, DETECT_TIMEOUT_S,
                 f"node {node.name} ready again once the database is back", diagnose=fleet.diagnosis)
    ids.append(upload(fleet, "prores-422.mov"))
    wait_ready(fleet, ids)
    check_jobs(fleet, ids)
    check_playlists(fleet, ids)
    for name, node in fleet.nodes.items():
        assert node.running, f"node {name} exited during the database restart"
        assert node.worker_owners() == workers_before[name], (
            f"node {name}'s workers were restarted (they died on a database error instead of waiting): "
            f"{workers_before[name]} -> {node.worker_owners()}")


# --------------------------------------------------------------------------
# 5. Playback in Chromium while a node is stopped
# --------------------------------------------------------------------------

PLAY_JS = """
const v = document.createElement("video");
v.id = "fleet"; v.muted = true; v.autoplay = true; v.playsInline = true; v.src = arguments[0];
document.body.replaceChildren(v);
v.play().catch(() => {});
"""

STATE_JS = """
const v = document.getElementById("fleet");
return v && {currentTime: v.currentTime, duration: Number.isFinite(v.duration) ? v.duration : null,
             paused: v.paused, ended: v.ended, readyState: v.readyState,
             error: v.error ? v.error.code + ": " + v.error.message : null};
"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    from chromium_support import CHROMEDRIVER, CHROMIUM, missing_browser, start_chromium

    reason = missing_browser()
    if reason:
        if os.environ.get("REEL_REQUIRE_BROWSER", "") == "1":
            pytest.fail(f"{reason} (REEL_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(reason)
    driver = start_chromium((CHROMIUM, CHROMEDRIVER), tmp_path_factory.mktemp("fleet-chromium"), [])
    try:
        yield driver
    finally:
        driver.quit()



def test_playback_through_haproxy_goes_on_while_a_node_is_stopped(fleet, long_clip, chromium):
    vid = upload(fleet, long_clip)
    wait_ready(fleet, [vid])
    chromium.get(fleet.haproxy.base + "/")              # same origin as the media
    chromium.execute_script(PLAY_JS, f"/hls/{vid}/master.m3u8")

    def state():
        s = chromium.execute_script(STATE_JS)
        assert s and not s["error"], f"the video element failed: {s}"
        return s

    def played_past(t: float):
        return lambda: (s := state())["currentTime"] > t and s

    wait_for(played_past(1.0), 60, "Chromium playing through haproxy", diagnose=fleet.diagnosis)
    b_before = int(fleet.haproxy.servers()["b"]["stot"])
    fleet.nodes["a"].stop()
    fleet.haproxy.wait_status("a", "DOWN", DETECT_TIMEOUT_S)

    now = state()["currentTime"]
    wait_for(played_past(now + 3), 60, "playback going on with node a stopped", diagnose=fleet.diagnosis)
    # A seek needs segments not fetched yet: they come from node b.
    duration = state()["duration"] or 48
    target = duration - 10
    chromium.execute_script("const v = document.getElementById('fleet'); v.currentTime = arguments[0]; v.play();", target)
    wait_for(played_past(target + 2), 60, "playback after a seek with node a stopped", diagnose=fleet.diagnosis)
    assert int(fleet.haproxy.servers()["b"]["stot"]) > b_before, "node b served nothing while node a was stopped"
