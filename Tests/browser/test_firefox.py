"""The watch page plays in Firefox ESR, which has no native HLS, through player.js (Media Source Extensions).

A real `reel serve` on loopback with its own data dir, `reel worker` processes started and stopped by
the tests, and Debian's firefox-esr driven headless over Marionette (firefox_support.py):

  1. a generated 48 s 960x540 clip, transcoded to the `small` ladder (234p, 360p, 540p), plays on the
     watch page: the page chose player.js, `currentTime` advances, the first rung shown is the lowest
     and the picture then switches up to a higher rung (loopback is fast, so throughput allows it);
  2. seeking to 40 s (outside the 30 s buffered ahead) plays from there;
  3. a video whose worker was killed after its first pieces (still `processing`, EVENT playlists)
     plays its prefix; when another worker finishes it, the player reads the final playlists
     (EXT-X-ENDLIST) and the media duration grows to the whole clip.
  4. a segment missing on the server (deleted from the storage root) is reported on the page.
  5. the embed page (/embed/{id}) plays the ready clip through player.js too.
  6. player.js's playlist parser, called in Firefox: unknown EXT-X-MEDIA types skipped, query strings kept.
  7. captions uploaded to the ready clip are listed as a text track on the watch page and their cue is
     active at its time (source time + the X-TIMESTAMP-MAP offset), from the segmented WebVTT.

Skipped without firefox-esr or marionette-driver unless REEL_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from firefox_support import require_firefox, start_firefox, stop_firefox
from pages_support import (HEALTHY_TIMEOUT_S, KEY_CREATE_TIMEOUT_S, REPO_ROOT, ReelServer, _free_port, _healthy,
                           _stop, wait_until)

CLIP_S = 48                # the ready clip: 8 segments (2 s, then 6 s each)
PROCESSING_CLIP_S = 36     # the clip whose worker is killed after its first pieces
SEEK_TO_S = 40.0
FFMPEG_TIMEOUT_S = 120
TRANSCODE_TIMEOUT_S = 180
PLAY_TIMEOUT_S = 30

STATE_JS = """
const v = document.getElementById("player");
const res = document.getElementById("resolution");
const err = document.getElementById("error");
if (!v) { return {video: false, state: (document.getElementById("state") || {dataset: {}}).dataset.state}; }
if (arguments[0] && v.paused && v.readyState >= 2) { v.muted = true; v.play(); }  // the page does not autoplay
return {video: true, player: v.dataset.player || "", fetchedRung: v.dataset.rung || "",
        endlist: v.dataset.endlist || "", shownRung: res.dataset.rung || "",
        width: v.videoWidth, height: v.videoHeight, currentTime: v.currentTime,
        duration: Number.isFinite(v.duration) ? v.duration : -1, paused: v.paused, readyState: v.readyState,
        error: v.error ? v.error.code + ": " + v.error.message : null,
        pageError: err && !err.hidden ? err.textContent : "",
        state: document.getElementById("state").dataset.state,
        hls: document.createElement("video").canPlayType("application/vnd.apple.mpegurl")};
