"""Downloads (issue 12): the static renditions the profile offers (`downloads:` in profiles/small.yaml:
the highest rung made and audio.m4a), listed in the Video JSON once made after the video is ready, and
served by the streaming handler with ranges, HEAD, validators, Content-Disposition and signed URLs
(docs/HTTP.md, "Videos API" and "Streaming handler")."""

from __future__ import annotations

import json
import subprocess
import time
from urllib.parse import unquote

import requests

IDENTITY = {"Accept-Encoding": "identity"}
DOWNLOADS_TIMEOUT_S = 120


def _get(url: str, method: str = "GET", **headers) -> requests.Response:
    return requests.request(method, url, headers={**IDENTITY, **headers}, timeout=30, allow_redirects=False)


def wait_downloads(reel, vid: str, count: int = 2) -> dict:
    """Polls the video until its `downloads` lists `count` files (the job runs after ready)."""
    deadline = time.monotonic() + DOWNLOADS_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        last = reel.video(vid)
        if len(last["downloads"]) >= count:
            return last
        time.sleep(0.5)
    raise AssertionError(f"video {vid} has no downloads after {DOWNLOADS_TIMEOUT_S} s: "
                         f"{json.dumps(last, indent=1)}\n{reel.log_tails()}")


def test_listed_once_ready_and_served_with_ranges(reel, landscape, tmp_path):
    vid = landscape["id"]
    video = wait_downloads(reel, vid)
    by_name = {d["name"]: d for d in video["downloads"]}
    # landscape.mp4 is 1280x720, so small.yaml's `video: highest` is its 540p rung.
    assert set(by_name) == {"540p.mp4", "audio.m4a"}, video["downloads"]
    assert [d["name"] for d in video["downloads"]] == ["540p.mp4", "audio.m4a"], "the video before the audio"
    mp4, m4a = by_name["540p.mp4"], by_name["audio.m4a"]
    assert mp4["url"] == f"/hls/{vid}/download/540p.mp4" and mp4["mime"] == "video/mp4"
    assert m4a["url"] == f"/hls/{vid}/download/audio.m4a" and m4a["mime"] == "audio/mp4"

    whole = _get(reel.url(mp4["url"]))
    assert whole.status_code == 200, whole.text[:300]
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert len(whole.content) == mp4["size"] == int(whole.headers["Content-Length"])
    assert whole.headers["Content-Disposition"] == 'attachment; filename="Landscape.mp4"'
    assert "public" in whole.headers["Cache-Control"]
    body = whole.content
    assert body[4:8] == b"ftyp" and b"moov" in body[:4096], "moov right after ftyp (faststart)"

    ranged = _get(reel.url(mp4["url"]), Range="bytes=0-99")
    assert ranged.status_code == 206
    assert ranged.content == body[:100]
    assert ranged.headers["Content-Range"] == f"bytes 0-99/{len(body)}"
    tail = _get(reel.url(mp4["url"]), Range="bytes=-500")
    assert tail.status_code == 206 and tail.content == body[-500:]

    head = _get(reel.url(mp4["url"]), method="HEAD")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(body)
    assert head.headers["Content-Disposition"] == whole.headers["Content-Disposition"]
    assert _get(reel.url(mp4["url"]), **{"If-None-Match": whole.headers["ETag"]}).status_code == 304

    # What was downloaded plays: video and audio, no decode error.
    saved = tmp_path / "download.mp4"
    saved.write_bytes(body)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(saved)],
                           capture_output=True, text=True, timeout=60)
    kinds = sorted(s["codec_type"] for s in json.loads(probe.stdout)["streams"])
    assert kinds == ["audio", "video"], probe.stdout[:500]
    decode = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(saved), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=120)
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr

    audio = _get(reel.url(m4a["url"]))
    assert audio.status_code == 200 and len(audio.content) == m4a["size"]
    assert audio.headers["Content-Type"] == "audio/mp4"
    assert audio.headers["Content-Disposition"] == 'attachment; filename="Landscape.m4a"'
    assert audio.content[8:12] == b"M4A "


def test_unknown_download_is_404(reel, landscape):
    vid = landscape["id"]
    wait_downloads(reel, vid)
    for rest in ("download/1080p.mp4", "download/audio.mp3", "download/..%2F540p%2Findex.m3u8", "download/.540p.mp4"):
        r = _get(reel.url(f"/hls/{vid}/{rest}"))
        assert r.status_code == 404, f"{rest}: {r.status_code}"
        assert r.headers["Content-Type"].startswith("application/problem+json")


def test_private_download_needs_the_signed_url(reel, private_video):
    vid = private_video["id"]
    video = wait_downloads(reel, vid)
    mp4 = next(d for d in video["downloads"] if d["mime"] == "video/mp4")
    assert mp4["url"].startswith("/s/") and f"/hls/{vid}/download/" in mp4["url"], mp4["url"]
    assert _get(reel.url(f"/hls/{vid}/download/{mp4['name']}")).status_code == 404, "unsigned is not told"

    r = _get(reel.url(mp4["url"]), Range="bytes=0-99")
    assert r.status_code == 206 and len(r.content) == 100
    assert r.content[4:8] == b"ftyp"
    assert "private" in r.headers["Cache-Control"]
    title = video["title"]
    assert title == "Private phone clip", title
    assert r.headers["Content-Disposition"] == f'attachment; filename="{title}.mp4"'

    forged = mp4["url"].split("/")
    forged[3] = "A" + forged[3][1:]   # the signature
    assert _get(reel.url("/".join(forged))).status_code == 403


def test_non_ascii_title_gets_an_rfc6266_name(reel):
    # No spaces: the query string's "+" would stay a "+" in the title.
    resp = reel.put_video("video-only.mp4", title="Été-à-Zürich“plage”")
    assert resp.status_code == 201, resp.text[:300]
    vid = resp.json()["id"]
    reel.wait_state(vid, "ready")
    # video-only.mp4 has no sound: the MP4 only, no audio.m4a.
    video = wait_downloads(reel, vid, count=1)
    assert [d["mime"] for d in video["downloads"]] == ["video/mp4"], video["downloads"]
    r = _get(reel.url(video["downloads"][0]["url"]), method="HEAD")
    assert r.status_code == 200
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Ete-a-Zurich_plage.mp4"; filename*=UTF-8\'\''), disposition
    star = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(star) == "Été-à-Zürich“plage”.mp4", disposition
    ascii_name = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert ascii_name.isascii() and ascii_name.endswith(".mp4") and '"' not in ascii_name, ascii_name
