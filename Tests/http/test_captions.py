"""Captions (issue 12): POST/GET/DELETE /v1/videos/{id}/captions over real HTTP, bad files refused with
their line, and the published HLS: a SUBTITLES group in the master, a segmented WebVTT playlist per track
on the video's segment boundaries, X-TIMESTAMP-MAP matching the fMP4 timeline."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import m3u8
import pytest
import requests

from reel_http_support import DESKTOP_UA, assert_problem, check_response, curl

IDENTITY = {"Accept-Encoding": "identity", "User-Agent": DESKTOP_UA}

GOOD_VTT = "WEBVTT\n\n00:00.500 --> 00:01.500\nHello from the start\n\n00:03.000 --> 00:04.000\n<i>Three</i> seconds in\n"
GOOD_SRT = "1\r\n00:00:02,000 --> 00:00:02,800\r\nZwei Sekunden\r\n"


def _post(reel, vid: str, body: bytes | str, key: str = "admin", content_type: str = "text/vtt", **params):
    data = body.encode() if isinstance(body, str) else body
    return reel.request("POST", f"/v1/videos/{vid}/captions", key=key, params=params, data=data,
                        headers={"Content-Type": content_type})


def _master(reel, vid: str) -> tuple[str, m3u8.M3U8]:
    url = reel.url(f"/hls/{vid}/master.m3u8")
    r = requests.get(url, headers=IDENTITY, timeout=30)
    assert r.status_code == 200, f"GET master: {r.status_code} {r.text[:300]}"
    return r.text, m3u8.loads(r.text, uri=url)


@pytest.fixture(scope="module")
def clip(reel) -> dict:
    """A video of the upload key's own, with a caption uploaded while it was still being processed."""
    r = reel.put_video("landscape.mp4", key="upload", title="Captions clip")
    assert r.status_code == 201, r.text[:300]
    vid = r.json()["id"]
    early = _post(reel, vid, GOOD_SRT, key="upload", content_type="application/x-subrip", lang="de", label="Deutsch")
    assert early.status_code == 201, early.text[:300]
    assert reel.video(vid)["state"] != "ready", "the caption must be uploaded before the video is ready for this test"
    return {"id": vid, "early": early.json(), "video": reel.wait_state(vid, "ready")}


def test_caption_uploaded_before_ready_is_published_by_finalize(reel, clip):
    text, master = _master(reel, clip["id"])
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.language, m.name, m.group_id, m.autoselect) for m in subs] == [("de", "Deutsch", "subs", "YES")], text
    assert all(p.stream_info.subtitles == "subs" for p in master.playlists), text
    check_response(reel.get(f"/v1/videos/{clip['id']}/captions", key="upload"), "get", "/v1/videos/{id}/captions")


def test_upload_list_delete_after_ready(reel, clip):
    vid = clip["id"]
    r = _post(reel, vid, GOOD_VTT, key="upload", lang="en", label="English", default="true")
    check_response(r, "post", "/v1/videos/{id}/captions")
    assert r.status_code == 201 and r.headers["Location"] == f"/v1/videos/{vid}/captions/{r.json()['id']}"
    track = r.json()
    assert (track["language"], track["label"], track["source"], track["isDefault"], track["cueCount"]) == \
        ("en", "English", "upload", True, 2)

    listed = reel.get(f"/v1/videos/{vid}/captions", key=None).json()["items"]
    assert [t["id"] for t in listed] == [clip["early"]["id"], track["id"]]

    text, master = _master(reel, vid)
    subs = {m.language: m for m in master.media if m.type == "SUBTITLES"}
    assert set(subs) == {"de", "en"} and subs["en"].default == "YES" and subs["de"].default == "NO", text

    # The caption playlist has the video's segments, and each .vtt the timestamp map of the fMP4 timeline.
    video_media = m3u8.loads(requests.get(urljoin(master.base_uri, master.playlists[0].uri), timeout=30).text)
    sub_url = urljoin(reel.url(f"/hls/{vid}/master.m3u8"), subs["en"].uri)
    sub_media = m3u8.loads(requests.get(sub_url, timeout=30).text, uri=sub_url)
    assert sub_media.playlist_type == "vod" and sub_media.is_endlist
    assert [round(s.duration, 3) for s in sub_media.segments] == [round(s.duration, 3) for s in video_media.segments]
    assert sub_media.target_duration == video_media.target_duration
    seg = requests.get(urljoin(sub_url, sub_media.segments[0].uri), headers={"Origin": "https://player.example"}, timeout=30)
    assert seg.status_code == 200
    assert seg.headers["Content-Type"].startswith("text/vtt")
    assert "immutable" in seg.headers["Cache-Control"]
    assert seg.headers.get("Access-Control-Allow-Origin") == "*"
    ticks = int(re.search(r"X-TIMESTAMP-MAP=MPEGTS:(\d+),LOCAL:00:00:00\.000", seg.text).group(1))
    assert "00:00:00.500 --> 00:00:01.500\nHello from the start" in seg.text
    assert abs(ticks / 90000 - _first_video_pts(master.base_uri + master.playlists[0].uri, video_media)) < 0.001

    # The master is revalidated, not kept: it changes when captions do.
    assert requests.get(reel.url(f"/hls/{vid}/master.m3u8"), timeout=30).headers["Cache-Control"] == "public, no-cache"

    d = reel.request("DELETE", f"/v1/videos/{vid}/captions/{track['id']}", key="upload")
    assert d.status_code == 204, d.text
    assert_problem(reel.request("DELETE", f"/v1/videos/{vid}/captions/{track['id']}", key="upload"), 404, "deleted twice")
    text, master = _master(reel, vid)
    assert [m.language for m in master.media if m.type == "SUBTITLES"] == ["de"], text
    assert requests.get(sub_url, timeout=30).status_code == 404


