"""With `--sendfile true` segments leave through sendfile(2); by default they are copied from memory. Both
send exactly the bytes on disk.

A second and third `reel serve` run on the shared storage root under `strace -f -e trace=sendfile`: one with
`--sendfile true`, one with the default settings. Both must answer whole-file and ranged GETs with exactly the
bytes on disk; only the first may call sendfile, and it must send at least the segment's bytes with it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from reel_http_support import PROFILES_DIR, free_port, start_and_wait, tail

SENDFILE_THRESHOLD = 64 << 10  # Sendfile.threshold in Sources/Server/HTTP/Sendfile.swift
# e.g. `391 sendfile(20, 22, [0] => [1484785], 1484785) = 1484785`
SENDFILE_CALL = re.compile(r"sendfile\(\d+, \d+, [^)]*\) = (\d+)")


@pytest.fixture(scope="module")
def big_segment(reel, landscape) -> tuple[str, Path]:
    """The largest segment of the landscape ladder (URL path, file on disk); it must be above the threshold."""
    root = reel.data / "hls" / landscape["id"]
    segments = sorted(root.rglob("*.m4s"), key=lambda p: p.stat().st_size)
    assert segments, f"no segments under {root}"
    largest = segments[-1]
    if largest.stat().st_size < SENDFILE_THRESHOLD:
        pytest.fail(f"the largest segment ({largest.stat().st_size} bytes) is below the sendfile threshold", pytrace=False)
    return f"/hls/{landscape['id']}/{largest.relative_to(root).as_posix()}", largest


def _traced_server(reel, tmp: Path, *extra: str):
    """`reel serve` on the shared root under strace; yields (base URL, strace log path)."""
    if shutil.which("strace") is None:
        pytest.fail("strace is missing: scripts/install-deps --full installs it", pytrace=False)
    port = free_port()
    trace, log = tmp / "strace.log", tmp / "server.log"
    env = {**os.environ, "REEL_PROFILES_DIR": str(PROFILES_DIR), "REEL_LOG_LEVEL": "info"}
    cmd = ["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(trace),
           str(reel.bin), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(reel.data), *extra]
    proc = start_and_wait(cmd, log, port, env)
    base = f"http://127.0.0.1:{port}"
    return proc, base, trace, log


def _stop(proc) -> None:
    """SIGTERM to the traced server itself (strace, signalled, would detach and leave it running);
    strace exits with it."""
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    for pid in children:
        os.kill(int(pid), signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        for pid in children:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.kill()
        proc.wait(timeout=10)


def _fetch_and_compare(base: str, url_path: str, disk: Path) -> None:
    want = disk.read_bytes()
    r = requests.get(base + url_path, headers={"Accept-Encoding": "identity"}, timeout=30)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(want)
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(want).hexdigest()
    # An odd range in the middle, and the suffix form.
    start, end = 1001, len(want) // 2 + 7
    r = requests.get(base + url_path, headers={"Range": f"bytes={start}-{end}"}, timeout=30)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(want)}"
    assert r.content == want[start:end + 1]
    r = requests.get(base + url_path, headers={"Range": "bytes=-4096"}, timeout=30)
    assert r.status_code == 206 and r.content == want[-4096:]
    # HEAD: the length, no body.
    r = requests.head(base + url_path, timeout=30)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(want) and r.content == b""


def _sendfile_bytes(trace: Path) -> int:
    return sum(int(m.group(1)) for m in SENDFILE_CALL.finditer(trace.read_text(errors="replace")))


def test_segments_are_sent_with_sendfile(reel, big_segment, tmp_path):
    url_path, disk = big_segment
    proc, base, trace, log = _traced_server(reel, tmp_path, "--sendfile", "true")
    try:
        _fetch_and_compare(base, url_path, disk)
    finally:
        _stop(proc)
    sent = _sendfile_bytes(trace)
    # The whole file, the middle range and the 4 KiB suffix.
    expected = disk.stat().st_size + (disk.stat().st_size // 2 + 7 - 1001 + 1) + 4096
    assert sent >= expected, f"sendfile sent {sent} bytes, expected at least {expected}\n{tail(trace, 20)}\n{tail(log)}"


def test_by_default_the_same_bytes_are_sent_without_sendfile(reel, big_segment, tmp_path):
    url_path, disk = big_segment
    proc, base, trace, log = _traced_server(reel, tmp_path)
    try:
        _fetch_and_compare(base, url_path, disk)
    finally:
        _stop(proc)
    assert _sendfile_bytes(trace) == 0, f"sendfile was used although it is off by default\n{tail(trace, 20)}"


def test_a_replaced_segment_is_sent_as_the_new_file(reel, big_segment):
    """Files are looked up afresh on every request: a segment replaced under the same name (a new inode)
    is answered with its new length, bytes and ETag. (A file replaced between the lookup and the send is
    refused by `Sendfile.open`, which the Swift tests cover.)"""
    url_path, disk = big_segment
    copy = disk.with_name(disk.stem + "-copy" + disk.suffix)
    shutil.copyfile(disk, copy)
    try:
        copy_path = url_path.rsplit("/", 1)[0] + "/" + copy.name
        first = requests.get(reel.url(copy_path), timeout=30)
        assert first.status_code == 200 and first.content == disk.read_bytes()
        # Replace it (a new inode, shorter): the next answer describes and carries the new file.
        tmp = copy.with_suffix(".tmp")
        tmp.write_bytes(disk.read_bytes()[: SENDFILE_THRESHOLD + 100])
        os.replace(tmp, copy)
        second = requests.get(reel.url(copy_path), timeout=30)
        assert second.status_code == 200
        assert int(second.headers["Content-Length"]) == SENDFILE_THRESHOLD + 100
        assert second.content == disk.read_bytes()[: SENDFILE_THRESHOLD + 100]
        assert second.headers["ETag"] != first.headers["ETag"]
    finally:
        copy.unlink(missing_ok=True)
