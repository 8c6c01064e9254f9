"""The streaming handler over real HTTP: players read it, and it speaks HTTP caching, ranges, gzip and CORS
(docs/HTTP.md, "Streaming handler"). Uses the shared landscape video once it is ready."""

from __future__ import annotations

import gzip
from urllib.parse import urljoin

import m3u8
import pytest
import requests

from reel_http_support import DESKTOP_UA, ffmpeg_decode, ffprobe_streams, variants

IDENTITY = {"Accept-Encoding": "identity", "User-Agent": DESKTOP_UA}
ORIGIN = "https://player.example"


@pytest.fixture(scope="module")
def ladder(reel, landscape) -> dict:
    """URLs of the landscape ladder's files, from its playlists as served."""
    vid = landscape["id"]
    master_url = reel.url(f"/hls/{vid}/master.m3u8")
    r = requests.get(master_url, headers=IDENTITY, timeout=30)
    assert r.status_code == 200, f"GET master: {r.status_code} {r.text[:300]}"
    master = m3u8.loads(r.text, uri=master_url)
    vs = variants(r.text)
    assert vs, "master playlist without variants"
    media_url = urljoin(master_url, vs[0].uri)
    mr = requests.get(media_url, headers=IDENTITY, timeout=30)
    assert mr.status_code == 200, f"GET {media_url}: {mr.status_code}"
    media = m3u8.loads(mr.text, uri=media_url)
    assert media.segments, f"{media_url} has no segments"
    assert media.segment_map, f"{media_url} has no EXT-X-MAP (init segment)"
    audio = [m for m in master.media if m.type == "AUDIO" and m.uri]
    return {
        "id": vid,
        "video": landscape,
        "master": master_url,
        "master_text": r.text,
        "media": media_url,
        "init": urljoin(media_url, media.segment_map[0].uri),
        "segment": urljoin(media_url, media.segments[0].uri),
        "audio": urljoin(master_url, audio[0].uri) if audio else None,
        "iframes": [urljoin(master_url, p.uri) for p in master.iframe_playlists],
    }


def _get(url: str, **headers) -> requests.Response:
    return requests.get(url, headers={**IDENTITY, **headers}, timeout=30, allow_redirects=False)


def _media_type(r: requests.Response) -> str:
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


# --------------------------------------------------------------------------
# Players
# --------------------------------------------------------------------------


def test_ffprobe_finds_every_stream(ladder):
    streams = ffprobe_streams(ladder["master"])
    heights = sorted({s.get("height") for s in streams if s.get("codec_type") == "video"})
    want = sorted({v.height for v in variants(ladder["master_text"])})
    assert heights == want, f"ffprobe saw video heights {heights}, the master lists {want}"
    assert any(s.get("codec_type") == "audio" and s.get("codec_name") == "aac" for s in streams), streams


def test_ffmpeg_decodes_cleanly(ladder):
    proc = ffmpeg_decode(ladder["master"])
    assert proc.returncode == 0 and not proc.stderr.strip(), f"ffmpeg: rc={proc.returncode}\n{proc.stderr[-3000:]}"


def test_playlists_parse(ladder):
    master = m3u8.loads(ladder["master_text"], uri=ladder["master"])
    assert master.is_variant and master.playlists
    for p in master.playlists:
        assert p.stream_info.bandwidth > 0 and p.stream_info.codecs and p.stream_info.resolution
    urls = [urljoin(ladder["master"], p.uri) for p in master.playlists]
    if ladder["audio"]:
        urls.append(ladder["audio"])
    duration = ladder["video"]["durationSeconds"]
    for url in urls:
        r = _get(url)
        assert r.status_code == 200, f"{url}: {r.status_code}"
        pl = m3u8.loads(r.text, uri=url)
        assert pl.is_endlist, f"{url}: a ready video's playlist must be final (EXT-X-ENDLIST)"
        assert (pl.playlist_type or "").lower() == "vod", f"{url}: EXT-X-PLAYLIST-TYPE {pl.playlist_type}"
        assert pl.segments and pl.segment_map
        total = sum(s.duration for s in pl.segments)
        assert abs(total - duration) < 0.5, f"{url}: segments add up to {total:.3f} s, the video is {duration} s"
        assert all(s.duration <= pl.target_duration + 0.5 for s in pl.segments)
        seg = _get(urljoin(url, pl.segments[-1].uri))
        assert seg.status_code == 200 and seg.content
    for url in ladder["iframes"]:
        r = _get(url)
        assert r.status_code == 200 and m3u8.loads(r.text, uri=url).segments, url


