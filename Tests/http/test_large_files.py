"""Hostile reads of the streaming handler: absurd Range headers answer 206/416/200 as nginx does (never a
crash, never the whole file for a range past the end), and many slow readers of a large file do not make
the server hold a copy of the file each (docs/HTTP.md, "Streaming handler").

Its own `reel serve` on its own storage root: one video registered with `reel ingest` (no worker, it
stays queued, which the streaming handler does not mind), and files written straight into its HLS folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import _stop
from reel_http_support import FIXTURES, REPO_ROOT, free_port, reel_env, start_and_wait

BIG = 256 << 20                 # the file size
SMALL = 100_000
SLOW_READERS = int(os.environ.get("REEL_SLOW_READERS", "1000"))
RSS_GROWTH_LIMIT = BIG          # less than one copy of the file: it may not be read whole even once
SEND_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def server(reel_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("large-files")
    data = root / "data"
    env = reel_env()
    out = subprocess.run([str(reel_bin), "ingest", str(FIXTURES / "vp9.webm"), "--data", str(data)],
                         capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env, check=True).stdout
    vid = out.split()[0]
    folder = data / "hls" / vid / "360p"
    folder.mkdir(parents=True)
    small = os.urandom(SMALL)
    (folder / "seg-00000.m4s").write_bytes(small)
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    with open(folder / "seg-00001.m4s", "wb") as f:
        for i in range(BIG >> 20):
            chunk = bytes([i & 0xFF]) + block[1:]   # every MiB differs, so offsets are checked too
            f.write(chunk)
            digest.update(chunk)
    port = free_port()
    proc = start_and_wait([str(reel_bin), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data),
                           "--send-timeout", f"{SEND_TIMEOUT_S}s",
                           # every slow reader comes from 127.0.0.1: lift the per-address cap for them
                           "--max-connections-per-client", str(SLOW_READERS + 50)], root / "serve.log", port, env)
    base = f"http://127.0.0.1:{port}/hls/{vid}/360p"
    yield {"proc": proc, "port": port, "small_url": f"{base}/seg-00000.m4s", "big_url": f"{base}/seg-00001.m4s",
           "small": small, "big_path": folder / "seg-00001.m4s", "big_sha256": digest.hexdigest(),
           "big_path_http": f"/hls/{vid}/360p/seg-00001.m4s", "log": root / "serve.log"}
    _stop(proc, "reel serve (large files)")


def _get(url, range_header=None, stream=False):
    headers = {"Accept-Encoding": "identity"}
    if range_header is not None:
        headers["Range"] = range_header
    return requests.get(url, headers=headers, timeout=120, stream=stream)


def _bytes_of(server, which, start, end):
    if which == "small":
        return server["small"][start:end + 1]
    with open(server["big_path"], "rb") as f:
        f.seek(start)
        return f.read(end + 1 - start)


@pytest.mark.parametrize("which", ["small", "big"])
def test_absurd_ranges(server, which):
    url, n = (server["small_url"], SMALL) if which == "small" else (server["big_url"], BIG)

    # A last position with more digits than any integer: clamped to the end, like any last position past it.
    for header in ("bytes=0-99999999999999999999", "bytes=0-18446744073709551616", f"bytes=0-{n}"):
        r = _get(url, header, stream=True)
        assert r.status_code == 206, f"{header}: {r.status_code}"
        assert r.headers["Content-Range"] == f"bytes 0-{n - 1}/{n}", header
        assert int(r.headers["Content-Length"]) == n
        r.close()
    # A suffix longer than the file is the whole file; one too long for an integer too.
    for header in ("bytes=-99999999999999999999", f"bytes=-{n + 1}"):
        r = _get(url, header, stream=True)
        assert r.status_code == 206 and r.headers["Content-Range"] == f"bytes 0-{n - 1}/{n}", header
        r.close()
    # A first position past any file: 416 with the size.
    for header in ("bytes=99999999999999999999-", "bytes=99999999999999999999-99999999999999999999", f"bytes={n}-"):
        r = _get(url, header)
        assert r.status_code == 416, f"{header}: {r.status_code}"
        assert r.headers["Content-Range"] == f"bytes */{n}"
    # Two ranges: multipart/byteranges with both parts, in order.
    r = _get(url, f"bytes=0-9,{n - 5}-")
    assert r.status_code == 206
    kind = r.headers["Content-Type"]
    m = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", kind)
    assert m, kind
    assert int(r.headers["Content-Length"]) == len(r.content)
    parts = r.content.split(b"--" + m.group(1).encode())
    assert parts[-1].strip() == b"--", "the body ends with the closing boundary"
    bodies = []
    for part, (start, end) in zip(parts[1:-1], [(0, 9), (n - 5, n - 1)]):
        head, body = part.split(b"\r\n\r\n", 1)
        assert f"Content-Range: bytes {start}-{end}/{n}".encode() in head
        bodies.append(body[:-2] if body.endswith(b"\r\n") else body)
        assert bodies[-1] == _bytes_of(server, which, start, end)
    assert len(bodies) == 2
    # Ranges that overlap into more bytes than the file, or very many ranges: the whole file, 200, as nginx.
    for header in ("bytes=0-,0-,0-", "bytes=" + ",".join(f"{i}-{i}" for i in range(1000)),
                   "bytes=" + ",".join(["0-99999999999999999999"] * 50)):
        r = _get(url, header, stream=True)
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == n, f"{header[:40]}…: {r.status_code}"
        r.close()
    assert server["proc"].poll() is None, "the server died"


def test_large_file_streams_whole_and_in_ranges(server):
    r = _get(server["big_url"], stream=True)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == BIG
    digest, total = hashlib.sha256(), 0
    for chunk in r.iter_content(1 << 20):
        digest.update(chunk)
        total += len(chunk)
    assert total == BIG and digest.hexdigest() == server["big_sha256"]
    start = 100 * (1 << 20) - 3
    r = _get(server["big_url"], f"bytes={start}-{start + 999_999}")
    assert r.status_code == 206 and r.content == _bytes_of(server, "big", start, start + 999_999)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_slow_readers_do_not_hold_the_file_each(server):
    """REEL_SLOW_READERS (default 1000) clients ask for the 256 MiB file and read almost nothing: the server's
    memory must stay below one copy of the file, and after the send timeout it lets go of them."""
    pid = server["proc"].pid
    _get(server["small_url"])                 # warm up the paths a request takes
    baseline = _rss(pid)
    baseline_fds = _open_fds(pid)
    request = (f"GET {server['big_path_http']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Accept-Encoding: identity\r\n\r\n").encode()
    sockets = []
    try:
        for _ in range(SLOW_READERS):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 10)
            s.settimeout(120)
            s.connect(("127.0.0.1", server["port"]))
            s.sendall(request)
            sockets.append(s)
        for s in sockets:                     # every response has started: its head and first bytes are here
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                assert chunk, "the server closed a slow reader's connection"
                head += chunk
            assert head.startswith(b"HTTP/1.1 200"), head[:100]
        peak = baseline
        for _ in range(20):                   # let whatever is in flight settle; keep the highest reading
            peak = max(peak, _rss(pid))
            time.sleep(0.1)
        assert server["proc"].poll() is None, "the server died under slow readers"
        growth = peak - baseline
        print(f"{SLOW_READERS} slow readers: RSS {baseline >> 20} MiB -> {peak >> 20} MiB")
        assert growth < RSS_GROWTH_LIMIT, (
            f"{SLOW_READERS} slow readers of a {BIG >> 20} MiB file grew the server by {growth >> 20} MiB "
            f"(limit {RSS_GROWTH_LIMIT >> 20} MiB)")
        # Clients that take nothing more are disconnected after --send-timeout (the sockets are still open
        # here), so they cannot hold their connections, nor the stream budget, for ever.
        deadline = time.monotonic() + 120
        while _open_fds(pid) > baseline_fds + 10:
            assert time.monotonic() < deadline, (
                f"the server still holds {_open_fds(pid) - baseline_fds} connections of readers that stopped reading")
            time.sleep(0.5)
    finally:
        for s in sockets:
            s.close()
    # The server still answers, and reads the file fully for a reader that keeps reading.
    r = _get(server["big_url"], f"bytes={BIG - 10}-")
    assert r.status_code == 206 and len(r.content) == 10