"""


# --------------------------------------------------------------------------
# Server, worker, clips
# --------------------------------------------------------------------------


def make_clip(path, seconds: int, size: str, pattern: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"{pattern}=size={size}:rate=24:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=FFMPEG_TIMEOUT_S, stdin=subprocess.DEVNULL)


class Worker:
    """`reel worker` on the server's data dir, in its own process group."""

    def __init__(self, reel_bin, server: ReelServer, log, *extra: str):
        self.out = open(log, "ab")
        self.proc = subprocess.Popen(
            [str(reel_bin), "worker", "--data", str(server.data), "--profile", "small", *extra],
            cwd=REPO_ROOT, stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

    def kill(self) -> None:
        import os
        import signal
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.out.close()

    def stop(self) -> None:
        _stop(self.proc)
        self.out.close()


def ingest(reel_bin, server: ReelServer, path) -> str:
    out = subprocess.run([str(reel_bin), "ingest", "--data", str(server.data), str(path)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"reel ingest failed: {out.stdout}\n{out.stderr}"
    return out.stdout.split()[0]


def segments_in_lowest_rung(server: ReelServer, video: dict) -> int:
    """EXTINF lines of the first video variant's media playlist (the master's query kept)."""
    master_url = urllib.parse.urljoin(server.base_url, video["playbackUrl"])
    try:
        with urllib.request.urlopen(master_url, timeout=10) as r:
            master = r.read().decode()
        uri = next(line for line in master.splitlines() if line and not line.startswith("#"))
        with urllib.request.urlopen(urllib.parse.urljoin(master_url, uri), timeout=10) as r:
            return r.read().decode().count("#EXTINF")
    except (urllib.error.URLError, OSError, StopIteration):
        return 0  # not published yet


@pytest.fixture(scope="module")
def firefox_server(reel_bin, tmp_path_factory, request) -> ReelServer:
    require_firefox()
    data = tmp_path_factory.mktemp("reel-firefox-data")
    created = subprocess.run(
        [str(reel_bin), "keys", "create", "--name", "test", "--scope", "admin", "--data", str(data)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=KEY_CREATE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert created.returncode == 0 and created.stdout.strip(), created.stderr
    key = created.stdout.splitlines()[0].strip()
    port = _free_port()
    log = data.parent / "reel-serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(reel_bin), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    request.addfinalizer(lambda: _stop(proc))
    server = ReelServer(proc, port, key, data, log)
    wait_until(lambda: _healthy(server.url("/healthz")), HEALTHY_TIMEOUT_S, "reel serve to answer /healthz",
               poll=0.2, diagnose=server.log_tail)
    return server


@pytest.fixture(scope="module")
def ready_video(reel_bin, firefox_server, tmp_path_factory) -> str:
    """A 48 s clip with three rungs, transcoded to the end by one worker."""
    folder = tmp_path_factory.mktemp("firefox-clips")
    clip = folder / "ready.mp4"
    make_clip(clip, CLIP_S, "960x540", "testsrc2")
    vid = ingest(reel_bin, firefox_server, clip)
    worker = Worker(reel_bin, firefox_server, folder / "worker-ready.log", "--exit-when-idle")
    try:
        worker.proc.wait(timeout=TRANSCODE_TIMEOUT_S)
    finally:
        worker.stop()
    status, video = firefox_server.api(f"/v1/videos/{vid}")
    assert status == 200 and video["state"] == "ready", f"{video}\n{(folder / 'worker-ready.log').read_text()[-3000:]}"
    assert len(video["renditions"]) >= 3, video["renditions"]
    return vid


@pytest.fixture(scope="module")
def firefox(tmp_path_factory):
    require_firefox()
    ff = start_firefox(tmp_path_factory.mktemp("firefox"))
    try:
        yield ff
    finally:
        stop_firefox(ff)


def open_watch(firefox, server: ReelServer, vid: str) -> None:
    firefox.client.navigate("about:blank")  # the last test's page and its player are gone before the next
    firefox.client.navigate(server.url(f"/watch/{vid}#key={urllib.parse.quote(server.key)}"))


def state(firefox, start: bool = False) -> dict:
    """The watch page's player; with start=True, also play() it when it is paused and has data."""
    return firefox.client.execute_script(STATE_JS, script_args=[start])


def wait_playing(firefox, server, past: float, what: str) -> dict:
    def check():
        s = state(firefox, start=True)
        if not s:
            return None  # between documents
        if s.get("error") or s.get("pageError"):
            raise AssertionError(f"the player failed: {s}")
        return s if s["video"] and s["currentTime"] > past else None

    diag = lambda: f"{state(firefox)}\n{server.log_tail(3000)}\n{firefox.log_tail()}"  # noqa: E731
    try:
        return wait_until(check, PLAY_TIMEOUT_S, what, poll=0.25, diagnose=diag)
    except AssertionError as exc:
        pytest.fail(f"{exc}\n{diag()}", pytrace=False)


def rung_height(name: str) -> int:
    m = re.match(r"(\d+)p", name)
    return int(m.group(1)) if m else 0


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_plays_and_switches_rung_up(firefox, firefox_server, ready_video, report):
    open_watch(firefox, firefox_server, ready_video)
    first = wait_playing(firefox, firefox_server, 0.5, "currentTime to pass 0.5 s")
    assert first["hls"] == "", f"this Firefox claims native HLS ({first['hls']!r}): the test would not use player.js"
    assert first["player"] == "mse", first
    assert first["shownRung"] == "234p", f"player.js starts on the lowest rung, the page shows {first}"

    # Segment 0 is 2 s: from the next segment on, the rung chosen by measured throughput is on screen.
    def switched():
        s = state(firefox)
        return s if rung_height(s["shownRung"]) > rung_height(first["shownRung"]) else None

    later = wait_until(switched, PLAY_TIMEOUT_S, "the picture to switch to a higher rung",
                       diagnose=lambda: str(state(firefox)))
    assert later["error"] is None and later["currentTime"] > first["currentTime"]
    report["notes"].append(f"firefox: shown {first['shownRung']} at {first['currentTime']:.1f} s, "
                           f"{later['shownRung']} ({later['width']}x{later['height']}) at {later['currentTime']:.1f} s")


def test_seek_plays_from_there(firefox, firefox_server, ready_video):
    open_watch(firefox, firefox_server, ready_video)
    wait_playing(firefox, firefox_server, 0.5, "currentTime to pass 0.5 s")
    firefox.client.execute_script(f"document.getElementById('player').currentTime = {SEEK_TO_S};")
    s = wait_playing(firefox, firefox_server, SEEK_TO_S + 1.0, f"currentTime to pass {SEEK_TO_S + 1:.0f} s after the seek")
    assert s["currentTime"] < CLIP_S and s["duration"] == pytest.approx(CLIP_S, abs=0.5), s


def test_processing_video_plays_its_prefix_then_its_end(firefox, firefox_server, reel_bin, tmp_path, report):
    clip = tmp_path / "processing.mp4"
    make_clip(clip, PROCESSING_CLIP_S, "640x360", "testsrc")
    vid = ingest(reel_bin, firefox_server, clip)
    # One worker, 6 s chunks, killed once the lowest rung has two segments (8 s): the rest stays to do.
    worker = Worker(reel_bin, firefox_server, tmp_path / "worker-1.log", "--chunk-seconds", "6", "--lease", "3")
    try:
        def prefix():
            status, video = firefox_server.api(f"/v1/videos/{vid}")
            return video if status == 200 and video["playable"] and segments_in_lowest_rung(firefox_server, video) >= 2 else None
        wait_until(prefix, TRANSCODE_TIMEOUT_S, "the first pieces to be published", poll=0.1)
    finally:
        worker.kill()
    status, video = firefox_server.api(f"/v1/videos/{vid}")
    assert video["state"] == "processing", f"the worker finished before it was stopped: {video}"

    open_watch(firefox, firefox_server, vid)
    s = wait_playing(firefox, firefox_server, 1.0, "the prefix to play past 1 s")
    assert s["player"] == "mse" and s["state"] == "processing" and s["endlist"] == "", s
    assert 0 < s["duration"] < PROCESSING_CLIP_S - 6, f"an unfinished video shows its full length: {s}"

    # Another worker finishes it: the player reads the playlists again until they are final.
    worker = Worker(reel_bin, firefox_server, tmp_path / "worker-2.log", "--lease", "3")
    try:
        done = wait_until(lambda: (lambda s: s if s["endlist"] == "1" else None)(state(firefox)),
                          TRANSCODE_TIMEOUT_S, "the player to see EXT-X-ENDLIST",
                          diagnose=lambda: f"{state(firefox)}\n{(tmp_path / 'worker-2.log').read_text()[-3000:]}")
    finally:
        worker.stop()
    wait_until(lambda: abs(state(firefox)["duration"] - PROCESSING_CLIP_S) < 0.5, 10,
               "the media duration to become the whole clip's", diagnose=lambda: str(state(firefox)))
    assert done["error"] is None and not done["pageError"], done
    report["notes"].append(f"firefox: processing video played its prefix to {s['currentTime']:.1f} s of "
                           f"{s['duration']:.1f} s; after EXT-X-ENDLIST the duration is {state(firefox)['duration']:.1f} s")


def test_missing_segment_is_reported_on_the_page(firefox, firefox_server, reel_bin, tmp_path):
    """A segment the server cannot find stops player.js with a sentence on the page, not silence."""
    vid = ingest(reel_bin, firefox_server, REPO_ROOT / "Fixtures" / "landscape.mp4")
    worker = Worker(reel_bin, firefox_server, tmp_path / "worker.log", "--exit-when-idle")
    try:
        worker.proc.wait(timeout=TRANSCODE_TIMEOUT_S)
    finally:
        worker.stop()
    status, video = firefox_server.api(f"/v1/videos/{vid}")
    assert status == 200 and video["state"] == "ready", video
    (firefox_server.data / "hls" / vid / "audio" / "seg-00000.m4s").unlink()

    open_watch(firefox, firefox_server, vid)

    def reported():
        s = state(firefox)
        return s if s and s.get("pageError") else None

    s = wait_until(reported, PLAY_TIMEOUT_S, "the page to show the player's error", diagnose=lambda: str(state(firefox)))
    assert "404" in s["pageError"] and "audio/seg-00000.m4s" in s["pageError"], s["pageError"]
    assert s["player"] == "mse"


EMBED_JS = """
const v = document.getElementById("player");
const notice = document.getElementById("notice");
if (!v) { return null; }
if (v.paused && v.readyState >= 2) { v.muted = true; v.play(); }
return {player: v.dataset.player || "", currentTime: v.currentTime, width: v.videoWidth,
        error: v.error ? v.error.code + ": " + v.error.message : null,
        notice: notice.hidden ? "" : notice.textContent};
"""


def test_embed_page_plays(firefox, firefox_server, ready_video):
    """/embed/{id} (public videos, no key) plays through player.js as well."""
    firefox.client.navigate("about:blank")
    firefox.client.navigate(firefox_server.url(f"/embed/{ready_video}"))

    def playing():
        s = firefox.client.execute_script(EMBED_JS)
        if s and (s["error"] or s["notice"].startswith("Playback") or s["notice"].startswith("The video")):
            raise AssertionError(f"the embed page failed: {s}")
        return s if s and s["currentTime"] > 1.0 else None

    try:
        s = wait_until(playing, PLAY_TIMEOUT_S, "the embed page to play past 1 s",
                       diagnose=lambda: str(firefox.client.execute_script(EMBED_JS)))
    except AssertionError as exc:
        pytest.fail(str(exc), pytrace=False)
    assert s["player"] == "mse" and s["width"] > 0, s


PARSE_JS = """
const P = window.ReelPlayer;
const base = "http://h.test/s/1700000000/c2ln/hls/v1/master.m3u8?device=desktop";
const master = P.parseMaster([
  "#EXTM3U", "#EXT-X-VERSION:7",
  '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English, CC",LANGUAGE="en",URI="subs/en/index.m3u8"',
  '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="cc1",INSTREAM-ID="CC1"',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",DEFAULT=YES,URI="audio/index.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=2193286,CODECS="avc1.640020,mp4a.40.2",RESOLUTION=960x540,AUDIO="audio",SUBTITLES="subs"',
  "540p/index.m3u8",
  '#EXT-X-STREAM-INF:BANDWIDTH=293790,CODECS="avc1.4d401e,mp4a.40.2",RESOLUTION=416x234,AUDIO="audio",SUBTITLES="subs"',
  "234p/index.m3u8?token=abc",
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=25484,CODECS="avc1.4d401e",URI="234p/iframes.m3u8"',
].join("\\n"), base);
const media = P.parseMedia(["#EXTM3U", "#EXT-X-PLAYLIST-TYPE:EVENT", '#EXT-X-MAP:URI="init.mp4"',
  "#EXTINF:2.0,", "seg-00000.m4s", "#EXTINF:6.0,", "seg-00001.m4s"].join("\\n"), master.variants[0].url);
const cues = P.parseVTT(["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:6000,LOCAL:00:00:01.000", "", "NOTE a comment", "",
  "c1", "00:00:02.000 --> 00:00:04.500 align:start line:10%", "Two lines,", "<i>the second</i>", "",
  "01:00:00.000 --> 00:59:59.000", "backwards: skipped", "", "00:05.250 --> 00:06.000", "short form"].join("\\r\\n"));
return {variants: master.variants.map((v) => [v.name, v.bandwidth, v.width, v.height, v.url, v.codecs.join(",")]),
        subtitles: master.subtitles, cues: cues.map((c) => [Math.round(c.start * 1000), Math.round(c.end * 1000), c.text, c.settings]),
        audio: master.audio, groups: Object.keys(master.audio),
        init: media.init, segments: media.segments.map((s) => [s.url, s.start, s.duration]),
        ended: media.ended, duration: media.duration};
"""


def test_playlist_parsing(firefox, firefox_server):
    """player.js's parsers, in Firefox: SUBTITLES renditions listed apart, CLOSED-CAPTIONS skipped, variants come
    lowest first, relative URIs resolve against their playlist and keep its query string unless they have their
    own; WebVTT cues moved by X-TIMESTAMP-MAP, comments and backwards cues skipped, settings kept."""
    firefox.client.navigate(firefox_server.url("/watch/no-such-video"))
    got = firefox.client.execute_script(PARSE_JS, sandbox=None)  # the page's own globals, not an Xray view
    base = "http://h.test/s/1700000000/c2ln/hls/v1/"
    assert got["variants"] == [
        ["234p", 293790, 416, 234, base + "234p/index.m3u8?token=abc", "avc1.4d401e,mp4a.40.2"],
        ["540p", 2193286, 960, 540, base + "540p/index.m3u8?device=desktop", "avc1.640020,mp4a.40.2"],
    ]
    assert got["groups"] == ["audio"]
    assert got["subtitles"] == [{"name": "English, CC", "language": "en", "default": False,
                                 "url": base + "subs/en/index.m3u8?device=desktop"}]
    # X-TIMESTAMP-MAP: LOCAL 1 s is media time 6000/90000 s, so every cue moves by 1/15 − 1 s.
    assert got["cues"] == [[1067, 3567, "Two lines,\n<i>the second</i>", "align:start line:10%"],
                           [4317, 5067, "short form", ""]]
    assert got["audio"]["audio"] == [{"name": "Main", "url": base + "audio/index.m3u8?device=desktop", "default": True}]
    assert got["init"] == base + "234p/init.mp4?token=abc"
    assert got["segments"] == [[base + "234p/seg-00000.m4s?token=abc", 0, 2], [base + "234p/seg-00001.m4s?token=abc", 2, 6]]
    assert got["ended"] is False and got["duration"] == 8


CAPTION_TEXT = "Firefox caption from four seconds"
CAPTIONS_JS = """
const v = document.getElementById("player");
if (!v) { return null; }
if (v.paused && v.readyState >= 2) { v.muted = true; v.play(); }
return {currentTime: v.currentTime, error: v.error ? v.error.code + ": " + v.error.message : null,
        captionsError: v.dataset.captionsError || null,
        tracks: Array.from(v.textTracks).map((t) => ({kind: t.kind, label: t.label, language: t.language, mode: t.mode,
          active: t.activeCues ? Array.from(t.activeCues).map((c) => ({start: c.startTime, end: c.endTime, text: c.text})) : []}))};
"""


def test_captions_are_listed_and_shown(firefox, firefox_server, ready_video):
    """player.js plays the video; ReelPlayer.captions adds the SUBTITLES rendition as a text track."""
    srt = f"1\n00:00:04,000 --> 00:00:07,500\n{CAPTION_TEXT}\n"
    status, track = firefox_server.api(f"/v1/videos/{ready_video}/captions?lang=de&label=Deutsch&default=true", 30,
                                       "POST", srt.encode(), "application/x-subrip")
    assert status == 201, track
    open_watch(firefox, firefox_server, ready_video)

    def shown():
        s = firefox.client.execute_script(CAPTIONS_JS)
        if s and (s["error"] or s["captionsError"]):
            raise AssertionError(f"the watch page failed: {s}")
        for t in (s or {}).get("tracks", []):
            for cue in t["active"]:
                if CAPTION_TEXT in cue["text"]:
                    return {**s, "cue": cue}
        return None

    try:
        s = wait_until(shown, PLAY_TIMEOUT_S, f"the cue '{CAPTION_TEXT}' to be shown",
                       diagnose=lambda: str(firefox.client.execute_script(CAPTIONS_JS)))
    except AssertionError as exc:
        pytest.fail(str(exc), pytrace=False)
    assert [(t["kind"], t["language"], t["label"], t["mode"]) for t in s["tracks"]] == \
        [("subtitles", "de", "Deutsch", "showing")], s
    # 4 s of the source is 4 s plus the constant offset (a frame or two) on the fMP4 timeline.
    assert 4.0 < s["cue"]["start"] < 4.5 and s["cue"]["end"] - s["cue"]["start"] == pytest.approx(3.5, abs=0.002), s
    assert s["cue"]["start"] <= s["currentTime"] <= s["cue"]["end"], s
