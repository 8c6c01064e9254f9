"""Plain uploads with curl: PUT /v1/videos with the raw body (docs/HTTP.md, "Plain uploads")."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from reel_http_support import FIXTURES, RawResponse, assert_problem, component_schema, curl, read_head, sha256_file, validate_json


def _originals(reel) -> set[str]:
    root = reel.data / "originals"
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.is_dir() else set()


def test_curl_put_creates_video(reel, landscape_upload):
    res = landscape_upload["result"]
    assert res.status == 201, f"{res.status}: {res.body[:500]!r}\n{res.stderr}"
    assert res.headers.get("content-type", "").split(";")[0] == "application/json"
    video = res.json()
    validate_json(video, component_schema("Video"), "201 body of PUT /v1/videos")
    assert urlsplit(res.headers.get("location", "")).path == f"/v1/videos/{video['id']}"
    assert video["sha256"] == landscape_upload["sha256"]
    assert video["sizeBytes"] == landscape_upload["size"]
    assert video["filename"] == "landscape.mp4"
    assert video["title"] == "Landscape"
    assert video["visibility"] == "public"
    assert video["state"] in ("queued", "processing", "ready")
    original = list((reel.data / "originals" / video["id"]).glob("*"))
    assert original, f"no original under {reel.data / 'originals' / video['id']}"
    assert sha256_file(original[0]) == landscape_upload["sha256"]


def test_curl_wrong_sha256_keeps_nothing(reel, tmp_path):
    before_ids, before_files = reel.all_video_ids(), _originals(reel)
    res = curl(["-T", str(FIXTURES / "landscape.mp4"), "-H", f"Authorization: Bearer {reel.admin_key}",
                f"{reel.base}/v1/videos?filename=landscape.mp4&sha256={'0' * 64}"], tmp_path)
    assert_problem(RawResponse(res.status, res.headers, res.body), (400, 422), "PUT with a wrong sha256")
    assert reel.all_video_ids() == before_ids, "a body that fails its sha256 must not become a video"
    deadline = time.monotonic() + 5
    while _originals(reel) != before_files and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _originals(reel) == before_files, "the rejected body was left under originals/"


def test_curl_chunked_upload(reel, tmp_path):
    """`curl -T -` streams stdin with Transfer-Encoding: chunked (no Content-Length)."""
    src = FIXTURES / "video-only.mp4"
    digest = sha256_file(src)
    with open(src, "rb") as stdin:
        proc = subprocess.run(
            ["curl", "-sS", "--max-time", "60", "-T", "-", "-H", "Transfer-Encoding: chunked",
             "-H", f"Authorization: Bearer {reel.upload_key}", "-w", "\n%{http_code}",
             f"{reel.base}/v1/videos?filename=video-only.mp4&sha256={digest}"],
            stdin=stdin, capture_output=True, text=True, timeout=70)
    body, _, code = proc.stdout.rpartition("\n")
    assert code == "201", f"chunked PUT: {code} {body[:500]} {proc.stderr}"
    video = json.loads(body)
    assert video["sizeBytes"] == src.stat().st_size and video["sha256"] == digest


def test_put_without_length_or_chunking_is_refused(reel):
    """An HTTP/1.0 body delimited only by closing the connection."""
    with socket.create_connection(("127.0.0.1", reel.port), timeout=30) as s:
        s.sendall((f"PUT /v1/videos?filename=x.mp4 HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: Bearer {reel.admin_key}\r\n\r\n").encode() + b"not a video")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    assert status in (400, 411), f"PUT without Content-Length: {data[:300]!r}"


@pytest.mark.parametrize("name", ["empty.mp4", "not-a-video.mp4"])
def test_bad_input_is_accepted_then_fails_with_a_reason(reel, tmp_path, broken_upload, name):
    if name == "not-a-video.mp4":
        res = broken_upload
    else:
        res = curl(["-T", str(FIXTURES / name), "-H", f"Authorization: Bearer {reel.admin_key}",
                    f"{reel.base}/v1/videos?filename={name}"], tmp_path)
    assert res.status == 201, f"{name}: {res.status} {res.body[:300]!r}"
    video = res.json()
    assert video["sizeBytes"] == (FIXTURES / name).stat().st_size
    failed = reel.wait_state(video["id"], "failed")
    error = failed["error"]
    assert isinstance(error, str) and len(error.strip()) >= 10, f"{name}: error {error!r} is not a readable reason"
    assert "Error Domain" not in error and "Optional(" not in error, f"{name}: {error!r} reads like a debug dump"
    assert failed["playable"] is False and failed["playbackUrl"] is None


def test_expect_100_continue_gets_an_interim_response(reel, tmp_path):
    """curl sends `Expect: 100-continue` before large bodies and waits for `100 Continue` (one second by
    default); the server answers it at once, so the body follows without the wait."""
    src = FIXTURES / "video-only.mp4"
    proc = subprocess.run(
        ["curl", "-sS", "-v", "--max-time", "60", "--expect100-timeout", "30", "-H", "Expect: 100-continue",
         "-T", str(src), "-H", f"Authorization: Bearer {reel.upload_key}", "-o", "/dev/null", "-w", "%{http_code}",
         f"{reel.base}/v1/videos?filename=video-only.mp4"],
        capture_output=True, text=True, timeout=70)
    assert proc.stdout == "201", f"{proc.stdout} {proc.stderr[-2000:]}"
    assert "< HTTP/1.1 100 Continue" in proc.stderr, proc.stderr[-2000:]


def test_expect_100_continue_comes_before_the_body_is_sent(reel):
    """Over a raw socket: the head alone gets `100 Continue`; then the body, then the final 201."""
    body = (FIXTURES / "video-only.mp4").read_bytes()
    with socket.create_connection(("127.0.0.1", reel.port), timeout=20) as s:
        s.sendall((f"PUT /v1/videos?filename=expect.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: Bearer {reel.upload_key}\r\nContent-Length: {len(body)}\r\n"
                   f"Expect: 100-continue\r\n\r\n").encode())
        head, rest = read_head(s, "100 Continue")
        assert head.startswith(b"HTTP/1.1 100 Continue"), head[:300]
        s.sendall(body)
        data = rest
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, f"connection closed before the final response: {data!r}"
            data += chunk
    assert data.startswith(b"HTTP/1.1 201"), data[:300]


def test_titles_and_file_names_read_as_form_text(reel, tmp_path):
    """`+` is a space in a query's text (what browsers, `curl -G --data-urlencode` and requests send), and
    `%2B` a plus: a title is stored as the person typed it."""
    r = reel.put_video("audio-only.m4a", title="Holiday + Friends & 50% off", filename="mix tape.m4a")
    assert r.status_code == 201, r.text
    video = r.json()
    assert (video["title"], video["filename"]) == ("Holiday + Friends & 50% off", "mix tape.m4a"), video
    # Typed by hand into curl's URL.
    out = curl(["-sS", "-H", f"Authorization: Bearer {reel.admin_key}", "-T", str(FIXTURES / "audio-only.m4a"),
                f"{reel.base}/v1/videos?title=Road+trip&filename=a%20b.m4a"], tmp_path)
    assert out.status == 201 and out.json()["title"] == "Road trip", out.body[:300]
    for vid in (video["id"], out.json()["id"]):
        assert reel.request("DELETE", f"/v1/videos/{vid}").status_code == 204
