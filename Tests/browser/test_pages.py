"""Reel's own pages in headless Chromium against a real `reel up`.

  1. upload Fixtures/landscape.mp4 with the upload page (tus), follow the watch
     link, play it past 1 s, and find it ready in the library;
  2. the streaming handler tailors master.m3u8 to the device: a browser with a
     Pixel 7 user agent is told `phone`, the desktop one `desktop`; the watch
     page plays on the phone too;
  3. an upload survives a dropped connection (DevTools goes offline for ~2 s
     mid-upload) and the server's sha256 of the result equals the file's.

Run alone with `python3 -m pytest Tests/browser/test_pages.py -q`. The server
and the browsers live in pages_support.py; conftest.py skips everything when
Chromium is missing (fails with REEL_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
import urllib.parse

import pytest
from pages_support import (  # noqa: F401 - fixtures are found by name in this module
    FIXTURES_DIR,
    console,
    desktop,
    phone,
    reel_server,
    wait_until,
)

UPLOAD_TIMEOUT_S = 180     # page upload until the watch link shows
PLAYABLE_TIMEOUT_S = 180   # watch page until the <video> can play (transcoding included)
PLAY_TIMEOUT_S = 30        # from play() to currentTime > 1 s
READY_TIMEOUT_S = 180      # until the library shows the video as ready
SHA_TIMEOUT_S = 60         # until GET /v1/videos/{id} has a sha256
FFMPEG_TIMEOUT_S = 180
THROTTLE_BYTES_PER_S = 1_500_000  # upload speed while the resume test cuts the network
OFFLINE_S = 2.0
ERROR_RECOVERY_S = 5.0     # a media error the watch page must have recovered from by then

# One upload row of upload.html, by file name: its state, progress, history and link.
ROW_JS = """
const name = arguments[0];
const row = [...document.querySelectorAll("li.upload")].find((r) => r.dataset.name === name);
if (!row) { return null; }
const link = row.querySelector("a.watch-link");
const entry = (window.reelUploads || []).find((e) => e.file.name === name);
return {state: row.dataset.state, progress: parseFloat(row.dataset.progress || "0"),
        status: row.querySelector(".status").textContent,
        videoId: link ? link.dataset.videoId : null, href: link ? link.href : null,
        states: entry ? entry.states : []};
"""

VIDEO_JS = """
const v = document.querySelector("video");
if (!v) { return null; }
return {currentTime: v.currentTime, readyState: v.readyState, paused: v.paused,
        error: v.error ? v.error.code + ": " + v.error.message : null,
        width: v.videoWidth, height: v.videoHeight, src: v.currentSrc, id: v.id,
        state: (document.getElementById("state") || {dataset: {}}).dataset.state};
"""

# fetch() a URL from inside the page; the answer's device class and first line.
FETCH_JS = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {cache: "no-store"})
  .then((r) => r.text().then((t) => done({status: r.status, deviceClass: r.headers.get("Reel-Device-Class"),
                                          vary: r.headers.get("Vary"), head: t.slice(0, 200)})))
  .catch((e) => done({error: String(e)}));
"""


def _diag(driver, server):
    return lambda: f"{console(driver)}\n{server.log_tail()}"


def upload_with_page(driver, server, path, *, on_started=None) -> dict:
    """Open /upload#key=…, give the file input `path`, wait for the watch link.

    on_started(row_js_result_getter) runs once the row exists (used to cut the
    network mid-upload). Returns the row (videoId, href, states…).
    """
    from selenium.webdriver.common.by import By

    driver.get(server.url(f"/upload#key={urllib.parse.quote(server.key)}"))
    # app.js stores the key and removes the fragment from the address bar.
    assert "#key=" not in driver.current_url, driver.current_url
    assert driver.execute_script("return localStorage.getItem('reel.key')") == server.key
    driver.find_element(By.ID, "file").send_keys(str(path))

    def row():
        return driver.execute_script(ROW_JS, path.name)

    if on_started:
        on_started(row)

    def finished():
        r = row()
        if r and r["state"] == "error":
            raise AssertionError(f"the upload page reports an error for {path.name}: {r['status']}")
        return r if r and r["videoId"] else None

    try:
        return wait_until(finished, UPLOAD_TIMEOUT_S, f"the watch link for {path.name}",
                          diagnose=_diag(driver, server))
    except AssertionError as exc:
        pytest.fail(f"{exc}\n{_diag(driver, server)()}", pytrace=False)


class ErrorWatch:
    """Tolerates a media error the page recovers from by itself within ERROR_RECOVERY_S (the watch and
    embed pages reload the playlists at the same time, still playing: Chromium's own HLS player can fail
    on a rung switch while the playlists still grow); one that stays is a failure."""

    def __init__(self, what: str):
        self.what = what
        self.since: float | None = None

    def check(self, s) -> None:
        if not (s and s["error"]):
            self.since = None
            return
        self.since = self.since or time.monotonic()
        if time.monotonic() - self.since > ERROR_RECOVERY_S:
            raise AssertionError(f"{self.what} failed and the page did not recover: {s['error']}")


