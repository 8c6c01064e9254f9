"""Device-tailored master playlists (docs/HTTP.md: `?device=`, User-Agent, Sec-CH-UA-Mobile, Save-Data,
the rules in profiles/devices.yaml)."""

from __future__ import annotations

import subprocess
from urllib.parse import urljoin

import pytest
import requests

from reel_http_support import (
    DESKTOP_UA,
    IPHONE_UA,
    device_height_limit,
    save_data_height_limit,
    variants,
)


@pytest.fixture(scope="module")
def master(reel, landscape) -> dict:
    vid = landscape["id"]
    url = reel.url(f"/hls/{vid}/master.m3u8")
    disk = (reel.data / "hls" / vid / "master.m3u8").read_text(encoding="utf-8")
    full = variants(disk)
    assert len(full) >= 2, f"the small ladder of landscape.mp4 should have several rungs: {full}"
    return {"url": url, "full": full, "full_uris": {urljoin(url, v.uri) for v in full}}


def _fetch(master: dict, query: str = "", **headers):
    r = requests.get(master["url"] + query, headers={"Accept-Encoding": "identity", **headers}, timeout=30)
    return r, (variants(r.text) if r.status_code == 200 else [])


def _uris(master: dict, vs) -> set[str]:
    return {urljoin(master["url"], v.uri) for v in vs}


def test_iphone_gets_the_phone_ladder(master):
    r, vs = _fetch(master, **{"User-Agent": IPHONE_UA})
    assert r.status_code == 200
    assert r.headers.get("Reel-Device-Class") == "phone"
    vary = {v.strip().lower() for v in r.headers.get("Vary", "").split(",")}
    assert {"user-agent", "sec-ch-ua-mobile", "save-data"} <= vary, f"Vary: {r.headers.get('Vary')!r}"
    limit = device_height_limit("phone")
    assert vs, "a phone must get at least one variant"
    assert all(v.short_side <= limit for v in vs), f"phone limit {limit}: {[(v.uri, v.height) for v in vs]}"
    assert _uris(master, vs) <= master["full_uris"], "a tailored master may only leave variants out"
    if len(vs) > 1:
        assert vs[0].bandwidth < max(v.bandwidth for v in vs), \
            "a phone should start on a lower rung: the first variant is the biggest"


def test_client_hint_mobile_is_a_phone(master):
    r, _ = _fetch(master, **{"User-Agent": "Mozilla/5.0", "Sec-CH-UA-Mobile": "?1"})
    assert r.status_code == 200 and r.headers.get("Reel-Device-Class") == "phone"


def test_query_overrides_the_user_agent(master):
    r, vs = _fetch(master, "?device=desktop", **{"User-Agent": IPHONE_UA})
    assert r.status_code == 200 and r.headers.get("Reel-Device-Class") == "desktop"
    assert _uris(master, vs) == master["full_uris"], "desktop gets the full ladder"

    r, vs = _fetch(master, "?device=phone", **{"User-Agent": DESKTOP_UA})
    assert r.status_code == 200 and r.headers.get("Reel-Device-Class") == "phone"
    assert all(v.short_side <= device_height_limit("phone") for v in vs)


def test_save_data_caps_the_ladder(master):
    r, vs = _fetch(master, **{"User-Agent": DESKTOP_UA, "Save-Data": "on"})
    assert r.status_code == 200 and vs
    full_top = max(v.short_side for v in master["full"])
    top = max(v.short_side for v in vs)
    cap = save_data_height_limit()
    if cap is not None:
        assert top <= cap, f"Save-Data cap {cap} from devices.yaml, got a {top}p variant"
    if cap is None or cap < full_top:
        assert top < full_top, f"Save-Data: on must leave out the top rung ({full_top}p): {[v.height for v in vs]}"
    assert _uris(master, vs) <= master["full_uris"]


def test_unknown_device_is_400(master):
    r, _ = _fetch(master, "?device=nonsense")
    assert r.status_code == 400, f"?device=nonsense: {r.status_code}"
    assert r.headers.get("Access-Control-Allow-Origin") == "*"


def test_curl_gets_the_file_on_disk(master):
    proc = subprocess.run(["curl", "-sS", "--max-time", "30", "-D", "-", master["url"]],
                          capture_output=True, text=True, timeout=40)
    assert proc.returncode == 0, proc.stderr
    head, _, body = proc.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.split()[1] == "200", head
    assert "reel-device-class:" in head.lower()
    assert _uris(master, variants(body)) == master["full_uris"], "plain curl gets the same variants as on disk"
