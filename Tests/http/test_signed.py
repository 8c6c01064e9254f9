"""Signed streaming URLs for private videos: /s/{expires}/{signature}/hls/{id}/… with
signature = base64url(HMAC-SHA256(signing key, "{id}:{expires}")) (docs/HTTP.md, "Streaming handler")."""

from __future__ import annotations

import re
import time
from urllib.parse import urljoin, urlsplit

import m3u8
import requests

from reel_http_support import ffprobe_streams, variants

IDENTITY = {"Accept-Encoding": "identity"}


def _get(url: str, **headers) -> requests.Response:
    return requests.get(url, headers={**IDENTITY, **headers}, timeout=30, allow_redirects=False)


def test_private_video_is_404_unsigned(reel, private_video):
    vid = private_video["id"]
    for rest in ("master.m3u8", "poster.jpg"):
        assert _get(reel.url(f"/hls/{vid}/{rest}")).status_code == 404, rest
    assert reel.get(f"/v1/videos/{vid}", key=None).status_code == 404


def test_playback_url_plays(reel, private_video):
    url = private_video["playbackUrl"]
    assert url, "a ready video has a playbackUrl"
    path = urlsplit(url).path
    m = re.fullmatch(r"/s/(\d+)/([A-Za-z0-9_-]+)/hls/([^/]+)/master\.m3u8", path)
    assert m, f"playbackUrl {url!r} is not /s/{{expires}}/{{signature}}/hls/{{id}}/master.m3u8"
    assert m.group(3) == private_video["id"]
    assert int(m.group(1)) > time.time(), "playbackUrl already expired"
    assert "=" not in m.group(2), "base64url without padding"
    full = reel.url(url)

    streams = ffprobe_streams(full)
    assert any(s.get("codec_type") == "video" for s in streams), streams

    r = _get(full)
    assert r.status_code == 200
    assert "private" in r.headers.get("Cache-Control", "").lower(), f"signed: Cache-Control {r.headers.get('Cache-Control')}"
    vs = variants(r.text)
    media_url = urljoin(full, vs[0].uri)
    assert urlsplit(media_url).path.startswith(path.rsplit("/", 1)[0] + "/"), "variant URIs must stay under the signed prefix"
    mr = _get(media_url)
    assert mr.status_code == 200
    media = m3u8.loads(mr.text, uri=media_url)
    for u in (urljoin(media_url, media.segment_map[0].uri), urljoin(media_url, media.segments[0].uri)):
        seg = _get(u)
        assert seg.status_code == 200 and seg.content, u
        assert "private" in seg.headers.get("Cache-Control", "").lower()
    ranged = _get(urljoin(media_url, media.segments[0].uri), Range="bytes=0-9")
    assert ranged.status_code == 206 and len(ranged.content) == 10


def test_signature_we_compute_is_accepted(reel, private_video, landscape):
    """Checks our reading of the scheme first, so that the 403s below mean something."""
    expires = int(time.time()) + 600
    for vid in (private_video["id"], landscape["id"]):     # any video may be fetched signed
        r = _get(reel.url(reel.signed_path(vid, expires)))
        assert r.status_code == 200, f"{vid}: a correctly signed URL got {r.status_code}"


def test_expired_signature_is_403(reel, private_video):
    expires = int(time.time()) - 60
    r = _get(reel.url(reel.signed_path(private_video["id"], expires)))
    assert r.status_code == 403, f"expired: {r.status_code}"
    assert r.headers.get("Access-Control-Allow-Origin") == "*"


def test_tampered_signature_is_403(reel, private_video):
    path = urlsplit(private_video["playbackUrl"]).path
    _, _, expires, sig, rest = path.split("/", 4)
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    for bad in (flipped, sig[:-1], sig + "A"):
        r = _get(reel.url(f"/s/{expires}/{bad}/{rest}"))
        assert r.status_code == 403, f"signature {bad!r}: {r.status_code}"
    for bad in ("", "not+base64"):
        r = _get(reel.url(f"/s/{expires}/{bad}/{rest}"))
        assert r.status_code in (400, 403, 404), f"signature {bad!r}: {r.status_code}"
    later = int(expires) + 3600                             # a valid signature does not cover another expiry
    assert _get(reel.url(f"/s/{later}/{sig}/{rest}")).status_code == 403


def test_signature_for_another_video_is_403(reel, private_video, landscape):
    expires = int(time.time()) + 600
    other = reel.signed_path(private_video["id"], expires, sign_for=landscape["id"])
    assert _get(reel.url(other)).status_code == 403
    # …and the private video's own signature does not open the public one's files through /s/ either.
    path = urlsplit(private_video["playbackUrl"]).path
    _, _, exp, sig, _ = path.split("/", 4)
    assert _get(reel.url(f"/s/{exp}/{sig}/hls/{landscape['id']}/master.m3u8")).status_code == 403