def play_watch_page(driver, server, video_id: str) -> dict:
    """Open /watch/{id}, wait until the <video> can play, play it past 1 s (see ErrorWatch)."""
    driver.get(server.url(f"/watch/{video_id}"))
    errors = ErrorWatch("the video element")

    def playable():
        s = driver.execute_script(VIDEO_JS)
        errors.check(s)
        if s is None:
            state = driver.execute_script("return document.getElementById('state').dataset.state")
            if state == "failed":
                raise AssertionError("the watch page says the video failed: " + driver.execute_script(
                    "return document.getElementById('error').textContent"))
        return s if s and s["readyState"] >= 2 and not s["error"] else None

    def playing():
        s = driver.execute_script(VIDEO_JS)
        errors.check(s)
        return s if s["currentTime"] > 1.0 and not s["error"] else None

    try:
        state = wait_until(playable, PLAYABLE_TIMEOUT_S, "the watch page's <video> to be playable",
                           poll=0.5, diagnose=_diag(driver, server))
        assert state["id"] == "player"
        driver.execute_script("const v = document.querySelector('video'); v.muted = true; v.play();")
        return wait_until(playing, PLAY_TIMEOUT_S, "currentTime to pass 1.0 s", poll=0.2,
                          diagnose=_diag(driver, server))
    except AssertionError as exc:
        pytest.fail(f"{exc}\n{_diag(driver, server)()}", pytrace=False)


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@pytest.fixture(scope="module")
def landscape_upload(desktop, reel_server, report) -> dict:
    """Fixtures/landscape.mp4 uploaded once through the page; shared by tests 1 and 2."""
    start = time.monotonic()
    row = upload_with_page(desktop, reel_server, (FIXTURES_DIR / "landscape.mp4").resolve())
    report["notes"].append(f"pages: landscape.mp4 uploaded through /upload in {time.monotonic() - start:.1f} s "
                           f"(states {' > '.join(dict.fromkeys(row['states']))})")
    return row


def test_upload_watch_and_library(desktop, reel_server, landscape_upload):
    video_id = landscape_upload["videoId"]
    assert landscape_upload["href"].endswith(f"/watch/{video_id}")

    # The watch link works and the video plays in the page's own <video>.
    desktop.get(landscape_upload["href"])
    state = play_watch_page(desktop, reel_server, video_id)
    assert state["width"] > 0 and state["height"] > 0
    shown = desktop.execute_script("return document.getElementById('resolution').dataset")
    assert int(shown["width"]) == state["width"], shown

    # The library lists it, ready, linking to its watch page.
    desktop.get(reel_server.url("/"))

    def listed_ready():
        return desktop.execute_script(
            "const c = document.querySelector('li.card[data-id=\"' + arguments[0] + '\"]');"
            "return c ? {state: c.dataset.state, href: c.querySelector('a').getAttribute('href'),"
            " text: c.textContent} : null", video_id) or None

    card = wait_until(lambda: (lambda c: c if c and c["state"] == "ready" else None)(listed_ready()),
                      READY_TIMEOUT_S, "the library to list the video as ready", poll=0.5,
                      diagnose=lambda: f"card: {listed_ready()!r}\n{_diag(desktop, reel_server)()}")
    assert card["href"] == f"/watch/{video_id}"
    assert "landscape" in card["text"]  # the title is the file name without its extension


def test_device_class_phone_and_desktop(desktop, phone, reel_server, landscape_upload):
    video_id = landscape_upload["videoId"]
    status, video = wait_until(
        lambda: (lambda r: r if r[0] == 200 and r[1].get("playbackUrl") else None)(
            reel_server.api(f"/v1/videos/{video_id}")),
        PLAYABLE_TIMEOUT_S, "a playbackUrl", poll=0.5, diagnose=reel_server.log_tail)
    playback = urllib.parse.urljoin(reel_server.base_url + "/", video["playbackUrl"])

    answers = {}
    for name, driver in (("phone", phone), ("desktop", desktop)):
        driver.get(reel_server.url(f"/watch/{video_id}"))  # same origin: every header is readable
        answers[name] = driver.execute_async_script(FETCH_JS, playback)
    for name, answer in answers.items():
        assert answer.get("status") == 200, f"{name}: fetching {playback} gave {answer}"
        assert answer["head"].startswith("#EXTM3U"), f"{name}: not a playlist: {answer['head']!r}"
        assert answer["deviceClass"] == name, (
            f"the {name} browser got Reel-Device-Class {answer['deviceClass']!r} for {playback}: {answers}")

    state = play_watch_page(phone, reel_server, video_id)
    assert state["width"] > 0 and state["height"] > 0


