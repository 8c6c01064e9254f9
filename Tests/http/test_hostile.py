"""Hostile uploads over HTTP: what scripts/hostile-inputs writes, uploaded with an upload key to the real
`reel serve` and its workers.

Every file the manifest marks `"expect": "failed"` must end `failed` within a bounded time with a reason
a person can read; nothing of the private video they point at (or of any other file) may be published
under the attacker's video; and a good video uploaded right after must still become ready — no worker is
left hung. A file marked `"expect": "ready"` (a good video with one absurd field) must become ready and
play, as the short video it really is.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from urllib.parse import urljoin

from reel_http_support import FIXTURES, REPO_ROOT, variants

FAIL_WITHIN_S = 180
# long-last-frame.mkv is 2 s of video; anything near this means the absurd last frame was believed.
READY_MAX_SECONDS = 10


def test_hostile_uploads_fail_with_reasons_and_publish_nothing(reel, private_video, tmp_path):
    victim = private_video["id"]
    originals = sorted((reel.data / "originals" / victim).glob("source.*"))
    assert originals, f"the private video's original is not under {reel.data / 'originals' / victim}"
    out = tmp_path / "hostile"
    subprocess.run([str(REPO_ROOT / "scripts/hostile-inputs"), str(out), "--sibling", victim,
                    "--absolute", str(originals[0])], check=True, timeout=300, capture_output=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest) >= 15

    uploaded: dict[str, str] = {}
    stage = {entry["file"]: entry["stage"] for entry in manifest}
    ready: dict[str, str] = {}
    for entry in manifest:
        resp = reel.put_video(out / entry["file"], key="upload", filename=entry["file"])
        if entry["expect"] == "ready":
            assert resp.status_code == 201, f"{entry['file']}: {resp.status_code} {resp.text[:300]}"
            ready[resp.json()["id"]] = entry["file"]
            continue
        # Refused at upload or accepted then failed: both are fine; a 5xx or a crash is not.
        assert resp.status_code in (201, 415, 422), f"{entry['file']}: {resp.status_code} {resp.text[:300]}"
        if resp.status_code == 201:
            uploaded[resp.json()["id"]] = entry["file"]
    assert ready, "the manifest marks no file as one that must become ready"

    deadline = time.monotonic() + FAIL_WITHIN_S
    reasons: dict[str, str] = {}
    for vid, name in uploaded.items():
        failed = reel.wait_state(vid, "failed", timeout=max(5.0, deadline - time.monotonic()))
        error = failed.get("error") or ""
        assert len(error.strip()) >= 20 and "Fatal" not in error and "Optional(" not in error, f"{name}: {error!r}"
        assert str(reel.data) not in error, f"{name}: the reason shows the storage root: {error!r}"
        assert failed["playable"] is False and failed["playbackUrl"] is None, f"{name}: {failed}"
        reasons[name] = error
        # Nothing is published for it. Refused when probed: nothing was even written. Refused while
        # encoding (a timestamp past its bounds): what was written before is never served.
        hls = reel.data / "hls" / vid
        if stage[name] == "probe":
            assert not hls.exists(), f"{name}: refused at probe, yet wrote {list(hls.rglob('*'))[:5]}"
        for path in [hls / "master.m3u8", *(p for p in hls.rglob("*") if p.is_file())]:
            rel = path.relative_to(reel.data / "hls")
            assert reel.get(f"/hls/{rel}").status_code == 404, f"{name}: /hls/{rel} is served"

    for vid, name in ready.items():
        reel.wait_state(vid, "ready", timeout=max(5.0, deadline - time.monotonic()))
        master = reel.get(f"/hls/{vid}/master.m3u8")
        assert master.status_code == 200, f"{name}: master.m3u8 {master.status_code}"
        rung = reel.get(urljoin(f"/hls/{vid}/master.m3u8", variants(master.text)[0].uri))
        assert rung.status_code == 200, f"{name}: {rung.status_code}"
        seconds = sum(float(d) for d in re.findall(r"#EXTINF:([0-9.]+)", rung.text))
        assert 1 < seconds < READY_MAX_SECONDS, f"{name}: published {seconds:.1f} s"

    refused_formats = [n for n, e in reasons.items() if "does not accept" in e]
    assert any("playlist" in n for n in refused_formats), reasons
    assert any("longer than the" in e for e in reasons.values()), reasons

    # The next good upload still goes through: every worker is free again.
    resp = reel.put_video(FIXTURES / "landscape.mp4", key="upload", filename="after-the-attack.mp4")
    assert resp.status_code == 201, resp.text[:300]
    reel.wait_state(resp.json()["id"], "ready")
