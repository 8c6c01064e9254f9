"""Chromium plays Reel's HLS output natively.

Each good fixture is transcoded with ``reel transcode --profile small`` (see
conftest.py), served over HTTP from 127.0.0.1, and opened in headless Chromium
in a page that holds nothing but ``<video src="master.m3u8" muted autoplay
playsinline>``. A fixture passes when the browser's own HLS player gets the
clock past min(1 s, half the duration) with no ``video.error``, and, for video,
shows a picture of the right shape. No JavaScript player is involved.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import time
from pathlib import Path

import pytest

# Fixtures (ladders, hls_server, driver, ...) and the list of good media
# fixtures come from conftest.py; `good_fixture` is parametrized there by
# pytest_generate_tests, so nothing is imported from it by name.

PLAY_TIMEOUT_S = float(os.environ.get("REEL_PLAY_TIMEOUT", "20"))  # per fixture, navigation to threshold
DIAGNOSE_TIMEOUT_S = 10.0   # per single playlist when a fixture fails
POLL_S = 0.2
ASPECT_TOLERANCE = 0.04     # relative
DURATION_TOLERANCE_S = 0.5

HLS_MIME = "application/vnd.apple.mpegurl"

_EVENTS = [
    "loadstart", "durationchange", "loadedmetadata", "loadeddata", "canplay", "playing",
    "waiting", "stalled", "resize", "ended", "error", "pause", "emptied", "abort",
]


def write_player(folder: Path, filename: str, src: str) -> None:
    """A page with one <video> element and a log of its events in window.reelEvents."""
    events = json.dumps(_EVENTS)
    folder.joinpath(filename).write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>reel playback: {html.escape(src)}</title></head>
<body style="margin:0;background:#000">
<video id="v" src="{html.escape(src)}" muted autoplay playsinline style="max-width:100%"></video>
<script>
  const v = document.getElementById("v");
  const t0 = performance.now();
  window.reelEvents = [];
  for (const type of {events}) {{
    v.addEventListener(type, () => window.reelEvents.push({{
      type, ms: Math.round(performance.now() - t0), t: v.currentTime,
      w: v.videoWidth, h: v.videoHeight,
      error: v.error ? v.error.code + ": " + v.error.message : null,
    }}));
  }}
</script>
</body></html>
""")


STATE_JS = """
const v = document.getElementById("v");
if (!v) { return null; }
const num = (x) => (Number.isFinite(x) ? x : String(x));
return {
  currentTime: v.currentTime, duration: num(v.duration),
  paused: v.paused, ended: v.ended, readyState: v.readyState, networkState: v.networkState,
  videoWidth: v.videoWidth, videoHeight: v.videoHeight,
  error: v.error ? {code: v.error.code, message: v.error.message} : null,
  currentSrc: v.currentSrc,
  events: window.reelEvents || [],
};
"""

MEDIA_ERRORS = {1: "MEDIA_ERR_ABORTED", 2: "MEDIA_ERR_NETWORK", 3: "MEDIA_ERR_DECODE", 4: "MEDIA_ERR_SRC_NOT_SUPPORTED"}


def threshold_for(duration) -> float:
    if isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0:
        return min(1.0, duration * 0.5)
    return 1.0


def reached(state: dict | None) -> bool:
    if not state or state["error"]:
        return False
    if state["ended"] and state["currentTime"] > 0:
        return True
    return state["currentTime"] > threshold_for(state["duration"])


def play(driver, url: str, timeout: float) -> tuple[dict | None, float, bool]:
    """Open url and poll the <video> until it passes the threshold, errors, or time runs out."""
    start = time.monotonic()
    driver.get(url)
    deadline = start + timeout
    state = None
    while True:
        state = driver.execute_script(STATE_JS)
        if reached(state):
            return state, time.monotonic() - start, True
        if state and state["error"]:
            return state, time.monotonic() - start, False
        if time.monotonic() >= deadline:
            return state, time.monotonic() - start, False
        time.sleep(POLL_S)


def describe_error(state: dict | None) -> str | None:
    if not state or not state.get("error"):
        return None
    code = state["error"]["code"]
    return f"{code} {MEDIA_ERRORS.get(code, '?')}: {state['error']['message']!r}"


def rung_for(ladder, w: int, h: int) -> str:
    for name, (rw, rh) in ladder.rungs.items():
        if abs(rw - w) <= 2 and abs(rh - h) <= 2:
            return name
    return f"{w}x{h}?"


def rungs_shown(ladder, state: dict) -> list:
    seen: list[str] = []
    sizes = [(e["w"], e["h"]) for e in state["events"] if e["type"] in ("resize", "loadedmetadata")]
    sizes.append((state["videoWidth"], state["videoHeight"]))
    for w, h in sizes:
        if w and h:
            name = rung_for(ladder, w, h)
            if not seen or seen[-1] != name:
                seen.append(name)
    return seen


