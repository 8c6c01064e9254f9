"""tus 1.0.0 at /v1/uploads: the real client (tuspy) with an interrupted and resumed upload, then the
protocol's corners with plain requests (docs/HTTP.md, "Uploads")."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import os
import threading
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

from reel_http_support import FIXTURES, MAX_UPLOAD_SIZE, TUS, assert_problem, check_response, sha256_file

OCTETS = "application/offset+octet-stream"


def _meta(**kv: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kv.items())


def _create(reel, length: int, body: bytes | None = None, key: str = "admin", **meta) -> tuple[object, str]:
    headers = {**TUS, "Upload-Length": str(length),
               "Upload-Metadata": _meta(**({"filename": "never.mp4"} | meta))}
    if body is not None:
        headers["Content-Type"] = OCTETS
    r = reel.request("POST", "/v1/uploads", key=key, headers=headers, data=body)
    assert r.status_code == 201, f"POST /v1/uploads: {r.status_code} {r.text[:500]}"
    assert r.headers.get("Tus-Resumable") == "1.0.0"
    location = r.headers.get("Location")
    assert location, "201 without Location"
    assert urlsplit(location).path.startswith("/v1/uploads/"), location
    return r, reel.url(location)


def _patch(reel, url: str, offset: int, data: bytes, checksum: str | None = None, headers=None):
    h = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS}
    if checksum:
        h["Upload-Checksum"] = checksum
    h.update(headers or {})
    return reel.request("PATCH", url, headers=h, data=data)


def _head(reel, url: str):
    return reel.request("HEAD", url, headers=TUS)


def _offset(reel, url: str) -> int:
    r = _head(reel, url)
    assert r.status_code == 200, f"HEAD {url}: {r.status_code}"
    return int(r.headers["Upload-Offset"])


def _digest(alg: str, data: bytes) -> str:
    return f"{alg} {base64.b64encode(hashlib.new(alg, data).digest()).decode()}"


def _upload_id(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def _future_http_date(value: str | None, what: str) -> None:
    assert value, f"{what}: no Upload-Expires"
    when = email.utils.parsedate_to_datetime(value)
    assert when.tzinfo is not None and when > datetime.now(timezone.utc), f"{what}: Upload-Expires {value!r} not in the future"


# --------------------------------------------------------------------------
# tuspy: the real client, interrupted and resumed
# --------------------------------------------------------------------------


def test_tuspy_upload_interrupted_and_resumed(reel):
    from tusclient import client as tus

    src = FIXTURES / "landscape.mp4"
    size = src.stat().st_size
    chunk = 64 * 1024
    stop_at = 5 * chunk + 1234                     # not a chunk boundary
    c = tus.TusClient(reel.url("/v1/uploads"), headers=reel.admin)

    first = c.uploader(str(src), chunk_size=chunk, metadata={"filename": "landscape.mp4", "title": "tus landscape"})
    first.upload(stop_at=stop_at)                  # "the connection drops" here: this uploader is abandoned
    assert first.offset == stop_at
    url = first.url
    upload_id = _upload_id(url)

    r = reel.get(f"/v1/uploads/{upload_id}", headers=TUS)
    assert r.status_code == 200, r.text
    check_response(r, "GET", "/v1/uploads/{id}")
    state = r.json()
    assert (state["offset"], state["length"], state["videoId"]) == (stop_at, size, None)

    # A new client resumes the same URL: it asks the server for the offset (HEAD) and sends the rest,
    # this time with an Upload-Checksum (sha1) on every chunk.
    second = tus.TusClient(reel.url("/v1/uploads"), headers=reel.admin).uploader(
        str(src), url=url, chunk_size=chunk, upload_checksum=True)
    assert second.offset == stop_at, "HEAD after the interruption must report the bytes already stored"
    second.upload()
    assert second.offset == size
    last = second.request.response_headers            # lower-cased names
    assert last.get("tus-resumable") == "1.0.0"

    r = reel.get(f"/v1/uploads/{upload_id}", headers=TUS)
    assert r.status_code == 200, r.text
    state = r.json()
    video_id = last.get("reel-video-id") or state["videoId"]
    assert video_id, f"the last PATCH carried no Reel-Video-Id and the upload has no videoId: {state}"
    assert last.get("reel-video-id") == video_id, f"last PATCH headers: {last}"
    assert urlsplit(last.get("reel-video", "")).path == f"/v1/videos/{video_id}", f"last PATCH headers: {last}"
    assert state["videoId"] == video_id and state["offset"] == size

    video = reel.video(video_id)
    assert video["sha256"] == sha256_file(src), "the stored original differs from the file sent"
    assert video["sizeBytes"] == size
    assert video["filename"] == "landscape.mp4"
    assert video["title"] == "tus landscape"
    assert video["visibility"] == "public"
    ready = reel.wait_state(video_id, "ready")
    assert ready["playable"] is True and ready["playbackUrl"]


# --------------------------------------------------------------------------
# The protocol with plain requests
# --------------------------------------------------------------------------


def test_options_advertises_the_server(reel):
    r = reel.request("OPTIONS", "/v1/uploads")
    assert r.status_code == 204, f"{r.status_code} {r.text[:300]}"
    h = r.headers
    assert h.get("Tus-Resumable") == "1.0.0"
    assert "1.0.0" in [v.strip() for v in h.get("Tus-Version", "").split(",")]
    extensions = {v.strip() for v in h.get("Tus-Extension", "").split(",")}
    assert {"creation", "creation-with-upload", "expiration", "checksum", "termination"} <= extensions, extensions
    algorithms = {v.strip().lower() for v in h.get("Tus-Checksum-Algorithm", "").split(",")}
    assert {"sha1", "sha256"} <= algorithms, algorithms
    assert int(h.get("Tus-Max-Size", "-1")) == MAX_UPLOAD_SIZE
    check_response(r, "OPTIONS", "/v1/uploads")


def test_creation_with_upload_head_offset_and_conflicts(reel):
    data = os.urandom(300_000)
    r, url = _create(reel, len(data), body=data[:100_000], title="cwu")
    assert int(r.headers.get("Upload-Offset", "-1")) == 100_000, "creation-with-upload must answer Upload-Offset"
    _future_http_date(r.headers.get("Upload-Expires"), "POST")

    head = _head(reel, url)
    assert head.status_code == 200
    assert head.headers.get("Tus-Resumable") == "1.0.0"
    assert int(head.headers["Upload-Offset"]) == 100_000
    assert int(head.headers["Upload-Length"]) == len(data)
    assert "no-store" in head.headers.get("Cache-Control", "")
    _future_http_date(head.headers.get("Upload-Expires"), "HEAD")

    # Wrong offset: 409, nothing written.
    bad = _patch(reel, url, 50_000, data[50_000:60_000])
    assert bad.status_code == 409, f"{bad.status_code} {bad.text[:300]}"
    assert bad.headers.get("Tus-Resumable") == "1.0.0"
    assert _offset(reel, url) == 100_000

    # No Tus-Resumable: 412, on PATCH, HEAD, POST and DELETE alike.
    no_version = reel.request("PATCH", url, headers={"Upload-Offset": "100000", "Content-Type": OCTETS},
                              data=data[100_000:110_000])
    assert no_version.status_code == 412, f"PATCH without Tus-Resumable: {no_version.status_code}"
    assert reel.request("HEAD", url).status_code == 412
    assert reel.request("POST", "/v1/uploads", headers={"Upload-Length": "10"}).status_code == 412
    assert reel.request("DELETE", url).status_code == 412
    assert _offset(reel, url) == 100_000

    # Wrong content type: not an append.
    wrong_type = _patch(reel, url, 100_000, data[100_000:110_000], headers={"Content-Type": "application/json"})
    assert wrong_type.status_code in (400, 415), wrong_type.status_code
    assert _offset(reel, url) == 100_000

    ok = _patch(reel, url, 100_000, data[100_000:200_000])
    assert ok.status_code == 204, f"{ok.status_code} {ok.text[:300]}"
    assert int(ok.headers["Upload-Offset"]) == 200_000
    assert ok.headers.get("Tus-Resumable") == "1.0.0"
    assert "Reel-Video-Id" not in ok.headers, "not finished yet"

    assert reel.request("DELETE", url, headers=TUS).status_code == 204


def test_checksums(reel):
    data = os.urandom(40_000)
    _, url = _create(reel, len(data))
    steps = [(0, 10_000, "sha1"), (10_000, 20_000, "sha256")]
    for start, end, alg in steps:
        r = _patch(reel, url, start, data[start:end], checksum=_digest(alg, data[start:end]))
        assert r.status_code == 204, f"{alg} good checksum: {r.status_code} {r.text[:300]}"
        assert int(r.headers["Upload-Offset"]) == end

    for alg in ("sha1", "sha256"):
        wrong = _digest(alg, b"something else")
        r = _patch(reel, url, 20_000, data[20_000:30_000], checksum=wrong)
        assert r.status_code == 460, f"{alg} bad checksum: expected 460, got {r.status_code} {r.text[:300]}"
        assert r.headers.get("Tus-Resumable") == "1.0.0"
        assert _offset(reel, url) == 20_000, "a chunk with a bad checksum must be discarded"

    # The discarded chunk can be sent again, correctly, from the same offset.
    r = _patch(reel, url, 20_000, data[20_000:30_000], checksum=_digest("sha256", data[20_000:30_000]))
    assert r.status_code == 204 and int(r.headers["Upload-Offset"]) == 30_000
    assert reel.request("DELETE", url, headers=TUS).status_code == 204


def test_termination(reel):
    data = os.urandom(20_000)
    _, url = _create(reel, len(data), body=data[:5_000])
    r = reel.request("DELETE", url, headers=TUS)
    assert r.status_code == 204
    assert r.headers.get("Tus-Resumable") == "1.0.0"
    assert _head(reel, url).status_code in (404, 410)
    assert _patch(reel, url, 5_000, data[5_000:]).status_code in (404, 410)
    assert reel.get(url, headers=TUS).status_code in (404, 410)


def test_unknown_upload(reel):
    url = reel.url("/v1/uploads/00000000-0000-0000-0000-000000000000")
    assert _head(reel, url).status_code in (404, 410)
    assert _patch(reel, url, 0, b"x").status_code in (404, 410)


def test_over_max_size_is_413(reel):
    r = reel.request("POST", "/v1/uploads", headers={**TUS, "Upload-Length": str(MAX_UPLOAD_SIZE + 1)})
    assert r.status_code == 413, f"{r.status_code} {r.text[:300]}"
    assert r.headers.get("Tus-Resumable") == "1.0.0"
    exactly = reel.request("POST", "/v1/uploads", headers={**TUS, "Upload-Length": str(MAX_UPLOAD_SIZE)})
    assert exactly.status_code == 201, f"Upload-Length == Tus-Max-Size must be accepted: {exactly.status_code}"
    assert reel.request("DELETE", reel.url(exactly.headers["Location"]), headers=TUS).status_code == 204


def test_body_past_length_is_400(reel):
    _, url = _create(reel, 1_000)
    r = _patch(reel, url, 0, os.urandom(1_500))
    assert r.status_code == 400, f"{r.status_code} {r.text[:300]}"
    assert _offset(reel, url) <= 1_000
    reel.request("DELETE", url, headers=TUS)


def test_concurrent_patch_is_423(reel):
    data = os.urandom(400_000)
    _, url = _create(reel, len(data))
    slow_len, piece, pause = 160_000, 8_000, 0.15          # 20 pieces, about 3 s
    sent_first = threading.Event()
    outcome: dict = {}

    def slow_patch():
        conn = http.client.HTTPConnection("127.0.0.1", reel.port, timeout=60)
        try:
            conn.putrequest("PATCH", urlsplit(url).path)
            for k, v in {**reel.admin, **TUS, "Upload-Offset": "0", "Content-Type": OCTETS,
                         "Content-Length": str(slow_len)}.items():
                conn.putheader(k, v)
            conn.endheaders()
            for i in range(0, slow_len, piece):
                conn.send(data[i:i + piece])
                sent_first.set()
                time.sleep(pause)
            resp = conn.getresponse()
            outcome["status"], outcome["offset"] = resp.status, resp.getheader("Upload-Offset")
            resp.read()
        except Exception as e:  # reported by the assertion below
            outcome["error"] = repr(e)
        finally:
            sent_first.set()
            conn.close()

    t = threading.Thread(target=slow_patch, daemon=True)
    t.start()
    assert sent_first.wait(10)
    time.sleep(0.6)                                         # the slow PATCH is now in the middle of its body
    second = _patch(reel, url, 0, data[:1_000])
    assert second.status_code == 423, f"a second PATCH while one runs: expected 423, got {second.status_code}"
    assert second.headers.get("Tus-Resumable") == "1.0.0"
    t.join(30)
    assert not t.is_alive(), "the slow PATCH did not finish"
    assert outcome.get("status") == 204, f"the slow PATCH: {outcome}"
    assert int(outcome["offset"]) == slow_len
    assert _offset(reel, url) == slow_len
    reel.request("DELETE", url, headers=TUS)


def test_unfinished_upload_creates_no_video(reel):
    before = reel.all_video_ids()
    data = os.urandom(50_000)
    _, url = _create(reel, len(data), filename="unfinished.mp4")
    assert _patch(reel, url, 0, data[:25_000]).status_code == 204
    r = reel.get(f"/v1/uploads/{_upload_id(url)}", headers=TUS)
    assert r.status_code == 200
    assert r.json()["videoId"] is None and r.json()["offset"] == 25_000
    check_response(r, "GET", "/v1/uploads/{id}")
    time.sleep(1.0)
    assert reel.all_video_ids() == before, "an unfinished upload must not become a video"
    reel.request("DELETE", url, headers=TUS)
    assert reel.all_video_ids() == before


def test_upload_scope_may_upload_and_metadata_is_kept(reel):
    data = (FIXTURES / "vp9.webm").read_bytes()
    r, url = _create(reel, len(data), body=data, key="upload",
                     filename="clip.webm", title="Small private clip", visibility="private")
    video_id = r.headers.get("Reel-Video-Id")
    assert video_id, f"creation-with-upload of the whole file must answer Reel-Video-Id: {dict(r.headers)}"
    assert urlsplit(r.headers.get("Reel-Video", "")).path == f"/v1/videos/{video_id}"
    video = reel.video(video_id)
    assert (video["filename"], video["title"], video["visibility"]) == ("clip.webm", "Small private clip", "private")
    assert video["sha256"] == hashlib.sha256(data).hexdigest()
    assert reel.get(f"/v1/videos/{video_id}", key=None).status_code == 404, "private video without a key"


def test_bad_requests(reel):
    no_length = reel.request("POST", "/v1/uploads", headers=TUS)
    assert_problem(no_length, 400, "POST /v1/uploads without Upload-Length")
    bad_visibility = reel.request("POST", "/v1/uploads", headers={
        **TUS, "Upload-Length": "10", "Upload-Metadata": _meta(visibility="secret")})
    assert_problem(bad_visibility, 400, "Upload-Metadata visibility=secret")