def test_mime_types(reel, ladder):
    assert _media_type(_get(ladder["master"])) == "application/vnd.apple.mpegurl"
    assert _media_type(_get(ladder["media"])) == "application/vnd.apple.mpegurl"
    assert _media_type(_get(ladder["init"])) == "video/mp4"
    assert _media_type(_get(ladder["segment"])) in ("video/iso.segment", "video/mp4")
    poster_url = ladder["video"]["posterUrl"]
    assert poster_url, "a ready video has a poster"
    poster = _get(reel.url(poster_url))
    assert poster.status_code == 200 and _media_type(poster) == "image/jpeg"
    assert poster.content[:3] == b"\xff\xd8\xff", "poster.jpg is not a JPEG"
    assert _get(reel.url(f"/hls/{ladder['id']}/poster.jpg")).content == poster.content


# --------------------------------------------------------------------------
# Ranges and conditional requests
# --------------------------------------------------------------------------


def test_ranges(ladder):
    full = _get(ladder["segment"])
    assert full.status_code == 200
    body, n = full.content, len(full.content)
    assert n > 100
    assert full.headers.get("Accept-Ranges") == "bytes"
    assert int(full.headers["Content-Length"]) == n

    first = _get(ladder["segment"], Range="bytes=0-99")
    assert first.status_code == 206
    assert first.headers.get("Content-Range") == f"bytes 0-99/{n}"
    assert first.content == body[:100] and int(first.headers["Content-Length"]) == 100

    suffix = _get(ladder["segment"], Range="bytes=-50")
    assert suffix.status_code == 206
    assert suffix.headers.get("Content-Range") == f"bytes {n - 50}-{n - 1}/{n}"
    assert suffix.content == body[-50:]

    open_ended = _get(ladder["segment"], Range=f"bytes={n - 10}-")
    assert open_ended.status_code == 206 and open_ended.content == body[-10:]

    past_end = _get(ladder["segment"], Range=f"bytes={n - 10}-{n + 1000}")
    assert past_end.status_code == 206 and past_end.headers.get("Content-Range") == f"bytes {n - 10}-{n - 1}/{n}"

    unsatisfiable = _get(ladder["segment"], Range=f"bytes={n}-{n + 10}")
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers.get("Content-Range") == f"bytes */{n}"

    head = requests.head(ladder["segment"], headers=IDENTITY, timeout=30)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == n and not head.content


def test_conditional_requests(ladder):
    for url in (ladder["segment"], ladder["init"], ladder["media"]):
        r = _get(url)
        etag, modified = r.headers.get("ETag"), r.headers.get("Last-Modified")
        assert etag and modified, f"{url}: ETag {etag!r}, Last-Modified {modified!r}"
        not_modified = _get(url, **{"If-None-Match": etag})
        assert not_modified.status_code == 304 and not not_modified.content, url
        assert not_modified.headers.get("ETag") == etag
        assert _get(url, **{"If-None-Match": '"something-else"'}).status_code == 200
        assert _get(url, **{"If-None-Match": f'"x", {etag}'}).status_code == 304
        assert _get(url, **{"If-Modified-Since": modified}).status_code == 304
        assert _get(url, **{"If-Modified-Since": "Thu, 01 Jan 1998 00:00:00 GMT"}).status_code == 200

    r = _get(ladder["segment"])
    etag, n = r.headers["ETag"], len(r.content)
    stale = _get(ladder["segment"], Range="bytes=0-99", **{"If-Range": '"stale-etag"'})
    assert stale.status_code == 200 and len(stale.content) == n, "If-Range with a stale ETag must send the whole file"
    fresh = _get(ladder["segment"], Range="bytes=0-99", **{"If-Range": etag})
    assert fresh.status_code == 206 and len(fresh.content) == 100


