"""API keys: 401 without (or with a bad) key, 403 for too small a scope, admin-only delete and retry,
private videos invisible without their owner's or an admin key (docs/HTTP.md, "Authentication")."""

from __future__ import annotations

import time

import pytest

from reel_http_support import FIXTURES, TUS, assert_problem

PROTECTED = [
    ("POST", "/v1/uploads", {**TUS, "Upload-Length": "10"}, None),
    ("PUT", "/v1/videos?filename=x.mp4", {"Content-Type": "application/octet-stream"}, b"0123456789"),
    ("POST", "/v1/videos?filename=x.mp4", {"Content-Type": "application/octet-stream"}, b"0123456789"),
    ("GET", "/v1/videos", {}, None),
]
BAD_KEYS = {
    "no key": None,
    "unknown key": "reel_0000000000000000000000000000000000000000",
    "not a reel key": "hello",
}


@pytest.mark.parametrize("key_name", list(BAD_KEYS))
def test_401_without_a_valid_key(reel, key_name):
    before = reel.all_video_ids()
    for method, path, headers, body in PROTECTED:
        r = reel.request(method, path, key=BAD_KEYS[key_name], headers=headers, data=body)
        assert_problem(r, 401, f"{method} {path} with {key_name}")
        assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), \
            f"{method} {path}: WWW-Authenticate {r.headers.get('WWW-Authenticate')!r}"
    assert reel.all_video_ids() == before, "a refused upload created a video"


def test_401_with_other_schemes(reel):
    for value in (f"Basic {reel.admin_key}", reel.admin_key, "Bearer", f"Bearer  {reel.admin_key}x"):
        r = reel.request("GET", "/v1/videos", key=None, headers={"Authorization": value})
        assert_problem(r, 401, f"Authorization: {value[:12]}…")


def test_upload_scope_can_read_but_not_delete_or_retry(reel, landscape_upload):
    vid = landscape_upload["result"].json()["id"]
    assert reel.get("/v1/videos", key="upload").status_code == 200
    assert reel.get(f"/v1/videos/{vid}", key="upload").status_code == 200
    assert_problem(reel.request("DELETE", f"/v1/videos/{vid}", key="upload"), 403, "DELETE with an upload key")
    assert_problem(reel.request("POST", f"/v1/videos/{vid}/retry", key="upload"), 403, "retry with an upload key")
    assert reel.get(f"/v1/videos/{vid}").status_code == 200, "the 403 DELETE removed the video"


def test_public_video_needs_no_key_private_is_404(reel, landscape_upload, private_upload):
    public_id = landscape_upload["result"].json()["id"]
    r = reel.get(f"/v1/videos/{public_id}", key=None)
    assert r.status_code == 200 and r.json()["id"] == public_id
    # A key that is sent must be valid, even where none is needed.
    assert_problem(reel.get(f"/v1/videos/{public_id}", key="reel_0000000000000000"), 401, "public video, bad key")

    private_id = private_upload["id"]
    assert_problem(reel.get(f"/v1/videos/{private_id}", key=None), 404, "private video without a key")
    # Uploaded with the admin key: another (upload) key does not see it (test_visibility.py has the rest).
    assert_problem(reel.get(f"/v1/videos/{private_id}", key="upload"), 404, "someone else's private video")
    assert reel.get(f"/v1/videos/{private_id}", key="admin").json()["visibility"] == "private"
    unknown = reel.get("/v1/videos/00000000-0000-0000-0000-000000000000", key=None)
    assert_problem(unknown, 404, "unknown video without a key")


def test_admin_deletes_a_video(reel):
    src = FIXTURES / "vp9.webm"
    with open(src, "rb") as body:
        r = reel.request("POST", "/v1/videos", key="upload", params={"filename": "vp9.webm"}, data=body)
    assert r.status_code == 201, f"POST /v1/videos: {r.status_code} {r.text[:300]}"
    vid = r.json()["id"]
    reel.wait_state(vid, "ready")
    assert reel.get(f"/hls/{vid}/master.m3u8", key=None).status_code == 200

    d = reel.request("DELETE", f"/v1/videos/{vid}")
    assert d.status_code == 204, f"DELETE: {d.status_code} {d.text[:300]}"
    assert_problem(reel.get(f"/v1/videos/{vid}"), 404, "GET after DELETE")
    assert reel.get(f"/hls/{vid}/master.m3u8", key=None).status_code == 404
    assert vid not in reel.all_video_ids()
    assert_problem(reel.request("DELETE", f"/v1/videos/{vid}"), 404, "DELETE twice")
    deadline = time.monotonic() + 10
    leftovers = []
    while time.monotonic() < deadline:
        leftovers = [p for p in (reel.data / "hls" / vid, reel.data / "originals" / vid) if p.exists()]
        if not leftovers:
            break
        time.sleep(0.2)
    assert not leftovers, f"DELETE left {leftovers}"


def test_admin_retry_unknown_is_404(reel):
    assert_problem(reel.request("POST", "/v1/videos/00000000-0000-0000-0000-000000000000/retry"), 404, "retry")