def test_video_finalized_before_captions_existed_gets_them(reel, landscape):
    """A video finalized by a Reel that wrote no caption timeline (parts/caption-timeline) still takes
    captions: the timeline is read back from its VOD playlist and first fragment, and is the one finalize
    writes today (same segment durations, same offset)."""
    vid = landscape["id"]
    timeline_file = reel.data / "hls" / vid / "parts" / "caption-timeline"
    written = json.loads(timeline_file.read_text())
    timeline_file.unlink()  # as an older Reel left the video
    r = _post(reel, vid, GOOD_VTT, lang="pt", label="Português")
    assert r.status_code == 201, r.text[:300]
    text, master = _master(reel, vid)
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.language, m.name) for m in subs] == [("pt", "Português")], text
    rebuilt = json.loads(timeline_file.read_text())
    assert rebuilt["durations"] == pytest.approx(written["durations"], abs=1e-6), (rebuilt, written)
    assert rebuilt["targetDuration"] == written["targetDuration"]
    assert rebuilt["offset"] == pytest.approx(written["offset"], abs=1e-6), (rebuilt, written)
    sub_url = urljoin(reel.url(f"/hls/{vid}/master.m3u8"), subs[0].uri)
    sub_media = m3u8.loads(requests.get(sub_url, timeout=30).text, uri=sub_url)
    seg = requests.get(urljoin(sub_url, sub_media.segments[0].uri), timeout=30).text
    ticks = int(re.search(r"X-TIMESTAMP-MAP=MPEGTS:(\d+),", seg).group(1))
    assert ticks == round(written["offset"] * 90000), seg
    d = reel.request("DELETE", f"/v1/videos/{vid}/captions/{r.json()['id']}")
    assert d.status_code == 204, d.text


def _first_video_pts(media_url: str, media: m3u8.M3U8) -> float:
    """Presentation time of the first picture in the fMP4 timeline: init + first segment, as ffprobe sees it."""
    base = media_url
    init = requests.get(urljoin(base, media.segment_map[0].uri), timeout=30).content
    first = requests.get(urljoin(base, media.segments[0].uri), timeout=30).content
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(init + first)
        f.flush()
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
                              "-of", "json", f.name], capture_output=True, text=True, timeout=60, check=True)
    return min(float(fr["pts_time"]) for fr in json.loads(out.stdout)["frames"])


@pytest.mark.parametrize("body,content_type,line", [
    ("WEBVTT\n\n00:00.500 --> 00:01.500\nok\n\n00:02.000 --> 00:0x.000\nbad\n", "text/vtt", 6),
    ("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:05,000 --> 00:00:04,000\nbackwards\n", "application/x-subrip", 6),
    ("00:00.500 --> 00:01.500\nno header\n", "text/vtt", 1),
])
def test_bad_file_is_422_with_its_line_and_nothing_stored(reel, clip, body, content_type, line):
    vid = clip["id"]
    before = reel.get(f"/v1/videos/{vid}/captions").json()["items"]
    p = assert_problem(_post(reel, vid, body, content_type=content_type, lang="en"), 422, "bad caption file")
    assert p["detail"].startswith(f"Line {line} of the caption file is wrong"), p["detail"]
    assert reel.get(f"/v1/videos/{vid}/captions").json()["items"] == before


def test_not_utf8_names_the_line(reel, clip):
    body = "WEBVTT\n\n00:00.500 --> 00:01.500\n".encode() + "caf\u00e9\n".encode("latin-1")
    p = assert_problem(_post(reel, clip["id"], body, lang="fr"), 422, "Latin-1 file")
    assert p["detail"].startswith("Line 4 ") and "UTF-8" in p["detail"], p["detail"]


