"""Headless Firefox ESR (Debian's `firefox-esr`), driven through Marionette, for test_firefox.py.

  * ``FIREFOX``            - the browser (REEL_FIREFOX, default /usr/bin/firefox-esr)
  * ``missing_firefox()``  - why Firefox cannot be driven here, or None
  * ``start_firefox()``    - one headless Firefox with a fresh profile and a Marionette session

No geckodriver: Firefox is started here with `--marionette`, listening on a free port written into the
profile's prefs.js, and `marionette_driver` talks to it directly. The caller stops it with
``stop_firefox()`` (also on failure).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

FIREFOX = os.environ.get("REEL_FIREFOX", "/usr/bin/firefox-esr")
STARTUP_TIMEOUT_S = 60

# Fresh-profile preferences: Marionette's port, autoplay allowed, and nothing that phones home or
# opens extra tabs on a first start.
PREFS = {
    "media.autoplay.default": 0,                 # allow audible autoplay
    "media.autoplay.blocking_policy": 0,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "startup.homepage_welcome_url": "about:blank",
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "browser.aboutwelcome.enabled": False,
    "network.captive-portal-service.enabled": False,
    "extensions.update.enabled": False,
}


def missing_firefox() -> str | None:
    """Why headless Firefox cannot be driven on this machine, or None when it can."""
    if not (os.path.isfile(FIREFOX) and os.access(FIREFOX, os.X_OK)):
        return f"Firefox ESR not installed: missing {FIREFOX} (apt-get install -y firefox-esr)"
    try:
        import marionette_driver  # noqa: F401
    except ImportError:
        return ("the Python package marionette-driver is not installed "
                "(pip install -r Tests/browser/requirements.txt)")
    return None


def require_firefox() -> None:
    """Skip the calling test when Firefox cannot be driven; fail instead when REEL_REQUIRE_BROWSER=1
    (the convention of conftest.py's Chromium fixtures)."""
    import pytest

    reason = missing_firefox()
    if reason is None:
        return
    if os.environ.get("REEL_REQUIRE_BROWSER", "") == "1":
        pytest.fail(f"{reason} (REEL_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Firefox:
    proc: subprocess.Popen
    client: object          # marionette_driver.marionette.Marionette, with a session
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return f"--- firefox log ({self.log}) ---\n" + self.log.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no firefox log: {exc})"


def start_firefox(folder: Path) -> Firefox:
    """Firefox ESR, headless, with its profile and log in `folder`, and a Marionette session on it."""
    from marionette_driver.marionette import Marionette

    profile = folder / "profile"
    profile.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    prefs = dict(PREFS, **{"marionette.port": port})
    lines = [f'user_pref("{k}", {str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, str) else v});'
             for k, v in prefs.items()]
    (profile / "prefs.js").write_text("\n".join(lines).replace("'", '"') + "\n")
    log = folder / "firefox.log"
    env = dict(os.environ, MOZ_HEADLESS="1", MOZ_CRASHREPORTER_DISABLE="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [FIREFOX, "--headless", "--marionette", "--no-remote", "--profile", str(profile), "about:blank"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # its own process group: the content processes go with it
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"firefox-esr exited with status {proc.returncode}\n{log.read_text(errors='replace')[-4000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Firefox's Marionette did not listen on port {port} "
                                       f"within {STARTUP_TIMEOUT_S} s")
                time.sleep(0.2)
        client = Marionette(host="127.0.0.1", port=port, startup_timeout=STARTUP_TIMEOUT_S, socket_timeout=60)
        client.start_session()
        client.timeout.page_load = 30
        client.timeout.script = 30
        return Firefox(proc, client, log)
    except BaseException:
        _kill(proc)
        raise


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def stop_firefox(firefox: Firefox) -> None:
    """End the session and the browser, whatever state they are in."""
    try:
        firefox.client.delete_session()
    except Exception:
        pass
    _kill(firefox.proc)
