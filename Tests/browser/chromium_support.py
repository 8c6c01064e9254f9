"""Headless Chromium for the suites that drive it (Tests/browser, and Tests/fleet, which imports this).

  * ``CHROMIUM``, ``CHROMEDRIVER`` - Debian's browser and driver (REEL_CHROMIUM / REEL_CHROMEDRIVER)
  * ``CHROMIUM_ARGS``  - headless, autoplay without a gesture, muted, one 1280x800 window
  * ``missing_browser()`` - why Chromium cannot be driven here, or None
  * ``start_chromium()``  - one Chromium (Selenium 4) with its own profile folder

Selenium Manager is never allowed to download anything: Debian's driver matches Debian's browser.
"""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = os.environ.get("REEL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("REEL_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1280,800",
]


def missing_browser() -> str | None:
    """Why headless Chromium cannot be driven on this machine, or None when it can."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    if missing:
        return ("headless Chromium not installed: missing %s "
                "(apt-get install -y chromium chromium-driver)" % ", ".join(missing))
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the Python package selenium is not installed (pip install -r Tests/browser/requirements.txt)"
    return None


def start_chromium(browser_paths: tuple[str, str], folder: Path, extra_args: list[str]):
    """A Chromium with CHROMIUM_ARGS (its window size replaced when `extra_args` gives one), its profile
    and chromedriver's log in `folder`. The caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths
    options = Options()
    options.binary_location = chromium
    base = CHROMIUM_ARGS
    if any(arg.startswith("--window-size") for arg in extra_args):
        base = [arg for arg in CHROMIUM_ARGS if not arg.startswith("--window-size")]
    for arg in base + extra_args + os.environ.get("REEL_CHROMIUM_ARGS", "").split():
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={folder / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")
    service = Service(executable_path=chromedriver, log_output=str(folder / "chromedriver.log"))
    drv = webdriver.Chrome(service=service, options=options)
    drv.set_page_load_timeout(30)
    drv.set_script_timeout(30)
    return drv