def test_refusals(reel, clip):
    vid = clip["id"]
    assert_problem(_post(reel, "no-such-video", GOOD_VTT, lang="en"), 404, "unknown video")
    assert_problem(_post(reel, vid, GOOD_VTT, lang="english please"), 400, "bad language tag")
    assert_problem(_post(reel, vid, GOOD_VTT, lang="en", default="maybe"), 400, "bad default")
    assert_problem(_post(reel, vid, GOOD_VTT, key=None, lang="en"), 401, "no key")
    assert_problem(reel.request("DELETE", f"/v1/videos/{vid}/captions/nope"), 404, "unknown track")


def test_larger_than_max_caption_size_is_413(reel, clip, tmp_path):
    # curl, as people upload: it asks `Expect: 100-continue`, so the refusal comes before the body is sent.
    big = tmp_path / "big.vtt"
    big.write_text("WEBVTT\n\n" + ("00:00.500 --> 00:01.500\n" + "x" * 1000 + "\n\n") * 2200)
    res = curl(["--data-binary", f"@{big}", "-H", "Content-Type: text/vtt", "-H", f"Authorization: Bearer {reel.admin_key}",
                f"{reel.base}/v1/videos/{clip['id']}/captions?lang=en"], tmp_path)
    assert res.status == 413, res.body[:300]
    assert "max_caption_size" in res.json()["detail"]


def test_only_the_owner_or_an_admin_changes_captions(reel, landscape):
    # The session's landscape video belongs to the admin key: the upload key sees it but cannot caption it.
    p = assert_problem(_post(reel, landscape["id"], GOOD_VTT, key="upload", lang="en"), 403, "someone else's video")
    assert "uploaded this video" in p["detail"]


def test_embedded_subtitle_streams_become_tracks(reel, tmp_path):
    """An MKV with a SubRip and an ASS stream: both are taken by the plan job and published with the video."""
    srt, ass = tmp_path / "in.srt", tmp_path / "in.ass"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nEmbedded hello\n")
    ass.write_text("[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, "
                   "SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, "
                   "Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\nStyle: Default,Arial,"
                   "20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1\n\n[Events]\n"
                   "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
                   "Dialogue: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,{\\i1}Bonjour{\\i0}\n")
    clip = tmp_path / "subbed.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=4",
                    "-i", str(srt), "-i", str(ass), "-map", "0:v", "-map", "1:s", "-map", "2:s", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:s:0", "srt", "-c:s:1", "ass", "-metadata:s:s:0", "language=eng",
                    "-metadata:s:s:1", "language=fra", "-metadata:s:s:1", "title=Français", "-y", str(clip)],
                   check=True, timeout=120)
    r = reel.put_video(clip, key="upload")
    assert r.status_code == 201, r.text[:300]
    vid = r.json()["id"]
    reel.wait_state(vid, "ready")
    tracks = reel.get(f"/v1/videos/{vid}/captions").json()["items"]
    assert sorted((t["language"], t["label"], t["source"], t["cueCount"]) for t in tracks) == \
        [("eng", "eng", "embedded", 1), ("fra", "Français", "embedded", 1)]
    text, master = _master(reel, vid)
    subs = {m.language: m for m in master.media if m.type == "SUBTITLES"}
    assert set(subs) == {"eng", "fra"}, text
    sub_url = urljoin(reel.url(f"/hls/{vid}/master.m3u8"), subs["fra"].uri)
    media = m3u8.loads(requests.get(sub_url, timeout=30).text, uri=sub_url)
    cues = "".join(requests.get(urljoin(sub_url, s.uri), timeout=30).text for s in media.segments)
    assert "00:00:02.000 --> 00:00:03.000\nBonjour\n" in cues

    # The tracks go with the video.
    assert (reel.data / "captions" / vid).is_dir()
    assert reel.request("DELETE", f"/v1/videos/{vid}").status_code == 204
    assert not (reel.data / "captions" / vid).exists()


def test_tracks_per_video_are_bounded(reel):
    """max_captions_per_video (50 by default): the 51st track is 409, and nothing of it is stored."""
    r = reel.put_video("video-only.mp4", key="upload")
    assert r.status_code == 201, r.text[:300]
    vid = r.json()["id"]
    for i in range(50):
        assert _post(reel, vid, GOOD_VTT, key="upload", lang="en", label=f"Track {i}").status_code == 201
    p = assert_problem(_post(reel, vid, GOOD_VTT, key="upload", lang="en", label="One too many"), 409, "51st track")
    assert "max_captions_per_video" in p["detail"]
    assert len(reel.get(f"/v1/videos/{vid}/captions").json()["items"]) == 50
    reel.wait_state(vid, "ready")
    text, master = _master(reel, vid)
    assert len([m for m in master.media if m.type == "SUBTITLES"]) == 50, text
