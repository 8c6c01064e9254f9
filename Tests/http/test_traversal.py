"""Path traversal against the streaming handler: dots, encoded dots and slashes, doubled slashes and
symlinks must never hand out a file from outside a video's HLS folder. Paths go out byte for byte
(http.client; requests and curl would normalise the dots)."""

from __future__ import annotations

import os
import time

import pytest

from reel_http_support import raw_request

SQLITE_MAGIC = b"SQLite format 3\x00"


@pytest.fixture(scope="module")
def secrets(reel, landscape) -> dict:
    """What must never come back, and the landscape video's folders to aim from."""
    vid = landscape["id"]
    originals = sorted((reel.data / "originals" / vid).glob("*"))
    assert originals, "the original of the landscape video is missing"
    original = originals[0]
    blob = original.read_bytes()
    with open("/etc/passwd", "rb") as f:
        passwd = f.read()
    signing = (reel.data / "signing.key").read_bytes().strip() if (reel.data / "signing.key").exists() else None
    rung = next(p.name for p in sorted((reel.data / "hls" / vid).iterdir()) if (p / "index.m3u8").is_file())
    return {"id": vid, "original": original.name, "markers": [
        ("reel.sqlite", SQLITE_MAGIC),
        ("/etc/passwd", passwd[:64]),
        ("the original upload", blob[len(blob) // 2: len(blob) // 2 + 64]),
        *([("signing.key", signing)] if signing else []),
    ], "rung": rung}


def _assert_no_leak(reel, path: str, secrets: dict) -> int:
    r = raw_request(reel.port, "GET", path)
    assert r.status < 500, f"GET {path!r}: {r.status} (the server should refuse, not fail)"
    if r.status == 200:
        for what, marker in secrets["markers"]:
            assert marker not in r.body, f"GET {path!r} returned {what}"
    return r.status


def test_dot_segments_and_encodings(reel, secrets):
    vid, orig = secrets["id"], secrets["original"]
    paths = [
        "/hls/../reel.sqlite",
        "/hls/%2e%2e/reel.sqlite",
        "/hls/%2E%2E/reel.sqlite",
        "/hls/..%2freel.sqlite",
        f"/hls/{vid}/../../reel.sqlite",
        f"/hls/{vid}/..%2f..%2freel.sqlite",
        f"/hls/{vid}/..%2F..%2Freel.sqlite",
        f"/hls/{vid}/%2e%2e%2f%2e%2e%2freel.sqlite",
        f"/hls/{vid}/%2e%2e%2f%2e%2e%2foriginals/{vid}/{orig}",
        f"/hls/{vid}/..%2f..%2foriginals/{vid}/{orig}",
        f"/hls/{vid}/../../originals/{vid}/{orig}",
        f"/hls/{vid}/%2e%2e/%2e%2e/originals/{vid}/{orig}",
        f"/hls/{vid}/..%5c..%5creel.sqlite",
        f"/hls/{vid}/%252e%252e%252f%252e%252e%252freel.sqlite",
        f"/hls/{vid}/{secrets['rung']}/../../../reel.sqlite",
        f"/hls/{vid}/{secrets['rung']}/..%2f..%2f..%2freel.sqlite",
        f"/hls/{vid}/..%2f..%2fsigning.key",
        "/hls/%2fetc%2fpasswd",
        f"/hls/{vid}/%2fetc%2fpasswd",
        "/hls//etc/passwd",
        f"/hls/{vid}//etc/passwd",
        "//hls//..//reel.sqlite",
        f"//hls//{vid}//..//..//reel.sqlite",
        f"/hls/{vid}/.%2e/.%2e/reel.sqlite",
        f"/hls/{vid}/%c0%ae%c0%ae/%c0%ae%c0%ae/reel.sqlite",
        f"/hls/{vid}/master.m3u8/../../../reel.sqlite",
        "/assets/../reel.sqlite",
        "/assets/..%2f..%2freel.sqlite",
        "/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ]
    expires = int(time.time()) + 600
    prefix = reel.signed_path(vid, expires).rsplit("/hls/", 1)[0]
    paths += [f"{prefix}/hls/{vid}/..%2f..%2freel.sqlite", f"{prefix}/hls/{vid}/../../reel.sqlite",
              f"{prefix}/hls/..%2freel.sqlite"]
    statuses = {p: _assert_no_leak(reel, p, secrets) for p in paths}
    assert any(s in (400, 403, 404) for s in statuses.values()), statuses
    assert raw_request(reel.port, "GET", "/healthz").status == 200


def test_symlinks_out_of_the_folder(reel, secrets, request):
    vid, rung = secrets["id"], secrets["rung"]
    base = reel.data / "hls" / vid
    links = {
        base / "passwd.m3u8": "/etc/passwd",
        base / "etc": "/etc",
        base / rung / "seg-99999.m4s": "/etc/passwd",
        base / rung / "iframes-link.m3u8": "/etc/passwd",
        base / "db.m3u8": str(reel.data / "reel.sqlite"),
        base / "up": str(reel.data),
    }
    for link, target in links.items():
        os.symlink(target, link)
        request.addfinalizer(lambda p=link: p.unlink(missing_ok=True))
    for path in (f"/hls/{vid}/passwd.m3u8", f"/hls/{vid}/etc/passwd", f"/hls/{vid}/{rung}/seg-99999.m4s",
                 f"/hls/{vid}/{rung}/iframes-link.m3u8", f"/hls/{vid}/db.m3u8", f"/hls/{vid}/up/reel.sqlite",
                 f"/hls/{vid}/up/hls/{vid}/master.m3u8"):
        _assert_no_leak(reel, path, secrets)
    # The real files next to them are still served.
    assert raw_request(reel.port, "GET", f"/hls/{vid}/master.m3u8").status == 200