def rungs_fetched(server, ladder, t0: float) -> list:
    prefix = f"/{ladder.outdir.name}/"
    order: list[str] = []
    for _, path, _status in server.requests_since(t0, prefix):
        parts = path[len(prefix):].split("/")
        if len(parts) == 2 and parts[1].endswith(".m4s") and parts[0] not in order:
            order.append(parts[0])
    return order


# --------------------------------------------------------------------------
# Diagnostics, gathered only when a fixture does not play
# --------------------------------------------------------------------------


def media_playlists(ladder) -> list:
    master = (ladder.outdir / "master.m3u8").read_text()
    uris = re.findall(r'URI="([^"]+/index\.m3u8)"', master)
    uris += [line.strip() for line in master.splitlines() if line.strip() and not line.startswith("#")]
    seen: list[str] = []
    for uri in uris:
        if uri not in seen:
            seen.append(uri)
    return seen


def diagnose(driver, server, ladder, requests) -> str:
    lines = []
    try:
        logs = driver.get_log("browser")
    except Exception as exc:  # pragma: no cover - depends on the driver
        logs = [{"level": "?", "message": f"(get_log failed: {exc})"}]
    lines.append("browser console:")
    lines += [f"  {e.get('level')}: {e.get('message')}" for e in logs] or ["  (nothing)"]
    lines.append("requests for this ladder:")
    lines += [f"  {status} {path}" for _, path, status in requests] or ["  (none)"]

    master = (ladder.outdir / "master.m3u8").read_text()
    codecs = sorted({c for group in re.findall(r'CODECS="([^"]+)"', master) for c in group.split(",")})
    checks = driver.execute_script(
        """
        const v = document.createElement("video");
        const out = {hls: v.canPlayType(arguments[0]), codecs: {}};
        for (const c of arguments[1]) {
          const t = 'video/mp4; codecs="' + c + '"';
          out.codecs[c] = {canPlayType: v.canPlayType(t),
                           mse: window.MediaSource ? MediaSource.isTypeSupported(t) : null};
        }
        return out;
        """,
        HLS_MIME, codecs,
    )
    lines.append(f"canPlayType({HLS_MIME!r}) = {checks['hls']!r}")
    for c, r in checks["codecs"].items():
        lines.append(f"  {c}: canPlayType={r['canPlayType']!r} MediaSource.isTypeSupported={r['mse']}")

    lines.append("each media playlist alone:")
    for uri in media_playlists(ladder):
        page = "player-" + uri.replace("/", "_").replace(".m3u8", "") + ".html"
        write_player(ladder.outdir, page, uri)
        state, secs, ok = play(driver, server.url(f"{ladder.outdir.name}/{page}"), DIAGNOSE_TIMEOUT_S)
        if ok:
            lines.append(f"  {uri}: plays (currentTime {state['currentTime']:.2f} after {secs:.1f} s, "
                         f"{state['videoWidth']}x{state['videoHeight']})")
        else:
            lines.append(f"  {uri}: does NOT play: error {describe_error(state)}, "
                         f"state {compact(state)}")
    try:
        for e in driver.get_log("browser"):
            lines.append(f"  console: {e.get('level')}: {e.get('message')}")
    except Exception:
        pass
    return "\n".join(lines)


def compact(state: dict | None) -> str:
    if not state:
        return "no <video> element"
    keep = {k: state[k] for k in ("currentTime", "duration", "paused", "ended", "readyState",
                                  "networkState", "videoWidth", "videoHeight", "error")}
    keep["events"] = [f"{e['ms']}ms {e['type']} t={e['t']:.2f} {e['w']}x{e['h']}"
                      + (f" {e['error']}" if e["error"] else "") for e in state["events"]]
    return json.dumps(keep, indent=1)


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_chromium_has_native_hls(fresh_page, hls_server, ladders, report):
    """The browser itself claims HLS; no JavaScript player is loaded anywhere."""
    driver = fresh_page
    ladders.root.joinpath("blank.html").write_text(
        '<!doctype html><link rel="icon" href="data:,"><title>reel</title><p>blank</p>\n')
    driver.get(hls_server.url("blank.html"))
    answer = driver.execute_script(
        "return {hls: document.createElement('video').canPlayType(arguments[0]),"
        " ua: navigator.userAgent, mse: !!window.MediaSource}", HLS_MIME)
    report["notes"].append(f"canPlayType({HLS_MIME!r}) = {answer['hls']!r}; MediaSource={answer['mse']}")
    assert answer["hls"] in ("maybe", "probably"), (
        f"this Chromium does not claim native HLS: canPlayType({HLS_MIME!r}) = {answer['hls']!r}; "
        f"user agent {answer['ua']}"
    )


