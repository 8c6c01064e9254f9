"""Scrubbing previews on the watch page (issue 12), in Chromium: hovering the page's scrub bar shows the
storyboard thumbnail of the time under the pointer (the sprite sheet as background, positioned by the
cue's #xywh), and a click there seeks.

Uses pages_support's `reel up` (server and one worker, profile small: a 160 × 90 thumbnail every 5 s) and
a desktop Chromium.
"""

from __future__ import annotations

import json
import re
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


def _cues(server, url: str) -> list[dict]:
    """The storyboard index's cues, read here independently of the page."""
    with urllib.request.urlopen(server.url(url), timeout=30) as resp:
        text = resp.read().decode()
    found = re.findall(r"(\d\d):(\d\d):(\d\d\.\d+) --> \S+\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)", text)
    return [{"start": int(h) * 3600 + int(m) * 60 + float(sec), "sheet": sheet, "xywh": tuple(int(v) for v in xywh)}
            for h, m, sec, sheet, *xywh in found]


def test_hovering_the_scrub_bar_shows_the_thumbnail_of_that_time(reel_server, desktop, ready_video):
    desktop.get(reel_server.url(f"/watch/{ready_video['id']}"))
    state = lambda: desktop.execute_script(PREVIEW_JS)  # noqa: E731
    diagnose = lambda: json.dumps(state(), indent=1) + "\n" + console(desktop)  # noqa: E731
    wait_until(lambda: (state() or {}).get("cues") == "2" and ((state() or {}).get("duration") or 0) > 5, PAGE_TIMEOUT_S,
               "the scrub bar with the storyboard's two cues and the video's duration", diagnose=diagnose)
    bar = desktop.find_element(By.ID, "scrub")
    width = bar.size["width"]

    def hover(fraction: float) -> dict:
        ActionChains(desktop).move_to_element_with_offset(bar, int((fraction - 0.5) * width), 0).perform()
        return wait_until(lambda: (s := state()) and not s["hidden"] and abs(s["time"] - fraction * s["duration"]) < 0.2 and s,
                          PAGE_TIMEOUT_S, f"the preview at {fraction:.0%}", diagnose=diagnose)

    cues = _cues(reel_server, ready_video["storyboardUrl"])
    assert [c["start"] for c in cues] == [0, 5], cues

    # 90 % of the 6-second clip is 5.4 s: the cue from 5 s to the end. (The worker encodes the short first
    # segment as a piece of its own, so that thumbnail is the first of a sheet of its own.)
    late = hover(0.9)
    assert late["xywh"] == ",".join(map(str, cues[1]["xywh"])), (late, cues)
    assert late["background"].endswith("/" + cues[1]["sheet"] + '")'), (late, cues)
    x, y = cues[1]["xywh"][:2]
    assert late["position"] == f"{-x}px {-y}px".replace("-0px", "0px"), late
    assert late["size"] == [160 + 4, 90 + 4], late  # the thumbnail plus its 2-pixel border
    assert late["label"] == "0:05", late
    # 25 % is 1.5 s: the first thumbnail.
    early = hover(0.25)
    assert early["xywh"] == ",".join(map(str, cues[0]["xywh"])), (early, cues)
    assert early["background"].endswith("/" + cues[0]["sheet"] + '")'), (early, cues)
    assert early["label"] == "0:01", early
    desktop.save_screenshot(str(reel_server.data.parent / "storyboard-preview.png"))

    # A click seeks there, and the bar says where the video is.
    ActionChains(desktop).move_to_element_with_offset(bar, 0, 0).click().perform()
    wait_until(lambda: abs(state()["currentTime"] - state()["duration"] / 2) < 0.5, PAGE_TIMEOUT_S,
               "the click to seek to the middle", diagnose=diagnose)
    assert state()["valuetext"].startswith("0:03 of 0:06") or state()["valuetext"].startswith("0:02 of 0:06"), state()
