"""Storyboards (scrubbing previews) over real HTTP: a ready video's JSON names storyboard.vtt, which is
served as WebVTT with `#xywh=` cues covering the video, and its sprite sheets as JPEGs; a private video's
storyboard needs its signed URL (docs/HTTP.md, "Storyboards")."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import requests

CUE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d\d\d) --> (\d\d):(\d\d):(\d\d\.\d\d\d)\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)$", re.M)


def _get(url: str) -> requests.Response:
    return requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=30, allow_redirects=False)


def _media_type(r: requests.Response) -> str:
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _cues(text: str) -> list[dict]:
    def secs(h, m, s):
        return int(h) * 3600 + int(m) * 60 + float(s)
    return [{"start": secs(*m[0:3]), "end": secs(*m[3:6]), "sheet": m[6], "xywh": tuple(int(v) for v in m[7:11])}
            for m in CUE.findall(text)]


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a baseline JPEG's SOF0 marker."""
    i = 2
    while i < len(data):
        assert data[i] == 0xFF, f"no JPEG marker at {i}"
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + length
    raise AssertionError("no SOF marker in the sheet")


def test_storyboard_index_and_sheets(reel, landscape):
    url = landscape["storyboardUrl"]
    assert url == f"/hls/{landscape['id']}/storyboard.vtt", f"storyboardUrl {url!r}"
    r = _get(reel.url(url))
    assert r.status_code == 200, r.text[:300]
    assert _media_type(r) == "text/vtt"
    assert r.text.startswith("WEBVTT")
    # Written again if the video is transcoded again: kept an hour, like the poster, not for ever.
    assert r.headers.get("Cache-Control") == "public, max-age=3600", r.headers.get("Cache-Control")
    cues = _cues(r.text)
    # The small profile: a 160 × 90 thumbnail every 5 s of the 6-second clip.
    assert [c["start"] for c in cues] == [0, 5], r.text
    assert cues[0]["end"] == 5 and abs(cues[-1]["end"] - landscape["durationSeconds"]) < 0.1, r.text
    for cue in cues:
        assert cue["xywh"][2:] == (160, 90), cue
    sheets = {c["sheet"] for c in cues}
    for sheet in sheets:
        s = _get(urljoin(reel.url(url), sheet))
        assert s.status_code == 200, sheet
        assert _media_type(s) == "image/jpeg"
        w, h = _jpeg_size(s.content)
        used = [c["xywh"] for c in cues if c["sheet"] == sheet]
        assert w >= max(x + cw for x, _, cw, _ in used) and h >= max(y + ch for _, y, _, ch in used), (w, h, used)
    # Nothing else under storyboard/ is served, nor a way out of the folder.
    assert _get(reel.url(f"/hls/{landscape['id']}/storyboard/..%2Fstoryboard.vtt")).status_code == 404
    assert _get(reel.url(f"/hls/{landscape['id']}/storyboard/nope.jpg")).status_code == 404


def test_private_storyboard_needs_the_signed_url(reel, private_video):
    vid = private_video["id"]
    url = private_video["storyboardUrl"]
    assert url and re.fullmatch(rf"/s/\d+/[A-Za-z0-9_-]+/hls/{vid}/storyboard\.vtt", urlsplit(url).path), url
    assert _get(reel.url(f"/hls/{vid}/storyboard.vtt")).status_code == 404
    r = _get(reel.url(url))
    assert r.status_code == 200 and _media_type(r) == "text/vtt"
    assert "private" in r.headers.get("Cache-Control", "")
    cues = _cues(r.text)
    assert cues, r.text
    sheet_url = urljoin(reel.url(url), cues[0]["sheet"])
    assert urlsplit(sheet_url).path.startswith(urlsplit(url).path.rsplit("/", 1)[0] + "/"), "sheets stay under the signed prefix"
    s = _get(sheet_url)
    assert s.status_code == 200 and _media_type(s) == "image/jpeg"
    assert _get(reel.url(f"/hls/{vid}/{cues[0]['sheet']}")).status_code == 404
