"""Fixtures for the browser playback suite.

Session-wide:
  * ``reel_bin``   - the reel executable (env REEL_BIN, default .build/debug/reel)
  * ``browser_paths`` - /usr/bin/chromium and /usr/bin/chromedriver, or a skip
  * ``ladders``    - every good fixture transcoded with ``--profile small``,
                     and landscape.mp4 once more with 2 s segments (``switch_ladder``)
  * ``hls_server`` - the ladder folder over HTTP on 127.0.0.1:<free port>
  * ``driver``     - one headless Chromium (Selenium 4) for the whole session

Every wait is bounded and everything started here is stopped by a finalizer.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import http.server
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "Fixtures"

from chromium_support import CHROMEDRIVER, CHROMIUM, CHROMIUM_ARGS, missing_browser  # noqa: E402, F401

TRANSCODE_PROFILE = "small"
TRANSCODE_TIMEOUT_S = 180  # per fixture; they are 2-6 s long
TRANSCODE_WORKERS = 2      # the machine has two cores
SWITCH_SEGMENT_S = 2       # segment length of the extra ladder used for the rung-switch test
SWITCH_NAME = f"landscape-{SWITCH_SEGMENT_S}s"


@dataclasses.dataclass(frozen=True)
class GoodFixture:
    """A fixture that Reel must turn into a playable ladder."""

    file: str
    kind: str                    # "video" (with or without audio) or "audio"
    duration: float              # seconds, as Fixtures/README.md states it
    aspect: float | None = None  # display width / height, None for audio-only

    @property
    def name(self) -> str:
        return Path(self.file).stem


GOOD_FIXTURES = [
    GoodFixture("landscape.mp4", "video", 6.0, 16 / 9),
    GoodFixture("phone-rotated.mp4", "video", 4.0, 9 / 16),  # portrait after the display matrix
    GoodFixture("odd-size.mp4", "video", 3.0, 333 / 187),
    GoodFixture("interlaced.ts", "video", 4.0, 16 / 9),      # 720x576 with SAR 64:45
    GoodFixture("hevc-10bit.mp4", "video", 3.0, 16 / 9),
    GoodFixture("vfr.mkv", "video", 4.0, 16 / 9),
    GoodFixture("prores-422.mov", "video", 2.0, 16 / 9),
    GoodFixture("vp9.webm", "video", 2.0, 16 / 9),
    GoodFixture("audio-only.m4a", "audio", 5.0),
    GoodFixture("video-only.mp4", "video", 4.0, 16 / 9),
]


def pytest_generate_tests(metafunc):
    if "good_fixture" in metafunc.fixturenames:
        metafunc.parametrize("good_fixture", GOOD_FIXTURES, ids=[f.name for f in GOOD_FIXTURES])


def _browser_required() -> bool:
    return os.environ.get("REEL_REQUIRE_BROWSER", "") == "1"


def skip_or_fail(reason: str):
    """Skip, or fail when REEL_REQUIRE_BROWSER=1 says the browser must be there."""
    if _browser_required():
        pytest.fail(f"{reason} (REEL_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------
# Report printed at the end of the run
# --------------------------------------------------------------------------

REPORT_KEY = pytest.StashKey[dict]()


def pytest_configure(config):
    config.stash[REPORT_KEY] = {"transcode": {}, "playback": {}, "notes": []}


@pytest.fixture(scope="session")
def report(request) -> dict:
    return request.config.stash[REPORT_KEY]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rep = config.stash.get(REPORT_KEY, None)
    if not rep or not (rep["transcode"] or rep["playback"] or rep["notes"]):
        return
    tr = terminalreporter
    tr.section("Reel browser playback")
    for note in rep["notes"]:
        tr.write_line(note)
    if rep["transcode"]:
        tr.write_line("transcode (reel --profile %s; landscape-%ds: the same with %d s segments):"
                      % (TRANSCODE_PROFILE, SWITCH_SEGMENT_S, SWITCH_SEGMENT_S))
        for name, t in rep["transcode"].items():
            status = "ok" if t["ok"] else "FAILED rc=%s" % t["returncode"]
            tr.write_line(f"  {name:<14} {t['seconds']:6.1f} s  {status}  rungs: {', '.join(t['rungs']) or '-'}")
    if rep["playback"]:
        tr.write_line("playback (headless Chromium, native HLS):")
        for name, p in rep["playback"].items():
            tr.write_line(
                f"  {name:<14} {p['result']:<9} to {p.get('goal', '?'):<9} {p.get('seconds_to_play', float('nan')):5.1f} s"
                f"  currentTime {p.get('currentTime', 0):.2f}/{p.get('duration', '?')}"
                f"  size {p.get('videoWidth', 0)}x{p.get('videoHeight', 0)}"
                f"  rungs shown {p.get('rungs_shown') or '-'}  segments fetched {p.get('rungs_fetched') or '-'}"
                + (f"  error {p['error']}" if p.get("error") else "")
            )


# --------------------------------------------------------------------------
# Browser and binary discovery
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_paths() -> tuple[str, str]:
    reason = missing_browser()
    if reason:
        skip_or_fail(reason)
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def reel_bin() -> Path:
    raw = os.environ.get("REEL_BIN", ".build/debug/reel")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"reel binary not found at {path}: build it with `swift build --product reel` "
            "or point REEL_BIN at one",
            pytrace=False,
        )
    return path


# --------------------------------------------------------------------------
# Transcoding
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Ladder:
    fixture: GoodFixture
    outdir: Path
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    # rung name -> (width, height) from the master playlist's RESOLUTION
    rungs: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and (self.outdir / "master.m3u8").is_file()

    def failure(self) -> str:
        return (
            f"reel transcode {self.fixture.file} failed (rc={self.returncode}, {self.seconds:.1f} s)\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


_STREAM_INF = re.compile(r"#EXT-X-STREAM-INF:(?P<attrs>[^\n]*)\n(?P<uri>[^#\n][^\n]*)")
_RESOLUTION = re.compile(r"RESOLUTION=(\d+)x(\d+)")


def parse_rungs(master_text: str) -> dict[str, tuple[int, int]]:
    """Video rungs of a master playlist: first path component of the URI -> (w, h)."""
    rungs = {}
    for m in _STREAM_INF.finditer(master_text):
        res = _RESOLUTION.search(m.group("attrs"))
        if res:
            rungs[m.group("uri").strip().split("/")[0]] = (int(res.group(1)), int(res.group(2)))
    return rungs


def _transcode(reel: Path, fixture: GoodFixture, root: Path, profile: str = TRANSCODE_PROFILE,
               outname: str | None = None) -> Ladder:
    outdir = root / (outname or fixture.name)
    cmd = [str(reel), "transcode", str(FIXTURES_DIR / fixture.file), str(outdir), "--profile", profile]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TRANSCODE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc = None
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"timed out after {TRANSCODE_TIMEOUT_S} s\n" + (
            exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        )
    ladder = Ladder(fixture, outdir, rc, out, err, time.monotonic() - start)
    if ladder.ok:
        ladder.rungs = parse_rungs((outdir / "master.m3u8").read_text())
    return ladder


@dataclasses.dataclass
class LadderSet:
    root: Path                 # served over HTTP; one folder per fixture below it
    by_name: dict[str, Ladder]
    seconds: float             # wall time for all transcodes


def _switch_profile(folder: Path) -> Path:
    """profiles/small.yaml with only segment_duration (and the name) changed."""
    small = (REPO_ROOT / "profiles" / f"{TRANSCODE_PROFILE}.yaml").read_text()
    text, n = re.subn(r"(?m)^segment_duration:\s*\d+", f"segment_duration: {SWITCH_SEGMENT_S}", small)
    if n != 1:
        pytest.fail(f"profiles/{TRANSCODE_PROFILE}.yaml has no single top-level segment_duration line",
                    pytrace=False)
    text = re.sub(r"(?m)^name:\s*\S+", f"name: {TRANSCODE_PROFILE}-{SWITCH_SEGMENT_S}s", text)
    path = folder / f"{TRANSCODE_PROFILE}-{SWITCH_SEGMENT_S}s.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def ladders(browser_paths, reel_bin, tmp_path_factory, report) -> LadderSet:
    """Transcode every good fixture once (plus landscape with 2 s segments).

    A failed transcode does not stop the session: that fixture's test reports it.
    """
    root = tmp_path_factory.mktemp("reel-hls")
    switch_profile = _switch_profile(tmp_path_factory.mktemp("profiles"))
    landscape = next(f for f in GOOD_FIXTURES if f.name == "landscape")
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=TRANSCODE_WORKERS) as pool:
        # The three longest jobs first, so two cores finish together.
        futures = {"landscape": pool.submit(_transcode, reel_bin, landscape, root)}
        futures[SWITCH_NAME] = pool.submit(_transcode, reel_bin, landscape, root, str(switch_profile), SWITCH_NAME)
        for f in GOOD_FIXTURES:
            if f.name not in futures:
                futures[f.name] = pool.submit(_transcode, reel_bin, f, root)
        result = {name: fut.result() for name, fut in futures.items()}
    elapsed = time.monotonic() - start
    for name, lad in result.items():
        report["transcode"][name] = {
            "ok": lad.ok, "returncode": lad.returncode, "seconds": lad.seconds, "rungs": list(lad.rungs),
        }
    report["notes"].append(
        f"transcoded {len(result)} ladders in {elapsed:.1f} s ({TRANSCODE_WORKERS} at a time) into {root}"
    )
    return LadderSet(root, result, elapsed)


@pytest.fixture(scope="session")
def switch_ladder(ladders) -> Ladder:
    """landscape.mp4 again with 2 s segments, so the player has room to change rungs."""
    return ladders.by_name[SWITCH_NAME]


# --------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------

MIME_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".html": "text/html; charset=utf-8",
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_request(self, code="-", size="-"):
        try:
            status = int(code)
        except (TypeError, ValueError):
            status = 0
        self.server.request_log.append((time.monotonic(), self.path, status))

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The browser aborts requests it no longer needs (e.g. after a rung
        # switch); a broken pipe there is not an error worth a traceback.
        pass


@dataclasses.dataclass
class HlsServer:
    root: Path
    port: int
    httpd: _Server

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, relative: str) -> str:
        return f"{self.base_url}/{relative.lstrip('/')}"

    def requests_since(self, t0: float, prefix: str = "") -> list[tuple[float, str, int]]:
        return [r for r in list(self.httpd.request_log) if r[0] >= t0 and r[1].startswith(prefix)]


@pytest.fixture(scope="session")
def hls_server(ladders) -> HlsServer:
    root = ladders.root
    handler = lambda *a, **kw: _QuietHandler(*a, directory=str(root), **kw)  # noqa: E731
    httpd = _Server(("127.0.0.1", 0), handler)
    httpd.request_log = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              name="reel-hls-server", daemon=True)
    thread.start()
    server = HlsServer(Path(root), httpd.server_address[1], httpd)
    yield server
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


# --------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def driver(browser_paths, tmp_path_factory, report):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths
    options = Options()
    options.binary_location = chromium
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    extra = os.environ.get("REEL_CHROMIUM_ARGS", "").split()
    for arg in extra:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Selenium Manager must never try to fetch a driver or a browser: this
    # machine reaches no download site, and Debian's driver matches Debian's browser.
    os.environ.setdefault("SE_OFFLINE", "true")
    service = Service(executable_path=chromedriver,
                      log_output=str(tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"))
    start = time.monotonic()
    drv = webdriver.Chrome(service=service, options=options)
    try:
        drv.set_page_load_timeout(30)
        drv.set_script_timeout(30)
        caps = drv.capabilities
        report["notes"].append(
            "browser: %s %s, chromedriver %s, started in %.1f s, args %s" % (
                caps.get("browserName"), caps.get("browserVersion"),
                (caps.get("chrome") or {}).get("chromedriverVersion", "?").split(" ")[0],
                time.monotonic() - start, " ".join(CHROMIUM_ARGS + extra),
            )
        )
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def fresh_page(driver):
    """Drain old console logs before a test and leave the page blank after it."""
    try:
        driver.get_log("browser")
    except Exception:
        pass
    yield driver
    try:
        driver.get("about:blank")
    except Exception:
        pass
