"""Secret files on the storage root (`admin.key`, `signing.key`) are new 0600 files moved into place:
an existing file does not keep its looser mode, and a symlink planted at the name is replaced, never
written through."""

from __future__ import annotations

import os
import stat

import requests

from conftest import _stop
from reel_http_support import free_port, reel_env, start_and_wait


def _up(reel_bin, data, tmp_path):
    port = free_port()
    proc = start_and_wait([str(reel_bin), "up", "--workers", "0", "--host", "127.0.0.1", "--port", str(port),
                           "--data", str(data)], tmp_path / "up.log", port, reel_env())
    return proc, f"http://127.0.0.1:{port}"


def _assert_secret(path):
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode), f"{path} is not a regular file (a symlink left in place?)"
    assert stat.S_IMODE(info.st_mode) == 0o600, f"{path} has mode {oct(stat.S_IMODE(info.st_mode))}, not 0600"


def test_admin_key_replaces_a_planted_symlink(reel_bin, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours\n")
    victim.chmod(0o644)
    (data / "admin.key").symlink_to(victim)
    proc, base = _up(reel_bin, data, tmp_path)
    try:
        assert victim.read_text() == "not yours\n", "the admin key was written through the symlink"
        assert stat.S_IMODE(victim.stat().st_mode) == 0o644
        _assert_secret(data / "admin.key")
        key = (data / "admin.key").read_text().strip()
        r = requests.get(base + "/v1/videos", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 200, f"the saved admin key does not work: {r.status_code} {r.text[:200]}"
    finally:
        _stop(proc, "reel up")


def test_admin_key_does_not_keep_an_old_files_mode(reel_bin, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    stale = data / "admin.key"
    stale.write_text("reel_stale\n")
    stale.chmod(0o644)
    proc, _ = _up(reel_bin, data, tmp_path)
    try:
        _assert_secret(stale)
        assert stale.read_text().strip() != "reel_stale"
    finally:
        _stop(proc, "reel up")


def test_signing_key_is_0600_and_kept(reel_bin, tmp_path):
    data = tmp_path / "data"
    proc, _ = _up(reel_bin, data, tmp_path)
    try:
        _assert_secret(data / "signing.key")
        first = (data / "signing.key").read_text()
    finally:
        _stop(proc, "reel up")
    proc, _ = _up(reel_bin, data, tmp_path)
    try:
        assert (data / "signing.key").read_text() == first, "a second start made a new signing key"
    finally:
        _stop(proc, "reel up")
