"""Scrubbing previews on the watch page (issue 12), in Chromium: hovering the page's scrub bar shows the
storyboard thumbnail of the time under the pointer (the sprite sheet as background, positioned by the
cue's #xywh), and a click there seeks.

Uses pages_support's `reel up` (server and one worker, profile small: a 160 × 90 thumbnail every 5 s) and
a desktop Chromium.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from pages_support import FIXTURES_DIR, console, desktop, reel_server, wait_until  # noqa: F401  (fixtures)

READY_TIMEOUT_S = 180
PAGE_TIMEOUT_S = 30

PREVIEW_JS = """
const bar = document.getElementById('scrub');
if (!bar) return null;
const p = bar.querySelector('.scrub-preview'), t = bar.querySelector('.scrub-thumb');
const v = document.querySelector('video');
return {cues: bar.dataset.cues || null, hidden: p.hidden, xywh: p.dataset.xywh || null, time: parseFloat(p.dataset.time),
        label: bar.querySelector('.scrub-time').textContent,
        background: t.style.backgroundImage, position: t.style.backgroundPosition,
        size: [t.offsetWidth, t.offsetHeight], duration: v ? v.duration : null, currentTime: v ? v.currentTime : null,
        valuetext: bar.getAttribute('aria-valuetext')};
"""


@pytest.fixture(scope="module")
def ready_video(reel_server) -> dict:
    server = reel_server
    req = urllib.request.Request(server.url("/v1/videos?filename=landscape.mp4&title=Storyboard"), method="PUT",
                                 data=(FIXTURES_DIR / "landscape.mp4").read_bytes(),
                                 headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        vid = json.loads(resp.read())["id"]
    seen = {}

    def ready():
        code, body = server.api(f"/v1/videos/{vid}")
        assert code == 200 and body["state"] != "failed", body
        seen.update(body)
        return body["state"] == "ready"

    wait_until(ready, READY_TIMEOUT_S, f"video {vid} to be ready", poll=0.5, diagnose=server.log_tail)
    assert seen["storyboardUrl"], seen
    return seen


def test_hovering_the_scrub_bar_shows_the_thumbnail_of_that_time(reel_server, desktop, ready_video):
    desktop.get(reel_server.url(f"/watch/{ready_video['id']}"))
    state = lambda: desktop.execute_script(PREVIEW_JS)  # noqa: E731
    diagnose = lambda: json.dumps(state(), indent=1) + "\n" + console(desktop)  # noqa: E731
    wait_until(lambda: (state() or {}).get("cues") == "2" and (state() or {}).get("duration", 0) > 5, PAGE_TIMEOUT_S,
               "the scrub bar with the storyboard's two cues and the video's duration", diagnose=diagnose)
    bar = desktop.find_element(By.ID, "scrub")
    width = bar.size["width"]

    def hover(fraction: float) -> dict:
        ActionChains(desktop).move_to_element_with_offset(bar, int((fraction - 0.5) * width), 0).perform()
        return wait_until(lambda: (s := state()) and not s["hidden"] and abs(s["time"] - fraction * s["duration"]) < 0.2 and s,
                          PAGE_TIMEOUT_S, f"the preview at {fraction:.0%}", diagnose=diagnose)

    # 90 % of the 6-second clip is 5.4 s: the cue 5 s → end, the second cell of sheet 0.
    late = hover(0.9)
    assert late["xywh"] == "160,0,160,90", late
    assert "/storyboard/0.jpg" in late["background"], late
    assert late["position"] == "-160px 0px", late
    assert late["size"] == [160 + 4, 90 + 4], late  # the thumbnail plus its 2-pixel border
    assert late["label"] == "0:05", late
    # 25 % is 1.5 s: the first cell.
    early = hover(0.25)
    assert early["xywh"] == "0,0,160,90" and early["position"] in ("0px 0px", "0px 0px 0px 0px"), early

    # A click seeks there, and the bar says where the video is.
    ActionChains(desktop).move_to_element_with_offset(bar, 0, 0).click().perform()
    wait_until(lambda: abs(state()["currentTime"] - state()["duration"] / 2) < 0.5, PAGE_TIMEOUT_S,
               "the click to seek to the middle", diagnose=diagnose)
    assert state()["valuetext"].startswith("0:03 of 0:06") or state()["valuetext"].startswith("0:02 of 0:06"), state()