def test_cache_control(ladder):
    for url in (ladder["segment"], ladder["init"]):
        cc = _get(url).headers.get("Cache-Control", "").replace(" ", "").lower().split(",")
        assert {"public", "max-age=31536000", "immutable"} <= set(cc), f"{url}: Cache-Control {cc}"
    cc = _get(ladder["media"]).headers.get("Cache-Control", "").replace(" ", "").lower().split(",")
    assert "max-age=86400" in cc and "public" in cc and "immutable" not in cc, f"media playlist: Cache-Control {cc}"
    # A ready video's master still changes when captions are added or deleted: revalidated, never kept.
    cc = _get(ladder["master"]).headers.get("Cache-Control", "").replace(" ", "").lower().split(",")
    assert {"public", "no-cache"} <= set(cc) and not any(c.startswith("max-age") for c in cc), f"master: Cache-Control {cc}"


# --------------------------------------------------------------------------
# Compression
# --------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["master", "media"])
def test_gzip_playlists(ladder, which):
    url = ladder[which]
    plain = _get(url)
    r = requests.get(url, headers={"Accept-Encoding": "gzip", "User-Agent": DESKTOP_UA}, timeout=30, stream=True)
    raw = r.raw.read(decode_content=False)
    assert r.status_code == 200
    assert r.headers.get("Content-Encoding") == "gzip", f"{url}: Content-Encoding {r.headers.get('Content-Encoding')}"
    assert "accept-encoding" in r.headers.get("Vary", "").lower(), f"{url}: Vary {r.headers.get('Vary')!r}"
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw).decode("utf-8") == plain.text
    assert "Content-Encoding" not in plain.headers or plain.headers["Content-Encoding"] == "identity"


def test_no_gzip_on_media(ladder):
    for url in (ladder["segment"], ladder["init"]):
        r = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30, stream=True)
        raw = r.raw.read(decode_content=False)
        assert r.headers.get("Content-Encoding", "identity") == "identity", url
        assert raw == _get(url).content


# --------------------------------------------------------------------------
# CORS
# --------------------------------------------------------------------------


def test_cors_on_responses(reel, ladder):
    for url in (ladder["master"], ladder["segment"]):
        r = _get(url, Origin=ORIGIN)
        assert r.headers.get("Access-Control-Allow-Origin") == "*", url
        exposed = {h.strip().lower() for h in r.headers.get("Access-Control-Expose-Headers", "").split(",")}
        assert {"content-length", "content-range", "accept-ranges", "etag"} <= exposed, exposed
    ranged = _get(ladder["segment"], Origin=ORIGIN, Range="bytes=0-9")
    assert ranged.status_code == 206 and ranged.headers.get("Access-Control-Allow-Origin") == "*"
    missing = _get(reel.url("/hls/00000000-0000-0000-0000-000000000000/master.m3u8"), Origin=ORIGIN)
    assert missing.status_code == 404
    assert missing.headers.get("Access-Control-Allow-Origin") == "*", "CORS headers belong on errors too"
    also_missing = _get(reel.url(f"/hls/{ladder['id']}/nope/index.m3u8"), Origin=ORIGIN)
    assert also_missing.status_code == 404 and also_missing.headers.get("Access-Control-Allow-Origin") == "*"


def test_cors_preflight_for_range(ladder):
    r = requests.options(ladder["segment"], timeout=30, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"})
    assert r.status_code == 204, f"preflight: {r.status_code} {r.text[:200]}"
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    allowed = {h.strip().lower() for h in r.headers.get("Access-Control-Allow-Headers", "").split(",")}
    assert "range" in allowed or "*" in allowed, allowed
    methods = {m.strip().upper() for m in r.headers.get("Access-Control-Allow-Methods", "").split(",")}
    assert "GET" in methods or "*" in methods, methods
