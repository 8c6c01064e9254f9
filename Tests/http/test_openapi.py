"""docs/openapi.yaml is a valid OpenAPI 3.1 document, and the running server answers as it says."""

from __future__ import annotations

import re

import pytest

from reel_http_support import TUS, check_response, component_schema, openapi_spec, validate_json

CONTRACT = {
    "/v1/videos": {"get", "put", "post"},
    "/v1/videos/{id}": {"get", "delete"},
    "/v1/videos/{id}/retry": {"post"},
    "/v1/videos/{id}/captions": {"get", "post"},
    "/v1/videos/{id}/captions/{track}": {"delete"},
    "/v1/uploads": {"options", "post"},
    "/v1/uploads/{id}": {"head", "patch", "delete", "get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/oembed": {"get"},
}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def test_spec_is_valid_openapi_31():
    from openapi_spec_validator import OpenAPIV31SpecValidator

    spec = openapi_spec()
    assert spec["openapi"].startswith("3.1")
    errors = [f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
              for e in OpenAPIV31SpecValidator(spec).iter_errors()]
    assert not errors, "docs/openapi.yaml:\n" + "\n".join(errors)


def test_spec_covers_the_contract():
    spec = openapi_spec()
    have = {p: {m for m in item if m in METHODS} for p, item in spec["paths"].items()}
    assert have == CONTRACT
    schemas = spec["components"]["schemas"]
    assert {"Video", "Rendition", "VideoPage", "Upload", "Problem"} <= set(schemas)
    assert schemas["Video"]["additionalProperties"] is False
    assert set(schemas["Video"]["required"]) == set(schemas["Video"]["properties"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_schemas_reject_drift():
    """The schemas are strict enough to catch drift (guards against a too-lenient edit of the spec)."""
    good = {"id": "v", "title": "t", "filename": "f.mp4", "visibility": "public", "state": "queued", "progress": 0,
            "durationSeconds": None, "sizeBytes": 1, "sha256": None, "renditions": [], "downloads": [], "posterUrl": None,
            "playbackUrl": None, "storyboardUrl": None, "playable": False, "error": None, "createdAt": "2025-01-01T00:00:00Z",
            "playableAt": None, "readyAt": None}
    validate_json(good, component_schema("Video"), "a minimal queued video")
    for change in ({"extra": 1}, {"state": "done"}, {"progress": 101}, {"createdAt": "yesterday"},
                   {"sha256": "ABC"}, {"visibility": "hidden"}, {"playable": "yes"}):
        with pytest.raises(AssertionError):
            validate_json({**good, **change}, component_schema("Video"), f"video with {change}")
    for missing in good:
        with pytest.raises(AssertionError):
            validate_json({k: v for k, v in good.items() if k != missing}, component_schema("Video"), missing)


def test_list_and_pages(reel, landscape_upload, private_upload, broken_upload):
    r = reel.get("/v1/videos")
    check_response(r, "GET", "/v1/videos")
    page = r.json()
    assert (page["limit"], page["offset"]) == (20, 0)
    assert len(page["items"]) >= 3

    one = reel.get("/v1/videos?limit=1&offset=0")
    check_response(one, "GET", "/v1/videos")
    first = one.json()
    assert len(first["items"]) == 1 and first["limit"] == 1
    assert first["next"] and re.match(r"^/v1/videos\?", first["next"]), first["next"]
    second = reel.get(first["next"])
    check_response(second, "GET", "/v1/videos")
    assert second.json()["offset"] == 1 and second.json()["items"][0]["id"] != first["items"][0]["id"]

    last = reel.get("/v1/videos?limit=100&offset=0")
    assert last.json()["next"] is None

    failed = reel.get("/v1/videos?state=failed&limit=100")
    check_response(failed, "GET", "/v1/videos")
    assert all(v["state"] == "failed" for v in failed.json()["items"])

    bad = reel.get("/v1/videos?state=bogus")
    assert bad.status_code == 400
    check_response(bad, "GET", "/v1/videos")
    for query in ("limit=0", "limit=abc", "offset=-1"):
        r = reel.get(f"/v1/videos?{query}")
        check_response(r, "GET", "/v1/videos")


def test_video_responses(reel, landscape, private_video, broken_upload):
    for vid in (landscape["id"], private_video["id"], broken_upload.json()["id"]):
        check_response(reel.get(f"/v1/videos/{vid}"), "GET", "/v1/videos/{id}")
    ready = landscape
    assert ready["state"] == "ready" and ready["progress"] == 100 and ready["playable"] is True
    assert ready["readyAt"] and ready["playableAt"] and ready["durationSeconds"]
    assert ready["error"] is None
    kinds = {r["kind"] for r in ready["renditions"]}
    assert kinds == {"video", "audio"}, ready["renditions"]
    for rendition in ready["renditions"]:
        if rendition["kind"] == "video":
            assert rendition["width"] and rendition["height"]

    check_response(reel.get("/v1/videos/00000000-0000-0000-0000-000000000000"), "GET", "/v1/videos/{id}")
    check_response(reel.get(f"/v1/videos/{private_video['id']}", key=None), "GET", "/v1/videos/{id}")


def test_retry_response(reel, broken_upload):
    vid = broken_upload.json()["id"]
    r = reel.request("POST", f"/v1/videos/{vid}/retry")
    assert r.status_code == 202, f"retry: {r.status_code} {r.text[:300]}"
    check_response(r, "POST", "/v1/videos/{id}/retry")
    assert r.json()["id"] == vid
    reel.wait_state(vid, "failed")     # not a video, again


def test_error_responses(reel, tmp_path):
    check_response(reel.get("/v1/videos", key=None), "GET", "/v1/videos")
    check_response(reel.request("POST", "/v1/uploads", key=None, headers={**TUS, "Upload-Length": "1"}),
                   "POST", "/v1/uploads")
    wrong = reel.request("PUT", "/v1/videos", params={"filename": "x.bin", "sha256": "0" * 64},
                         data=b"abc", headers={"Content-Type": "application/octet-stream"})
    assert wrong.status_code in (400, 422)
    check_response(wrong, "PUT", "/v1/videos")
    for params in ({"filename": "x.bin", "sha256": "xyz"}, {"filename": "x.bin", "visibility": "secret"}):
        bad = reel.request("PUT", "/v1/videos", params=params, data=b"abc")
        assert bad.status_code == 400, f"PUT {params}: {bad.status_code} {bad.text[:200]}"
        check_response(bad, "PUT", "/v1/videos")
    check_response(reel.request("DELETE", "/v1/videos/00000000-0000-0000-0000-000000000000"),
                   "DELETE", "/v1/videos/{id}")

    created = reel.request("POST", "/v1/uploads", headers={**TUS, "Upload-Length": "100"})
    check_response(created, "POST", "/v1/uploads")
    url = reel.url(created.headers["Location"])
    upload_id = url.rstrip("/").rsplit("/", 1)[-1]
    check_response(reel.request("HEAD", url, headers=TUS), "HEAD", "/v1/uploads/{id}")
    check_response(reel.get(f"/v1/uploads/{upload_id}", headers=TUS), "GET", "/v1/uploads/{id}")
    conflict = reel.request("PATCH", url, data=b"x", headers={
        **TUS, "Upload-Offset": "5", "Content-Type": "application/offset+octet-stream"})
    assert conflict.status_code == 409
    check_response(conflict, "PATCH", "/v1/uploads/{id}")
    no_tus = reel.request("PATCH", url, data=b"x", headers={
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert no_tus.status_code == 412
    check_response(no_tus, "PATCH", "/v1/uploads/{id}")
    done = reel.request("DELETE", url, headers=TUS)
    check_response(done, "DELETE", "/v1/uploads/{id}")
    check_response(reel.get(f"/v1/uploads/{upload_id}", headers=TUS), "GET", "/v1/uploads/{id}")


def test_health_responses(reel):
    for path, key in (("/healthz", None), ("/readyz", None), ("/readyz", "admin")):
        r = reel.get(path, key=key)
        assert r.status_code == 200, f"{path}: {r.status_code}"
        check_response(r, "GET", path)
