"""Who sees what: a private video is seen by the key that uploaded it and by admin keys only, everywhere
(docs/HTTP.md, "Authentication"). Any other key gets 404, as if the video did not exist."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from reel_http_support import FIXTURES, REPO_ROOT, TUS, assert_problem


@pytest.fixture(scope="module")
def other_key(reel) -> str:
    """A second upload key: someone else who uploads to the same Reel."""
    proc = subprocess.run([str(reel.bin), "keys", "create", "--name", "http-tests-other", "--scope", "upload",
                           "--data", str(reel.data)], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
                          check=True)
    return proc.stdout.split()[0]


@pytest.fixture(scope="module")
def owned_private(reel) -> dict:
    """A private video uploaded with the upload key (plain PUT), once ready (so it has a signed playbackUrl)."""
    r = reel.put_video("vp9.webm", key="upload", visibility="private", title="Owned private")
    assert r.status_code == 201, f"PUT: {r.status_code} {r.text[:300]}"
    return reel.wait_state(r.json()["id"], "ready")


def _every_page(reel, key: str, query: str = "") -> list[dict]:
    items: list[dict] = []
    path: str | None = f"/v1/videos?limit=2{query}"
    for _ in range(200):
        if path is None:
            break
        r = reel.get(path, key=key)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:300]}"
        page = r.json()
        items.extend(page["items"])
        path = page["next"]
    return items


def test_private_video_is_404_to_other_keys(reel, owned_private, other_key):
    vid = owned_private["id"]
    owner = reel.get(f"/v1/videos/{vid}", key="upload")
    assert owner.status_code == 200 and owner.json()["playbackUrl"].startswith("/s/"), owner.text[:300]
    assert reel.get(f"/v1/videos/{vid}", key="admin").status_code == 200

    body = assert_problem(reel.get(f"/v1/videos/{vid}", key=other_key), 404, "another key's private video")
    unknown = assert_problem(reel.get("/v1/videos/00000000-0000-0000-0000-000000000000", key=other_key), 404,
                             "an unknown video")
    assert body["title"] == unknown["title"], "the 404 must not tell a hidden video from a missing one"
    assert_problem(reel.get(f"/v1/videos/{vid}", key=None), 404, "no key")


def test_lists_hide_other_keys_private_videos(reel, owned_private, other_key):
    vid = owned_private["id"]
    for query in ("", "&state=ready"):
        seen = _every_page(reel, other_key, query)
        assert vid not in {v["id"] for v in seen}, f"another key lists the private video (query {query!r})"
        assert vid not in json.dumps(seen), "the private video's id (or its signed URL) leaked into the list"
        assert all(v["visibility"] != "private" for v in seen), "another key lists someone's private videos"
        assert vid in {v["id"] for v in _every_page(reel, "upload", query)}, "the owner must list it"
        assert vid in {v["id"] for v in _every_page(reel, "admin", query)}, "admins list everything"


def test_private_video_of_an_admin_is_hidden_from_upload_keys(reel, private_upload):
    """The shared private sample was uploaded with the admin key: an upload key must not see it."""
    vid = private_upload["id"]
    assert_problem(reel.get(f"/v1/videos/{vid}", key="upload"), 404, "the admin's private video, upload key")
    assert vid not in {v["id"] for v in _every_page(reel, "upload")}


def test_tus_upload_records_the_owner(reel, other_key):
    data = (FIXTURES / "vp9.webm").read_bytes()
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                    for k, v in {"filename": "vp9.webm", "visibility": "private"}.items())
    r = reel.request("POST", "/v1/uploads", key="upload", data=data,
                     headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta,
                              "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 201, f"POST /v1/uploads: {r.status_code} {r.text[:300]}"
    vid = r.headers["Reel-Video-Id"]
    assert reel.get(f"/v1/videos/{vid}", key="upload").status_code == 200
    assert_problem(reel.get(f"/v1/videos/{vid}", key=other_key), 404, "a tus upload's private video, other key")
    assert vid not in {v["id"] for v in _every_page(reel, other_key)}


def test_retry_and_delete_stay_admin_only(reel, owned_private, other_key):
    vid = owned_private["id"]
    for key in (other_key, "upload"):
        assert_problem(reel.request("POST", f"/v1/videos/{vid}/retry", key=key), 403, "retry, upload key")
        assert_problem(reel.request("DELETE", f"/v1/videos/{vid}", key=key), 403, "delete, upload key")
    assert reel.get(f"/v1/videos/{vid}", key="upload").status_code == 200, "a refused DELETE removed the video"


def test_private_video_never_streams_unsigned(reel, owned_private):
    vid = owned_private["id"]
    for rest in ("master.m3u8", "poster.jpg"):
        assert reel.get(f"/hls/{vid}/{rest}", key="upload").status_code == 404, f"{rest} with the owner's key"
        assert reel.get(f"/hls/{vid}/{rest}", key=None).status_code == 404, rest


def test_unsigned_hls_answers_alike_for_private_and_unknown_videos(reel, owned_private):
    """Without a signature, a private video's files get exactly the 404 of an id that does not exist:
    same status, same body, same length, for GET and HEAD."""
    vid = owned_private["id"]
    unknown = "00000000-0000-4000-8000-000000000000"
    for method in ("GET", "HEAD"):
        private = reel.request(method, f"/hls/{vid}/master.m3u8", key=None)
        missing = reel.request(method, f"/hls/{unknown}/master.m3u8", key=None)
        assert (private.status_code, private.content) == (missing.status_code, missing.content), method
        assert private.headers.get("Content-Length") == missing.headers.get("Content-Length"), method