def test_master_playlist_plays(good_fixture, fresh_page, hls_server, ladders, report):
    fixture = good_fixture
    driver = fresh_page
    ladder = ladders.by_name[fixture.name]
    entry = report["playback"].setdefault(fixture.name, {"result": "fail", "goal": "threshold"})
    if not ladder.ok:
        entry["result"] = "no-ladder"
        pytest.fail(ladder.failure(), pytrace=False)

    write_player(ladder.outdir, "player.html", "master.m3u8")
    t0 = time.monotonic()
    state, seconds, ok = play(driver, hls_server.url(f"{fixture.name}/player.html"), PLAY_TIMEOUT_S)
    requests = hls_server.requests_since(t0, f"/{fixture.name}/")
    entry.update(seconds_to_play=seconds, error=describe_error(state))
    if state:
        entry.update(currentTime=state["currentTime"], duration=state["duration"],
                     videoWidth=state["videoWidth"], videoHeight=state["videoHeight"],
                     rungs_shown=", ".join(rungs_shown(ladder, state)),
                     rungs_fetched=", ".join(rungs_fetched(hls_server, ladder, t0)))

    if not ok:
        why = describe_error(state) or f"currentTime did not pass the threshold within {PLAY_TIMEOUT_S:.0f} s"
        pytest.fail(
            f"{fixture.file}: master.m3u8 does not play in Chromium: {why}\n"
            f"state: {compact(state)}\n{diagnose(driver, hls_server, ladder, requests)}",
            pytrace=False,
        )

    assert state["error"] is None
    duration = state["duration"]
    assert isinstance(duration, (int, float)) and duration > 0, f"duration is {duration!r}"
    assert abs(duration - fixture.duration) <= DURATION_TOLERANCE_S, (
        f"Chromium reports duration {duration:.3f} s, the source is {fixture.duration:.3f} s"
    )

    w, h = state["videoWidth"], state["videoHeight"]
    if fixture.kind == "audio":
        assert (w, h) == (0, 0), f"an audio-only ladder shows a {w}x{h} picture"
    else:
        assert w > 0 and h > 0, f"no picture: videoWidth={w} videoHeight={h}\nstate: {compact(state)}"
        portrait = fixture.aspect < 1
        assert (h > w) == portrait, (
            f"{fixture.file} should be {'portrait' if portrait else 'landscape'}, Chromium shows {w}x{h}"
        )
        aspect = w / h
        assert abs(aspect - fixture.aspect) / fixture.aspect <= ASPECT_TOLERANCE, (
            f"{fixture.file} displays at {w}x{h} (aspect {aspect:.3f}), expected aspect {fixture.aspect:.3f}"
        )
    entry["result"] = "ok"


def test_rung_switch_plays_to_the_end(fresh_page, hls_server, switch_ladder, report):
    """landscape.mp4 with 2 s segments plays to its end with no error.

    Chromium picks the rungs itself. Which ones it showed and fetched is
    recorded in the summary; a switch is not asserted, because the choice
    depends on the bandwidth the player measures on a busy two-core machine.
    """
    driver = fresh_page
    ladder = switch_ladder
    name = ladder.outdir.name
    entry = report["playback"].setdefault(name, {"result": "fail", "goal": "end"})
    if not ladder.ok:
        entry["result"] = "no-ladder"
        pytest.fail(ladder.failure(), pytrace=False)
    write_player(ladder.outdir, "player.html", "master.m3u8")
    t0 = time.monotonic()
    driver.get(hls_server.url(f"{name}/player.html"))
    deadline = t0 + PLAY_TIMEOUT_S
    while True:
        state = driver.execute_script(STATE_JS)
        if (state and (state["ended"] or state["error"])) or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    requests = hls_server.requests_since(t0, f"/{name}/")
    entry.update(seconds_to_play=time.monotonic() - t0, error=describe_error(state))
    if state:
        entry.update(currentTime=state["currentTime"], duration=state["duration"],
                     videoWidth=state["videoWidth"], videoHeight=state["videoHeight"],
                     rungs_shown=", ".join(rungs_shown(ladder, state)),
                     rungs_fetched=", ".join(rungs_fetched(hls_server, ladder, t0)))
    if not (state and state["ended"] and not state["error"]):
        pytest.fail(
            f"{name}: did not play to the end within {PLAY_TIMEOUT_S:.0f} s: {describe_error(state)}\n"
            f"state: {compact(state)}\n{diagnose(driver, hls_server, ladder, requests)}",
            pytrace=False,
        )
    assert state["currentTime"] >= state["duration"] - 0.5
    entry["result"] = "ok"