def test_upload_resumes_after_network_drop(desktop, reel_server, tmp_path, report):
    if not shutil.which("ffmpeg"):
        pytest.fail("the ffmpeg command is needed to make the 20 MB test file (apt-get install -y ffmpeg)",
                    pytrace=False)
    source = tmp_path / "out.mp4"
    made = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine",
         "-t", "20", "-c:v", "libx264", "-b:v", "8M", "-c:a", "aac", str(source)],
        capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, f"ffmpeg failed: {made.stderr}"
    size = source.stat().st_size
    expected = sha256_of(source)

    def network(offline: bool, upload: int = -1):
        desktop.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": upload})

    cut = {}

    def cut_the_network(row):
        # Slow the upload so it is still in flight, let a few MB through, then
        # go offline for a moment and come back at full speed.
        wait_until(lambda: (row() or {}).get("progress", 0) >= 15, 60, "the upload to pass 15 %",
                   poll=0.1, diagnose=_diag(desktop, reel_server))
        before = row()
        network(True, THROTTLE_BYTES_PER_S)
        t0 = time.monotonic()
        cut["seen"] = wait_until(lambda: (row() or {}).get("state") in ("retrying", "syncing"), 20,
                                 "the page to notice the dropped connection", poll=0.1,
                                 diagnose=_diag(desktop, reel_server))
        time.sleep(max(0.0, OFFLINE_S - (time.monotonic() - t0)))
        network(False)
        cut["before"] = before

    desktop.execute_cdp_cmd("Network.enable", {})
    try:
        network(False, THROTTLE_BYTES_PER_S)
        start = time.monotonic()
        row = upload_with_page(desktop, reel_server, source, on_started=cut_the_network)
    finally:
        network(False)
    states = row["states"]
    report["notes"].append(
        f"pages: {size / 1e6:.1f} MB upload cut at {cut['before']['progress']:.0f} % for {OFFLINE_S:.0f} s, "
        f"finished in {time.monotonic() - start:.1f} s; states {' > '.join(states)}")
    assert "retrying" in states and "syncing" in states, f"the client did not retry and re-sync: {states}"

    video_id = row["videoId"]

    def sha():
        status, body = reel_server.api(f"/v1/videos/{video_id}")
        return body if status == 200 and body.get("sha256") else None

    video = wait_until(sha, SHA_TIMEOUT_S, "the video's sha256", poll=0.5, diagnose=reel_server.log_tail)
    assert video["sizeBytes"] == size
    assert video["sha256"] == expected, "the uploaded bytes differ from the file"


def test_metrics_show_the_autoscaler(reel_server, landscape_upload):
    """`reel up` runs its workers under the autoscaler, whose status reaches /metrics."""
    import urllib.request

    def autoscaler_lines():
        request = urllib.request.Request(f"{reel_server.base_url}/metrics",
                                         headers={"Authorization": f"Bearer {reel_server.key}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return [line for line in response.read().decode().splitlines() if line.startswith("reel_autoscaler_")]

    lines = wait_until(lambda: autoscaler_lines() or None, 30, "autoscaler series in /metrics")
    names = {line.split("{", 1)[0] for line in lines}
    assert {"reel_autoscaler_desired_workers", "reel_autoscaler_running_workers", "reel_autoscaler_actions"} <= names
    desired = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("reel_autoscaler_desired_workers")]
    assert desired == [1.0], f"reel up --workers 1 keeps one worker: {lines}"


def test_embed_plays_in_another_sites_frame_and_the_watch_page_does_not(desktop, reel_server, landscape_upload,
                                                                        tmp_path):
    """A page on another origin frames /embed/{id} (allowed: frame-ancestors *) and it plays there; the same
    page framing /watch/{id} gets nothing (frame-ancestors 'self'), so no site can overlay Reel's pages."""
    import http.server
    import threading

    video_id = landscape_upload["videoId"]
    (tmp_path / "host.html").write_text(
        "<!doctype html><title>another site</title>"
        f'<iframe id="embed" src="{reel_server.url("/embed/" + video_id)}" width="640" height="360" allow="autoplay"></iframe>'
        f'<iframe id="watch" src="{reel_server.url("/watch/" + video_id)}" width="640" height="360"></iframe>')

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    # "localhost" and "127.0.0.1" are different origins to the browser.
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        desktop.get(f"http://localhost:{site.server_address[1]}/host.html")
        desktop.switch_to.frame("embed")

        errors = ErrorWatch("the embedded video")

        def playable():
            s = desktop.execute_script(VIDEO_JS)
            errors.check(s)
            return s if s and s["readyState"] >= 2 and not s["error"] else None

        def playing():
            s = desktop.execute_script(VIDEO_JS)
            errors.check(s)
            return s if s["currentTime"] > 1.0 and not s["error"] else None

        wait_until(playable, PLAYABLE_TIMEOUT_S, "the embedded <video> to be playable", poll=0.5)
        desktop.execute_script("const v = document.querySelector('video'); v.muted = true; v.play();")
        state = wait_until(playing, PLAY_TIMEOUT_S, "the embedded video to play past 1 s", poll=0.2)
        assert state["width"] > 0
        desktop.switch_to.default_content()

        desktop.switch_to.frame("watch")
        blocked = desktop.execute_script(
            "return {href: location.href, title: document.getElementById('title') !== null}")
        desktop.switch_to.default_content()
        assert not blocked["title"] and not blocked["href"].startswith(reel_server.base_url), blocked
    finally:
        desktop.switch_to.default_content()
        site.shutdown()
